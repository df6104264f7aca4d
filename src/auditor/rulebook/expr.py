"""The `where:` expression language: parsed to a small AST with a whitelist, never evaluated by Python.

Grammar (Python-like syntax, parsed with :mod:`ast` in ``eval`` mode and then
converted node by node; anything not listed is an error)::

    expr     := expr 'or' expr | expr 'and' expr | 'not' expr | compare
    compare  := sum (('==' | '!=' | '<' | '<=' | '>' | '>=') sum)?
              | sum ('in' | 'not in') '[' literal, ... ']'
    sum      := sum ('+' | '-' | '*' | '/') sum | '-' sum | atom
    atom     := field | alias '.' field | sweep.as_of | sweep.since
              | period.start | period.end | param | literal
              | days(n) | hours(n) | business_days(n) | date('YYYY-MM-DD')
    literal  := 'text' | 12 | 3.5 | true | false | null

Missing values follow SQL: a comparison with a missing value is unknown, and
unknown is treated as false by a `where:` (also under `not`). Test for a
missing value with ``field == null`` / ``field != null``.
"""

from __future__ import annotations

import ast
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Union

from auditor.facts import FactModel

# --------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class FieldRef:
    """A field of a fact; ``alias`` None means the fact the expression is attached to."""

    alias: str | None
    name: str


@dataclass(frozen=True)
class SweepRef:
    """`sweep.as_of`, `sweep.since`, `period.start`, `period.end`, `period.label`, `period.year`."""

    scope: str
    name: str


@dataclass(frozen=True)
class Duration:
    """A length of time; business days skip weekends and the policy's holidays."""

    amount: float
    unit: Literal["days", "hours", "business_days"]

    def seconds(self) -> float:
        if self.unit == "hours":
            return self.amount * 3600
        if self.unit == "days":
            return self.amount * 86400
        raise ValueError("business days have no fixed length in seconds")


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * /
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Neg:
    operand: Expr


@dataclass(frozen=True)
class Compare:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr


@dataclass(frozen=True)
class In:
    item: Expr
    options: tuple[Any, ...]
    negated: bool


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    operand: Expr


Expr = Union[Const, FieldRef, SweepRef, Duration, BinOp, Neg, Compare, In, And, Or, Not]  # noqa: UP007

# --------------------------------------------------------------------------- types

ValueType = Literal["str", "num", "bool", "instant", "day", "duration", "null"]


@dataclass(frozen=True)
class FieldType:
    """The expression type of one fact field, with its allowed values for enumerations."""

    type: ValueType
    nullable: bool = False
    choices: tuple[str, ...] | None = None


def field_types(model: type[FactModel]) -> dict[str, FieldType]:
    """Expression types of every field of a fact model."""
    out: dict[str, FieldType] = {}
    for name, info in model.model_fields.items():
        out[name] = _annotation_type(info.annotation)
    return out


def _annotation_type(annotation: Any) -> FieldType:
    nullable = False
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else annotation
        origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
        origin = typing.get_origin(annotation)
    if origin is Literal:
        return FieldType("str", nullable, tuple(typing.get_args(annotation)))
    simple: dict[Any, ValueType] = {
        str: "str",
        int: "num",
        float: "num",
        bool: "bool",
        datetime: "instant",
        date: "day",
    }
    if annotation in simple:
        return FieldType(simple[annotation], nullable)
    return FieldType("null", True)  # dicts and other structures: not usable in expressions


# --------------------------------------------------------------------------- errors


class ExprError(ValueError):
    """A problem in an expression, with the column where it starts (1-based)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


# --------------------------------------------------------------------------- scope


@dataclass
class Scope:
    """What names an expression may use.

    ``aliases`` maps alias names to fact models; ``current`` is the alias whose
    fields are reachable by bare name. ``params`` holds resolved parameter
    values. ``refs`` lists the allowed `sweep.*` / `period.*` references.
    """

    aliases: dict[str, type[FactModel]]
    current: str | None
    params: dict[str, Any]
    refs: frozenset[str] = frozenset({"sweep.as_of", "sweep.since"})
    allow_business_days: bool = False


SWEEP_REF_TYPES: dict[str, ValueType] = {"label": "str", "year": "num"}
"""Types of the non-time sweep/period references (the rest are instants)."""

_FUNCTIONS = {"days", "hours", "business_days", "date"}
MAX_LENGTH = 2000  # characters in one expression
MAX_DURATION = {"days": 36_600, "hours": 878_400, "business_days": 26_000}  # about a century
_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_NAMED_CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


def _syntax_tree(text: str) -> ast.Expression:
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression is longer than {MAX_LENGTH} characters; split the rule")
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"syntax error: {exc.msg}", exc.offset) from None
    except (RecursionError, MemoryError):
        raise ExprError("expression is nested too deeply") from None


def _resolve(tree: ast.Expression, scope: Scope) -> Expr:
    _refuse_private_names(tree)
    try:
        return _Converter(scope).convert(tree.body)
    except RecursionError:
        raise ExprError("expression is nested too deeply") from None


def parse(text: str, scope: Scope) -> Expr:
    """Parse and resolve an expression; raises ExprError on anything outside the language."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("expression is empty")
    expr = _resolve(_syntax_tree(text), scope)
    try:
        TypeChecker(scope).check_condition(expr)
    except RecursionError:
        raise ExprError("expression is nested too deeply") from None
    return expr


