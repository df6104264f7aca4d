"""Fact kinds: one pydantic model per observed activity, one union on `kind`."""

from auditor.facts.base import FactModel
from auditor.facts.registry import FACT_KINDS, Fact, UnknownKindError, model_for, parse_fact

__all__ = ["FACT_KINDS", "Fact", "FactModel", "UnknownKindError", "model_for", "parse_fact"]
