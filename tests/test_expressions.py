"""The expression language: a whitelist over a parsed AST, typed against the fact schema."""

from __future__ import annotations

import pytest

from auditor.facts import model_for
from auditor.rulebook import expr as ex


def _scope(**params: object) -> ex.Scope:
    return ex.Scope(aliases={"fact": model_for("mystery_shop")}, current="fact", params=dict(params))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('echo hacked')", "name '__import__' is not allowed"),
        ("score.__class__", "attribute '__class__' is not allowed"),
        ("(lambda: 1)() == 1", "is not allowed"),
        ("lambda: 1", "lambda is not allowed"),
        ("open('x') == 1", "function 'open' is not allowed"),
        ("score[0] == 1", "indexing"),
        ("__builtins__ == 1", "name '__builtins__' is not allowed"),
        ("[x for x in y]", "comprehension"),
        ("score < 70 if badge_worn else true", "inline if"),
    ],
)
def test_dangerous_expressions_are_rejected(text: str, message: str) -> None:
    with pytest.raises(ex.ExprError, match=message.replace("(", r"\(").replace("[", r"\[")):
        ex.parse(text, _scope())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scor < 70", "unknown name 'scor'"),
        ("score < 'high'", "cannot compare a num with a str"),
        ("score", "must be true or false"),
        ("badge_worn < true", "only be compared with == or !="),
        ("at < 5", "cannot compare a instant with a num"),
        ("score + at > 3", "cannot compute num \\+ instant"),
    ],
)
def test_type_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ex.ExprError, match=message):
        ex.parse(text, _scope())


def test_enumeration_values_are_checked() -> None:
    scope = ex.Scope(aliases={"fact": model_for("opportunity_stage")}, current="fact", params={})
    with pytest.raises(ex.ExprError, match="'qualfication' is not a valid stage"):
        ex.parse("stage == 'qualfication'", scope)
    with pytest.raises(ex.ExprError, match="'dael' is not a valid stage"):
        ex.parse("stage in ['deal', 'dael']", scope)


def test_params_fields_and_durations_resolve() -> None:
    parsed = ex.parse("score < min_score and at >= sweep.since - days(30)", _scope(min_score=70))
    assert isinstance(parsed, ex.And)
    compare = parsed.items[0]
    assert compare == ex.Compare("<", ex.FieldRef(None, "score"), ex.Const(70))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not " * 3000 + "badge_worn", "longer than"),
        ("(" * 300 + "score" + ")" * 300 + " < 70", "nested"),
        (" + ".join(["score"] * 600) + " < 70", "nested too deeply|longer than"),
        ("at < sweep.as_of - days(4000000)", "out of range"),
    ],
)
def test_pathological_expressions_are_problems_not_crashes(text: str, message: str) -> None:
    with pytest.raises(ex.ExprError, match=message):
        ex.parse(text, _scope())


def test_division_by_literal_zero_is_refused() -> None:
    with pytest.raises(ex.ExprError, match="division by zero"):
        ex.parse("score < 7 / 0", _scope())
