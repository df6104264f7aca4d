"""KPI targets taken from the rules that define them, so tiles and findings use the same numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from auditor.kpis.mystery import DEFAULT_MYSTERY_THRESHOLD
from auditor.kpis.turnaround import PRESALES_TARGET_BUSINESS_DAYS

MATERIAL_RULES = {"sales_kit": "MAT-001", "promotion": "MAT-002", "representation": "MAT-003"}
"""The turnaround rule of each material category; its `tat_days` param is the KPI target."""
MYSTERY_RULE = "REP-001"
PRESALES_RULE = "PRE-001"


@dataclass(frozen=True)
class KpiSettings:
    """Thresholds and targets of the KPIs; the defaults are the catalog's defaults."""

    mystery_threshold: float = DEFAULT_MYSTERY_THRESHOLD
    material_targets: dict[str, float] | None = None
    presales_business_days: int = PRESALES_TARGET_BUSINESS_DAYS
    holidays: frozenset[date] = field(default_factory=frozenset)

    def fingerprint(self) -> dict[str, Any]:
        """The settings as plain JSON data, to tell whether stored KPIs were computed with the same targets."""
        targets = self.material_targets
        return {
            "mystery_threshold": float(self.mystery_threshold),
            "material_targets": {k: float(v) for k, v in sorted(targets.items())} if targets else None,
            "presales_business_days": int(self.presales_business_days),
            "holidays": sorted(d.isoformat() for d in self.holidays),
        }

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `compute_kpis`."""
        return {
            "mystery_threshold": self.mystery_threshold,
            "material_targets": self.material_targets,
            "presales_business_days": self.presales_business_days,
            "holidays": self.holidays,
        }


def settings_from_rules(book: Any) -> KpiSettings:
    """KPI settings from a loaded rulebook (its rules and policy); see `kpi_settings`."""
    return kpi_settings(book.rules, book.policy)


def kpi_settings(rules: Sequence[Any], policy: Any) -> KpiSettings:
    """KPI settings from rules: REP-001 `min_score`, MAT-001..003 `tat_days`, PRE-001 `business_days` (after
    policy overrides) and the policy's holidays; rules that are missing keep the defaults."""
    params = {rule.id: rule.params for rule in rules}
    targets = {
        category: float(params[rule_id]["tat_days"])
        for category, rule_id in MATERIAL_RULES.items()
        if "tat_days" in params.get(rule_id, {})
    }
    defaults = KpiSettings()
    return KpiSettings(
        mystery_threshold=float(params.get(MYSTERY_RULE, {}).get("min_score", defaults.mystery_threshold)),
        material_targets=targets or None,
        presales_business_days=int(params.get(PRESALES_RULE, {}).get("business_days", defaults.presales_business_days)),
        holidays=frozenset(policy.holidays),
    )
