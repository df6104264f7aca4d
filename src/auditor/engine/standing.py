"""Carried findings of a lean re-sweep: the rows that stand as the base sweep stored them, and the few tracked again.

When a sweep re-runs the base sweep's window (`Plan.rerun`) and every rule was evaluated incrementally, most
findings are carried over: their partitions' facts are the same, and so are their messages and evidence. Such a
sweep does not turn them into Python objects one by one (`combine(expand=False)` only counts them). A carried
finding's row can still differ from its base row through what lies outside its partition, so it is tracked
again, like a fresh finding, when any of these may have changed since the base sweep:

* its lifecycle: it has a triage event since the base sweep, or it was ever waived (a waiver lapses by the day);
* waivers: one names its key, or one's rule and subject patterns match it (whatever its expiry and branch);
* accountability: the subject, or a person or branch field of its evidence, names a person who joined or left
  the roster or whose region, branch or manager changed, or a branch whose region vote may have changed
  (`roster_changes`; `Roster.resolve` reads nothing else).

Every other carried finding's row stands: the sweep links it (`finding_links`) with the appearance its status gives
(`findings/tracking.py`), in SQL: every base row of the sweep's rules but those judged again and those tracked
again. Only the partitions that can hold a finding tracked again are read here. docs/engine.md argues why this
equals a full sweep; tests/test_incremental_sweep.py checks it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from auditor.engine.states import Partitions
from auditor.findings.accountability import Roster
from auditor.findings.model import finding_key
from auditor.findings.tracking import CarryOver, Produced
from auditor.findings.waivers import Waiver, load_waivers
from auditor.rulebook import Rule
from auditor.store.models import FindingEvent

if TYPE_CHECKING:
    from auditor.engine.incremental import Plan


def lean(plan: Plan, rules: Sequence[Rule], carry: CarryOver | None) -> bool:
    """Whether a sweep can leave its carried findings in the database: it re-runs the base sweep's window, and
    every rule was evaluated incrementally without engine errors."""
    return carry is not None and plan.rerun and all(rule.id in carry.touched for rule in rules)


class Judged:
    """A rule's judgements in a lean sweep: the fresh ones, and the occurrences its carried partitions stored."""

    def __init__(self, fresh: set[tuple[str, str]], kept: Partitions) -> None:
        self.fresh, self.kept = fresh, kept

    def __contains__(self, pair: object) -> bool:
        if pair in self.fresh:
            return True
        subject, occurrence = pair  # type: ignore[misc]
        entry = self.kept.get(subject)
        return entry is not None and occurrence in entry[1]


@dataclasses.dataclass
class Outside:
    """What a lean sweep reads from the database to decide which carried findings stand (read before it works on
    without the database): the keys `changed_keys` gives and the waivers."""

    changed: set[str]
    waivers: list[Waiver]

    @classmethod
    def read(cls, session: Session, plan: Plan) -> Outside:
        assert plan.base_sweep is not None
        return cls(changed_keys(session, plan.base_sweep), load_waivers(session))


def leave_standing(
    outside: Outside,
    rules: Sequence[Rule],
    kept: Mapping[str, Partitions],
    fresh: Mapping[str, set[tuple[str, str]]],
    roster: Roster,
    plan: Plan,
    carry: CarryOver,
) -> tuple[list[Produced], CarryOver, dict[str, Judged]]:
    """A lean sweep's carried findings made ready for tracking: those tracked again (module docstring); the
    carry-over naming them (`CarryOver.again`: every other carried row stands, and is linked) and the keys to
    watch, whose state the sweep may change though they are not produced (changed since the base sweep, or
    judged again: `fresh`); and each rule's judgements, fresh and carried. Needs no database (`outside` was
    read before).

    Only the carried partitions that can hold a finding tracked again are decoded (`_suspects`), not every one
    with findings: what changed since the base sweep is little beside what stands.
    """
    changed, waivers = outside.changed, outside.waivers
    named = {waiver.finding_key for waiver in waivers if waiver.finding_key is not None}
    people, branches = roster_changes(roster, plan.people, plan.people_before)
    again: list[Produced] = []
    for rule in rules:
        partitions = kept.get(rule.id)
        if partitions is None:
            continue
        patterns = _patterns(waivers, rule.id)
        for subject in _suspects(rule.id, partitions, changed | named, patterns, people | branches):
            suspect = subject in people or subject in branches or any(fnmatchcase(subject, p) for p in patterns)
            for occurrence, cited, message, fields in partitions[subject][2]:
                key = finding_key(rule.id, subject, occurrence)
                if suspect or key in changed or key in named or _names(fields, people, branches):
                    evidence = [fields[str(i)] for i in cited if str(i) in fields]
                    resolved = roster.resolve(subject, evidence)
                    again.append(Produced(key, rule, subject, occurrence, message, tuple(cited), resolved))
    watch = set(changed)
    for rule_id, pairs in fresh.items():
        watch.update(finding_key(rule_id, subject, occurrence) for subject, occurrence in pairs)
    judged = {rule_id: Judged(pairs, kept[rule_id]) for rule_id, pairs in fresh.items()}
    tracked = frozenset((p.rule.id, p.subject, p.occurrence) for p in again)
    return again, dataclasses.replace(carry, again=tracked, watch=watch), judged


