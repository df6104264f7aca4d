"""Every fact kind the auditor knows, one pydantic model each.

Field names are the public contract (CSV headers, JSONL keys, rule
expressions); `docs/facts.md` documents them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from auditor.facts.base import Day, FactModel, Instant

Role = Literal["director", "vp", "sales_manager", "branch_manager", "team_leader", "sales_person", "partner"]
Stage = Literal[
    "contact",
    "information_exchange",
    "lead_generation",
    "identification",
    "qualification",
    "proposal",
    "negotiation",
    "deal",
    "after_sales",
    "lost",
]
MaterialCategory = Literal["sales_kit", "promotion", "representation"]
HiringStepName = Literal[
    "application",
    "fit_interview",
    "behavioural_interview",
    "psychometric_profile",
    "reference_check",
    "offer",
    "hire",
    "rejection",
]
PERIOD_PATTERN = r"^\d{4}(-Q[1-4]|-\d{2})?$"


class Person(FactModel):
    """One member of the sales organisation or a channel partner (the roster)."""

    kind: Literal["person"] = "person"
    time_field: ClassVar[str] = "joined_on"
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    role: Role
    manager_id: str | None = None
    region: str | None = None
    branch: str | None = None
    joined_on: Day
    left_on: Day | None = None

    @model_validator(mode="after")
    def _left_after_joined(self) -> Person:
        if self.left_on is not None and self.left_on < self.joined_on:
            raise ValueError("left_on is before joined_on")
        return self


class Account(FactModel):
    """A customer account; key accounts need a customer plan."""

    kind: Literal["account"] = "account"
    time_field: ClassVar[str] = "since"
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    owner_id: str
    key_account: bool = False
    since: Day


class OpportunityStage(FactModel):
    """An opportunity entering a sales stage."""

    kind: Literal["opportunity_stage"] = "opportunity_stage"
    natural_key: ClassVar[tuple[str, ...]] = ("opportunity_id", "stage", "at")
    opportunity_id: str = Field(min_length=1)
    stage: Stage
    at: Instant
    owner_id: str = Field(min_length=1)
    account_id: str | None = None
    amount: float | None = Field(default=None, ge=0)


class CoachingSession(FactModel):
    """A manager coaching one rep."""

    kind: Literal["coaching_session"] = "coaching_session"
    id: str = Field(min_length=1)
    manager_id: str = Field(min_length=1)
    rep_id: str = Field(min_length=1)
    at: Instant
    plan_documented: bool


class RideAlong(FactModel):
    """A field visit: the manager rides along with a rep; a report is due after."""

    kind: Literal["ride_along"] = "ride_along"
    id: str = Field(min_length=1)
    manager_id: str = Field(min_length=1)
    rep_id: str = Field(min_length=1)
    at: Instant
    report_filed_at: Instant | None = None

    @model_validator(mode="after")
    def _report_after_visit(self) -> RideAlong:
        if self.report_filed_at is not None and self.report_filed_at < self.at:
            raise ValueError("report_filed_at is before the visit")
        return self


class TeamMeeting(FactModel):
    """A manager's meeting with the whole team."""

    kind: Literal["team_meeting"] = "team_meeting"
    id: str = Field(min_length=1)
    manager_id: str = Field(min_length=1)
    at: Instant
    attendees: int | None = Field(default=None, ge=0)


class PipelineReview(FactModel):
    """A manager reviewing one rep's pipeline."""

    kind: Literal["pipeline_review"] = "pipeline_review"
    id: str = Field(min_length=1)
    manager_id: str = Field(min_length=1)
    rep_id: str = Field(min_length=1)
    at: Instant


class BusinessReview(FactModel):
    """A (quarterly) business review held by a manager."""

    kind: Literal["business_review"] = "business_review"
    id: str = Field(min_length=1)
    manager_id: str = Field(min_length=1)
    at: Instant


class BusinessPlan(FactModel):
    """A territory plan, customer plan or quarterly plan review."""

    kind: Literal["business_plan"] = "business_plan"
    time_field: ClassVar[str] = "submitted_at"
    id: str = Field(min_length=1)
    plan_type: Literal["territory", "customer", "quarterly_review"]
    owner_id: str = Field(min_length=1)
    account_id: str | None = None
    period: str = Field(pattern=PERIOD_PATTERN)
    submitted_at: Instant


class HiringStep(FactModel):
    """One step of a candidate's hiring process."""

    kind: Literal["hiring_step"] = "hiring_step"
    id: str = Field(min_length=1)
    candidate_id: str = Field(min_length=1)
    requisition_id: str = Field(min_length=1)
    step: HiringStepName
    at: Instant
    interviewer_id: str | None = None
    question_set: str | None = None


class CriticalSuccessFactor(FactModel):
    """A team's critical success factor (CSF) for a period, with its measure."""

    kind: Literal["csf"] = "csf"
    time_field: ClassVar[str] = "defined_on"
    id: str = Field(min_length=1)
    team_id: str = Field(min_length=1, description="the manager whose team owns the CSF")
    period: str = Field(pattern=PERIOD_PATTERN)
    title: str = Field(min_length=1)
    measure: str | None = None
    defined_on: Day


class Objective(FactModel):
    """Objectives set for one person for one year."""

    kind: Literal["objective"] = "objective"
    time_field: ClassVar[str] = "set_on"
    id: str = Field(min_length=1)
    person_id: str = Field(min_length=1)
    year: int = Field(ge=1900, le=2200)
    set_on: Day


