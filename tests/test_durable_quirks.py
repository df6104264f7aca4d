"""What durable_rules 2.0.28 actually does, pinned down: the compiler relies on (or works around) each of these."""

from __future__ import annotations

from typing import Any

import pytest
from durable import engine

SWEEP = {"id": 0, "kind": "_sweep", "since": 100, "sid": "0"}


def _fires(condition: dict[str, Any], fact: dict[str, Any]) -> bool:
    fired: list[int] = []
    host = engine.Host()
    host.set_rulesets(
        {
            "q": {
                "hit": {"all": [{"s": {"kind": "_sweep"}}, {"f": condition}], "run": lambda c: fired.append(1)},
                "accept_f": {"all": [{"x": {"kind": "f"}}], "run": lambda c: None},
                "accept_sweep": {"all": [{"x": {"kind": "_sweep"}}], "run": lambda c: None},
            }
        }
    )
    host.assert_fact("q", dict(fact, id=1, kind="f", sid="0"))
    host.assert_fact("q", dict(SWEEP))
    return bool(fired)


JOIN = {"$gte": {"at": {"s": "since"}}}
OR = {"$or": [{"a": 1}, {"b": 1}]}
EARLY = {"a": 1, "b": 0, "at": 50}  # before `since`: the join condition is false


def test_join_after_or_is_ignored() -> None:
    """The bug the compiler works around by placing `$or` members last (engine.compiler.conjunction)."""
    assert _fires({"$and": [{"kind": "f"}, OR, JOIN]}, EARLY) is True


def test_join_before_or_is_respected() -> None:
    assert _fires({"$and": [{"kind": "f"}, JOIN, OR]}, EARLY) is False


def test_compiler_puts_or_last() -> None:
    from auditor.engine.compiler import conjunction

    assert conjunction([{"kind": "f"}, OR, {"$and": [JOIN, {"c": 1}]}]) == {"$and": [{"kind": "f"}, JOIN, {"c": 1}, OR]}


def test_comparison_with_missing_field_is_false() -> None:
    assert _fires({"$and": [{"kind": "f"}, {"$neq": {"x": 3}}]}, {}) is False
    assert _fires({"$and": [{"kind": "f"}, {"$lt": {"x": 3}}]}, {}) is False
    assert _fires({"$and": [{"kind": "f"}, {"$nex": {"x": 1}}]}, {}) is True


def test_compiler_refuses_or_with_a_join() -> None:
    """A join inside `$or` is undefined in durable_rules (error 311 in some shapes), so it is refused at load."""
    from auditor.engine.compiler import CompileError, compile_condition
    from auditor.facts import model_for
    from auditor.rulebook import expr as ex

    scope = ex.Scope({"fact": model_for("mystery_shop")}, "fact", {})
    with pytest.raises(CompileError, match="'or' may not refer"):
        compile_condition(ex.parse("score < 70 or at < sweep.since", scope), "fact")


def test_fact_no_rule_accepts_raises() -> None:
    host = engine.Host()
    host.set_rulesets({"q2": {"r": {"all": [{"x": {"kind": "f"}}], "run": lambda c: None}}})
    with pytest.raises(Exception, match="MessageNotHandled|kind"):
        host.assert_fact("q2", {"id": 1, "kind": "other", "sid": "0"})


def test_exception_in_action_is_swallowed_into_state() -> None:
    """Why the runner wraps every action and re-raises what it caught."""
    host = engine.Host()

    def boom(c: Any) -> None:
        raise RuntimeError("boom")

    host.set_rulesets({"q3": {"r": {"all": [{"x": {"kind": "f"}}], "run": boom}}})
    host.assert_fact("q3", {"id": 1, "kind": "f", "sid": "0"})  # does not raise
    assert "boom" in str(host.get_state("q3", "0").get("exception", ""))