def _refuse_private_names(tree: ast.AST) -> None:
    """Names and attributes starting with '_' (``__import__``, ``__class__``) are refused wherever they appear."""
    for node in ast.walk(tree):
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if name is not None and name.startswith("_"):
            what = "name" if isinstance(node, ast.Name) else "attribute"
            raise ExprError(f"{what} {name!r} is not allowed (names may not start with '_')", node.col_offset + 1)


def parse_value(text: str | int | float, scope: Scope) -> Expr:
    """Parse an expression that yields a value (e.g. a `limit:` duration) rather than a condition."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return Const(text)
    expr = _resolve(_syntax_tree(str(text)), scope)
    TypeChecker(scope).infer(expr)
    return expr


class _Converter:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def fail(self, node: ast.AST, message: str) -> ExprError:
        return ExprError(message, getattr(node, "col_offset", -1) + 1)

    def convert(self, node: ast.AST) -> Expr:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.fail(node, f"{_describe(node)} is not allowed in rule expressions")
        return method(node)

    def _BoolOp(self, node: ast.BoolOp) -> Expr:
        items = tuple(self.convert(v) for v in node.values)
        return And(items) if isinstance(node.op, ast.And) else Or(items)

    def _UnaryOp(self, node: ast.UnaryOp) -> Expr:
        if isinstance(node.op, ast.Not):
            return Not(self.convert(node.operand))
        if isinstance(node.op, ast.USub):
            inner = self.convert(node.operand)
            if isinstance(inner, Const) and isinstance(inner.value, (int, float)):
                return Const(-inner.value)
            return Neg(inner)
        raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")

    def _BinOp(self, node: ast.BinOp) -> Expr:
        op = _ARITH.get(type(node.op))
        if op is None:
            raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")
        return BinOp(op, self.convert(node.left), self.convert(node.right))

    def _Compare(self, node: ast.Compare) -> Expr:
        if len(node.ops) != 1:
            raise self.fail(node, "chained comparisons (a < b < c) are not allowed; use 'and'")
        op, right = node.ops[0], node.comparators[0]
        left = self.convert(node.left)
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(right, (ast.List, ast.Tuple)):
                raise self.fail(right, "'in' needs a list of literal values, e.g. in ['a', 'b']")
            options = []
            for element in right.elts:
                value = self.convert(element)
                if not isinstance(value, Const):
                    raise self.fail(element, "'in' lists may hold literal values only")
                options.append(value.value)
            return In(left, tuple(options), isinstance(op, ast.NotIn))
        symbol = _CMP.get(type(op))
        if symbol is None:
            raise self.fail(node, f"comparison {type(op).__name__} is not allowed")
        return Compare(symbol, left, self.convert(right))

    def _Constant(self, node: ast.Constant) -> Expr:
        if node.value is None or isinstance(node.value, (str, int, float, bool)):
            return Const(node.value)
        raise self.fail(node, f"literal {node.value!r} is not allowed")

    def _Name(self, node: ast.Name) -> Expr:
        name = node.id
        if name.startswith("_"):
            raise self.fail(node, f"name {name!r} is not allowed (names may not start with '_')")
        if name in _NAMED_CONSTANTS:
            return Const(_NAMED_CONSTANTS[name])
        scope = self.scope
        if scope.current is not None and name in scope.aliases[scope.current].model_fields:
            return FieldRef(None, name)
        if name in scope.params:
            return _param_const(scope.params[name], node, self)
        if name in scope.aliases:
            raise self.fail(node, f"{name!r} is a fact alias; name one of its fields: {name}.<field>")
        hint = ""
        if scope.current is not None:
            fields = ", ".join(sorted(scope.aliases[scope.current].model_fields))
            hint = f" (fields of {scope.current}: {fields})"
        raise self.fail(node, f"unknown name {name!r}: not a field or a param{hint}")

    def _Attribute(self, node: ast.Attribute) -> Expr:
        if node.attr.startswith("_"):
            raise self.fail(node, f"attribute {node.attr!r} is not allowed (names may not start with '_')")
        if not isinstance(node.value, ast.Name):
            raise self.fail(node, "only one level of attribute access (alias.field) is allowed")
        owner = node.value.id
        if owner.startswith("_"):
            raise self.fail(node, f"name {owner!r} is not allowed (names may not start with '_')")
        dotted = f"{owner}.{node.attr}"
        if owner in ("sweep", "period"):
            if dotted not in self.scope.refs:
                allowed = ", ".join(sorted(self.scope.refs)) or "none here"
                raise self.fail(node, f"{dotted} is not available here (allowed: {allowed})")
            return SweepRef(owner, node.attr)
        model = self.scope.aliases.get(owner)
        if model is None:
            aliases = ", ".join(sorted(self.scope.aliases)) or "none"
            raise self.fail(node, f"unknown alias {owner!r} (aliases here: {aliases})")
        if node.attr not in model.model_fields:
            fields = ", ".join(sorted(model.model_fields))
            raise self.fail(node, f"{owner} has no field {node.attr!r} (fields: {fields})")
        if owner == self.scope.current:
            return FieldRef(None, node.attr)
        return FieldRef(owner, node.attr)

    def _Call(self, node: ast.Call) -> Expr:
        allowed = ", ".join(sorted(_FUNCTIONS))
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, f"calling {_describe(node.func)} is not allowed (functions allowed: {allowed})")
        if node.func.id not in _FUNCTIONS:
            raise self.fail(node, f"function {node.func.id!r} is not allowed (allowed: {allowed})")
        if node.keywords or len(node.args) != 1:
            raise self.fail(node, f"{node.func.id}() takes exactly one argument")
        arg = self.convert(node.args[0])
        if not isinstance(arg, Const):
            raise self.fail(node, f"{node.func.id}() needs a literal or a param as argument")
        name = node.func.id
        if name == "date":
            try:
                return Const(date.fromisoformat(str(arg.value)))
            except ValueError:
                raise self.fail(node, f"date({arg.value!r}) is not an ISO date YYYY-MM-DD") from None
        if isinstance(arg.value, bool) or not isinstance(arg.value, (int, float)):
            raise self.fail(node, f"{name}() needs a number, got {arg.value!r}")
        if not 0 <= arg.value <= MAX_DURATION[name]:
            raise self.fail(node, f"{name}({arg.value}) is out of range (0 to {MAX_DURATION[name]})")
        if name == "business_days":
            if not self.scope.allow_business_days:
                raise self.fail(node, "business_days() is only allowed in a 'limit:'")
            if arg.value != int(arg.value):
                raise self.fail(node, "business_days() needs a whole number")
        return Duration(float(arg.value), name)  # type: ignore[arg-type]


def _param_const(value: Any, node: ast.AST, conv: _Converter) -> Expr:
    if isinstance(value, (list, tuple, dict)):
        raise conv.fail(node, "list and mapping params can only be used where a rule option expects them")
    return Const(value)


def _describe(node: ast.AST) -> str:
    names = {
        "Lambda": "lambda",
        "Subscript": "indexing ([...])",
        "ListComp": "a comprehension",
        "GeneratorExp": "a generator",
        "IfExp": "an inline if",
        "Starred": "unpacking (*)",
        "JoinedStr": "an f-string",
        "NamedExpr": "assignment (:=)",
        "Dict": "a mapping",
        "Await": "await",
    }
    return names.get(type(node).__name__, f"syntax {type(node).__name__!r}")


# --------------------------------------------------------------------------- type checking


class TypeChecker:
    """Infers expression types and rejects ill-typed comparisons at load time."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._types = {alias: field_types(model) for alias, model in scope.aliases.items()}

    def field_type(self, ref: FieldRef) -> FieldType:
        alias = ref.alias or self.scope.current
        assert alias is not None
        return self._types[alias][ref.name]

    def check_condition(self, expr: Expr) -> None:
        kind = self.infer(expr)
        if kind != "bool":
            raise ExprError(f"a condition must be true or false, but this expression is a {kind}")

    def infer(self, expr: Expr) -> ValueType:
        if isinstance(expr, Const):
            return _const_type(expr.value)
        if isinstance(expr, FieldRef):
            return self.field_type(expr).type
        if isinstance(expr, SweepRef):
            return SWEEP_REF_TYPES.get(expr.name, "instant")
        if isinstance(expr, Duration):
            return "duration"
        if isinstance(expr, Neg):
            inner = self.infer(expr.operand)
            if inner not in ("num", "duration"):
                raise ExprError(f"cannot negate a {inner}")
            return inner
        if isinstance(expr, BinOp):
            return self._arith(expr)
        if isinstance(expr, Compare):
            self._compare(expr)
            return "bool"
        if isinstance(expr, In):
            self._in(expr)
            return "bool"
        if isinstance(expr, (And, Or)):
            for item in expr.items:
                self.check_condition(item)
            return "bool"
        if isinstance(expr, Not):
            self.check_condition(expr.operand)
            return "bool"
        raise ExprError(f"unsupported expression {expr!r}")

    def _arith(self, expr: BinOp) -> ValueType:
        left, right = self.infer(expr.left), self.infer(expr.right)
        time_like = ("instant", "day")
        table: dict[tuple[str, ValueType, ValueType], ValueType] = {}
        for op in "+-*/":
            table[(op, "num", "num")] = "num"
        for t in time_like:
            table[("+", t, "duration")] = "instant"
            table[("-", t, "duration")] = "instant"
            table[("+", "duration", t)] = "instant"
            for u in time_like:
                table[("-", t, u)] = "duration"
        table[("+", "duration", "duration")] = "duration"
        table[("-", "duration", "duration")] = "duration"
        table[("*", "duration", "num")] = "duration"
        table[("*", "num", "duration")] = "duration"
        table[("/", "duration", "num")] = "duration"
        if expr.op == "/" and isinstance(expr.right, Const) and expr.right.value == 0:
            raise ExprError("division by zero")
        result = table.get((expr.op, left, right))
        if result is None:
            raise ExprError(f"cannot compute {left} {expr.op} {right}")
        return result

    def _compare(self, expr: Compare) -> None:
        left, right = self.infer(expr.left), self.infer(expr.right)
        if "null" in (left, right):
            if expr.op not in ("==", "!="):
                raise ExprError("null can only be compared with == or !=")
            return
        if not _comparable(left, right):
            raise ExprError(f"cannot compare a {left} with a {right}")
        if left == "bool" and expr.op not in ("==", "!="):
            raise ExprError("true/false values can only be compared with == or !=")
        for ref, other in ((expr.left, expr.right), (expr.right, expr.left)):
            if isinstance(ref, FieldRef) and isinstance(other, Const):
                self._check_choice(ref, other.value)

    def _in(self, expr: In) -> None:
        item = self.infer(expr.item)
        for option in expr.options:
            option_type = _const_type(option)
            if not _comparable(item, option_type):
                raise ExprError(f"cannot compare a {item} with {option!r} in an 'in' list")
            if isinstance(expr.item, FieldRef):
                self._check_choice(expr.item, option)

    def _check_choice(self, ref: FieldRef, value: Any) -> None:
        ftype = self.field_type(ref)
        if ftype.choices is not None and value is not None and value not in ftype.choices:
            allowed = ", ".join(ftype.choices)
            raise ExprError(f"{value!r} is not a valid {ref.name} (expected one of: {allowed})")


def _const_type(value: Any) -> ValueType:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "num"
    if isinstance(value, datetime):
        return "instant"
    if isinstance(value, date):
        return "day"
    return "str"


def _comparable(left: ValueType, right: ValueType) -> bool:
    time_like = {"instant", "day"}
    return left == right or (left in time_like and right in time_like)


def walk(expr: Expr):  # type: ignore[no-untyped-def]
    """Yield every node of an expression tree, depth first."""
    yield expr
    if isinstance(expr, (BinOp, Compare)):
        yield from walk(expr.left)
        yield from walk(expr.right)
    elif isinstance(expr, (Neg, Not)):
        yield from walk(expr.operand)
    elif isinstance(expr, In):
        yield from walk(expr.item)
    elif isinstance(expr, (And, Or)):
        for item in expr.items:
            yield from walk(item)


def aliases_used(expr: Expr) -> set[str]:
    """Aliases (other than the current fact) referenced by an expression."""
    return {node.alias for node in walk(expr) if isinstance(node, FieldRef) and node.alias}
