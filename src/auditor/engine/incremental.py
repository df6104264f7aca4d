"""Incremental sweeps: evaluate only the partitions whose inputs changed since the last complete sweep.

Every complete sweep stores, per rule, a `RuleState`: the rule's fingerprint (its compiled definition, the
window values it reads and this cache's format), the facts as the sweep saw them (highest row id, row count,
current facts per kind) and, per partition key, the partition's member row ids, the occurrences it judged and
its findings. A fact row never changes after ingest (a correction is a new row; the old one only loses
`current`), so a partition whose member row ids are the same has the same inputs and the same outcome.

The next sweep, for each rule whose fingerprint is unchanged, reads only the rows added since (`id >`
the stored highest id) and the versions they replaced, computes the partition keys those rows belong to,
loads the current facts of just those partitions (by the stored member ids plus the new rows) and evaluates
the partitions whose members differ; every other partition's outcome is carried over. A rule whose fingerprint
changed (definition, window, holidays it reads), a rule without a state, or facts that were deleted (fewer rows
up to the stored id than recorded) are evaluated in full. docs/engine.md argues why the result equals a full
sweep's; tests/test_incremental_sweep.py checks it.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, select, type_coerce
from sqlalchemy.orm import Session

from auditor import __version__
from auditor.engine.compiler import CadenceRule, CompiledRule, MatchRule, compile_rule
from auditor.engine.evaluate import Groups, partitioning
from auditor.engine.facts import EngineFact, epoch
from auditor.engine.states import (
    Entry,
    Partial,
    Partitions,
    documents,
    expect_time,
    pack_ids,
    times_text,
    unpack_ids,
)
from auditor.engine.stored import engine_fact, stored_payload
from auditor.engine.window import CadencePeriod, SweepWindow, day_start
from auditor.facts.registry import FACT_KINDS
from auditor.rulebook import Rule
from auditor.store.models import FactRow, RuleState, Sweep
from auditor.store.value_list import among
from auditor.store.watermark import fact_watermark, facts_intact

CACHE_FORMAT = 7
"""Bump when what a partition's outcome means or how it is stored changes: every state then counts as stale."""
Loader = Callable[[Session, set[str], datetime], list[EngineFact]]


@dataclass
class Plan:
    """What a sweep evaluates and what it carries over, per rule (same order as the rules)."""

    facts: list[EngineFact]  # every fact the evaluation needs
    groups: list[Groups | None]  # partitions to evaluate (None: all of the rule's facts)
    carried: list[Partitions]  # partitions whose stored outcome stands
    fingerprints: list[str]
    counts: dict[str, int]  # current facts in the window per kind
    max_fact_id: int
    rows: int  # fact rows up to max_fact_id
    reasons: dict[str, str] = field(default_factory=dict)  # rule id: why it was evaluated in full
    partial: list[dict[str, Partial]] = field(default_factory=list)
    """Per rule: the partitions judged again for some occurrences only (cadence periods, or the changed facts
    of a match rule judged fact by fact: `by_occurrence`)."""
    by_occurrence: set[int] = field(default_factory=set)
    """Indexes of the rules whose partial partitions are judged fact by fact (`_occurrence_role`), not by period."""
    base_sweep: int | None = None  # the sweep whose stored outcomes the incrementally evaluated rules carry
    touched: list[dict[str, frozenset[str] | None] | None] = field(default_factory=list)
    """Per rule evaluated incrementally (None: evaluated in full): the partitions whose members changed, each
    with None (evaluated again, or gone) or the occurrences judged again (cadence periods; none when the
    outcome stands). Every other judgement stands as in the base sweep (`carry.py` copies its rows)."""
    rerun: bool = False  # the base sweep is the latest complete one, of the same as-of day
    people: set[str] = field(default_factory=set)  # ids of the people whose facts changed since the base sweep
    people_before: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Of those people, the ones on the base sweep's roster: their fields then (the version current then)."""

    @property
    def periods(self) -> list[dict[str, frozenset[str]]]:
        """Per rule: the cadence partitions judged for some periods only, and those periods' labels (a match rule
        judged fact by fact evaluates only those facts: its chunks judge whatever they hold)."""
        return [
            {}
            if index in self.by_occurrence
            else {key: frozenset(judged.occurrences) for key, judged in partial.items()}
            for index, partial in enumerate(self.partial)
        ]

    @property
    def facts_evaluated(self) -> int:
        """Current facts of the rules' kinds in the window: what a full sweep loads."""
        return sum(self.counts.values())

    def stats(self, members: dict[int, dict[str, list[int]]]) -> dict[str, int]:
        """Partitions evaluated (whole or some periods) and carried over, and rules evaluated in full."""
        return {
            "evaluated": sum(len(m) for m in members.values()),
            "carried": sum(len(c) for c in self.carried),
            "rules_in_full": sum(1 for g in self.groups if g is None),
        }


