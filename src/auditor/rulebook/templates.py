"""Check templates: each declares its schema, validates at load time and resolves to a typed check.

Templates are looked up by name in `TEMPLATES` (the key under `check:`). The
resolved checks are plain data (patterns with parsed expressions); the
compiler (`auditor.engine.compiler`) and the reference evaluator
(`auditor.engine.reference`) each give them meaning independently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from auditor.facts import FACT_KINDS, FactModel
from auditor.rulebook import expr as ex


class RuleError(ValueError):
    """A problem in a rule; ``path`` points into the rule (e.g. ``check.within.trigger.where``)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


# ------------------------------------------------------------------ raw schemas


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatternSpec(_Strict):
    """`{fact: kind, where: "...", match: {field: other_field}, at: time_field}`."""

    fact: str
    where: str | None = None
    match: dict[str, str] = Field(default_factory=dict)
    at: str | None = None


class WithinSpec(_Strict):
    trigger: PatternSpec
    expect: PatternSpec
    limit: str | int
    subject: str | None = None


class RequiresBeforeSpec(_Strict):
    fact: PatternSpec
    requires: PatternSpec
    subject: str
    inclusive: bool = True
    per: Literal["subject", "fact"] = "subject"


class CadenceSpec(_Strict):
    population: PatternSpec
    expect: PatternSpec
    every: str = Field(description="week, month, quarter or year, or the name of a param holding one")
    at_least: int | str = Field(default=1, description="a number, or the name of an integer param")
    due: str | None = Field(default=None, description="deadline after the period start, e.g. days(31)")
    lead: str | None = Field(default=None, description="expected facts may come this long before the period")
    active_from: str | None = None
    active_until: str | None = None


class SequenceSpec(_Strict):
    fact: PatternSpec
    subject: str
    field: str
    steps: list[str] = Field(min_length=2)
    mandatory: list[str] = Field(default_factory=list)


class MatchSpec(_Strict):
    facts: dict[str, PatternSpec] = Field(min_length=1)
    none: dict[str, PatternSpec] = Field(default_factory=dict)
    key: str | dict[str, str]
    subject: str
    occurrence: str | None = None


class ThresholdSpec(_Strict):
    fact: PatternSpec
    subject: str | None = None


# ------------------------------------------------------------------ resolved checks


@dataclass(frozen=True)
class Pattern:
    """A resolved fact pattern: kind, condition, join fields and time field."""

    kind: str
    model: type[FactModel]
    where: ex.Expr | None
    match: dict[str, str]  # this fact's field -> the other side's field
    at: str

    def fields(self) -> dict[str, ex.FieldType]:
        return ex.field_types(self.model)


@dataclass(frozen=True)
class WithinCheck:
    template: ClassVar[str] = "within"
    trigger: Pattern
    expect: Pattern
    limit: ex.Duration
    subject: str


@dataclass(frozen=True)
class RequiresBeforeCheck:
    template: ClassVar[str] = "requires_before"
    fact: Pattern
    requires: Pattern
    subject: str
    inclusive: bool
    per: str


@dataclass(frozen=True)
class CadenceCheck:
    """Each member needs `at_least` expected facts per period.

    Counted are expected facts from `lead` before the period start up to the
    period's end, or up to and including `period start + due` when a deadline
    is set (the period is then judged once that deadline has passed).
    """

    template: ClassVar[str] = "cadence"
    population: Pattern
    expect: Pattern
    every: str
    at_least: int
    active_from: str | None
    active_until: str | None
    due: ex.Duration | None = None
    lead: ex.Duration | None = None


@dataclass(frozen=True)
class ThresholdCheck:
    template: ClassVar[str] = "threshold"
    fact: Pattern
    subject: str


@dataclass(frozen=True)
class SequenceCheck:
    template: ClassVar[str] = "sequence"
    fact: Pattern
    subject: str
    field: str
    steps: tuple[str, ...]
    mandatory: tuple[str, ...]

    def rank(self, value: object) -> int | None:
        """Position of a step in the order, or None for values outside it (e.g. 'lost')."""
        return self.steps.index(value) if value in self.steps else None  # type: ignore[arg-type]


@dataclass(frozen=True)
class MatchCheck:
    """Bindings of `facts` aliases (joined on their key) for which no `none` pattern has a fact."""

    template: ClassVar[str] = "match"
    facts: dict[str, Pattern]
    none: dict[str, Pattern]
    keys: dict[str, str]  # alias -> partition key field
    subject: tuple[str, str]  # (alias, field)
    occurrence: tuple[str, str] | None

    @property
    def first(self) -> str:
        return next(iter(self.facts))


Check = WithinCheck | RequiresBeforeCheck | CadenceCheck | ThresholdCheck | SequenceCheck | MatchCheck


