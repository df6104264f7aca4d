"""Compile resolved rules into durable_rules rulesets (plain dicts) and read back what fired.

Shape of every compiled rule (docs/engine.md argues why it gives the batch answer):

* The sweep fact is asserted last and is first in every rule's ``all`` list,
  so no rule fires before all facts of the chunk are in the session.
* Only positive patterns: absence is computed in Python as "judged minus
  matched", from positive firings, never with ``$not``.
* Every encoded fact has a unique durable ``id``; the fact's own ``id`` field
  is encoded as ``_id``. A fact is encoded once per role it can play, with
  only the fields the rules read, and not in a role whose every pattern it
  certainly fails on its own fields (``may_match``).
* Every role has a catch-all rule that never fires, and every ruleset ends
  with a padding rule (a durable_rules over-read at the end of its expression
  pool). Rules deliver their matches in batches (``cap``).
* Joins always include the partition key, so subjects sharing a session never
  see each other's facts; every field a join reads is required with ``$ex``.
"""

from __future__ import annotations

import hashlib
import json
import operator
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from auditor.engine.facts import EngineFact, epoch, pack, unpack
from auditor.engine.window import CadencePeriod, SweepWindow, add_duration, cadence_periods
from auditor.facts import FACT_KINDS
from auditor.findings.model import Finding
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

SWEEP = "s"
PERIOD = "per"
FAR_FUTURE = 2**52
FIRING_BATCH = 10_000  # matches of one rule delivered per queued action
FAR_PAST = -(2**52)


class CompileError(ValueError):
    """A rule uses an expression shape the durable_rules compiler cannot express."""


Firing = tuple[str, dict[str, int]]
"""(name of the durable rule that fired, {alias: durable id of the matched fact})."""


# ------------------------------------------------------------------ expressions


def encoded_name(name: str) -> str:
    """Durable field name of a fact field (`id` is reserved by durable_rules)."""
    return "_id" if name == "id" else name


def encode_value(value: Any) -> Any:
    """Durable representation of a value: times as epoch seconds, the rest unchanged."""
    if isinstance(value, (datetime, date)):
        return epoch(value)
    return value


def _value(node: ex.Expr, current: str) -> Any:
    if isinstance(node, ex.Const):
        return encode_value(node.value)
    if isinstance(node, ex.FieldRef):
        if node.alias is None or node.alias == current:
            return {"$m": encoded_name(node.name)}
        return {node.alias: encoded_name(node.name)}
    if isinstance(node, ex.SweepRef):
        return {SWEEP if node.scope == "sweep" else PERIOD: node.name}
    if isinstance(node, ex.Duration):
        seconds = node.seconds()
        return int(seconds) if seconds == int(seconds) else seconds
    if isinstance(node, ex.Neg):
        return {"$mul": {"$l": -1, "$r": _value(node.operand, current)}}
    if isinstance(node, ex.BinOp):
        left, right = _value(node.left, current), _value(node.right, current)
        op = {"+": "$add", "-": "$sub", "*": "$mul", "/": "$div"}[node.op]
        return {op: {"$l": left, "$r": right}}
    raise CompileError(f"cannot use {node!r} as a value")


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_DURABLE_CMP = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "!=": "$neq"}


def conjunction(items: list[dict[str, Any]]) -> dict[str, Any]:
    """`$and` of conditions, flattened, with every `$or` placed last.

    durable_rules 2.0.28 ignores a join condition (a reference to another
    alias, e.g. the sweep's `since`) that follows an `$or` inside an `$and`;
    constants and `$m` references are unaffected. With the `$or` members last
    the result is exact (tests/test_durable_quirks.py pins this down).
    """
    flat: list[dict[str, Any]] = []
    for item in items:
        flat.extend(item["$and"] if set(item) == {"$and"} else [item])
    return {"$and": [i for i in flat if "$or" not in i] + [i for i in flat if "$or" in i]}


_COMPARISONS = ("$lt", "$lte", "$gt", "$gte", "$neq")


def _references(value: Any, out: set[tuple[str | None, str]], divisors: set[tuple[str, str]] | None = None) -> bool:
    """Collect (alias, field) references in a durable value; True if it refers to any fact field.

    References used as divisors are also collected into `divisors`.
    """
    if not isinstance(value, dict):
        return False
    found = False
    for key, inner in value.items():
        if key == "$m":
            continue  # own fields: guarded inline where the comparison is compiled
        if key in ("$add", "$sub", "$mul", "$div"):
            found |= _references(inner.get("$l"), out, divisors)
            right: set[tuple[str | None, str]] = set()
            found |= _references(inner.get("$r"), right, divisors)
            out |= right
            if key == "$div" and divisors is not None:
                divisors.update((a, f) for a, f in right if a is not None)
        elif not key.startswith("$") and isinstance(inner, str):
            out.add((key, inner))
            found = True
    return found


def _join_fields(
    condition: dict[str, Any], own: set[str], others: set[tuple[str, str]], divisors: set[tuple[str, str]]
) -> None:
    """Fields read by join comparisons in a condition: own fields, (alias, field) of other facts, divisors."""
    for key, value in condition.items():
        if key == "$and":
            for item in value:
                _join_fields(item, own, others, divisors)
        elif key == "$or":
            continue  # no joins inside an `or` (refused when compiling)
        elif key in _COMPARISONS or not key.startswith("$"):
            pairs = value.items() if key in _COMPARISONS else [(key, value)]
            for name, operand in pairs:
                refs: set[tuple[str | None, str]] = set()
                if _references(operand, refs, divisors):
                    own.add(name)
                    others.update((alias, field_name) for alias, field_name in refs if alias is not None)


