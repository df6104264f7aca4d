"""What a sweep does to tracked findings: snapshot rows and lifecycle events, written in the sweep's transaction."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, String, and_, case, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from auditor.findings.accountability import Accountable
from auditor.findings.lifecycle import ACTIVE, Event, on_sweep, waiver_active
from auditor.findings.state import FindingState, current_states, latest_rows
from auditor.findings.waivers import Waiver, governing, load_waivers
from auditor.rulebook import Rule
from auditor.store.bulk import insert_rows
from auditor.store.models import FindingEvent, FindingLink, FindingRow, Sweep, SweepFinding
from auditor.store.scratch import scratch_table
from auditor.store.value_list import among

Touched = Mapping[str, frozenset[str] | None]
"""A rule's partitions judged again: by key, None (the whole partition) or the occurrences judged again."""


@dataclass(frozen=True)
class CarryOver:
    """What an incremental sweep carried over from `base_sweep`.

    `touched`: per rule evaluated incrementally, the partition keys (subjects) whose outcome was judged again,
    each with None (the whole partition) or the only occurrences judged again (cadence periods). Every other
    judgement of those rules stands as in the base sweep, and so may its stored rows.
    """

    base_sweep: int
    touched: Mapping[str, Touched]
    again: frozenset[tuple[str, str, str]] | None = None
    """A lean re-sweep (engine/standing.py): the carried findings tracked again, as (rule, subject, occurrence),
    among the produced ones. Every other carried finding's base row stands: linked with the appearance its status
    gives (`link_standing`, which the sweep runs before `track`)."""
    moved: Set[str] = frozenset()
    """The people whose team manager may differ from the base sweep's (engine/carry.py's `team_changes`)."""
    watch: Set[str] = frozenset()
    """A lean re-sweep: the findings not produced whose state the sweep may change (judged again, or changed
    since the base sweep); only these and the produced ones are looked up."""

    def fresh(self, rule_id: str, subject: str, occurrence: str) -> bool:
        """Whether a judgement is the sweep's own (its rows are built), not the base sweep's (copied or linked)."""
        touched = self.touched.get(rule_id)
        if touched is None:
            return True  # the rule was evaluated in full
        if subject not in touched:
            return False
        occurrences = touched[subject]
        return occurrences is None or occurrence in occurrences


CARRIED_COLUMNS = (
    "status",
    "owner",
    "due_on",
    "first_seen_sweep",
    "age",
    "person_id",
    "region",
    "branch",
    "manager_id",
)
"""The columns of a finding's row that can differ between sweeps for the same outcome (beside appearance)."""


@dataclass(frozen=True)
class Produced:
    """A finding a sweep produced, ready to store."""

    key: str
    rule: Rule
    subject: str
    occurrence: str
    message: str
    evidence: tuple[int, ...]
    accountable: Accountable


def due_date(start: date, severity: str, due_days: Mapping[str, int]) -> date:
    """When a finding found (or reopened) on `start` must be fixed, by its severity."""
    return start + timedelta(days=due_days.get(severity, 30))


def previous_sweep(session: Session, sweep: Sweep) -> Sweep | None:
    """The last complete sweep before this one."""
    return session.execute(
        select(Sweep).where(Sweep.status == "complete", Sweep.id < sweep.id).order_by(Sweep.id.desc()).limit(1)
    ).scalar()


class _Writer:
    """Collects snapshot rows and events and inserts them in bulk."""

    def __init__(self, sweep: Sweep, actor: str) -> None:
        self.sweep, self.actor = sweep, actor
        self.at = datetime.now(UTC).replace(tzinfo=None)
        self.events: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []

    def event(self, key: str, event: Event, details: dict[str, Any] | None = None) -> None:
        self.events.append(event.row(key, at=self.at, actor=self.actor, sweep_id=self.sweep.id, details=details))

    def flush(self, session: Session) -> None:
        """Insert the snapshot rows and the events (`insert_rows`)."""
        insert_rows(session, FindingRow, self.rows)
        insert_rows(session, FindingEvent, self.events)


