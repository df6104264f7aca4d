"""`auditor rules explain`: why a rule did or did not report a finding for one subject.

The explanation is worked out in plain Python with the reference evaluator's
helpers, then compared with what the durable_rules engine reports for the
same facts, so a disagreement would be visible right there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from auditor.engine.evaluate import evaluate
from auditor.engine.facts import EngineFact
from auditor.engine.reference import (
    _deadline,
    _Env,
    _judged_periods,
    _text,
    _time,
    _timed,
    cadence_active,
    cadence_found,
    holds,
    reference_evaluate,
)
from auditor.engine.window import SweepWindow
from auditor.rulebook import Rule
from auditor.rulebook.templates import (
    CadenceCheck,
    MatchCheck,
    RequiresBeforeCheck,
    SequenceCheck,
    ThresholdCheck,
    WithinCheck,
)


@dataclass
class Explanation:
    """Lines of reasoning, the facts looked at, and both evaluators' verdicts."""

    rule_id: str
    subject: str
    lines: list[str] = field(default_factory=list)
    engine: list[str] = field(default_factory=list)
    reference: list[str] = field(default_factory=list)

    def render(self) -> str:
        verdict = (
            "no finding" if not self.engine else "finding(s): " + ", ".join(o or "(no occurrence)" for o in self.engine)
        )
        agree = "agrees" if self.engine == self.reference else f"DISAGREES (reference: {self.reference})"
        return "\n".join(
            [f"{self.rule_id} for subject {self.subject}:", *self.lines, f"=> {verdict}; reference evaluator {agree}."]
        )


def _describe(fact: EngineFact) -> str:
    shown = {k: _text(v) for k, v in fact.values.items() if k != "kind" and v is not None and not isinstance(v, dict)}
    return f"{fact.kind} {fact.natural_id} (" + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")"


def subject_facts(rule: Rule, facts: list[EngineFact], subject: str) -> list[EngineFact]:
    """The facts the rule looks at for one subject (its partition)."""
    from auditor.engine.compiler import compile_rule

    compiled = compile_rule(rule, SweepWindow(as_of=date.today(), since=date.today()))
    kinds = compiled.kinds()
    return [f for f in facts if f.kind in kinds and subject in compiled.keys_of(f)]


def explain(rule: Rule, facts: list[EngineFact], subject: str, window: SweepWindow) -> Explanation:
    """Explain the rule's verdict for one subject over the given facts."""
    relevant = subject_facts(rule, facts, subject)
    result = Explanation(rule.id, subject)
    sweep = {"as_of": window.as_of_end, "since": window.since_start}
    check = rule.check
    if not relevant:
        result.lines.append(f"  no facts of {', '.join(sorted({p for p in _kinds(check)}))} for this subject")
    elif isinstance(check, ThresholdCheck):
        for fact in relevant:
            verdict = "deviates" if holds(check.fact, fact, _Env({}, sweep), "fact") else "passes"
            result.lines.append(f"  {_describe(fact)}: {verdict}")
    elif isinstance(check, WithinCheck):
        _explain_within(check, relevant, sweep, window, result)
    elif isinstance(check, RequiresBeforeCheck):
        _explain_requires(check, relevant, sweep, result)
    elif isinstance(check, CadenceCheck):
        _explain_cadence(check, relevant, sweep, window, result)
    elif isinstance(check, SequenceCheck):
        ordered = sorted(
            (f for f in relevant if _timed(f, check.fact.at)), key=lambda f: (_time(f, check.fact.at), f.row_id)
        )
        result.lines.append(
            "  steps in time order: "
            + ", ".join(f"{f.values[check.field]} ({_text(f.values[check.fact.at])})" for f in ordered)
        )
        result.lines.append(
            f"  expected order: {', '.join(check.steps)}; mandatory: {', '.join(check.mandatory) or 'none'}"
        )
    elif isinstance(check, MatchCheck):
        for fact in relevant:
            roles = [a for a, p in {**check.facts, **check.none}.items() if p.kind == fact.kind]
            result.lines.append(f"  {_describe(fact)} can be: {', '.join(roles)}")
    engine = evaluate([rule], relevant, window)
    if engine.errors:
        result.lines.append(f"  engine error: {engine.errors[0].error}")
    result.engine = sorted(f.occurrence for f in engine.findings if f.subject == subject)
    reference = reference_evaluate([rule], relevant, window.as_of, window.since, window.holidays)
    result.reference = sorted(f.occurrence for f in reference.findings if f.subject == subject)
    return result


