"""A finding's history, the list of sweeps with their lifecycle counts, and what changed between two sweeps."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from auditor.findings.query import NoSweepError, evidence_facts, finding_dict, get_sweep, with_state
from auditor.findings.state import current_states
from auditor.findings.triage import resolve_keys
from auditor.findings.waivers import load_waivers
from auditor.rulebook import SEVERITY_ORDER
from auditor.store.models import FindingEvent, Sweep, SweepFinding


def show_finding(engine: Engine, key: str, today: date | None = None) -> dict[str, Any]:
    """One finding (by key or unique key prefix): latest data, current state, sweeps, events, waivers, evidence."""
    today = today or date.today()
    with Session(engine) as session:
        (full,) = resolve_keys(session, [key])
        snapshots = session.execute(
            select(SweepFinding, Sweep.as_of)
            .join(Sweep, Sweep.id == SweepFinding.sweep_id)
            .where(SweepFinding.finding_key == full)
            .order_by(SweepFinding.sweep_id)
        ).all()
        if not snapshots:
            raise NoSweepError(f"finding {full} has events but no stored sweep")
        latest = snapshots[-1][0]
        as_of = {i: d for i, d in session.execute(select(Sweep.id, Sweep.as_of))}
        state = current_states(session, [full]).get(full)
        out = with_state(finding_dict(latest), latest, state, as_of, today)
        out["sweeps"] = [
            {
                "sweep_id": r.sweep_id,
                "as_of": d.isoformat(),
                "appearance": r.appearance,
                "status": r.status,
                "age": r.age,
            }
            for r, d in snapshots
        ]
        events = session.execute(
            select(FindingEvent).where(FindingEvent.finding_key == full).order_by(FindingEvent.id)
        ).scalars()
        out["history"] = [
            {
                "at": e.at.isoformat(sep=" ", timespec="seconds") + " UTC",
                "actor": e.actor,
                "action": e.action,
                "from": e.from_status,
                "to": e.to_status,
                "sweep_id": e.sweep_id,
                "note": e.note,
            }
            for e in events
        ]
        waivers = [w for w in load_waivers(session) if w.covers(full, latest.rule_id, latest.subject, latest.branch)]
        out["waivers"] = [
            {"id": w.id, "until": w.until.isoformat(), "active": w.until >= today, "text": w.describe()}
            for w in waivers
        ]
    evidence = evidence_facts(engine, set(out["evidence"]))
    out["evidence_facts"] = [{"row_id": i, **evidence[i]} for i in out["evidence"] if i in evidence]
    return out


def list_sweeps(engine: Engine) -> list[dict[str, Any]]:
    """Every sweep, newest first, with how many findings were new, recurring, reopened, suppressed and resolved."""
    with Session(engine) as session:
        appearances: dict[int, Counter[str]] = {}
        for sweep_id, appearance, count in session.execute(
            select(SweepFinding.sweep_id, SweepFinding.appearance, func.count()).group_by(
                SweepFinding.sweep_id, SweepFinding.appearance
            )
        ):
            appearances.setdefault(sweep_id, Counter())[appearance] = count
        resolved = dict(
            session.execute(
                select(FindingEvent.sweep_id, func.count())
                .where(FindingEvent.sweep_id.is_not(None), FindingEvent.to_status == "resolved")
                .group_by(FindingEvent.sweep_id)
            ).all()
        )
        out = []
        for sweep in session.execute(select(Sweep).order_by(Sweep.id.desc())).scalars():
            counts = appearances.get(sweep.id, Counter())
            out.append(
                {
                    "id": sweep.id,
                    "as_of": sweep.as_of.isoformat(),
                    "since": sweep.since.isoformat() if sweep.since else None,
                    "status": sweep.status,
                    "started_at": sweep.started_at.isoformat(sep=" ", timespec="seconds"),
                    "finished_at": sweep.finished_at.isoformat(sep=" ", timespec="seconds")
                    if sweep.finished_at
                    else None,
                    "actor": sweep.actor,
                    "facts": sweep.facts_evaluated,
                    "findings": sweep.findings_count if sweep.status == "complete" else 0,
                    "new": counts["new"],
                    "recurring": counts["recurring"],
                    "reopened": counts["reopened"],
                    "suppressed": counts["suppressed"],
                    "resolved": resolved.get(sweep.id, 0),
                    "engine_errors": sweep.engine_errors_count,
                    "failure": sweep.failure,
                }
            )
        return out


def diff_sweeps(engine: Engine, a: int, b: int) -> dict[str, Any]:
    """Findings of sweep B that A did not have, findings of A that B no longer has (and why), and how many stayed."""
    with Session(engine) as session:
        first, second = get_sweep(session, a), get_sweep(session, b)
        for sweep in (first, second):
            if sweep.status != "complete":
                raise NoSweepError(f"sweep {sweep.id} is {sweep.status}, not complete")
        rows_a = _rows(session, first.id)
        rows_b = _rows(session, second.id)
        lo, hi = sorted((first.id, second.id))
        changes: dict[str, str] = {}
        for e in session.execute(
            select(FindingEvent)
            .where(FindingEvent.sweep_id > lo, FindingEvent.sweep_id <= hi)
            .order_by(FindingEvent.id)
        ).scalars():
            changes[e.finding_key] = f"{e.to_status} in sweep {e.sweep_id}: {e.note}"
        added = [_brief(rows_b[k], rows_b[k].appearance) for k in sorted(rows_b.keys() - rows_a.keys())]
        removed = [
            _brief(rows_a[k], changes.get(k, f"not judged in sweep {second.id}"))
            for k in sorted(rows_a.keys() - rows_b.keys())
        ]
    order = lambda f: (SEVERITY_ORDER.get(f["severity"], 9), f["key"])  # noqa: E731
    return {
        "a": {"id": first.id, "as_of": first.as_of.isoformat()},
        "b": {"id": second.id, "as_of": second.as_of.isoformat()},
        "added": sorted(added, key=order),
        "removed": sorted(removed, key=order),
        "kept": len(rows_a.keys() & rows_b.keys()),
    }


def _rows(session: Session, sweep_id: int) -> dict[str, SweepFinding]:
    rows = session.execute(select(SweepFinding).where(SweepFinding.sweep_id == sweep_id)).scalars()
    return {r.finding_key: r for r in rows}


def _brief(row: SweepFinding, change: str) -> dict[str, Any]:
    return {
        "key": row.finding_key,
        "rule_id": row.rule_id,
        "severity": row.severity,
        "subject": row.subject,
        "occurrence": row.occurrence,
        "message": row.message,
        "change": change,
    }