def check_patterns(check: Check) -> list[Pattern]:
    """Every fact pattern of a check, including those kept in alias maps (`match`)."""
    out: list[Pattern] = []
    for value in vars(check).values():
        for item in value.values() if isinstance(value, dict) else (value,):
            if isinstance(item, Pattern):
                out.append(item)
    return out


# ------------------------------------------------------------------ helpers


@dataclass
class Resolver:
    """Resolves patterns and expressions of one rule against the fact registry and its params."""

    params: dict[str, Any]
    errors: list[RuleError] = field(default_factory=list)

    def model(self, kind: str, path: str) -> type[FactModel]:
        try:
            return FACT_KINDS[kind]
        except KeyError:
            known = ", ".join(sorted(FACT_KINDS))
            raise RuleError(f"unknown fact kind {kind!r} (known: {known})", path) from None

    def pattern(
        self,
        spec: PatternSpec,
        alias: str,
        path: str,
        others: dict[str, type[FactModel]] | None = None,
        refs: frozenset[str] = frozenset({"sweep.as_of", "sweep.since"}),
    ) -> Pattern:
        model = self.model(spec.fact, f"{path}.fact")
        at = spec.at or model.time_field
        types = ex.field_types(model)
        if at not in types or types[at].type not in ("instant", "day"):
            raise RuleError(f"{spec.fact} has no date/time field {at!r}", f"{path}.at")
        for mine, theirs in spec.match.items():
            if mine not in model.model_fields:
                raise RuleError(f"{spec.fact} has no field {mine!r}", f"{path}.match")
            del theirs  # checked by the template, which knows the other side
        where = None
        if spec.where is not None:
            aliases = {alias: model, **(others or {})}
            scope = ex.Scope(aliases=aliases, current=alias, params=self.params, refs=refs)
            try:
                where = ex.parse(spec.where, scope)
            except ex.ExprError as exc:
                col = f" (column {exc.column})" if exc.column and exc.column > 0 else ""
                raise RuleError(f"{exc}{col}", f"{path}.where") from None
        return Pattern(spec.fact, model, where, dict(spec.match), at)

    def other_field(self, pattern: Pattern, other: Pattern, path: str) -> None:
        for mine, theirs in pattern.match.items():
            if theirs not in other.model.model_fields:
                raise RuleError(f"{other.kind} has no field {theirs!r} to match {mine!r} against", path)
            same_type(pattern, mine, other, theirs, path)


def same_type(left: Pattern, left_field: str, right: Pattern, right_field: str, path: str) -> None:
    """Joined fields must hold the same kind of value (a day never equals an instant)."""
    left_type = left.fields()[left_field].type
    right_type = right.fields()[right_field].type
    if left_type != right_type:
        raise RuleError(
            f"{left.kind}.{left_field} ({left_type}) cannot be matched with {right.kind}.{right_field} "
            f"({right_type}): joined fields must have the same type",
            path,
        )


PERIOD_NAMES = ("week", "month", "quarter", "year")


def _period_name(value: str, params: dict[str, Any], path: str) -> str:
    """`every:` is a period name or the name of a param holding one (the policy can change it)."""
    resolved = params.get(value, value) if value not in PERIOD_NAMES else value
    if resolved not in PERIOD_NAMES:
        raise RuleError(
            f"every must be one of {', '.join(PERIOD_NAMES)} or a param holding one, got {value!r}"
            + (f" (= {resolved!r})" if resolved != value else ""),
            path,
        )
    return str(resolved)


def _duration(text: str | None, params: dict[str, Any], path: str) -> ex.Duration | None:
    """A positive calendar duration such as days(31) or hours(180), params allowed."""
    if text is None:
        return None
    scope = ex.Scope({}, None, params, frozenset())
    try:
        value = ex.parse_value(text, scope)
    except ex.ExprError as exc:
        raise RuleError(str(exc), path) from None
    if not isinstance(value, ex.Duration) or value.amount <= 0:
        raise RuleError("expected a positive duration such as days(31) or hours(180)", path)
    return value


def _field_of(model: type[FactModel], name: str, path: str) -> str:
    if name not in model.model_fields:
        fields = ", ".join(sorted(model.model_fields))
        raise RuleError(f"field {name!r} not found (fields: {fields})", path)
    return name


def _default_subject(model: type[FactModel], path: str) -> str:
    if model.natural_key == ("id",):
        return "id"
    raise RuleError(f"{model.model_fields['kind'].default} has no single id; set 'subject:'", path)


# ------------------------------------------------------------------ templates