def _kinds(check: Any) -> set[str]:
    return {value.kind for value in vars(check).values() if hasattr(value, "kind")}


def _explain_within(
    check: WithinCheck, facts: list[EngineFact], sweep: dict[str, datetime], window: SweepWindow, out: Explanation
) -> None:
    env = _Env({}, sweep)
    for trigger in facts:
        if not holds(check.trigger, trigger, env, "trigger") or not _timed(trigger, check.trigger.at):
            continue
        start = _time(trigger, check.trigger.at)
        if start < sweep["since"]:
            out.lines.append(f"  trigger {_describe(trigger)}: before the sweep window, not judged")
            continue
        deadline = _deadline(start, check.limit, window.holidays)
        out.lines.append(f"  trigger {_describe(trigger)}: deadline {deadline.isoformat()}")
        env_t = _Env({"trigger": trigger.values}, sweep)
        matched = False
        for other in facts:
            joined = all(
                _text(other.values.get(m)) == _text(trigger.values.get(t)) for m, t in check.expect.match.items()
            )
            if (
                other.kind == check.expect.kind
                and joined
                and _timed(other, check.expect.at)
                and holds(check.expect, other, env_t, "expect")
            ):
                matched = True
                when = _time(other, check.expect.at)
                out.lines.append(f"    follow-up {_describe(other)}: {'on time' if when <= deadline else 'late'}")
        if not matched:
            due = "deadline passed" if deadline < sweep["as_of"] else "not yet due"
            out.lines.append(f"    no follow-up ({due} as of the end of {window.as_of})")


def _explain_requires(
    check: RequiresBeforeCheck, facts: list[EngineFact], sweep: dict[str, datetime], out: Explanation
) -> None:
    env = _Env({}, sweep)
    ((req_field, fact_field),) = check.requires.match.items()
    for fact in facts:
        if not holds(check.fact, fact, env, "fact") or not _timed(fact, check.fact.at):
            continue
        when = _time(fact, check.fact.at)
        env_f = _Env({"fact": fact.values}, sweep)
        earlier = [
            other
            for other in facts
            if other.kind == check.requires.kind
            and _timed(other, check.requires.at)
            and _text(other.values.get(req_field)) == _text(fact.values.get(fact_field))
            and (_time(other, check.requires.at) <= when if check.inclusive else _time(other, check.requires.at) < when)
            and holds(check.requires, other, env_f, "requires")
        ]
        status = f"satisfied by {_describe(earlier[0])}" if earlier else "nothing required found at or before it"
        window = "" if when >= sweep["since"] else " (before the window, not judged)"
        out.lines.append(f"  {_describe(fact)}: {status}{window}")


def _explain_cadence(
    check: CadenceCheck, facts: list[EngineFact], sweep: dict[str, datetime], window: SweepWindow, out: Explanation
) -> None:
    env = _Env({}, sweep)
    for member in facts:
        if not holds(check.population, member, env, "member"):
            continue
        out.lines.append(f"  member {_describe(member)}")
        for period in _judged_periods(check, window.since, window.as_of):
            label, first, *_, active_last = period
            if not cadence_active(check, member, first, active_last):
                out.lines.append(f"    {label}: not active for the whole period, not judged")
                continue
            found = cadence_found(check, member, facts, sweep, period)
            verdict = "ok" if len(found) >= check.at_least else "MISSED"
            out.lines.append(f"    {label}: {len(found)} found, {check.at_least} needed: {verdict}")
