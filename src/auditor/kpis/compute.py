"""`compute_kpis`: every headline KPI of one sweep, as plain JSON-serialisable data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from auditor.findings.query import get_sweep, sweep_checks
from auditor.kpis.adherence import MONITORING_PROSPECTING_AREAS, area_adherence, combined_adherence
from auditor.kpis.conversion import conversion_by_region
from auditor.kpis.mystery import DEFAULT_MYSTERY_THRESHOLD, mystery_shopping
from auditor.kpis.turnaround import PRESALES_TARGET_BUSINESS_DAYS, material_tat, presales_tat
from auditor.kpis.window import KpiWindow, roster, window_facts
from auditor.store.models import FactRow

if TYPE_CHECKING:
    from auditor.kpis.items import Items

FACT_KINDS = ("mystery_shop", "material_request", "material_delivery", "presales_request", "opportunity_stage")
LOADED_KINDS = frozenset(FACT_KINDS) | {"person"}
"""The kinds the KPIs read (the roster too): a sweep that loaded all of them takes the KPI records from them."""


def compute_kpis(
    engine: Engine,
    sweep_id: int | None = None,
    *,
    mystery_threshold: float = DEFAULT_MYSTERY_THRESHOLD,
    material_targets: Mapping[str, float] | None = None,
    presales_business_days: int = PRESALES_TARGET_BUSINESS_DAYS,
    holidays: frozenset[date] = frozenset(),
    checks: list[dict[str, Any]] | None = None,
    items: Items | None = None,
) -> dict[str, Any]:
    """The KPIs of a sweep (latest complete one by default); docs/kpis.md defines each value.

    `checks` are the sweep's per-rule check counts when they are not stored yet (a sweep computing its own KPIs).
    `items`: the KPI records of the current facts in the sweep's window (kpis/items.py: a sweep has them from
    the facts it loaded or from the last sweep's), read instead of the facts when given.
    """
    with Session(engine) as session:
        sweep = get_sweep(session, sweep_id)
        window, sweep_key = KpiWindow.of_sweep(sweep), sweep.id
    kpis = window_kpis(
        engine,
        window,
        mystery_threshold=mystery_threshold,
        material_targets=material_targets,
        presales_business_days=presales_business_days,
        holidays=holidays,
        items=items,
    )
    return with_adherence(sweep_key, kpis, sweep_checks(engine, sweep_key) if checks is None else checks)


def window_kpis(
    engine: Engine,
    window: KpiWindow,
    *,
    mystery_threshold: float = DEFAULT_MYSTERY_THRESHOLD,
    material_targets: Mapping[str, float] | None = None,
    presales_business_days: int = PRESALES_TARGET_BUSINESS_DAYS,
    holidays: frozenset[date] = frozenset(),
    items: Items | None = None,
) -> dict[str, Any]:
    """The KPIs a window's facts give (all but adherence, which a sweep's rule checks give: `with_adherence`)."""
    with Session(engine) as session:
        facts = items.facts() if items else {kind: window_facts(session, kind, window) for kind in FACT_KINDS}
        people = roster(session, window)
    return {
        "window": window.as_dict(),
        "mystery_shopping": mystery_shopping(facts["mystery_shop"], mystery_threshold),
        "material_tat": material_tat(
            facts["material_request"], facts["material_delivery"], window.end, material_targets
        ),
        "presales_tat": presales_tat(facts["presales_request"], window.end, presales_business_days, holidays),
        "conversion": conversion_by_region(facts["opportunity_stage"], people),
    }


def with_adherence(sweep_id: int, kpis: Mapping[str, Any], checks: list[dict[str, Any]]) -> dict[str, Any]:
    """A sweep's KPIs: those of its window's facts (`window_kpis`), its rule checks' adherence and the tiles."""
    adherence = {
        "areas": area_adherence(checks),
        "monitoring_prospecting": combined_adherence(checks, MONITORING_PROSPECTING_AREAS),
    }
    out = {"sweep_id": sweep_id, "window": kpis["window"], "mystery_shopping": kpis["mystery_shopping"]}
    out |= {"adherence": adherence, **kpis}
    out["headline"] = headline(out)
    return out


def headline(kpis: Mapping[str, Any]) -> dict[str, float | None]:
    """The five tile values: score, monitoring & prospecting adherence, the two TAT shares, conversion."""
    material_all = next(
        row for row in kpis["material_tat"]["rows"] if row["category"] == "all" and row["step"] == "first_delivery"
    )
    return {
        "mystery_score": kpis["mystery_shopping"]["average_score"],
        "monitoring_prospecting_adherence": kpis["adherence"]["monitoring_prospecting"]["adherence"],
        "material_within_target_pct": material_all["within_target_pct"],
        "presales_within_target_pct": kpis["presales_tat"]["within_target_pct"],
        "conversion_rate": kpis["conversion"]["total"]["rate"],
    }


def kpi_basis(engine: Engine, settings: Mapping[str, Any]) -> dict[str, Any]:
    """What KPIs depend on besides the sweep: the settings' fingerprint and the newest fact row (any load or
    correction adds a row). Stored KPIs with an equal basis can be reused instead of recomputed."""
    with Session(engine) as session:
        newest = session.execute(select(func.max(FactRow.id))).scalar() or 0
    return {"settings": dict(settings), "newest_fact": int(newest)}


def reusable_kpis(stored: Mapping[str, Any] | None, basis: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stored KPIs without their basis when it equals `basis`, else None."""
    if not stored or stored.get("basis") != basis:
        return None
    return {k: v for k, v in stored.items() if k != "basis"}