MAX_NEEDLES = 64
"""More people and branches changed than this: every carried partition with findings is decoded and read, not
searched for their names first."""


def _suspects(rule_id: str, partitions: Partitions, keys: set[str], patterns: list[str], names: set[str]) -> list[str]:
    """The carried partitions (keys, sorted) of a rule that may hold a finding tracked again; a superset of them.

    A finding is tracked again when its subject is a changed person or branch or matches a waiver's subject
    pattern, when its key changed or a waiver names it, or when its evidence names a changed person or branch.
    The first ones are found by subject, the keyed ones by the subjects their keys can name (`rule|subject|
    occurrence`; a subject may hold `|`), and the last ones by searching the partitions as stored for the
    names as JSON strings (the stored entries are msgspec's JSON, engine/states.py, which writes a string one
    way only): only the partitions where one occurs are decoded and read.
    """
    with_findings = partitions.with_findings
    found = {subject for subject in names if subject in with_findings}
    if patterns:
        found.update(subject for subject in with_findings if any(fnmatchcase(subject, p) for p in patterns))
    prefix = rule_id + "|"
    for key in keys:
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            found.update(rest[:at] for at, char in enumerate(rest) if char == "|" and rest[:at] in with_findings)
    if names:
        found.update(_naming(partitions, names))
    return sorted(found)


def _naming(partitions: Partitions, names: set[str]) -> set[str]:
    """The partitions with findings whose stored entry holds one of the names as a JSON string (all of them when
    there are too many names to search for, MAX_NEEDLES)."""
    if len(names) > MAX_NEEDLES:
        return set(partitions.with_findings)
    return partitions.holding([msgspec.json.encode(name) for name in sorted(names)], partitions.with_findings)


def roster_changes(
    roster: Roster, touched: set[str], before: Mapping[str, Mapping[str, Any]]
) -> tuple[set[str], set[str]]:
    """The people and branches for which `Roster.resolve` may answer otherwise than on the base sweep's roster.

    `touched`: the people whose facts changed since; `before`: those on the base sweep's roster, as they were.
    A person counts when they joined or left the roster, or their region, branch or manager changed. A branch
    counts when the regions of its people, counted, changed, or tie: its region is their vote, and a tie is
    broken by the roster's order, which a correction changes.
    """
    people = {pid for pid in touched if _placed(before.get(pid)) != _placed(roster.people.get(pid))}
    old = {**roster.people, **before}
    for pid in touched - before.keys():
        old.pop(pid, None)  # joined since
    named = {p.get("branch") for pid in touched for p in (before.get(pid), roster.people.get(pid)) if p}
    branches = set()
    for branch in named - {None, ""}:
        votes = [_votes(group.values(), branch) for group in (old, roster.people)]
        if votes[0] != votes[1] or any(_tied(vote) for vote in votes):
            branches.add(str(branch))
    return people, branches


def _placed(person: Mapping[str, Any] | None) -> tuple[str, str, str] | None:
    """What `Roster.resolve` takes of a person (None: not on the roster)."""
    if person is None:
        return None
    return (person.get("region") or "", person.get("branch") or "", person.get("manager_id") or "")


def _votes(people: Iterable[Mapping[str, Any]], branch: Any) -> Counter[str]:
    return Counter(p["region"] for p in people if p.get("branch") == branch and p.get("region"))


def _tied(votes: Counter[str]) -> bool:
    top = votes.most_common(2)
    return len(top) == 2 and top[0][1] == top[1][1]


def changed_keys(session: Session, base_sweep: int) -> set[str]:
    """Findings whose state may have changed since the base sweep: a triage event after the events of the sweeps
    up to it (triage and sweeps hold the same lock, so later events have higher ids), or ever waived."""
    e = FindingEvent
    floor = select(func.coalesce(func.max(e.id), 0)).where(e.sweep_id <= base_sweep).scalar_subquery()
    since = and_(e.sweep_id.is_(None), e.id > floor)
    query = select(e.finding_key).where(or_(since, e.to_status == "waived")).distinct()
    return set(session.execute(query).scalars())


def _patterns(waivers: list[Waiver], rule_id: str) -> list[str]:
    """The subject patterns of the pattern waivers whose rule pattern matches a rule."""
    return [w.subject_pattern for w in waivers if w.finding_key is None and fnmatchcase(rule_id, w.rule_pattern)]


def _names(fields: Mapping[str, Mapping[str, Any]], people: set[str], branches: set[str]) -> bool:
    """Whether a carried finding's evidence fields name one of the people or branches."""
    if not people and not branches:
        return False
    return any(value in people or value in branches for values in fields.values() for value in values.values())