class Template:
    """Base of check templates: a name, a schema, and `resolve` (validation at load time)."""

    name: ClassVar[str]
    schema: ClassVar[type[BaseModel]]
    context: ClassVar[frozenset[str]]  # message variables besides params, sweep, subject, occurrence

    def resolve(self, spec: Any, resolver: Resolver) -> Check:
        raise NotImplementedError


class Within(Template):
    name = "within"
    schema = WithinSpec
    context = frozenset({"trigger", "expect", "deadline", "overdue_days", "late_days", "status"})

    def resolve(self, spec: WithinSpec, resolver: Resolver) -> WithinCheck:
        base = "check.within"
        trigger = resolver.pattern(spec.trigger, "trigger", f"{base}.trigger")
        expect = resolver.pattern(spec.expect, "expect", f"{base}.expect", others={"trigger": trigger.model})
        if not expect.match:
            raise RuleError("expect needs a 'match:' joining it to the trigger", f"{base}.expect.match")
        resolver.other_field(expect, trigger, f"{base}.expect.match")
        scope = ex.Scope({}, None, resolver.params, frozenset(), allow_business_days=True)
        try:
            limit = ex.parse_value(spec.limit, scope)
        except ex.ExprError as exc:
            raise RuleError(str(exc), f"{base}.limit") from None
        if not isinstance(limit, ex.Duration):
            raise RuleError("limit must be a duration such as days(14), hours(48) or business_days(2)", f"{base}.limit")
        key = next(iter(expect.match.values()))
        subject = spec.subject or key
        if subject != key:
            raise RuleError(
                f"subject must be the trigger field the expected fact is matched on first ({key!r}): "
                "findings are grouped per partition of that field",
                f"{base}.subject",
            )
        return WithinCheck(trigger, expect, limit, subject)


class RequiresBefore(Template):
    name = "requires_before"
    schema = RequiresBeforeSpec
    context = frozenset({"fact"})

    def resolve(self, spec: RequiresBeforeSpec, resolver: Resolver) -> RequiresBeforeCheck:
        base = "check.requires_before"
        fact = resolver.pattern(spec.fact, "fact", f"{base}.fact")
        requires = resolver.pattern(spec.requires, "requires", f"{base}.requires", others={"fact": fact.model})
        _field_of(fact.model, spec.subject, f"{base}.subject")
        if not requires.match:
            _field_of(requires.model, spec.subject, f"{base}.requires.match")
            requires = Pattern(requires.kind, requires.model, requires.where, {spec.subject: spec.subject}, requires.at)
        resolver.other_field(requires, fact, f"{base}.requires.match")
        if len(requires.match) != 1:
            raise RuleError("requires.match must join on exactly one field", f"{base}.requires.match")
        if next(iter(requires.match.values())) != spec.subject:
            raise RuleError("requires.match must join on the subject field of the fact", f"{base}.requires.match")
        return RequiresBeforeCheck(fact, requires, spec.subject, spec.inclusive, spec.per)


class Cadence(Template):
    name = "cadence"
    schema = CadenceSpec
    context = frozenset({"member", "period", "found", "at_least"})

    def resolve(self, spec: CadenceSpec, resolver: Resolver) -> CadenceCheck:
        base = "check.cadence"
        every = _period_name(spec.every, resolver.params, f"{base}.every")
        due = _duration(spec.due, resolver.params, f"{base}.due")
        lead = _duration(spec.lead, resolver.params, f"{base}.lead")
        population = resolver.pattern(spec.population, "member", f"{base}.population")
        period_refs = frozenset(
            {"sweep.as_of", "sweep.since", "period.start", "period.end", "period.label", "period.year"}
        )
        expect = resolver.pattern(
            spec.expect, "expect", f"{base}.expect", others={"member": population.model}, refs=period_refs
        )
        if len(expect.match) != 1:
            raise RuleError("expect.match must join on exactly one field", f"{base}.expect.match")
        resolver.other_field(expect, population, f"{base}.expect.match")
        fields = population.model.model_fields
        active_from = spec.active_from or ("joined_on" if "joined_on" in fields else None)
        active_until = spec.active_until or ("left_on" if "left_on" in fields else None)
        for name, value in (("active_from", active_from), ("active_until", active_until)):
            if value is not None:
                _field_of(population.model, value, f"{base}.{name}")
        at_least = resolver.params.get(spec.at_least) if isinstance(spec.at_least, str) else spec.at_least
        if isinstance(spec.at_least, str) and spec.at_least not in resolver.params:
            raise RuleError(f"at_least names {spec.at_least!r}, which is not a param of this rule", f"{base}.at_least")
        if not isinstance(at_least, int) or isinstance(at_least, bool) or not 1 <= at_least <= 50:
            raise RuleError(f"at_least must be a whole number from 1 to 50, got {at_least!r}", f"{base}.at_least")
        return CadenceCheck(population, expect, every, at_least, active_from, active_until, due, lead)


