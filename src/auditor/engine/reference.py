"""The reference evaluator: the same templates in plain Python, written independently of the compiler.

It shares only the parsed rule model and the expression AST with the
durable_rules path. Property tests require both to agree finding for
finding; a disagreement means one of them is wrong.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from auditor.engine.facts import EngineFact
from auditor.findings import Finding
from auditor.rulebook import Rule
from auditor.rulebook import expr as ex
from auditor.rulebook.templates import (
    CadenceCheck,
    MatchCheck,
    Pattern,
    RequiresBeforeCheck,
    SequenceCheck,
    ThresholdCheck,
    WithinCheck,
)

# ------------------------------------------------------------------ values and three-valued logic


def _instant(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, datetime.min.time())
    return value


class _Env:
    def __init__(
        self,
        facts: dict[str | None, dict[str, Any]],
        sweep: dict[str, datetime],
        period: dict[str, datetime] | None = None,
    ):
        self.facts = facts
        self.sweep = sweep
        self.period = period or {}


def value_of(node: ex.Expr, env: _Env) -> Any:
    """The value of an expression; None when any input is missing."""
    if isinstance(node, ex.Const):
        return _instant(node.value)
    if isinstance(node, ex.FieldRef):
        return _instant(env.facts[node.alias].get(node.name))
    if isinstance(node, ex.SweepRef):
        return (env.sweep if node.scope == "sweep" else env.period)[node.name]
    if isinstance(node, ex.Duration):
        return timedelta(days=node.amount) if node.unit == "days" else timedelta(hours=node.amount)
    if isinstance(node, ex.Neg):
        inner = value_of(node.operand, env)
        return None if inner is None else -inner
    if isinstance(node, ex.BinOp):
        left, right = value_of(node.left, env), value_of(node.right, env)
        if left is None or right is None:
            return None
        if node.op == "+":
            return left + right
        if node.op == "-":
            return left - right
        if node.op == "*":
            return left * right
        return None if right == 0 else left / right  # division by zero is unknown, as in the engine
    raise TypeError(f"not a value: {node!r}")


def truth(node: ex.Expr, env: _Env) -> bool | None:
    """Kleene three-valued truth: True, False or None (unknown)."""
    if isinstance(node, ex.And):
        results = [truth(i, env) for i in node.items]
        if any(r is False for r in results):
            return False
        return None if any(r is None for r in results) else True
    if isinstance(node, ex.Or):
        results = [truth(i, env) for i in node.items]
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False
    if isinstance(node, ex.Not):
        inner = truth(node.operand, env)
        return None if inner is None else not inner
    if isinstance(node, ex.FieldRef):
        return value_of(node, env)
    if isinstance(node, ex.Const):
        return node.value
    if isinstance(node, ex.In):
        item = value_of(node.item, env)
        if item is None:
            return None
        found = any(item == _instant(o) for o in node.options)
        return not found if node.negated else found
    if isinstance(node, ex.Compare):
        is_null_test = any(isinstance(s, ex.Const) and s.value is None for s in (node.left, node.right))
        left, right = value_of(node.left, env), value_of(node.right, env)
        if is_null_test:
            other = right if isinstance(node.left, ex.Const) and node.left.value is None else left
            return (other is None) if node.op == "==" else (other is not None)
        if left is None or right is None:
            return None
        return {
            "==": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[node.op]
    raise TypeError(f"not a condition: {node!r}")


def holds(pattern: Pattern, fact: EngineFact, env: _Env, alias: str) -> bool:
    """Does a fact satisfy a pattern's kind and where (unknown counts as no)?"""
    if fact.kind != pattern.kind:
        return False
    if pattern.where is None:
        return True
    facts = dict(env.facts)
    facts[None] = fact.values
    facts[alias] = fact.values
    return truth(pattern.where, _Env(facts, env.sweep, env.period)) is True


# ------------------------------------------------------------------ calendar


