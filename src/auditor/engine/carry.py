"""Rows an incremental sweep carries over from its base sweep: copied in SQL, not rebuilt in Python.

A sweep stores every judgement as rows of its own (a snapshot: reports read one sweep). After an
incremental sweep most partitions stand as the base sweep left them (engine/incremental.py), and so do
their rows: they are copied inside the database (`INSERT ... SELECT`), leaving out the partitions the
plan touched, whose rows are built from the fresh outcome like a full sweep's. What can differ for an
untouched partition is only what the rows take from outside the rule's facts (the roster), which is set
again after the copy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import and_, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from auditor.engine.evaluate import Evaluation
from auditor.engine.window import period_from_label
from auditor.findings.accountability import Roster
from auditor.findings.tracking import CarryOver, Touched
from auditor.rulebook import Rule
from auditor.store.bulk import insert_rows
from auditor.store.models import CadenceResult

if TYPE_CHECKING:
    from auditor.engine.incremental import Plan

MAX_LEFT_OUT = 2000
"""Judgements per rule that a copy of cadence rows leaves out by key (bound parameters); a rule with more
gets all its rows built."""
SEPARATOR = "\x1f"  # between subject and period label in a judgement's key (labels never hold it)


def carry_over(plan: Plan, rules: Sequence[Rule], evaluation: Evaluation) -> CarryOver | None:
    """What the sweep carried over from its base sweep (None: every rule was evaluated in full).

    A rule with engine errors carries nothing: its rows are built from what its outcome holds.
    """
    if plan.base_sweep is None:
        return None
    failed = {error.rule_id for error in evaluation.errors}
    touched = {
        rule.id: keys
        for rule, keys in zip(rules, plan.touched, strict=True)
        if keys is not None and rule.id not in failed
    }
    return CarryOver(plan.base_sweep, touched) if touched else None


def store_cadence(
    session: Session,
    sweep_id: int,
    rules: Sequence[Rule],
    evaluation: Evaluation,
    roster: Roster,
    carry: CarryOver | None,
) -> None:
    """Every member and period each cadence rule judged, met or not, with the team manager (the heat map).

    Rows of judgements the sweep carried over (`carry`) are copied from the base sweep; the rest are built here.
    """
    touched = carry.touched if carry is not None else {}
    copied = {
        rule.id: touched[rule.id]
        for rule in rules
        if rule.template == "cadence" and rule.id in touched and copies_cadence(touched[rule.id])
    }
    if copied:
        _copy_cadence(session, sweep_id, carry.base_sweep, copied, roster)  # type: ignore[union-attr]
    rows = []
    for rule in rules:
        if rule.template != "cadence":
            continue
        outcome = evaluation.outcomes[rule.id]
        missed = {(f.subject, f.occurrence) for f in outcome.findings}
        for subject, label in sorted(outcome.checked):
            if rule.id in copied and not carry.fresh(rule.id, subject, label):  # type: ignore[union-attr]
                continue  # copied
            rows.append(
                {
                    "sweep_id": sweep_id,
                    "rule_id": rule.id,
                    "area": rule.area,
                    "subject": subject,
                    "period": label,
                    "period_start": period_from_label(label).start,
                    "met": (subject, label) not in missed,
                    "manager_id": roster.team_manager(subject),
                }
            )
    insert_rows(session, CadenceResult, rows)


def copies_cadence(touched: Touched) -> bool:
    """Whether a cadence rule's rows are copied (few enough judgements made again to leave out by key)."""
    return sum(1 if periods is None else len(periods) for periods in touched.values()) <= MAX_LEFT_OUT


def _copy_cadence(session: Session, sweep_id: int, base: int, copied: dict[str, Touched], roster: Roster) -> None:
    """The base sweep's cadence rows of the copied rules but for the judgements made again; managers as now."""
    table = CadenceResult.__table__
    columns = [c for c in table.columns if c.name not in ("id", "sweep_id")]
    kept = []
    for rule_id, touched in sorted(copied.items()):
        whole = sorted(key for key, periods in touched.items() if periods is None)
        some = sorted(key + SEPARATOR + label for key, periods in touched.items() if periods for label in periods)
        pair = table.c.subject + SEPARATOR + table.c.period  # not a row value: SQLite scans those lists row by row
        kept.append(and_(table.c.rule_id == rule_id, table.c.subject.not_in(whole), pair.not_in(some)))
    query = select(literal(sweep_id), *columns).where(table.c.sweep_id == base, or_(*kept))
    session.execute(insert(table).from_select(["sweep_id", *(c.name for c in columns)], query))
    moved: dict[str, list[str]] = defaultdict(list)  # team manager now: subjects whose rows name another
    stored = select(table.c.subject, table.c.manager_id).where(table.c.sweep_id == sweep_id).distinct()
    for subject, manager in session.execute(stored):
        if roster.team_manager(subject) != manager:
            moved[roster.team_manager(subject)].append(subject)
    for manager, subjects in sorted(moved.items()):
        subjects.sort()
        for start in range(0, len(subjects), MAX_LEFT_OUT):
            batch = subjects[start : start + MAX_LEFT_OUT]
            where = and_(table.c.sweep_id == sweep_id, table.c.subject.in_(batch))
            session.execute(update(table).where(where).values(manager_id=manager))
