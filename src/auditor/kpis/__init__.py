"""Headline KPIs of a sweep, computed from its window's current facts and its rule checks (docs/kpis.md)."""

from auditor.kpis.adherence import MONITORING_PROSPECTING_AREAS, adherence, area_adherence, combined_adherence
from auditor.kpis.compute import LOADED_KINDS, compute_kpis, kpi_basis, reusable_kpis, window_kpis, with_adherence
from auditor.kpis.mystery import DEFAULT_MYSTERY_THRESHOLD
from auditor.kpis.settings import KpiSettings, kpi_settings, settings_from_rules
from auditor.kpis.stats import median, nearest_rank, percent
from auditor.kpis.turnaround import MATERIAL_TARGET_DAYS, PRESALES_TARGET_BUSINESS_DAYS

__all__ = [
    "KpiSettings",
    "LOADED_KINDS",
    "DEFAULT_MYSTERY_THRESHOLD",
    "MATERIAL_TARGET_DAYS",
    "MONITORING_PROSPECTING_AREAS",
    "PRESALES_TARGET_BUSINESS_DAYS",
    "adherence",
    "area_adherence",
    "combined_adherence",
    "compute_kpis",
    "kpi_basis",
    "kpi_settings",
    "reusable_kpis",
    "median",
    "nearest_rank",
    "percent",
    "settings_from_rules",
    "window_kpis",
    "with_adherence",
]