def rule_fingerprint(compiled: CompiledRule) -> str:
    """What a partition's stored outcome depends on besides its facts: the rule (its check, message, params and
    everything a message may show; not where it was read from) and the window days and holidays it reads."""
    window = compiled.window
    rule = repr(dataclasses.replace(compiled.rule, source="", line=0))
    holidays = sorted(d.isoformat() for d in window.holidays) if "business_days" in rule else []
    parts = [CACHE_FORMAT, __version__, compiled.digest, rule, window.as_of.isoformat(), window.since.isoformat()]
    text = json.dumps([*parts, holidays], default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def plan_sweep(
    session: Session,
    rules: Sequence[Rule],
    window: SweepWindow,
    load: Loader,
    full: bool,
    watermark: tuple[int, int] | None = None,
) -> Plan:
    """Decide per rule: evaluate in full, or only the partitions changed since the stored state (`watermark`: the
    fact rows the sweep sees, `fact_watermark`, read now when not given)."""
    compiled = [compile_rule(rule, window) for rule in rules]
    fingerprints = [rule_fingerprint(c) for c in compiled]
    watermark = watermark or fact_watermark(session)
    max_id, rows = watermark
    states = {} if full else _states(session)
    usable = [i for i, r in enumerate(rules) if r.id in states and states[r.id].fingerprint == fingerprints[i]]
    reasons = {r.id: _reason(full, states.get(r.id)) for i, r in enumerate(rules) if i not in usable}
    base = None
    if usable:
        newest = max(states[rules[i].id].sweep_id for i in usable)
        for i in [i for i in usable if states[rules[i].id].sweep_id != newest]:
            reasons[rules[i].id] = "its state is older than the other rules'"
        usable = [i for i in usable if states[rules[i].id].sweep_id == newest]
        base = states[rules[usable[0]].id]
        if not facts_intact(session, base.max_fact_id, base.fact_counts.get("_rows"), watermark):
            reasons.update({rules[i].id: "facts were deleted since the last sweep" for i in usable})
            usable = []
    full_kinds = {kind for i in range(len(rules)) if i not in usable for kind in compiled[i].kinds()}
    facts = load(session, full_kinds, window.as_of_end) if full_kinds else []
    counts = Counter(f.kind for f in facts)
    carried = [Partitions() for _ in rules]
    plan = Plan(facts, [None] * len(rules), carried, fingerprints, dict(counts), int(max_id), int(rows))
    plan.reasons = reasons
    plan.partial = [{} for _ in rules]
    plan.touched = [None for _ in rules]
    if base is not None and usable:
        plan.base_sweep = base.sweep_id
        latest = session.execute(
            select(Sweep.id, Sweep.as_of).where(Sweep.status == "complete").order_by(Sweep.id.desc()).limit(1)
        ).one_or_none()
        plan.rerun = latest is not None and tuple(latest) == (base.sweep_id, window.as_of)
        _plan_changes(session, plan, compiled, usable, base, window, full_kinds)
    return plan


def _reason(full: bool, state: Any) -> str:
    if full:
        return "a full sweep was asked for"
    return "no stored state" if state is None else "its definition or the window changed"


def _states(session: Session) -> dict[str, Any]:
    """The stored rule states without their partitions."""
    s = RuleState
    query = select(s.rule_id, s.fingerprint, s.sweep_id, s.max_fact_id, s.fact_counts)
    return {row.rule_id: row for row in session.execute(query)}


def _plan_changes(
    session: Session,
    plan: Plan,
    compiled: list[CompiledRule],
    usable: list[int],
    base: Any,
    window: SweepWindow,
    full_kinds: set[str],
) -> None:
    """Fill in the plan of the rules evaluated incrementally: their changed partitions and what they carry.

    Member sets are worked out from row ids alone (stored members, minus replaced versions, plus added
    current rows in the window); only the facts of partitions to evaluate are loaded.
    """
    hwm = base.max_fact_id
    kinds = {kind for i in usable for kind in compiled[i].kinds()}
    end = window.as_of_end
    added = _rows(session, FactRow.id > hwm)
    replaced = _replaced(session, hwm, added)
    for kind in kinds - full_kinds:
        plan.counts[kind] = _count(base.fact_counts, kind, added, replaced, end)
    joined = [fact for fact, current, at in added if current and at < end]
    for fact, _, _ in [*added, *replaced]:
        if fact.kind == "person":
            plan.people.add(str(fact.values.get("id", fact.natural_id)))
    for fact, _, _ in replaced:  # in id order: the last version of a person stored by then was current then
        if fact.kind == "person":
            plan.people_before[str(fact.values.get("id", fact.natural_id))] = fact.values
    gone = {fact.row_id for fact, _, _ in replaced}
    touched = [fact for fact, _, _ in added] + [fact for fact, _, _ in replaced]
    docs = documents(session, [compiled[i].rule.id for i in usable])
    wanted: dict[int, dict[str, list[int]]] = {}
    keyed: dict[Any, tuple[dict[str, list[EngineFact]], dict[str, list[EngineFact]]]] = {}
    for i in usable:
        alike = (frozenset(compiled[i].kinds()), partitioning(compiled[i]))  # the same kinds, keyed the same
        if alike not in keyed:
            keyed[alike] = _by_key(compiled[i], touched), _by_key(compiled[i], joined)
        wanted[i] = _plan_rule(plan, i, compiled[i], *keyed[alike], gone, docs[compiled[i].rule.id])
        plan.reasons.pop(compiled[i].rule.id, None)
    for i in sorted(plan.by_occurrence):
        _narrow(session, plan, i, compiled[i], wanted[i], joined)
    loaded = {f.row_id: f for f in plan.facts}
    loaded.update((f.row_id, f) for f in joined)
    missing = sorted({row_id for keys in wanted.values() for ids in keys.values() for row_id in ids} - loaded.keys())
    for fact, _, _ in _rows(session, among(session, FactRow.id, missing)):
        loaded[fact.row_id] = fact
    needed = {row_id for keys in wanted.values() for ids in keys.values() for row_id in ids}
    plan.facts.extend(loaded[row_id] for row_id in sorted(needed) if loaded[row_id].kind not in full_kinds)
    for i, keys in wanted.items():
        plan.groups[i] = {key: [loaded[row_id] for row_id in ids] for key, ids in keys.items()}


def _by_key(compiled: CompiledRule, facts: list[EngineFact]) -> dict[str, list[EngineFact]]:
    """The facts of a rule's kinds by the partition keys they belong to, each key's in the facts' order."""
    kinds = compiled.kinds()
    out: dict[str, list[EngineFact]] = {}
    for fact in facts:
        if fact.kind in kinds:
            for key in compiled.keys_of(fact):
                out.setdefault(key, []).append(fact)
    return out


def _plan_rule(
    plan: Plan,
    index: int,
    compiled: CompiledRule,
    changes: dict[str, list[EngineFact]],
    arrivals: dict[str, list[EngineFact]],
    gone: set[int],
    doc: Partitions,
) -> dict[str, list[int]]:
    """One rule's plan; returns the row ids to evaluate per partition (whole, or some cadence periods).

    `changes`: the changed facts (new rows and the versions they replaced) by the rule's partition keys;
    `arrivals`: the new current rows in the window by those keys (`_by_key`).

    A touched partition stands, with its new members, when none of the changed facts (new or replaced
    versions) is one the engine would assert for this rule; a cadence partition whose member facts did not
    change is judged again only for the periods whose span holds a changed expected fact; a match rule's
    partition where only facts of its one fact role changed is judged again only for those facts
    (`_occurrence_role`: each is an occurrence of its own; `_narrow` adds the other roles' facts).
    """
    cadence = isinstance(compiled, CadenceRule)
    spans = _Spans([_span(p) for p in compiled.periods] if isinstance(compiled, CadenceRule) else [])
    single = _occurrence_role(compiled)
    touched: dict[str, frozenset[str] | None] = dict.fromkeys(changes)
    plan.touched[index] = touched
    stored_of = {key: doc.pop(key) for key in changes}  # the document is this plan's: taken apart in place
    carried = doc  # every partition no change touched
    evaluate: dict[str, list[int]] = {}
    check = compiled.check if cadence else None
    for key, changed in changes.items():
        stored = stored_of[key]
        text, member_times = _new_members(stored, arrivals.get(key, []), changed, gone, check)
        if not text:
            continue  # no member left: the partition is gone
        roles = {role for fact in changed for role in compiled.roles_of(fact)}
        if stored is not None and not roles:
            carried[key] = [text, stored[1], stored[2], member_times]  # only facts the engine never asserts changed
            touched[key] = frozenset()
            continue
        if single is not None and stored is not None and roles == {single[0]}:
            alias, kind = single
            occurrences = {_occurrence(compiled, alias, fact) for fact in changed if fact.kind == kind}
            evaluate[key] = unpack_ids(text)  # narrowed to the changed facts and the other roles' facts (`_narrow`)
            plan.partial[index][key] = Partial(occurrences, text, stored, member_times)
            plan.by_occurrence.add(index)
            touched[key] = frozenset(occurrences)
            continue
        periods = _periods(compiled, changed, roles, spans) if stored is not None else None
        if periods is None:
            evaluate[key] = unpack_ids(text)
            continue
        if not periods:
            carried[key] = [text, stored[1], stored[2], member_times]  # every change lies outside the judged periods
            touched[key] = frozenset()
            continue
        ids = unpack_ids(text)
        evaluate[key] = _members_for(ids, dict(zip(ids, json.loads(member_times), strict=True)), periods)
        plan.partial[index][key] = Partial({label for _, _, label in periods}, text, stored, member_times)
        touched[key] = frozenset(label for _, _, label in periods)
    plan.carried[index] = carried
    return evaluate


def _new_members(
    stored: Entry | None,
    arrivals: list[EngineFact],
    changed: list[EngineFact],
    gone: set[int],
    check: Any,
) -> tuple[str, str]:
    """A touched partition's members after the change, as stored: their row ids (`pack_ids`) and, for a cadence
    rule (`check` given), their expected times (`times_text`).

    The stored members all have ids up to the base sweep's highest, the arrivals (in id order) above it: the
    members stay in id order with the arrivals put after them. The stored texts are not parsed: a member
    replaced since (one of the partition's changed facts) is cut out of both at its place, which its row id's
    text gives (the times are JSON numbers and nulls, one per member, so the same place).
    """
    new_ids = pack_ids([fact.row_id for fact in arrivals])
    new_times = times_text([expect_time(check, fact) for fact in arrivals])[1:-1] if check is not None else ""
    ids, times = (stored[0], stored[3]) if stored is not None else ("", "[]")
    replaced = {str(fact.row_id) for fact in changed if fact.row_id in gone}
    if ids and replaced:
        members = ids.split(",")
        cut = sorted(members.index(row_id) for row_id in replaced if row_id in members)  # a few, found in C
        if cut:
            moments = times[1:-1].split(",") if check is not None else []
            for at in reversed(cut):
                del members[at]
                if moments:
                    del moments[at]
            ids, times = ",".join(members), "[" + ",".join(moments) + "]"
    if new_ids:
        ids = f"{ids},{new_ids}" if ids else new_ids
        if check is not None:
            times = f"{times[:-1]},{new_times}]" if times != "[]" else f"[{new_times}]"
    return ids, times if check is not None else "[]"


def _occurrence_role(compiled: CompiledRule) -> tuple[str, str] | None:
    """A match rule's one fact role (alias, kind) when each of its facts is an occurrence of its own: the
    occurrence is the fact's natural key (one current fact per value), and no `none` role reads that kind.
    Such a fact's judgement reads only the fact, the other roles' facts of its partition and the window."""
    if not isinstance(compiled, MatchRule) or len(compiled.check.facts) != 1 or compiled.check.occurrence is None:
        return None
    ((alias, pattern),) = compiled.check.facts.items()
    model = FACT_KINDS.get(pattern.kind)
    if model is None or compiled.check.occurrence != (alias, model.natural_key[0]) or len(model.natural_key) != 1:
        return None
    if any(other.kind == pattern.kind for other in compiled.check.none.values()):
        return None
    return alias, pattern.kind


def _occurrence(compiled: CompiledRule, alias: str, fact: EngineFact) -> str:
    """The occurrence a match rule's finding about this fact has (as `MatchRule.interpret` names it)."""
    return MatchRule._value({alias: fact}, compiled.check.occurrence)  # type: ignore[attr-defined]


def _narrow(
    session: Session,
    plan: Plan,
    index: int,
    compiled: CompiledRule,
    wanted: dict[str, list[int]],
    joined: list[EngineFact],
) -> None:
    """Of the partitions a match rule judges fact by fact (`_occurrence_role`), evaluate only the new versions
    of the facts changed there and every member of the other roles' kinds (kinds looked up by row id: no
    payload is read for the members left out)."""
    single = _occurrence_role(compiled)
    assert single is not None
    kind = single[1]
    partial = plan.partial[index]
    new = {fact.row_id for fact in joined if fact.kind == kind}  # a partition's new versions are among its members
    candidates = sorted({row_id for key in partial for row_id in wanted[key]} - new)
    kinds = compiled.kinds() - {kind}
    query = select(FactRow.id, FactRow.kind).where(among(session, FactRow.id, candidates))
    others = {row_id for row_id, of in session.execute(query) if of in kinds}  # kinds not in SQL: not a scan by kind
    for key in partial:
        wanted[key] = [row_id for row_id in wanted[key] if row_id in new or row_id in others]


def _periods(compiled: CompiledRule, changed: list[EngineFact], roles: set[str], spans: _Spans) -> list[Span] | None:
    """The spans of the cadence periods whose judgement the changed facts can alter (None: the whole partition)."""
    if not isinstance(compiled, CadenceRule) or roles != {"expect"}:
        return None
    times = [expect_time(compiled.check, fact) for fact in changed]
    if any(t is None for t in times):
        return None
    return sorted({span for t in times for span in spans.holding(t)})  # type: ignore[arg-type]


Span = tuple[int | float, int | float, str]
"""Epoch bounds of the times at which an expected fact can count for a cadence period, and its label."""


class _Spans:
    """A cadence rule's period spans, to find those holding a moment without trying every one (a weekly rule
    over years has thousands)."""

    def __init__(self, spans: list[Span]) -> None:
        self.spans = sorted(spans)
        self.lows = [span[0] for span in self.spans]
        self.reach = list(itertools.accumulate((span[1] for span in self.spans), max))  # highest end so far

    def holding(self, moment: int | float) -> list[Span]:
        """The spans whose bounds hold the moment: of those starting by then, latest first, back to the one before
        which every span ends before it."""
        out = []
        index = bisect.bisect_right(self.lows, moment) - 1
        while index >= 0 and self.reach[index] >= moment:
            if self.spans[index][1] >= moment:
                out.append(self.spans[index])
            index -= 1
        return out


def _members_for(ids: list[int], times: dict[int, Any], periods: list[Span]) -> list[int]:
    """The members a partition judged for some periods needs: member facts (no expected time), and expected facts
    that can count for one of the periods (found by bisecting their times, not tried against every period)."""
    timed = sorted((moment, row_id) for row_id in ids if (moment := times.get(row_id)) is not None)
    moments = [moment for moment, _ in timed]
    wanted = {row_id for row_id in ids if times.get(row_id) is None}
    for low, high, _ in periods:
        wanted.update(
            row_id for _, row_id in timed[bisect.bisect_left(moments, low) : bisect.bisect_right(moments, high)]
        )
    return sorted(wanted)


def _span(period: CadencePeriod) -> Span:
    """A period's span (bounds inclusive: a superset is safe)."""
    last = period.deadline if period.deadline is not None else day_start(period.period.end)
    return epoch(period.count_from), epoch(last), period.period.label


def _rows(session: Session, condition: Any) -> list[tuple[EngineFact, bool, datetime]]:
    """(fact, current, occurred_at) of the fact rows matching a condition, by row id."""
    query = select(FactRow.id, FactRow.kind, FactRow.current, FactRow.occurred_at, type_coerce(FactRow.payload, Text))
    out = []
    for row_id, kind, current, at, payload in session.execute(query.where(condition).order_by(FactRow.id)):
        out.append((engine_fact(row_id, kind, stored_payload(payload)), current, at))
    return out


def _replaced(
    session: Session, hwm: int, added: list[tuple[EngineFact, bool, datetime]]
) -> list[tuple[EngineFact, bool, datetime]]:
    """The versions, stored by the last sweep's time, of the facts that rows added since then correct.

    Looked up by the added rows' identities (kind and natural id: indexed), not by joining every fact.
    """
    identities: dict[str, set[str]] = {}
    for fact, _, _ in added:
        identities.setdefault(fact.kind, set()).add(fact.natural_id)
    found: list[int] = []
    for kind, natural_ids in sorted(identities.items()):
        named = among(session, FactRow.natural_id, sorted(natural_ids))
        query = select(FactRow.id).where(FactRow.kind == kind, named, FactRow.id <= hwm)
        found.extend(session.execute(query).scalars())
    return _rows(session, among(session, FactRow.id, sorted(found)))


def _count(
    before: dict[str, int],
    kind: str,
    added: list[tuple[EngineFact, bool, datetime]],
    replaced: list[tuple[EngineFact, bool, datetime]],
    end: datetime,
) -> int:
    """Current facts of a kind in the window now: the stored count, plus added ones, minus the ones they replaced.

    Of a fact's versions stored by the last sweep, the highest was its current one then.
    """
    gained = sum(1 for fact, current, at in added if fact.kind == kind and current and at < end)
    last: dict[str, tuple[int, datetime]] = {}
    for fact, _, at in replaced:
        if fact.kind == kind and (fact.natural_id not in last or last[fact.natural_id][0] < fact.row_id):
            last[fact.natural_id] = (fact.row_id, at)
    lost = sum(1 for _, at in last.values() if at < end)
    return before.get(kind, 0) + gained - lost