def track(
    session: Session,
    sweep: Sweep,
    produced: list[Produced],
    checked: Mapping[str, set[tuple[str, str]]],
    *,
    today: date,
    actor: str,
    due_days: Mapping[str, int],
    carry: CarryOver | None = None,
) -> Counter[str]:
    """Store the sweep's findings with their appearance, and the events of every finding the sweep changed.

    `checked` maps each evaluated rule id to the (subject, occurrence) pairs it
    judged: an active finding of such a rule that was judged but not produced
    is resolved by data; one that was not judged stays as it is. With `carry`
    (an incremental sweep re-run on the previous sweep's window), a carried
    finding whose row would equal its row in that sweep but for the sweep and
    appearance is linked (`FindingLink`) instead of written from here. In a lean re-sweep (`CarryOver.again`)
    the standing rows are linked already (`link_standing`): they are only counted (none of them is watched).
    """
    lean = carry is not None and carry.again is not None
    produced_keys = {p.key for p in produced}
    states = current_states(session, produced_keys | carry.watch) if lean else current_states(session)  # type: ignore[union-attr]
    waivers = load_waivers(session)
    before = previous_sweep(session, sweep)
    rerun = before is not None and before.as_of == sweep.as_of
    copying = carry is not None and before is not None and before.id == carry.base_sweep and rerun
    assert copying or not lean, "a lean sweep re-runs the previous sweep's window"
    previous: dict[str, tuple[Any, ...]] = {}  # the previous sweep's rows by key: CARRIED_COLUMNS (or only age)
    if before is not None:
        columns = [getattr(SweepFinding, name) for name in CARRIED_COLUMNS] if copying else [SweepFinding.age]
        query = select(SweepFinding.finding_key, *columns).where(SweepFinding.sweep_id == before.id)
        previous = dict(_previous(session, query, sorted(produced_keys) if lean else None))
    age_at = CARRIED_COLUMNS.index("age") if copying else 0
    writer = _Writer(sweep, actor)
    counts: Counter[str] = Counter()
    copies: dict[str, list[str]] = {}  # appearance: keys of rows linked from the previous sweep
    for item in sorted(produced, key=lambda p: p.key):
        state = states.get(item.key)
        events = len(writer.events)
        appearance, status, owner, due_on = _produced(writer, item, state, waivers, today, due_days)
        counts[appearance] += 1
        stored = previous.get(item.key)
        if appearance in ("recurring", "suppressed") and stored is not None:
            age = stored[age_at] + (0 if rerun else 1)
        else:
            age = 1
        first_seen = state.first_sweep if state and state.first_sweep else sweep.id
        carried = copying and not carry.fresh(item.rule.id, item.subject, item.occurrence)  # type: ignore[union-attr]
        if carried and stored is not None and len(writer.events) == events:
            who = item.accountable
            now = (status, owner, due_on, first_seen, age, who.person_id, who.region, who.branch, who.manager_id)
            if now == stored:
                copies.setdefault(appearance, []).append(item.key)
                continue
        writer.rows.append(
            {
                "sweep_id": sweep.id,
                "finding_key": item.key,
                "rule_id": item.rule.id,
                "area": item.rule.area,
                "title": item.rule.title,
                "severity": item.rule.severity,
                "owner": owner,
                "subject": item.subject,
                "occurrence": item.occurrence,
                "message": item.message,
                "remediation": item.rule.remediation,
                "evidence": list(item.evidence),
                "appearance": appearance,
                "status": status,
                "first_seen_sweep": first_seen,
                "age": age,
                "due_on": due_on,
                "person_id": item.accountable.person_id,
                "region": item.accountable.region,
                "branch": item.accountable.branch,
                "manager_id": item.accountable.manager_id,
            }
        )
    quiet = [k for k, s in states.items() if k not in produced_keys and (s.active or s.status == "waived")]
    for key, row in latest_rows(session, quiet).items():
        if row.rule_id not in checked:
            continue  # the rule was not part of this sweep: nothing is known
        evaluated = (row.subject, row.occurrence) in checked[row.rule_id]
        waiver = governing(waivers, key, row.rule_id, row.subject, row.branch, today)
        _, event = on_sweep(states[key].status, False, evaluated, waiver.until if waiver else None, today)
        if event is not None:
            counts["resolved" if event.to_status == "resolved" else "lapsed"] += 1
            writer.event(key, event)
    writer.flush(session)
    for appearance, keys in sorted(copies.items()):
        _link_rows(session, carry.base_sweep, sweep.id, appearance, keys)  # type: ignore[union-attr]
    if lean:
        for appearance, rows in _appearances(session, sweep.id).items():  # the rows counted above, and the standing
            if rows > counts[appearance]:
                counts[appearance] = rows
    return counts


def judged_again(touched: Mapping[str, Touched]) -> list[tuple[str, str, str | None]]:
    """Every judgement an incremental sweep made again, by rule: (rule, subject, occurrence), or no occurrence for
    a whole partition judged again."""
    return [
        (rule_id, subject, occurrence)
        for rule_id, partitions in sorted(touched.items())
        for subject, occurrences in sorted(partitions.items())
        for occurrence in ([None] if occurrences is None else sorted(occurrences))
    ]