class Threshold(Template):
    name = "threshold"
    schema = ThresholdSpec
    context = frozenset({"fact"})

    def resolve(self, spec: ThresholdSpec, resolver: Resolver) -> ThresholdCheck:
        base = "check.threshold"
        fact = resolver.pattern(spec.fact, "fact", f"{base}.fact")
        if fact.where is None:
            raise RuleError("threshold needs a 'where:' saying when the fact deviates", f"{base}.fact.where")
        subject = spec.subject or _default_subject(fact.model, f"{base}.subject")
        _field_of(fact.model, subject, f"{base}.subject")
        return ThresholdCheck(fact, subject)


class Sequence(Template):
    name = "sequence"
    schema = SequenceSpec
    context = frozenset({"fact", "problem", "step", "before", "problems"})

    def resolve(self, spec: SequenceSpec, resolver: Resolver) -> SequenceCheck:
        base = "check.sequence"
        fact = resolver.pattern(spec.fact, "fact", f"{base}.fact")
        _field_of(fact.model, spec.subject, f"{base}.subject")
        _field_of(fact.model, spec.field, f"{base}.field")
        if len(set(spec.steps)) != len(spec.steps):
            raise RuleError("steps must not repeat", f"{base}.steps")
        choices = ex.field_types(fact.model)[spec.field].choices
        for step in spec.steps:
            if choices is not None and step not in choices:
                raise RuleError(
                    f"{step!r} is not a valid {spec.field} (expected one of: {', '.join(choices)})", f"{base}.steps"
                )
        for step in spec.mandatory:
            if step not in spec.steps:
                raise RuleError(f"mandatory step {step!r} is not in steps", f"{base}.mandatory")
        return SequenceCheck(fact, spec.subject, spec.field, tuple(spec.steps), tuple(spec.mandatory))


_ALIAS = re.compile(r"^[a-z][a-z0-9_]*$")
_RESERVED = {"sweep", "period", "params", "rule", "subject", "occurrence", "facts", "s", "per"}


def _alias_field(text: str, aliases: dict[str, Pattern], path: str) -> tuple[str, str]:
    alias, _, name = text.partition(".")
    if alias not in aliases or not name:
        raise RuleError(f"expected alias.field with an alias of 'facts' ({', '.join(aliases)}), got {text!r}", path)
    _field_of(aliases[alias].model, name, path)
    return alias, name


def _check_alias(alias: str, taken: dict[str, Pattern], path: str) -> None:
    if not _ALIAS.match(alias) or alias in _RESERVED or alias in taken:
        raise RuleError(f"{alias!r} cannot be an alias here (a new lower-case name, not a reserved word)", path)


class Match(Template):
    name = "match"
    schema = MatchSpec
    context = frozenset({"facts"})

    def resolve(self, spec: MatchSpec, resolver: Resolver) -> MatchCheck:
        base = "check.match"
        facts: dict[str, Pattern] = {}
        for alias, pattern_spec in spec.facts.items():
            _check_alias(alias, facts, f"{base}.facts")
            others = {a: p.model for a, p in facts.items()}
            facts[alias] = resolver.pattern(pattern_spec, alias, f"{base}.facts.{alias}", others=others)
        none: dict[str, Pattern] = {}
        for alias, pattern_spec in spec.none.items():
            _check_alias(alias, {**facts, **none}, f"{base}.none")
            others = {a: p.model for a, p in facts.items()}
            none[alias] = resolver.pattern(pattern_spec, alias, f"{base}.none.{alias}", others=others)
        every = {**facts, **none}
        keys = {alias: spec.key for alias in every} if isinstance(spec.key, str) else dict(spec.key)
        for alias, pattern in every.items():
            if alias not in keys:
                raise RuleError(f"no key field for alias {alias!r}", f"{base}.key")
            _field_of(pattern.model, keys[alias], f"{base}.key")
        subject = _alias_field(spec.subject, facts, f"{base}.subject")
        if subject[1] != keys[subject[0]]:
            raise RuleError(
                f"subject must be the key field of an alias ({subject[0]}.{keys[subject[0]]}): "
                "findings are grouped per key",
                f"{base}.subject",
            )
        first = next(iter(facts))
        for alias, pattern in every.items():
            same_type(pattern, keys[alias], facts[first], keys[first], f"{base}.key")
        occurrence = _alias_field(spec.occurrence, facts, f"{base}.occurrence") if spec.occurrence else None
        return MatchCheck(facts, none, keys, subject, occurrence)


TEMPLATES: dict[str, Template] = {
    t.name: t for t in (Within(), RequiresBefore(), Cadence(), Threshold(), Sequence(), Match())
}
