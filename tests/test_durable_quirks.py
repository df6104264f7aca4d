"""What durable_rules 2.0.28 actually does, pinned down: the compiler relies on (or works around) each of these."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from typing import Any

import pytest
from durable import engine

from auditor.engine.runner import quiet_host

from .conftest import require

SWEEP = {"id": 0, "kind": "_sweep", "since": 100, "sid": "0"}


def _fires(condition: dict[str, Any], fact: dict[str, Any]) -> bool:
    fired: list[int] = []
    host = quiet_host()
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
    host = quiet_host()
    host.set_rulesets({"q2": {"r": {"all": [{"x": {"kind": "f"}}], "run": lambda c: None}}})
    with pytest.raises(Exception, match="MessageNotHandled|kind"):
        host.assert_fact("q2", {"id": 1, "kind": "other", "sid": "0"})


def test_exception_in_action_is_swallowed_into_state() -> None:
    """Why the runner wraps every action and re-raises what it caught."""
    host = quiet_host()

    def boom(c: Any) -> None:
        raise RuntimeError("boom")

    host.set_rulesets({"q3": {"r": {"all": [{"x": {"kind": "f"}}], "run": boom}}})
    host.assert_fact("q3", {"id": 1, "kind": "f", "sid": "0"})  # does not raise
    assert "boom" in str(host.get_state("q3", "0").get("exception", ""))


# The catalog's coaching rule on three facts, compiled by our compiler, with or without the
# padding rule. Without it, durable_rules scans past the end of its expression pool for an end
# marker (valgrind: "Invalid read ... bytes after a block"). MALLOC_PERTURB_ fills fresh heap
# memory with garbage instead of zeros, which turns the silent over-read into a crash.
_OVERREAD_SCRIPT = """
import sys
from datetime import date
from auditor.config import PROJECT_ROOT
from auditor.engine.compiler import compile_rule
from auditor.engine.partition import chunks, partition
from auditor.engine.runner import quiet_host
from auditor.engine.facts import EngineFact
from auditor.engine.window import SweepWindow
from auditor.facts import parse_fact
from auditor.rulebook import load_rulebook

rule = load_rulebook([PROJECT_ROOT / "rules"]).by_id("COA-001")
compiled = compile_rule(rule, SweepWindow(as_of=date(2026, 2, 28), since=date(2026, 1, 1)))
raw = [
    {"kind": "person", "id": "P1", "name": "Ann", "role": "sales_person", "joined_on": "2025-06-01"},
    {"kind": "coaching_session", "id": "C1", "manager_id": "M", "rep_id": "P1",
     "at": "2026-01-15", "plan_documented": True},
    {"kind": "coaching_session", "id": "C2", "manager_id": "M", "rep_id": "P1",
     "at": "2026-02-15", "plan_documented": True},
]
facts = [EngineFact.from_model(i, parse_fact(r)) for i, r in enumerate(raw, 1)]
ruleset = compiled.ruleset()
if sys.argv[1] == "bare":
    del ruleset["zz_padding"]
host = quiet_host()
host.set_rulesets({"q": ruleset})
for chunk in chunks(partition(compiled, facts)):
    encoded = compiled.encode_chunk(chunk)
    for fact in encoded:
        fact["sid"] = "1"
    host.assert_facts("q", encoded)
    host.assert_fact("q", dict(compiled.sweep_fact(), sid="1"))
print("survived")
"""


def _overread(variant: str, valgrind: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MALLOC_PERTURB_="165")
    command = [sys.executable, "-c", _OVERREAD_SCRIPT, variant]
    if valgrind:
        # Fresh blocks filled with one byte, as MALLOC_PERTURB_ fills them, so that what the scan meets does not
        # depend on what earlier blocks left there: unfilled, valgrind missed the over-read in two full suite
        # runs, three attempts in a row each, though never in a run of this test alone.
        env = dict(os.environ, PYTHONMALLOC="malloc")
        command = ["valgrind", "--tool=memcheck", "--redzone-size=512", "--malloc-fill=0xa5", "--error-exitcode=0"]
        command += [sys.executable, "-c", _OVERREAD_SCRIPT, variant]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def test_last_join_sequence_is_read_past_its_end() -> None:
    """The durable_rules bug the padding rule works around, seen by valgrind (if this fails, durable was fixed)."""
    require(shutil.which("valgrind") is not None, "valgrind is not installed")
    for _attempt in range(3):  # valgrind saw it in every isolated run; twice not in a full suite run, unfilled
        bare = _overread("bare", valgrind=True)
        assert "survived" in bare.stdout, bare.stderr[-2000:]
        if "Invalid read" in bare.stderr:
            break
    assert "Invalid read" in bare.stderr and "reduceExpressionSequence" in bare.stderr, bare.stderr[-2000:]
    padded = _overread("padded", valgrind=True)
    assert "survived" in padded.stdout, padded.stderr[-2000:]
    assert "Invalid read" not in padded.stderr, padded.stderr[-2000:]


def test_padding_rule_survives_garbage_filled_memory() -> None:
    result = _overread("padded")
    assert result.returncode == 0 and "survived" in result.stdout, result.stderr


def test_quiet_host_has_no_background_threads() -> None:
    before = {t.ident for t in threading.enumerate()}
    quiet_host()
    new = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert new == []
    engine_host = engine.Host()  # the stock Host starts its dispatch timers
    assert engine_host._d_timer.is_alive() and engine_host._t_timer.is_alive()
    engine_host._d_timer.cancel()
    engine_host._t_timer.cancel()


def test_stopping_a_timer_that_already_fired_also_stops_its_replacement() -> None:
    """On a loaded machine the Host's first timer can fire before quiet_host cancels it (a CI failure:
    'cannot join thread before it is started'); the replacement it schedules must be stopped too."""
    import time

    from auditor.engine.runner import _stop_timer

    host = engine.Host()
    first = host._d_timer
    time.sleep(0.3)  # the 0.1 s timer fires and, with no rulesets, schedules a 0.5 s replacement
    assert host._d_timer is not first and host._d_timer.is_alive()
    _stop_timer(host, "_d_timer")
    _stop_timer(host, "_t_timer")
    stopped = host._d_timer
    time.sleep(0.7)  # past the replacement's interval: nothing fires, nothing new is scheduled
    assert host._d_timer is stopped and not stopped.is_alive()
    assert not host._t_timer.is_alive()

    unstarted = threading.Timer(0.01, lambda: None)
    host._d_timer = unstarted
    threading.Timer(0.05, unstarted.start).start()  # started a little later, as by the firing callback
    _stop_timer(host, "_d_timer")  # waits for the start instead of raising
    assert not unstarted.is_alive()