@contextlib.contextmanager
def left_out(
    session: Session, table: Any, detail: str, judgements: Iterable[tuple[str, str, str | None]]
) -> Iterator[ColumnElement[bool]]:
    """A condition on the rows of `table` for the statements of the `with` block: none of these judgements, each a
    rule, a subject and a value of the rows' `detail` column (None: every row of the subject). The judgements go
    in a temporary table however many they are, indexed on all three columns, so that each row's probe reads the
    index alone."""
    columns = [Column("rule_id", String(80)), Column("subject", String(400)), Column("detail", String(400))]
    rows = [{"rule_id": rule, "subject": subject, "detail": value} for rule, subject, value in judgements]
    covering = ("rule_id", "subject", "detail")
    with scratch_table(session, f"{table.name}_left_out", columns, rows, index=covering) as out:
        matched = select(literal(1)).where(
            out.c.rule_id == table.c.rule_id,
            out.c.subject == table.c.subject,
            or_(out.c.detail.is_(None), out.c.detail == table.c[detail]),
        )
        yield ~matched.exists()


def link_standing(session: Session, carry: CarryOver, sweep_id: int) -> None:
    """A lean re-sweep's standing rows, linked from the base sweep: every base row of the rules evaluated
    incrementally (all of the sweep's) but those of the judgements made again (`CarryOver.touched`) and of the
    findings tracked again (`CarryOver.again`). They have no event and keep their status, so, produced again, the
    active ones recur and the others stay suppressed. Only SQL."""
    assert carry.again is not None
    rows = SweepFinding.__table__
    recurs = case((rows.c.status.in_(sorted(ACTIVE)), literal("recurring")), else_="suppressed")
    judgements = [*judged_again(carry.touched), *sorted(carry.again)]
    with left_out(session, rows, "occurrence", judgements) as standing:
        where = and_(rows.c.sweep_id == carry.base_sweep, rows.c.rule_id.in_(sorted(carry.touched)), standing)
        _link(session, sweep_id, recurs, where)


def _appearances(session: Session, sweep_id: int) -> Counter[str]:
    """How many of a sweep's stored findings appear how: its own rows and its links, counted apart (the links
    alone, without reading the rows they name)."""
    counts: Counter[str] = Counter()
    for table in (FindingRow.__table__, FindingLink.__table__):
        query = select(table.c.appearance, func.count()).where(table.c.sweep_id == sweep_id)
        counts.update({appearance: count for appearance, count in session.execute(query.group_by(table.c.appearance))})
    return counts


def _previous(session: Session, query: Any, keys: list[str] | None) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """The previous sweep's rows (key, values) of a query: all, or of some keys."""
    if keys is not None:
        query = query.where(among(session, SweepFinding.finding_key, keys))
    for key, *values in session.execute(query):
        yield key, tuple(values)


def _link_rows(session: Session, base: int, sweep_id: int, appearance: str, keys: list[str]) -> None:
    """Give this sweep the base sweep's rows of some findings as they are stored, with their appearance in it."""
    rows = SweepFinding.__table__
    where = and_(rows.c.sweep_id == base, among(session, rows.c.finding_key, keys))
    _link(session, sweep_id, literal(appearance), where)


def _link(session: Session, sweep_id: int, appearance: ColumnElement[str], where: ColumnElement[bool]) -> None:
    """Link the stored findings (`SweepFinding`) a condition selects to this sweep (`FindingLink`), not copied,
    with their appearance in it (an expression over the row)."""
    rows = SweepFinding.__table__
    source = select(literal(sweep_id), rows.c.id, appearance).where(where)
    session.execute(insert(FindingLink).from_select(["sweep_id", "finding_id", "appearance"], source))


def _produced(
    writer: _Writer,
    item: Produced,
    state: FindingState | None,
    waivers: list[Waiver],
    today: date,
    due_days: Mapping[str, int],
) -> tuple[str, str, str, date | None]:
    """Record the events of one produced finding; returns its appearance, status, owner and due date."""
    waiver = governing(waivers, item.key, item.rule.id, item.subject, item.accountable.branch, today)
    previous = state.status if state else None
    appearance, event = on_sweep(previous, True, True, waiver.until if waiver else None, today)
    assert appearance is not None
    owner = state.owner if state and state.owner else item.rule.owner
    due_on = state.due_on if state else None
    status = previous or "open"
    if event is not None:
        details: dict[str, Any] = {}
        if appearance in ("new", "reopened"):
            due_on = due_date(writer.sweep.as_of, item.rule.severity, due_days)
            details = {"owner": owner, "due_on": due_on.isoformat()}
        writer.event(item.key, event, details)
        status = event.to_status
    if status in ACTIVE and waiver is not None and waiver_active(waiver.until, today):
        writer.event(
            item.key,
            Event("waive", status, "waived", f"covered by {waiver.describe()}"),  # type: ignore[arg-type]
            {"waiver_id": waiver.id},
        )
        status = "waived"
    return appearance, status, owner, due_on
