"""Read sweeps and their findings back from the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from auditor.rulebook import SEVERITY_ORDER
from auditor.store.models import EngineError, FactRow, FindingRow, RuleCheck, Sweep


class NoSweepError(LookupError):
    """There is no (such) sweep in the database."""


def get_sweep(session: Session, sweep_id: int | None = None) -> Sweep:
    """A sweep by id, or the latest complete one."""
    if sweep_id is not None:
        sweep = session.get(Sweep, sweep_id)
        if sweep is None:
            raise NoSweepError(f"no sweep with id {sweep_id}")
        return sweep
    sweep = session.execute(select(Sweep).where(Sweep.status == "complete").order_by(Sweep.id.desc()).limit(1)).scalar()
    if sweep is None:
        raise NoSweepError("no sweep yet: run `auditor sweep --as-of DATE` first")
    return sweep


def finding_dict(row: FindingRow) -> dict[str, Any]:
    """A finding as plain data (the JSON export shape)."""
    return {
        "key": row.finding_key,
        "rule_id": row.rule_id,
        "area": row.area,
        "title": row.title,
        "severity": row.severity,
        "owner": row.owner,
        "subject": row.subject,
        "occurrence": row.occurrence,
        "message": row.message,
        "remediation": row.remediation,
        "evidence": list(row.evidence),
    }


def list_findings(engine: Engine, sweep_id: int | None = None) -> tuple[Sweep, list[dict[str, Any]]]:
    """The findings of a sweep (latest by default), most severe first."""
    with Session(engine) as session:
        sweep = get_sweep(session, sweep_id)
        rows = session.execute(select(FindingRow).where(FindingRow.sweep_id == sweep.id)).scalars().all()
        findings = [finding_dict(r) for r in rows]
    findings.sort(key=lambda f: (SEVERITY_ORDER.get(f["severity"], 9), f["rule_id"], f["subject"], f["occurrence"]))
    return sweep, findings


def sweep_checks(engine: Engine, sweep_id: int) -> list[dict[str, Any]]:
    """Per-rule checked and violation counts of a sweep."""
    with Session(engine) as session:
        rows = session.execute(select(RuleCheck).where(RuleCheck.sweep_id == sweep_id).order_by(RuleCheck.rule_id))
        return [
            {"rule_id": r.rule_id, "area": r.area, "checked": r.checked, "violations": r.violations}
            for r in rows.scalars()
        ]


def sweep_errors(engine: Engine, sweep_id: int) -> list[dict[str, Any]]:
    """Engine errors recorded on a sweep."""
    with Session(engine) as session:
        rows = session.execute(select(EngineError).where(EngineError.sweep_id == sweep_id)).scalars()
        return [{"rule_id": e.rule_id, "subjects": list(e.subjects), "error": e.error} for e in rows]


def evidence_facts(engine: Engine, row_ids: set[int]) -> dict[int, dict[str, Any]]:
    """Evidence facts by row id: kind, natural id, version and content."""
    if not row_ids:
        return {}
    out: dict[int, dict[str, Any]] = {}
    with Session(engine) as session:
        ids = sorted(row_ids)
        for start in range(0, len(ids), 500):
            rows = session.execute(select(FactRow).where(FactRow.id.in_(ids[start : start + 500]))).scalars()
            for r in rows:
                out[r.id] = {"kind": r.kind, "natural_id": r.natural_id, "version": r.version, "payload": r.payload}
    return out