class PerformanceReview(FactModel):
    """A periodic review, annual appraisal or performance-improvement plan."""

    kind: Literal["performance_review"] = "performance_review"
    id: str = Field(min_length=1)
    person_id: str = Field(min_length=1)
    reviewer_id: str | None = None
    review_type: Literal["quarterly", "annual", "pip"]
    period: str = Field(pattern=PERIOD_PATTERN)
    at: Instant


class SalesResult(FactModel):
    """A person's target and actual for one period (quarter)."""

    kind: Literal["sales_result"] = "sales_result"
    natural_key: ClassVar[tuple[str, ...]] = ("person_id", "period")
    time_field: ClassVar[str] = "closed_on"
    person_id: str = Field(min_length=1)
    period: str = Field(pattern=PERIOD_PATTERN)
    target: float = Field(ge=0)
    actual: float = Field(ge=0)
    closed_on: Day


class MaterialRequest(FactModel):
    """A request for sales kit, promotion or representation material."""

    kind: Literal["material_request"] = "material_request"
    time_field: ClassVar[str] = "requested_at"
    id: str = Field(min_length=1)
    category: MaterialCategory
    item: str = Field(min_length=1)
    requested_by: str = Field(min_length=1)
    requested_at: Instant
    quantity: int = Field(gt=0)
    branch: str | None = Field(default=None, description="the branch the material is for (stock replenishment)")


class MaterialDelivery(FactModel):
    """A (possibly partial) delivery against a material request."""

    kind: Literal["material_delivery"] = "material_delivery"
    natural_key: ClassVar[tuple[str, ...]] = ("request_id", "delivered_at")
    time_field: ClassVar[str] = "delivered_at"
    request_id: str = Field(min_length=1)
    delivered_at: Instant
    quantity: int = Field(ge=0)
    item: str | None = Field(default=None, description="the item delivered (as on the request)")
    recipient_id: str | None = Field(default=None, description="the person it was handed to, when for one person")


class MaterialStock(FactModel):
    """A stock count of one material item at one branch."""

    kind: Literal["material_stock"] = "material_stock"
    natural_key: ClassVar[tuple[str, ...]] = ("item", "branch", "at")
    item: str = Field(min_length=1)
    category: MaterialCategory
    branch: str = Field(min_length=1)
    at: Instant
    on_hand: int = Field(ge=0)
    reorder_level: int = Field(ge=0)


class MysteryShop(FactModel):
    """A mystery-shopping visit scoring how a person represents products and company."""

    kind: Literal["mystery_shop"] = "mystery_shop"
    id: str = Field(min_length=1)
    subject_id: str = Field(min_length=1)
    at: Instant
    score: float = Field(ge=0, le=100)
    badge_worn: bool
    visiting_card_given: bool
    brochure_current: bool
    correct_claims: bool | None = None


class Training(FactModel):
    """A completed training: orientation, product, certification or compliance."""

    kind: Literal["training"] = "training"
    time_field: ClassVar[str] = "completed_on"
    id: str = Field(min_length=1)
    person_id: str = Field(min_length=1)
    course: str = Field(min_length=1)
    training_type: Literal["orientation", "product", "certification", "compliance"]
    completed_on: Day
    expires_on: Day | None = None

    @model_validator(mode="after")
    def _expiry_after_completion(self) -> Training:
        if self.expires_on is not None and self.expires_on < self.completed_on:
            raise ValueError("expires_on is before completed_on")
        return self


class SalesReport(FactModel):
    """A weekly sales / operational report; `week` is the Monday of the reported week."""

    kind: Literal["sales_report"] = "sales_report"
    time_field: ClassVar[str] = "submitted_at"
    id: str = Field(min_length=1)
    person_id: str = Field(min_length=1)
    week: Day
    submitted_at: Instant

    @model_validator(mode="after")
    def _week_is_monday(self) -> SalesReport:
        if self.week.weekday() != 0:
            raise ValueError("week must be the Monday of the reported week")
        return self


class PresalesRequest(FactModel):
    """A request for pre-sales or technical support, and when it was answered."""

    kind: Literal["presales_request"] = "presales_request"
    time_field: ClassVar[str] = "requested_at"
    id: str = Field(min_length=1)
    requested_by: str = Field(min_length=1)
    opportunity_id: str | None = None
    topic: str | None = None
    requested_at: Instant
    answered_at: Instant | None = None

    @model_validator(mode="after")
    def _answer_after_request(self) -> PresalesRequest:
        if self.answered_at is not None and self.answered_at < self.requested_at:
            raise ValueError("answered_at is before requested_at")
        return self


class Activity(FactModel):
    """One event of a process event log (case, activity, time, resource)."""

    kind: Literal["activity"] = "activity"
    natural_key: ClassVar[tuple[str, ...]] = ("case_id", "activity", "at", "seq")
    case_id: str = Field(min_length=1)
    activity: str = Field(min_length=1)
    at: Instant
    seq: int = Field(default=0, ge=0, description="position among equal (case, activity, at)")
    lifecycle: str | None = None
    resource: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("attributes")
    @classmethod
    def _sorted(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Attributes in name order, so the same event hashes the same whatever the column order."""
        return dict(sorted(value.items()))