def guard_joins(body: dict[str, Any]) -> dict[str, Any]:
    """Require (`$ex`) every field a join reads, on both sides, in the pattern that owns it.

    durable_rules 2.0.28 can crash when a join compares a field the fact does
    not have. A comparison with a missing value never matches (SQL semantics),
    so testing existence first in the alpha network changes no answer.
    """
    patterns = body["all"]
    needed: dict[str, set[str]] = {next(iter(p)): set() for p in patterns}
    nonzero: dict[str, set[str]] = {}
    for pattern in patterns:
        alias, condition = next(iter(pattern.items()))
        own: set[str] = set()
        others: set[tuple[str, str]] = set()
        divisors: set[tuple[str, str]] = set()
        _join_fields(condition, own, others, divisors)
        needed[alias] |= own
        for other, field_name in others:
            needed.setdefault(other, set()).add(field_name)
        for other, field_name in divisors:
            nonzero.setdefault(other, set()).add(field_name)
    guarded = []
    for pattern in patterns:
        alias, condition = next(iter(pattern.items()))
        checks = [{"$ex": {name: 1}} for name in sorted(needed.get(alias, ()))]
        checks += [{"$neq": {name: 0}} for name in sorted(nonzero.get(alias, ()))]
        guarded.append({alias: conjunction(checks + [condition]) if checks else condition})
    return dict(body, all=guarded)


def _own_references(node: ex.Expr, current: str) -> set[str]:
    """Encoded names of the current fact's fields an expression reads."""
    return {encoded_name(n.name) for n in ex.walk(node) if isinstance(n, ex.FieldRef) and n.alias in (None, current)}


def _divisors(node: ex.Expr, current: str) -> set[str]:
    """Encoded names of the current fact's fields used as divisors."""
    out: set[str] = set()
    for n in ex.walk(node):
        if isinstance(n, ex.BinOp) and n.op == "/":
            out |= _own_references(n.right, current)
    return out


def _is_own_field(node: ex.Expr, current: str) -> bool:
    return isinstance(node, ex.FieldRef) and node.alias in (None, current)


def compile_condition(node: ex.Expr, current: str, negate: bool = False) -> dict[str, Any]:
    """Translate a condition on the fact aliased `current` into a durable_rules condition.

    Negation is pushed down to the comparisons (De Morgan); under the
    language's SQL-style missing-value semantics this is exact.
    """
    if isinstance(node, ex.Not):
        return compile_condition(node.operand, current, not negate)
    if isinstance(node, (ex.And, ex.Or)):
        conjunctive = isinstance(node, ex.And) != negate
        items = [compile_condition(item, current, negate) for item in node.items]
        if not conjunctive:
            for item in node.items:
                if ex.aliases_used(item) or any(isinstance(n, ex.SweepRef) for n in ex.walk(item)):
                    raise CompileError(
                        "an 'or' may not refer to another fact or the sweep (durable_rules cannot join "
                        "inside $or); split the rule or move the condition"
                    )
        return conjunction(items) if conjunctive else {"$or": items}
    if isinstance(node, ex.FieldRef):  # a bare boolean field
        if node.alias not in (None, current):
            raise CompileError(
                f"write {node.alias}.{node.name} == true: a bare field of another fact cannot be a condition"
            )
        return {encoded_name(node.name): not negate}
    if isinstance(node, ex.In):
        if not _is_own_field(node.item, current):
            raise CompileError("the left side of 'in' must be a field of the fact")
        name = encoded_name(node.item.name)  # type: ignore[union-attr]
        negated = node.negated != negate
        options = [encode_value(v) for v in node.options]
        if negated:
            return conjunction([{"$neq": {name: v}} for v in options]) if options else {"$ex": {name: 1}}
        return {"$or": [{name: v} for v in options]} if options else {"$nex": {"_never_": 1}}
    if isinstance(node, ex.Compare):
        op, left, right = node.op, node.left, node.right
        if not _is_own_field(left, current):
            if not _is_own_field(right, current):
                raise CompileError("one side of a comparison must be a field of the fact it filters")
            op, left, right = _FLIP[op], right, left
        if negate:
            op = _NEGATE[op]
        name = encoded_name(left.name)  # type: ignore[union-attr]
        if isinstance(right, ex.Const) and right.value is None:
            return {"$nex" if op == "==" else "$ex": {name: 1}}
        value = _value(right, current)
        comparison = {name: value} if op == "==" else {_DURABLE_CMP[op]: {name: value}}
        own = {name} | _own_references(right, current)
        divisors = _divisors(right, current)
        if len(own) > 1 or not isinstance(right, ex.Const):
            # Compared with another field of the same fact: both must exist (missing is unknown, never true),
            # and a divisor must not be zero (durable_rules crashes on an integer division by zero).
            guards = [{"$ex": {field_name: 1}} for field_name in sorted(own)]
            guards += [{"$neq": {field_name: 0}} for field_name in sorted(divisors)]
            return conjunction([*guards, comparison])
        return comparison
    if isinstance(node, ex.Const) and isinstance(node.value, bool):
        truth = node.value != negate
        return {"$ex": {"kind": 1}} if truth else {"$nex": {"kind": 1}}
    raise CompileError(f"cannot use {node!r} as a condition")


def _pattern_condition(role: str, pattern: Pattern, *extra: dict[str, Any], alias: str | None = None) -> dict[str, Any]:
    """A fact playing `role` that satisfies the pattern's where and the extra conditions.

    The alias is the role's name unless given (a rule may bind two facts of one role).
    """
    parts: list[dict[str, Any]] = [{"_role": role}]
    if pattern.where is not None:
        parts.append(compile_condition(pattern.where, alias or role))
    parts.extend(extra)
    return conjunction(parts)


def _in_window(alias_field: str = "_at") -> list[dict[str, Any]]:
    return [{"$gte": {alias_field: {SWEEP: "since"}}}]


def _join(pattern: Pattern, other_alias: str) -> list[dict[str, Any]]:
    return [{encoded_name(mine): {other_alias: encoded_name(theirs)}} for mine, theirs in pattern.match.items()]


SWEEP_PATTERN = {SWEEP: {"_role": "_sweep"}}

