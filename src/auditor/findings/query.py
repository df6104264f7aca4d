"""Read sweeps and their findings back from the database."""

from __future__ import annotations

import gc
from collections import namedtuple
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from auditor.findings.lifecycle import overdue
from auditor.findings.state import FindingState, current_states, latest_rows
from auditor.rulebook import SEVERITY_ORDER
from auditor.store.models import EngineError, FactRow, RuleCheck, Sweep, SweepFinding


class NoSweepError(LookupError):
    """There is no (such) sweep in the database."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while building large results (nested use is fine).

    Reading a large sweep creates hundreds of thousands of long-lived dicts and rows, and CPython's
    generational collector rescans every one of them again and again as they pile up: 40 % of the time of
    a 90,000-finding report, for nothing, since none of them is garbage. Reference counting still frees
    everything as usual; only reference cycles wait until the collector runs again.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


FindingTuple = namedtuple("FindingTuple", SweepFinding.__table__.columns.keys())  # type: ignore[misc]
"""A row of the `findings` table with fast attribute access (plain rows are slow to read by name)."""


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


def finding_dict(row: SweepFinding | FindingTuple) -> dict[str, Any]:
    """A finding as its sweep stored it (the JSON export shape, before current status is added)."""
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
        "appearance": row.appearance,
        "status_at_sweep": row.status,
        "age": row.age,
        "person_id": row.person_id,
        "region": row.region,
        "branch": row.branch,
        "manager_id": row.manager_id,
    }


@dataclass
class FindingFilter:
    """Which findings to list; empty tuples match everything. Rules may be shell patterns (`MAT-*`)."""

    statuses: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()
    new_only: bool = False
    overdue_only: bool = False

    def accepts(self, f: dict[str, Any]) -> bool:
        """Whether a listed finding (with its current status) passes every filter."""
        return (
            (not self.statuses or f["status"] in self.statuses)
            and (not self.severities or f["severity"] in self.severities)
            and (not self.areas or f["area"] in self.areas)
            and (not self.rules or any(fnmatchcase(f["rule_id"], r) for r in self.rules))
            and (not self.regions or f["region"] in self.regions)
            and (not self.branches or f["branch"] in self.branches)
            and (not self.managers or f["manager_id"] in self.managers or f["person_id"] in self.managers)
            and (not self.new_only or f["appearance"] == "new")
            and (not self.overdue_only or f["overdue"])
        )


def list_findings(
    engine: Engine,
    sweep_id: int | None = None,
    filters: FindingFilter | None = None,
    *,
    tracked: bool = False,
    today: date | None = None,
) -> tuple[Sweep, list[dict[str, Any]]]:
    """A sweep's findings (latest by default) with their current status, most severe first.

    With `tracked`, every finding ever found instead, each as its last sweep
    stored it (this is where findings resolved since are listed). `today`
    decides what is overdue (default: today's date).
    """
    today = today or date.today()
    filters = filters or FindingFilter()
    with gc_paused(), Session(engine) as session:
        sweep = get_sweep(session, sweep_id)
        rows: Sequence[SweepFinding | FindingTuple]
        if tracked:
            rows = list(latest_rows(session).values())
            states = current_states(session)
        else:  # plain tuples, not ORM objects: a large sweep has tens of thousands
            query = select(SweepFinding.__table__).where(SweepFinding.sweep_id == sweep.id)
            rows = [FindingTuple._make(row) for row in session.execute(query)]
            states = current_states(session, sweep_id=sweep.id)
        as_of = {i: d for i, d in session.execute(select(Sweep.id, Sweep.as_of))}
        findings = [with_state(finding_dict(row), row, states.get(row.finding_key), as_of, today) for row in rows]
        if filters != FindingFilter():
            findings = [f for f in findings if filters.accepts(f)]
        findings.sort(key=lambda f: (SEVERITY_ORDER.get(f["severity"], 9), f["rule_id"], f["subject"], f["occurrence"]))
    return sweep, findings


def with_state(
    f: dict[str, Any], row: SweepFinding | FindingTuple, state: FindingState | None, as_of: dict[int, date], today: date
) -> dict[str, Any]:
    """Add current status, owner, due date, overdue and first/last seen to a finding's stored data."""
    status = state.status if state else row.status
    due_on = state.due_on if state else row.due_on
    first = state.first_sweep if state and state.first_sweep else row.first_seen_sweep
    f.update(
        status=status,
        owner=(state.owner if state and state.owner else row.owner),
        due_on=due_on.isoformat() if due_on else None,
        overdue=overdue(status, due_on, today),
        first_seen_sweep=first,
        first_seen=_iso(as_of.get(first)),
        last_seen_sweep=row.sweep_id,
        last_seen=_iso(as_of.get(row.sweep_id)),
    )
    return f


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


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
