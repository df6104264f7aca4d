"""Rows an incremental sweep carries over from its base sweep: copied or linked in SQL, not rebuilt in Python.

A sweep holds every judgement as rows (a snapshot: reports read one sweep). After an incremental sweep
most partitions stand as the base sweep left them (engine/incremental.py), and so do their rows: cadence
rows are copied inside the database (`INSERT ... SELECT`), leaving out the partitions the plan touched,
whose rows are built from the fresh outcome like a full sweep's; what can differ for an untouched partition
is only what the rows take from outside the rule's facts (the roster), which is set again after the copy for
the people whose team manager may have changed.
Standing finding rows are linked, not copied (`link_standing`, store/models.py's `FindingLink`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence, Set
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, insert, literal, select, update
from sqlalchemy.orm import Session

from auditor.engine.evaluate import Evaluation
from auditor.engine.window import period_from_label
from auditor.findings.accountability import Roster
from auditor.findings.tracking import CarryOver, Touched, judged_again, left_out, link_standing
from auditor.rulebook import Rule
from auditor.store.bulk import insert_rows
from auditor.store.models import CadenceResult
from auditor.store.value_list import among

if TYPE_CHECKING:
    from auditor.engine.incremental import Plan

UPDATE_BATCH = 2000  # rows or subjects per statement (bound parameters)


def carry_over(plan: Plan, rules: Sequence[Rule], evaluation: Evaluation, roster: Roster) -> CarryOver | None:
    """What the sweep carried over from its base sweep (None: every rule was evaluated in full), with the people
    whose team manager may have changed since (`team_changes`).

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
    if not touched:
        return None
    return CarryOver(plan.base_sweep, touched, moved=team_changes(roster, plan.people, plan.people_before))


def team_changes(roster: Roster, touched: set[str], before: Mapping[str, Mapping[str, Any]]) -> frozenset[str]:
    """The people whose team manager (`Roster.team_manager`) may differ from the base sweep's: those whose facts
    changed since (`touched`; `before`: those on the base sweep's roster, as they were then), and every manager
    they named then or name now, who may have gained their first report or lost their last one."""
    moved = set(touched)
    for pid in touched:
        for person in (before.get(pid), roster.people.get(pid)):
            if person and person.get("manager_id"):
                moved.add(str(person["manager_id"]))
    return frozenset(moved)


def copied_cadence(rules: Sequence[Rule], carry: CarryOver | None) -> dict[str, Touched]:
    """The cadence rules whose rows the sweep copies from its base sweep, with their partitions judged again."""
    touched = carry.touched if carry is not None else {}
    return {rule.id: touched[rule.id] for rule in rules if rule.template == "cadence" and rule.id in touched}


def store_cadence(
    session: Session,
    sweep_id: int,
    rules: Sequence[Rule],
    evaluation: Evaluation,
    roster: Roster,
    carry: CarryOver | None,
) -> None:
    """Every member and period each cadence rule judged, met or not, with the team manager (the heat map).

    Rows of judgements the sweep carried over (`carry`) were copied from the base sweep (`copy_cadence`, which
    ran first); the managers of the people whose team manager may have changed (`CarryOver.moved`) are set as
    now, and the rest of the rows are built here.
    """
    copied = copied_cadence(rules, carry)
    if copied and carry is not None and carry.moved:
        _set_managers(session, sweep_id, roster, carry.moved)
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


def copy_cadence(session: Session, sweep_id: int, rules: Sequence[Rule], carry: CarryOver | None) -> None:
    """The base sweep's cadence rows of the copied rules (`copied_cadence`) but for the judgements made again,
    as they were stored (`store_cadence` then sets their managers as now). Only SQL: it may run while the sweep
    works on in Python (store/background.py).

    The judgements made again are left out through a temporary table (however many there are), each as its rule
    and subject with its period, or no period for the whole partition.
    """
    copied = copied_cadence(rules, carry)
    if not copied:
        return
    assert carry is not None
    table = CadenceResult.__table__
    columns = [c for c in table.columns if c.name not in ("id", "sweep_id")]
    with left_out(session, table, "period", judged_again(copied)) as standing:
        query = select(literal(sweep_id), *columns).where(
            table.c.sweep_id == carry.base_sweep, table.c.rule_id.in_(sorted(copied)), standing
        )
        session.execute(insert(table).from_select(["sweep_id", *(c.name for c in columns)], query))


def copy_carried(
    session: Session, sweep_id: int, rules: Sequence[Rule], carry: CarryOver | None, lean: Future[CarryOver | None]
) -> None:
    """Every row a sweep takes from its base sweep: the cadence rows (`copy_cadence`), then, in a lean re-sweep,
    the links to the standing findings' rows (`link_standing`) once the sweeping thread has picked them and
    handed over the carry-over naming them through `lean` (None: none to link). Only SQL (store/background.py)."""
    copy_cadence(session, sweep_id, rules, carry)
    standing = lean.result()
    if standing is not None:
        link_standing(session, standing, sweep_id)


def _set_managers(session: Session, sweep_id: int, roster: Roster, people: Set[str]) -> None:
    """Give the sweep's cadence rows of some people (the copied rows: no others are stored yet) each one's team
    manager now."""
    table = CadenceResult.__table__
    moved: dict[str, list[str]] = defaultdict(list)  # team manager now: subjects whose rows name another
    stored = select(table.c.subject, table.c.manager_id).where(
        table.c.sweep_id == sweep_id, among(session, table.c.subject, sorted(people))
    )
    for subject, manager in session.execute(stored.distinct()):
        if roster.team_manager(subject) != manager:
            moved[roster.team_manager(subject)].append(subject)
    for manager, subjects in sorted(moved.items()):
        subjects.sort()
        for start in range(0, len(subjects), UPDATE_BATCH):
            batch = subjects[start : start + UPDATE_BATCH]
            where = and_(table.c.sweep_id == sweep_id, table.c.subject.in_(batch))
            session.execute(update(table).where(where).values(manager_id=manager))