# A rule that never matches (no fact has role `_padding`), registered last so that no real
# rule's join expressions sit at the end of durable_rules' expression pool: its
# reduceExpressionSequence reads past the last sequence of the pool (valgrind: invalid read).
PADDING_RULE: dict[str, Any] = {
    "all": [
        {"pa": {"_role": "_padding"}},
        {"pb": {"$and": [{"_role": "_padding"}, {"x": {"pa": "x"}}, {"$lt": {"y": {"pa": "y"}}}]}},
    ]
}
PERIOD_PATTERN = {PERIOD: {"_role": "_period"}}


def catch_all(role: str) -> dict[str, Any]:
    """A rule that accepts every fact of a role and never fires.

    durable_rules refuses a fact that no rule's first tests accept
    (MessageNotHandledException), e.g. an `expect` fact without the joined
    field. Its second pattern waits for a role no fact has, so accepting costs
    no action (an action is a round trip through Python per fact).
    """
    return {"all": [{"x": {"_role": role}}, {"y": {"_role": "_never"}}]}


def _distinct(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conditions without repeats (a role's pattern usually recurs in several rules of a template)."""
    seen: dict[str, dict[str, Any]] = {}
    for condition in conditions:
        seen.setdefault(json.dumps(condition, sort_keys=True, default=str), condition)
    return list(seen.values())


def _role_of(condition: dict[str, Any]) -> str | None:
    """The `_role` a pattern's condition requires (every compiled pattern has one)."""
    items = condition["$and"] if set(condition) == {"$and"} else [condition]
    for item in items:
        if isinstance(item.get("_role"), str):
            return item["_role"]
    return None


_ORDER = {"$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge, "$neq": operator.ne}
Predicate = Callable[[dict[str, Any]], bool]


def _never(_fact: dict[str, Any]) -> bool:
    return False


_NEVER: Predicate = _never


def _comparable(a: Any, b: Any) -> bool:
    """Both numbers (not booleans), both strings or both booleans: Python compares them as durable_rules does."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return (isinstance(a, (int, float)) and isinstance(b, (int, float))) or (isinstance(a, str) and isinstance(b, str))


def _own(name: str) -> bool:
    """A field of the fact itself, not one the engine adds per role (`_role`, `_at`, `_deadline`, ...)."""
    return not name.startswith("_") or name == "_id"


def may_match(condition: dict[str, Any]) -> Predicate | None:
    """A test that is False only when a durable condition certainly fails on an encoded fact's own fields.

    It decides comparisons of the fact's own fields with constants, `$ex` /
    `$nex`, `$and` / `$or`. A comparison with a missing field is false
    (durable_rules' rule, see docs/engine.md). Anything that refers to another
    fact, the sweep, an engine-made field, or compares values of different
    types counts as possibly true. None: possibly true for every fact.
    """
    tests: list[Predicate] = []
    for key, value in condition.items():
        test: Predicate | None = None
        if key == "$and":
            ordered = sorted(value, key=lambda item: set(item) <= {"$ex", "$nex"})  # selective comparisons first
            parts = [t for t in (may_match(item) for item in ordered) if t is not None]
            test = _all(parts) if parts else None
        elif key == "$or":
            options = [may_match(item) for item in value]
            test = None if not options or any(t is None for t in options) else _any(options)  # type: ignore[arg-type]
        elif key in ("$ex", "$nex"):
            names = [name for name in value if _own(name)]
            if names:
                test = _exists(names, key == "$ex")
        elif key in _ORDER:
            parts = [
                _compare(_ORDER[key], name, v) for name, v in value.items() if _own(name) and not isinstance(v, dict)
            ]
            test = _all(parts) if parts else None
        elif not key.startswith("$") and _own(key) and not isinstance(value, dict):
            test = _compare(operator.eq, key, value)
        if test is not None:
            tests.append(test)
    return _all(tests) if tests else None


def _all(tests: list[Predicate]) -> Predicate:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda fact: first(fact) and second(fact)

    def every(fact: dict[str, Any]) -> bool:
        for test in tests:  # noqa: SIM110 - a loop: faster than all(generator), and this runs per fact and role
            if not test(fact):
                return False
        return True

    return every


def _any(tests: list[Predicate]) -> Predicate:
    if len(tests) == 1:
        return tests[0]

    def some(fact: dict[str, Any]) -> bool:
        for test in tests:  # noqa: SIM110 - a loop: faster than any(generator), and this runs per fact and role
            if test(fact):
                return True
        return False

    return some


def _exists(names: list[str], present: bool) -> Predicate:
    if len(names) == 1:
        (name,) = names
        return (lambda fact: name in fact) if present else (lambda fact: name not in fact)
    return lambda fact: all((name in fact) == present for name in names)


def _compare(op: Callable[[Any, Any], bool], name: str, constant: Any) -> Predicate:
    def test(fact: dict[str, Any]) -> bool:
        if name not in fact:
            return False
        mine = fact[name]
        return not _comparable(mine, constant) or op(mine, constant)

    return test


def _field_names(value: Any, out: set[str]) -> None:
    """Collect every name a durable condition could read as a fact field (over-collecting is harmless)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if not key.startswith("$"):
                out.add(key)
                if isinstance(inner, str):
                    out.add(inner)  # {alias: field} reference (or a string constant)
            elif key == "$m" and isinstance(inner, str):
                out.add(inner)
            _field_names(inner, out)
    elif isinstance(value, list):
        for item in value:
            _field_names(item, out)


# ------------------------------------------------------------------ compiled rules


@dataclass
class Chunk:
    """Facts of some partitions of one rule, evaluated together in one session.

    ``by_seq`` maps the durable id of every encoded (fact, role) to its fact;
    it is filled when the chunk is encoded.
    """

    keys: set[str]
    facts: list[EngineFact] = field(default_factory=list)
    by_seq: dict[int, EngineFact] = field(default_factory=dict)
    helpers: dict[int, dict[str, Any]] = field(default_factory=dict)
    shipped: bytes | None = field(default=None, repr=False, compare=False)
    periods: frozenset[str] | None = None
    """Cadence rules: the labels of the only periods to judge (an incremental sweep re-judging some); None: all."""

    def __reduce__(self) -> tuple[Any, tuple[bytes, frozenset[str] | None]]:
        """Pickled (for a worker) as its keys and packed facts; `by_seq` and `helpers` are filled there.

        The packed form is pickled once and kept: rules that partition alike share their chunks
        (evaluate._tasks), so a chunk is shipped to several workers but packed only once.
        """
        if self.shipped is None:
            self.shipped = pickle.dumps((self.keys, pack(self.facts)), protocol=pickle.HIGHEST_PROTOCOL)
        return (_unpack_chunk, (self.shipped, self.periods))


def _unpack_chunk(shipped: bytes, periods: frozenset[str] | None = None) -> Chunk:
    keys, packed = pickle.loads(shipped)
    return Chunk(keys, unpack(packed), periods=periods)


@dataclass
class ChunkOutcome:
    """What one chunk produced: findings and the subjects/occurrences judged."""

    findings: list[Finding]
    checked: set[tuple[str, str]]


class CompiledRule:
    """Base of compiled rules; subclasses implement one template.

    Every fact is encoded once per role it can play (``_role`` = the role's
    alias, e.g. ``trigger`` and ``expect``), because durable_rules never lets
    one fact fill two aliases of a rule, while a template may well need the
    same fact in two roles (a request that is its own answer).
    """

    check: Any  # the template's resolved check; subclasses narrow the type

    def __init__(self, rule: Rule, window: SweepWindow) -> None:
        self.rule = rule
        self.window = window
        self.check = rule.check
        self.name = "r_" + re.sub(r"[^A-Za-z0-9_]", "_", rule.id)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for a worker without the role tests (closures; a worker builds its own)."""
        state = dict(self.__dict__)
        state.pop("role_tests", None)
        return state

    # roles and partitioning -------------------------------------------
    def roles(self) -> dict[str, Pattern]:
        """The template's fact roles by alias."""
        raise NotImplementedError

    def kinds(self) -> set[str]:
        return {pattern.kind for pattern in self.roles().values()}

    def key_fields(self) -> dict[str, str]:
        """The partition-key field of each role."""
        raise NotImplementedError

    @cached_property
    def role_patterns(self) -> dict[str, Pattern]:
        """`roles()`, computed once (read for every fact encoded)."""
        return self.roles()

    @cached_property
    def _key_fields_by_kind(self) -> dict[str, tuple[str, ...]]:
        fields: dict[str, list[str]] = {}
        for role, pattern in self.role_patterns.items():
            names = fields.setdefault(pattern.kind, [])
            if self.key_fields()[role] not in names:
                names.append(self.key_fields()[role])
        return {kind: tuple(names) for kind, names in fields.items()}

    def keys_of(self, fact: EngineFact) -> list[str]:
        """Partition keys a fact belongs to (one per role it can play, usually the same)."""
        names = self._key_fields_by_kind.get(fact.kind, ())
        if len(names) == 1:
            value = fact.values.get(names[0])
            return [] if value is None else [_str(value)]
        return sorted({_str(v) for name in names if (v := fact.values.get(name)) is not None})

    # durable ---------------------------------------------------------
    def rules(self) -> dict[str, dict[str, Any]]:
        """Named durable rules (without `run`), excluding catch-alls."""
        raise NotImplementedError

    def ruleset(self) -> dict[str, Any]:
        """A fresh durable ruleset dict (durable_rules consumes it).

        The rules' actions never run: the runner reads what fired from the
        engine's action queue. Every rule delivers its matches in batches of
        up to FIRING_BATCH (`cap`), one queued action per batch instead of one
        per match.
        """
        out: dict[str, Any] = {}
        for name, body in self.rules().items():
            out[name] = dict(guard_joins(body), cap=FIRING_BATCH, run=_ignore)
        for role in sorted(set(self.roles()) | self.extra_roles()):
            out[f"accept_{role}"] = dict(catch_all(role), run=_ignore)
        out["zz_padding"] = dict(PADDING_RULE, run=_ignore)
        return out

    @cached_property
    def digest(self) -> str:
        """A short digest of the compiled rules (names a registered ruleset)."""
        definition = json.dumps(self.rules(), sort_keys=True, default=str)
        return hashlib.sha256(definition.encode()).hexdigest()[:12]

    @cached_property
    def fields_read(self) -> frozenset[str]:
        """Every field name the compiled rules read (durable matches on nothing else), plus `id` and `_role`."""
        names: set[str] = {"id", "_role"}
        for body in self.rules().values():
            _field_names(guard_joins(body), names)
        return frozenset(names)

    def extra_roles(self) -> set[str]:
        return {"_sweep"}

    def encode_chunk(self, chunk: Chunk) -> list[dict[str, Any]]:
        """Durable facts of a chunk, one per (fact, role), ids from 1 (without the sweep fact)."""
        encoded = []
        chunk.by_seq.clear()
        chunk.helpers.clear()
        tests = self.role_tests
        for fact in chunk.facts:
            base: dict[str, Any] | None = None
            for role, pattern in self.role_patterns.items():
                if pattern.kind != fact.kind:
                    continue
                if base is None:
                    base = self.encode(fact)
                test = tests.get(role, _NEVER)
                if test is not None and not test(base):
                    continue  # it fails every pattern of the role on its own fields: it could never match
                seq = len(encoded) + 1
                item = dict(base, id=seq, _role=role)
                helpers = self.helpers(fact, role)
                item.update(helpers)
                chunk.by_seq[seq] = fact
                chunk.helpers[seq] = helpers
                encoded.append(item)
        return encoded

    def roles_of(self, fact: EngineFact) -> list[str]:
        """The roles `encode_chunk` asserts a fact in (none: it cannot change any outcome)."""
        base: dict[str, Any] | None = None
        out = []
        for role, pattern in self.role_patterns.items():
            if pattern.kind != fact.kind:
                continue
            test = self.role_tests.get(role, _NEVER)
            if test is not None:
                base = self.encode(fact) if base is None else base  # encoded only for a test
                if not test(base):
                    continue
            out.append(role)
        return out

    @cached_property
    def role_tests(self) -> dict[str, Predicate | None]:
        """Per role: a test an encoded fact must pass to match any pattern of that role (None: no test).

        A fact that fails it is not asserted in that role: it could not match
        anything there, so the answers are the same and durable_rules does less.
        """
        conditions: dict[str, list[dict[str, Any]]] = {}
        for body in self.rules().values():
            for pattern in guard_joins(body)["all"]:
                condition = next(iter(pattern.values()))
                role = _role_of(condition)
                if role is not None:
                    conditions.setdefault(role, []).append(condition)
        return {role: may_match({"$or": _distinct(items)}) for role, items in conditions.items()}

    def encode(self, fact: EngineFact) -> dict[str, Any]:
        """The fields the rules read: times as epoch seconds, missing values left out.

        Fields no condition reads cannot change what matches; leaving them out
        keeps the JSON durable_rules parses (and returns with every firing) small.
        """
        pairs = self._read_pairs.get(fact.kind)
        if pairs is None:
            model = FACT_KINDS.get(fact.kind)
            names = [n for n in (model.model_fields if model is not None else fact.values) if n != "kind"]
            read = self.fields_read
            pairs = self._read_pairs[fact.kind] = tuple(
                (name, encoded_name(name)) for name in names if encoded_name(name) in read
            )
        out: dict[str, Any] = {"kind": fact.kind} if "kind" in self.fields_read else {}
        values = fact.values
        for name, encoded in pairs:
            value = values.get(name)
            if value is None:
                continue
            kind = value.__class__
            if kind is str or kind is int or kind is float or kind is bool:  # as they are (runs per fact and field)
                out[encoded] = value
            elif not isinstance(value, (dict, list)):
                out[encoded] = encode_value(value)
        return out

    @cached_property
    def _read_pairs(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """Per kind: (field, durable name) of the fields the rules read, in model order (filled on first use)."""
        return {}

    def helpers(self, fact: EngineFact, role: str) -> dict[str, Any]:
        """Derived fields for one role (time of the role's pattern as `_at`, deadlines...)."""
        at = _at_epoch(fact, self.role_patterns[role])
        return {} if at is None else {"_at": at}

    def sweep_fact(self) -> dict[str, Any]:
        return {
            "id": 0,
            "_role": "_sweep",
            "as_of": epoch(self.window.as_of_end),
            "since": epoch(self.window.since_start),
        }

    def interpret(self, chunk: Chunk, firings: list[Firing]) -> ChunkOutcome:
        raise NotImplementedError

    # helpers ---------------------------------------------------------
    def _finding(self, subject: str, occurrence: str, evidence: list[EngineFact], context: dict[str, Any]) -> Finding:
        return Finding(
            rule_id=self.rule.id,
            subject=subject,
            occurrence=occurrence,
            evidence=tuple(sorted({f.row_id for f in evidence})),
            context=context,
        )


def _ignore(_c: Any) -> None:
    return None


def _at_epoch(fact: EngineFact, pattern: Pattern) -> int | float | None:
    value = fact.values.get(pattern.at)
    return None if value is None else epoch(value)


def _str(value: Any) -> str:
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


def _by_time(facts: list[EngineFact], field_name: str) -> list[EngineFact]:
    return sorted(facts, key=lambda f: (f.values[field_name], f.row_id))


class ThresholdRule(CompiledRule):
    check: ThresholdCheck

    def roles(self) -> dict[str, Pattern]:
        return {"fact": self.check.fact}

    def key_fields(self) -> dict[str, str]:
        return {"fact": self.check.subject}

    def rules(self) -> dict[str, dict[str, Any]]:
        fact = self.check.fact
        unfiltered = Pattern(fact.kind, fact.model, None, {}, fact.at)
        return {
            "seen": {"all": [SWEEP_PATTERN, {"fact": _pattern_condition("fact", unfiltered, *_in_window())}]},
            "hit": {"all": [SWEEP_PATTERN, {"fact": _pattern_condition("fact", fact, *_in_window())}]},
        }

    def interpret(self, chunk: Chunk, firings: list[Firing]) -> ChunkOutcome:
        checked: set[tuple[str, str]] = set()
        hits: dict[str, list[EngineFact]] = {}
        for name, ids in firings:
            fact = chunk.by_seq[ids["fact"]]
            subject = _str(fact.values[self.check.subject])
            if subject not in chunk.keys:
                continue
            if name == "seen":
                checked.add((subject, ""))
            else:
                hits.setdefault(subject, []).append(fact)
        findings = []
        for subject, facts in hits.items():
            ordered = _by_time(facts, self.check.fact.at)
            findings.append(self._finding(subject, "", ordered, {"fact": ordered[0].values}))
        return ChunkOutcome(findings, checked)


class WithinRule(CompiledRule):
    check: WithinCheck

    def __init__(self, rule: Rule, window: SweepWindow) -> None:
        super().__init__(rule, window)
        (self._expect_key, self._trigger_key), *_ = self.check.expect.match.items()

    def roles(self) -> dict[str, Pattern]:
        return {"trigger": self.check.trigger, "expect": self.check.expect}

    def key_fields(self) -> dict[str, str]:
        return {"trigger": self._trigger_key, "expect": self._expect_key}

    def helpers(self, fact: EngineFact, role: str) -> dict[str, Any]:
        out = super().helpers(fact, role)
        if role == "trigger" and "_at" in out:
            start = fact.values[self.check.trigger.at]
            start = start if isinstance(start, datetime) else datetime(start.year, start.month, start.day)
            out["_deadline"] = epoch(add_duration(start, self.check.limit, self.window.holidays))
        return out

    def rules(self) -> dict[str, dict[str, Any]]:
        trigger, expect = self.check.trigger, self.check.expect
        keyed = [{"$ex": {encoded_name(field_name): 1}} for field_name in sorted(set(expect.match.values()))]
        judged = _pattern_condition("trigger", trigger, *_in_window(), *keyed)
        on_time = {"$lte": {"_at": {"trigger": "_deadline"}}}
        return {
            "trigger": {"all": [SWEEP_PATTERN, {"trigger": judged}]},
            "on_time": {
                "all": [
                    SWEEP_PATTERN,
                    {"trigger": judged},
                    {"expect": _pattern_condition("expect", expect, *_join(expect, "trigger"), on_time)},
                ]
            },
            "late": {
                "all": [
                    SWEEP_PATTERN,
                    {"trigger": judged},
                    {
                        "expect": _pattern_condition(
                            "expect", expect, *_join(expect, "trigger"), {"$gt": {"_at": {"trigger": "_deadline"}}}
                        )
                    },
                ]
            },
        }

    def interpret(self, chunk: Chunk, firings: list[Firing]) -> ChunkOutcome:
        as_of = epoch(self.window.as_of_end)
        triggers: dict[int, str] = {}
        on_time: set[int] = set()
        late: dict[int, list[EngineFact]] = {}
        for name, ids in firings:
            seq = ids["trigger"]
            trigger = chunk.by_seq[seq]
            if _str(trigger.values[self._trigger_key]) not in chunk.keys:
                continue
            if name == "trigger":
                triggers[seq] = _str(trigger.values[self.check.subject])
            elif name == "on_time":
                on_time.add(seq)
            elif name == "late":
                late.setdefault(seq, []).append(chunk.by_seq[ids["expect"]])
        deadline_of = {seq: chunk.helpers[seq]["_deadline"] for seq in triggers}
        checked = {(subject, "") for seq, subject in triggers.items() if seq in on_time or deadline_of[seq] < as_of}
        missing = {seq for seq in triggers if seq not in on_time and deadline_of[seq] < as_of}
        per_subject: dict[str, list[int]] = {}
        for seq in missing:
            per_subject.setdefault(triggers[seq], []).append(seq)
        findings = []
        for subject, seqs in per_subject.items():
            seqs.sort(key=lambda s: (chunk.helpers[s]["_at"], chunk.by_seq[s].row_id))
            first = seqs[0]
            deadline = datetime.utcfromtimestamp(deadline_of[first])
            evidence = [chunk.by_seq[s] for s in seqs]
            late_facts = _by_time(late.get(first, []), self.check.expect.at)
            context: dict[str, Any] = {
                "trigger": chunk.by_seq[first].values,
                "deadline": deadline,
                "expect": late_facts[0].values if late_facts else None,
            }
            if late_facts:
                context["status"] = "late"
                context["late_days"] = _calendar_days(deadline, late_facts[0].values[self.check.expect.at])
                context["overdue_days"] = context["late_days"]
                evidence.append(late_facts[0])
            else:
                context["status"] = "missing"
                context["overdue_days"] = _calendar_days(deadline, self.window.as_of)
                context["late_days"] = None
            findings.append(self._finding(subject, "", evidence, context))
        return ChunkOutcome(findings, checked)


def _calendar_days(deadline: datetime, later: date | datetime) -> int:
    """Calendar days from the deadline's day to a later day; at least 1 (late the same day is 1 day late)."""
    later_day = later.date() if isinstance(later, datetime) else later
    return max(1, (later_day - deadline.date()).days)


class RequiresBeforeRule(CompiledRule):
    check: RequiresBeforeCheck

    def __init__(self, rule: Rule, window: SweepWindow) -> None:
        super().__init__(rule, window)
        ((self._requires_key, self._fact_key),) = self.check.requires.match.items()

    def roles(self) -> dict[str, Pattern]:
        return {"fact": self.check.fact, "requires": self.check.requires}

    def key_fields(self) -> dict[str, str]:
        return {"fact": self._fact_key, "requires": self._requires_key}

    def rules(self) -> dict[str, dict[str, Any]]:
        fact, requires = self.check.fact, self.check.requires
        judged = _pattern_condition("fact", fact, *_in_window())
        before = {"$lte" if self.check.inclusive else "$lt": {"_at": {"fact": "_at"}}}
        return {
            "seen": {"all": [SWEEP_PATTERN, {"fact": judged}]},
            "satisfied": {
                "all": [
                    SWEEP_PATTERN,
                    {"fact": judged},
                    {"requires": _pattern_condition("requires", requires, *_join(requires, "fact"), before)},
                ]
            },
        }

    def interpret(self, chunk: Chunk, firings: list[Firing]) -> ChunkOutcome:
        checked: set[tuple[str, str]] = set()
        seen: dict[int, tuple[str, str]] = {}
        satisfied: set[int] = set()
        for name, ids in firings:
            fact = chunk.by_seq[ids["fact"]]
            if _str(fact.values[self._fact_key]) not in chunk.keys:
                continue
            if name == "seen":
                subject = _str(fact.values[self.check.subject])
                occurrence = fact.natural_id if self.check.per == "fact" else ""
                seen[ids["fact"]] = (subject, occurrence)
                checked.add((subject, occurrence))
            else:
                satisfied.add(ids["fact"])
        violations: dict[tuple[str, str], list[EngineFact]] = {}
        for seq, key in seen.items():
            if seq not in satisfied:
                violations.setdefault(key, []).append(chunk.by_seq[seq])
        findings = []
        for (subject, occurrence), facts in violations.items():
            first = _by_time(facts, self.check.fact.at)[0]
            findings.append(self._finding(subject, occurrence, [first], {"fact": first.values}))
        return ChunkOutcome(findings, checked)


class CadenceRule(CompiledRule):
    check: CadenceCheck

    def __init__(self, rule: Rule, window: SweepWindow) -> None:
        super().__init__(rule, window)
        ((self._expect_key, self._member_key),) = self.check.expect.match.items()
        self.periods = cadence_periods(self.check.every, window, self.check.due, self.check.lead)

    def roles(self) -> dict[str, Pattern]:
        return {"member": self.check.population, "expect": self.check.expect}

    def key_fields(self) -> dict[str, str]:
        return {"member": self._member_key, "expect": self._expect_key}

    def extra_roles(self) -> set[str]:
        return {"_sweep", "_period"}

    def helpers(self, fact: EngineFact, role: str) -> dict[str, Any]:
        out = super().helpers(fact, role)
        if role == "member":
            start = fact.values.get(self.check.active_from) if self.check.active_from else None
            until = fact.values.get(self.check.active_until) if self.check.active_until else None
            out["_from"] = epoch(start) if start is not None else FAR_PAST
            out["_until"] = epoch(until) if until is not None else FAR_FUTURE
        return out

    def encode_chunk(self, chunk: Chunk) -> list[dict[str, Any]]:
        encoded = super().encode_chunk(chunk)
        base = len(encoded)
        for index, judged in enumerate(self.judged_periods(chunk), start=1):
            period = judged.period
            encoded.append(
                {
                    "id": base + index,
                    "_role": "_period",
                    "label": period.label,
                    "year": period.start.year,
                    "start": epoch(period.start),
                    "end": epoch(period.end),
                    "active_last": epoch(judged.active_last),
                    "count_from": epoch(judged.count_from),
                    "deadline": epoch(judged.deadline) if judged.deadline is not None else FAR_FUTURE,
                }
            )
        return encoded

    def judged_periods(self, chunk: Chunk) -> list[CadencePeriod]:
        """The periods a chunk judges: all, or only those it names (`Chunk.periods`)."""
        if chunk.periods is None:
            return self.periods
        return [judged for judged in self.periods if judged.period.label in chunk.periods]

    def rules(self) -> dict[str, dict[str, Any]]:
        population, expect = self.check.population, self.check.expect
        member = _pattern_condition(
            "member",
            population,
            {"$lte": {"_from": {PERIOD: "start"}}},
            {"$gte": {"_until": {PERIOD: "active_last"}}},
        )
        until = {"$lte": {"_at": {PERIOD: "deadline"}}} if self.check.due else {"$lt": {"_at": {PERIOD: "end"}}}
        found = _pattern_condition(
            "expect",
            expect,
            *_join(expect, "member"),
            {"$gte": {"_at": {PERIOD: "count_from"}}},
            until,
        )
        return {
            "judged": {"all": [SWEEP_PATTERN, PERIOD_PATTERN, {"member": member}]},
            "found": {"all": [SWEEP_PATTERN, PERIOD_PATTERN, {"member": member}, {"expect": found}]},
        }

    def interpret(self, chunk: Chunk, firings: list[Firing]) -> ChunkOutcome:
        first_period = len(chunk.by_seq) + 1
        periods = self.judged_periods(chunk)
        judged: dict[tuple[str, str], EngineFact] = {}
        found: dict[tuple[str, str], set[int]] = {}
        for name, ids in firings:
            member = chunk.by_seq[ids["member"]]
            if _str(member.values[self._member_key]) not in chunk.keys:
                continue
            pair = (_str(member.values[self._member_key]), periods[ids[PERIOD] - first_period].period.label)
            if name == "judged":
                judged[pair] = member
            else:
                found.setdefault(pair, set()).add(chunk.by_seq[ids["expect"]].row_id)
        findings = []
        for pair, member in judged.items():
            rows = found.get(pair, set())
            if len(rows) < self.check.at_least:
                evidence = [member] + [f for f in chunk.facts if f.row_id in rows]
                context = {
                    "member": member.values,
                    "period": pair[1],
                    "found": len(rows),
                    "at_least": self.check.at_least,
                }
                findings.append(self._finding(pair[0], pair[1], evidence, context))
        return ChunkOutcome(findings, set(judged))


class SequenceRule(CompiledRule):
    """Steps in a defined order: a later step recorded before an earlier one, or a mandatory step skipped.

    One finding per subject; its context lists every problem.
    """

    check: SequenceCheck

    def roles(self) -> dict[str, Pattern]:
        return {"fact": self.check.fact}

    def key_fields(self) -> dict[str, str]:
        return {"fact": self.check.subject}

    def helpers(self, fact: EngineFact, role: str) -> dict[str, Any]:
        out = super().helpers(fact, role)
        rank = self.check.rank(fact.values.get(self.check.field))
        if rank is not None:
            out["_rank"] = rank
        return out

    def rules(self) -> dict[str, dict[str, Any]]:
        fact = self.check.fact
        subject = encoded_name(self.check.subject)
        ranked = {"$ex": {"_rank": 1}}
        judged = _pattern_condition("fact", fact, ranked, *_in_window())
        out: dict[str, dict[str, Any]] = {
            "seen": {"all": [SWEEP_PATTERN, {"fact": judged}]},
            # b is a later step than a but happened before it.
            "order": {
                "all": [
                    SWEEP_PATTERN,
                    {"fact": judged},
                    {
                        "later": _pattern_condition(
                            "fact",
                            fact,
                            {subject: {"fact": subject}},
                            {"$gt": {"_rank": {"fact": "_rank"}}},
                            {"$lt": {"_at": {"fact": "_at"}}},
                            alias="later",
                        )
                    },
                ]
            },
        }
        for step in self.check.mandatory:
            rank = self.check.steps.index(step)
            out[f"past_{rank}"] = {
                "all": [
                    SWEEP_PATTERN,
                    {"fact": _pattern_condition("fact", fact, {"$gt": {"_rank": rank}}, *_in_window())},
                ]
            }
            out[f"reached_{rank}"] = {
                "all": [
                    SWEEP_PATTERN,
                    {"fact": _pattern_condition("fact", fact, {"$gt": {"_rank": rank}}, *_in_window())},
                    {
                        "step": _pattern_condition(
                            "fact",
                            fact,
                            {subject: {"fact": subject}},
                            {"_rank": rank},
                            {"$lte": {"_at": {"fact": "_at"}}},
                            alias="step",
                        )
                    },
                ]
            }
        return out

    def interpret(self, chunk: Chunk, firings: list[Firing]) -> ChunkOutcome:
        checked: set[tuple[str, str]] = set()
        problems: dict[str, list[tuple[Any, ...]]] = {}
        evidence: dict[str, set[int]] = {}
        past: dict[tuple[str, int], set[int]] = {}
        reached: set[tuple[int, int]] = set()
        at = self.check.fact.at
        for name, ids in firings:
            fact = chunk.by_seq[ids["fact"]]
            subject = _str(fact.values[self.check.subject])
            if subject not in chunk.keys:
                continue
            if name == "seen":
                checked.add((subject, ""))
            elif name == "order":
                later = chunk.by_seq[ids["later"]]
                problems.setdefault(subject, []).append(
                    (fact.values[at], "out_of_order", later.values[self.check.field], fact.values[self.check.field])
                )
                evidence.setdefault(subject, set()).update((fact.row_id, later.row_id))
            elif name.startswith("past_"):
                past.setdefault((subject, int(name.removeprefix("past_"))), set()).add(ids["fact"])
            else:
                reached.add((ids["fact"], int(name.removeprefix("reached_"))))
        skipped_first: dict[tuple[str, int], EngineFact] = {}
        for (subject, rank), seqs in past.items():
            lacking = [chunk.by_seq[q] for q in seqs if (q, rank) not in reached]
            if lacking:
                skipped_first[(subject, rank)] = _by_time(lacking, at)[0]
        for (subject, rank), fact in skipped_first.items():
            problems.setdefault(subject, []).append(
                (fact.values[at], "skipped", self.check.steps[rank], fact.values[self.check.field])
            )
            evidence.setdefault(subject, set()).add(fact.row_id)
        findings = []
        for subject, found in problems.items():
            found.sort(key=lambda p: (p[0], p[1], p[2], p[3]))
            first = found[0]
            facts = [f for f in chunk.facts if f.row_id in evidence[subject]]
            lines = [
                f"{step} recorded before {before}" if kind == "out_of_order" else f"{step} skipped before {before}"
                for _, kind, step, before in found
            ]
            context = {"fact": None, "problem": first[1], "step": first[2], "before": first[3], "problems": lines}
            findings.append(self._finding(subject, "", facts, context))
        return ChunkOutcome(findings, checked)


class MatchRule(CompiledRule):
    """General patterns: every binding of the `facts` aliases with no fact for any `none` pattern.

    Absence is computed from positive firings: `bound` fires per binding, and
    `blocked_<alias>` per binding that a `none` fact blocks.
    """

    check: MatchCheck

    def roles(self) -> dict[str, Pattern]:
        return {**self.check.facts, **self.check.none}

    def key_fields(self) -> dict[str, str]:
        return self.check.keys

    def _joined(self, alias: str, pattern: Pattern, *extra: dict[str, Any]) -> dict[str, Any]:
        first = self.check.first
        key = {encoded_name(self.check.keys[alias]): {first: encoded_name(self.check.keys[first])}}
        return _pattern_condition(alias, pattern, *(() if alias == first else (key,)), *extra)

    def rules(self) -> dict[str, dict[str, Any]]:
        first = self.check.first
        bound: list[dict[str, Any]] = [SWEEP_PATTERN]
        for alias, pattern in self.check.facts.items():
            window = _in_window() if alias == first else []
            bound.append({alias: self._joined(alias, pattern, *window)})
        out = {"bound": {"all": bound}}
        for alias, pattern in self.check.none.items():
            out[f"blocked_{alias}"] = {"all": [*bound, {alias: self._joined(alias, pattern)}]}
        return out

    def interpret(self, chunk: Chunk, firings: list[Firing]) -> ChunkOutcome:
        aliases = list(self.check.facts)
        first_key = self.check.keys[self.check.first]
        bindings: set[tuple[int, ...]] = set()
        blocked: set[tuple[int, ...]] = set()
        for name, ids in firings:
            binding = tuple(ids[a] for a in aliases)
            if _str(chunk.by_seq[binding[0]].values[first_key]) not in chunk.keys:
                continue
            (bindings if name == "bound" else blocked).add(binding)
        checked: set[tuple[str, str]] = set()
        groups: dict[tuple[str, str], list[tuple[int, ...]]] = {}
        for binding in bindings:
            facts = dict(zip(aliases, (chunk.by_seq[q] for q in binding), strict=True))
            key = (self._value(facts, self.check.subject), self._value(facts, self.check.occurrence))
            checked.add(key)
            if binding not in blocked:
                groups.setdefault(key, []).append(binding)
        findings = []
        for (subject, occurrence), group in groups.items():
            rows = [tuple(chunk.by_seq[q].row_id for q in b) for b in group]
            first = group[min(range(len(group)), key=rows.__getitem__)]
            evidence = [chunk.by_seq[q] for b in group for q in b]
            context = {"facts": {a: chunk.by_seq[q].values for a, q in zip(aliases, first, strict=True)}}
            findings.append(self._finding(subject, occurrence, evidence, context))
        return ChunkOutcome(findings, checked)

    @staticmethod
    def _value(facts: dict[str, EngineFact], ref: tuple[str, str] | None) -> str:
        if ref is None:
            return ""
        value = facts[ref[0]].values.get(ref[1])
        return "" if value is None else _str(value)


COMPILERS: dict[str, type[CompiledRule]] = {
    "threshold": ThresholdRule,
    "within": WithinRule,
    "requires_before": RequiresBeforeRule,
    "cadence": CadenceRule,
    "sequence": SequenceRule,
    "match": MatchRule,
}


def compile_rule(rule: Rule, window: SweepWindow) -> CompiledRule:
    """The compiled form of a rule for one sweep window."""
    compiled = COMPILERS[rule.template](rule, window)
    compiled.rules()  # fail early on expressions durable_rules cannot express
    return compiled
