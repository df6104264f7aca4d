"""The registry of fact kinds and the discriminated union over them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from auditor.facts import kinds
from auditor.facts.base import FactModel

FACT_KINDS: dict[str, type[FactModel]] = {
    model.model_fields["kind"].default: model
    for model in (
        kinds.Person,
        kinds.Account,
        kinds.OpportunityStage,
        kinds.CoachingSession,
        kinds.RideAlong,
        kinds.TeamMeeting,
        kinds.PipelineReview,
        kinds.BusinessReview,
        kinds.BusinessPlan,
        kinds.HiringStep,
        kinds.CriticalSuccessFactor,
        kinds.Objective,
        kinds.PerformanceReview,
        kinds.SalesResult,
        kinds.MaterialRequest,
        kinds.MaterialDelivery,
        kinds.MaterialStock,
        kinds.MysteryShop,
        kinds.Training,
        kinds.SalesReport,
        kinds.PresalesRequest,
        kinds.Activity,
    )
}

Fact = Annotated[
    kinds.Person
    | kinds.Account
    | kinds.OpportunityStage
    | kinds.CoachingSession
    | kinds.RideAlong
    | kinds.TeamMeeting
    | kinds.PipelineReview
    | kinds.BusinessReview
    | kinds.BusinessPlan
    | kinds.HiringStep
    | kinds.CriticalSuccessFactor
    | kinds.Objective
    | kinds.PerformanceReview
    | kinds.SalesResult
    | kinds.MaterialRequest
    | kinds.MaterialDelivery
    | kinds.MaterialStock
    | kinds.MysteryShop
    | kinds.Training
    | kinds.SalesReport
    | kinds.PresalesRequest
    | kinds.Activity,
    Field(discriminator="kind"),
]
"""Any fact; the `kind` field selects the model."""

FACT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Fact)


class UnknownKindError(ValueError):
    """Raised for a fact kind that is not registered."""


def model_for(kind: str) -> type[FactModel]:
    """The model class of a fact kind, or UnknownKindError naming the known kinds."""
    try:
        return FACT_KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(FACT_KINDS))
        raise UnknownKindError(f"unknown fact kind {kind!r} (known: {known})") from None


def parse_fact(data: dict[str, Any]) -> FactModel:
    """Validate one fact given as a mapping with a `kind` key."""
    return FACT_ADAPTER.validate_python(data)