def _deadline(start: datetime, limit: ex.Duration, holidays: frozenset[date]) -> datetime:
    if limit.unit != "business_days":
        return start + (timedelta(days=limit.amount) if limit.unit == "days" else timedelta(hours=limit.amount))
    day = start

    def working(d: date) -> bool:
        return d.isoweekday() <= 5 and d not in holidays

    if not working(day.date()):
        while not working(day.date()):
            day = datetime.combine(day.date() + timedelta(days=1), datetime.min.time())
    count = 0
    while count < limit.amount:
        day = day + timedelta(days=1)
        count += working(day.date())
    return day


def _periods(every: str, since: date, as_of: date) -> list[tuple[str, date, date]]:
    """(label, first day, last day) of every complete period inside [since, as_of]."""
    out = []
    if every == "week":
        first = since + timedelta(days=(7 - since.weekday()) % 7)
        while first + timedelta(days=6) <= as_of:
            year, week, _ = first.isocalendar()
            out.append((f"{year}-W{week:02d}", first, first + timedelta(days=6)))
            first += timedelta(days=7)
        return out
    months = {"month": 1, "quarter": 3, "year": 12}[every]
    year, month = since.year, since.month
    if every == "quarter":
        month = ((month - 1) // 3) * 3 + 1
    elif every == "year":
        month = 1
    while True:
        first = date(year, month, 1)
        end_month = month + months - 1
        end_year = year + (end_month - 1) // 12
        end_month = (end_month - 1) % 12 + 1
        last = date(end_year, end_month, calendar.monthrange(end_year, end_month)[1])
        if last > as_of:
            return out
        if first >= since:
            if every == "month":
                label = f"{year}-{month:02d}"
            elif every == "quarter":
                label = f"{year}-Q{(month - 1) // 3 + 1}"
            else:
                label = str(year)
            out.append((label, first, last))
        month += months
        while month > 12:
            month -= 12
            year += 1


# ------------------------------------------------------------------ templates


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


def _time(fact: EngineFact, field: str) -> datetime:
    return _instant(fact.values[field])


def _timed(fact: EngineFact, field: str) -> bool:
    """A fact can only play a role whose time field it has."""
    return fact.values.get(field) is not None


class ReferenceResult:
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.checked: dict[str, set[tuple[str, str]]] = {}


def reference_evaluate(
    rules: Sequence[Rule],
    facts: Sequence[EngineFact],
    as_of: date,
    since: date,
    holidays: frozenset[date] = frozenset(),
) -> ReferenceResult:
    """Findings and judged subjects of every rule, computed directly from the facts."""
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    start = datetime.combine(since, datetime.min.time())
    sweep = {"as_of": end, "since": start}
    result = ReferenceResult()
    for rule in rules:
        check = rule.check
        if isinstance(check, ThresholdCheck):
            findings, checked = _threshold(rule, check, facts, sweep)
        elif isinstance(check, WithinCheck):
            findings, checked = _within(rule, check, facts, sweep, holidays)
        elif isinstance(check, RequiresBeforeCheck):
            findings, checked = _requires_before(rule, check, facts, sweep)
        elif isinstance(check, CadenceCheck):
            findings, checked = _cadence(rule, check, facts, sweep, since, as_of)
        elif isinstance(check, SequenceCheck):
            findings, checked = _sequence(rule, check, facts, sweep)
        elif isinstance(check, MatchCheck):
            findings, checked = _match(rule, check, facts, sweep)
        else:
            raise TypeError(check)
        result.findings.extend(findings)
        result.checked[rule.id] = checked
    result.findings.sort(key=lambda f: f.key)
    return result


def _threshold(rule: Rule, check: ThresholdCheck, facts: Sequence[EngineFact], sweep: dict[str, datetime]):  # type: ignore[no-untyped-def]
    env = _Env({}, sweep)
    hits: dict[str, list[EngineFact]] = {}
    checked = set()
    for fact in facts:
        if fact.kind != check.fact.kind or fact.values.get(check.subject) is None or not _timed(fact, check.fact.at):
            continue
        if _time(fact, check.fact.at) < sweep["since"]:
            continue
        subject = _text(fact.values[check.subject])
        checked.add((subject, ""))
        if holds(check.fact, fact, env, "fact"):
            hits.setdefault(subject, []).append(fact)
    findings = [Finding(rule.id, s, "", tuple(sorted(f.row_id for f in fs))) for s, fs in hits.items()]
    return findings, checked


def _within(
    rule: Rule, check: WithinCheck, facts: Sequence[EngineFact], sweep: dict[str, datetime], holidays: frozenset[date]
):  # type: ignore[no-untyped-def]
    env = _Env({}, sweep)
    triggers = [
        f
        for f in facts
        if holds(check.trigger, f, env, "trigger")
        and _timed(f, check.trigger.at)
        and _time(f, check.trigger.at) >= sweep["since"]
        and all(f.values.get(t) is not None for t in check.expect.match.values())
    ]
    violations: dict[str, list[tuple[datetime, int, EngineFact, EngineFact | None]]] = {}
    checked = set()
    for trigger in triggers:
        deadline = _deadline(_time(trigger, check.trigger.at), check.limit, holidays)
        env_t = _Env({"trigger": trigger.values}, sweep)
        matches = [
            e
            for e in facts
            if e.kind == check.expect.kind
            and _timed(e, check.expect.at)
            and all(
                e.values.get(mine) is not None and _text(e.values.get(mine)) == _text(trigger.values.get(theirs))
                for mine, theirs in check.expect.match.items()
            )
            and holds(check.expect, e, env_t, "expect")
        ]
        on_time = [e for e in matches if _time(e, check.expect.at) <= deadline]
        late = sorted(
            (e for e in matches if _time(e, check.expect.at) > deadline),
            key=lambda e: (_time(e, check.expect.at), e.row_id),
        )
        subject = _text(trigger.values[check.subject])
        if on_time or deadline < sweep["as_of"]:
            checked.add((subject, ""))
        if not on_time and deadline < sweep["as_of"]:
            violations.setdefault(subject, []).append(
                (_time(trigger, check.trigger.at), trigger.row_id, trigger, late[0] if late else None)
            )
    findings = []
    for subject, items in violations.items():
        items.sort(key=lambda i: (i[0], i[1]))
        evidence = {i[2].row_id for i in items}
        if items[0][3] is not None:
            evidence.add(items[0][3].row_id)
        findings.append(Finding(rule.id, subject, "", tuple(sorted(evidence))))
    return findings, checked


def _requires_before(rule: Rule, check: RequiresBeforeCheck, facts: Sequence[EngineFact], sweep: dict[str, datetime]):  # type: ignore[no-untyped-def]
    env = _Env({}, sweep)
    ((req_field, fact_field),) = check.requires.match.items()
    checked = set()
    bad: dict[tuple[str, str], list[EngineFact]] = {}
    for fact in facts:
        if not holds(check.fact, fact, env, "fact") or not _timed(fact, check.fact.at):
            continue
        if _time(fact, check.fact.at) < sweep["since"]:
            continue
        if fact.values.get(fact_field) is None:
            continue
        subject = _text(fact.values[check.subject])
        occurrence = fact.natural_id if check.per == "fact" else ""
        checked.add((subject, occurrence))
        when = _time(fact, check.fact.at)
        env_f = _Env({"fact": fact.values}, sweep)
        satisfied = False
        for other in facts:
            if (
                other.kind != check.requires.kind
                or other.values.get(req_field) is None
                or not _timed(other, check.requires.at)
            ):
                continue
            if _text(other.values[req_field]) != _text(fact.values[fact_field]):
                continue
            other_time = _time(other, check.requires.at)
            if (other_time <= when if check.inclusive else other_time < when) and holds(
                check.requires, other, env_f, "requires"
            ):
                satisfied = True
                break
        if not satisfied:
            bad.setdefault((subject, occurrence), []).append(fact)
    findings = []
    for (subject, occurrence), items in bad.items():
        first = min(items, key=lambda f: (_time(f, check.fact.at), f.row_id))
        findings.append(Finding(rule.id, subject, occurrence, (first.row_id,)))
    return findings, checked


def _judged_periods(
    check: CadenceCheck, since: date, as_of: date
) -> list[tuple[str, date, date, datetime, datetime | None, date]]:
    """(label, first day, last day, count from, deadline or None, last day the member must be active)."""
    back = timedelta(seconds=check.lead.seconds()) if check.lead else timedelta(0)
    if check.due is None:
        return [
            (label, first, last, datetime.combine(first, datetime.min.time()) - back, None, last)
            for label, first, last in _periods(check.every, since, as_of)
        ]
    due = timedelta(seconds=check.due.seconds())
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    far = date(as_of.year + 200, 12, 31)
    out = []
    for label, first, last in _periods(check.every, since, far):
        deadline = datetime.combine(first, datetime.min.time()) + due
        if deadline >= end:
            break
        active_last = min(last, (deadline - timedelta(seconds=1)).date())
        out.append((label, first, last, datetime.combine(first, datetime.min.time()) - back, deadline, active_last))
    return out


def cadence_found(
    check: CadenceCheck,
    member: EngineFact,
    facts: Sequence[EngineFact],
    sweep: dict[str, datetime],
    period: tuple[str, date, date, datetime, datetime | None, date],
) -> list[EngineFact]:
    """The expected facts of one member that count for one judged period."""
    ((expect_field, member_field),) = check.expect.match.items()
    label, first, last, count_from, deadline, _ = period
    period_start = datetime.combine(first, datetime.min.time())
    period_end = datetime.combine(last + timedelta(days=1), datetime.min.time())
    refs = {"start": period_start, "end": period_end, "label": label, "year": first.year}
    env_m = _Env({"member": member.values}, sweep, refs)

    def counts(moment: datetime) -> bool:
        return count_from <= moment and (moment <= deadline if deadline is not None else moment < period_end)

    return [
        e
        for e in facts
        if e.kind == check.expect.kind
        and _timed(e, check.expect.at)
        and e.values.get(expect_field) is not None
        and _text(e.values[expect_field]) == _text(member.values[member_field])
        and counts(_time(e, check.expect.at))
        and holds(check.expect, e, env_m, "expect")
    ]


def cadence_active(check: CadenceCheck, member: EngineFact, first: date, active_last: date) -> bool:
    """Is the member in the population for the whole judged part of a period?"""
    begins = member.values.get(check.active_from) if check.active_from else None
    ends = member.values.get(check.active_until) if check.active_until else None
    if begins is not None and _instant(begins) > datetime.combine(first, datetime.min.time()):
        return False
    return not (ends is not None and _instant(ends) < datetime.combine(active_last, datetime.min.time()))


def _cadence(
    rule: Rule, check: CadenceCheck, facts: Sequence[EngineFact], sweep: dict[str, datetime], since: date, as_of: date
):  # type: ignore[no-untyped-def]
    env = _Env({}, sweep)
    member_field = next(iter(check.expect.match.values()))
    members = [f for f in facts if holds(check.population, f, env, "member") and f.values.get(member_field) is not None]
    checked = set()
    findings = []
    for period in _judged_periods(check, since, as_of):
        label, first, *_, active_last = period
        for member in members:
            if not cadence_active(check, member, first, active_last):
                continue
            subject = _text(member.values[member_field])
            checked.add((subject, label))
            found = cadence_found(check, member, facts, sweep, period)
            if len(found) < check.at_least:
                evidence = tuple(sorted({member.row_id, *(e.row_id for e in found)}))
                findings.append(Finding(rule.id, subject, label, evidence))
    return findings, checked


def _sequence(rule: Rule, check: SequenceCheck, facts: Sequence[EngineFact], sweep: dict[str, datetime]):  # type: ignore[no-untyped-def]
    env = _Env({}, sweep)
    order = {step: i for i, step in enumerate(check.steps)}
    by_subject: dict[str, list[EngineFact]] = {}
    for fact in facts:
        if not holds(check.fact, fact, env, "fact") or not _timed(fact, check.fact.at):
            continue
        if fact.values.get(check.subject) is None or fact.values.get(check.field) not in order:
            continue
        by_subject.setdefault(_text(fact.values[check.subject]), []).append(fact)
    checked = set()
    findings = []
    for subject, steps in by_subject.items():
        judged = [f for f in steps if _time(f, check.fact.at) >= sweep["since"]]
        if judged:
            checked.add((subject, ""))
        evidence: set[int] = set()
        # Out of order: a judged fact with a later step recorded strictly before it.
        for first in judged:
            for other in steps:
                if order[other.values[check.field]] > order[first.values[check.field]] and _time(
                    other, check.fact.at
                ) < _time(first, check.fact.at):
                    evidence |= {first.row_id, other.row_id}
        # Skipped: the earliest judged fact past a mandatory step with no such step at or before it.
        for step in check.mandatory:
            late = [
                f
                for f in judged
                if order[f.values[check.field]] > order[step]
                and not any(
                    g.values[check.field] == step and _time(g, check.fact.at) <= _time(f, check.fact.at) for g in steps
                )
            ]
            if late:
                evidence.add(min(late, key=lambda f: (_time(f, check.fact.at), f.row_id)).row_id)
        if evidence:
            findings.append(Finding(rule.id, subject, "", tuple(sorted(evidence))))
    return findings, checked


def _match(rule: Rule, check: MatchCheck, facts: Sequence[EngineFact], sweep: dict[str, datetime]):  # type: ignore[no-untyped-def]
    aliases = list(check.facts)
    first = aliases[0]

    def key_of(fact: EngineFact, alias: str) -> str | None:
        value = fact.values.get(check.keys[alias])
        return None if value is None else _text(value)

    def extend(bound: dict[str, EngineFact], position: int):  # type: ignore[no-untyped-def]
        if position == len(aliases):
            yield dict(bound)
            return
        alias = aliases[position]
        env = _Env({a: f.values for a, f in bound.items()}, sweep)
        for fact in facts:
            if key_of(fact, alias) is None:
                continue
            if position == 0:
                if not _timed(fact, check.facts[alias].at) or _time(fact, check.facts[alias].at) < sweep["since"]:
                    continue
            elif key_of(fact, alias) != key_of(bound[first], first):
                continue
            if holds(check.facts[alias], fact, env, alias):
                bound[alias] = fact
                yield from extend(bound, position + 1)
                del bound[alias]

    def text(binding: dict[str, EngineFact], ref: tuple[str, str] | None) -> str:
        if ref is None or binding[ref[0]].values.get(ref[1]) is None:
            return ""
        return _text(binding[ref[0]].values[ref[1]])

    checked = set()
    failing: dict[tuple[str, str], set[int]] = {}
    for binding in extend({}, 0):
        group = (text(binding, check.subject), text(binding, check.occurrence))
        checked.add(group)
        env = _Env({a: f.values for a, f in binding.items()}, sweep)
        blocked = any(
            key_of(other, alias) == key_of(binding[first], first) and holds(pattern, other, env, alias)
            for alias, pattern in check.none.items()
            for other in facts
        )
        if not blocked:
            failing.setdefault(group, set()).update(f.row_id for f in binding.values())
    findings = [Finding(rule.id, s, o, tuple(sorted(rows))) for (s, o), rows in failing.items()]
    return findings, checked
