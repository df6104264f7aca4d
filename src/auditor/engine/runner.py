"""Evaluate compiled rules partition by partition in durable_rules, locally or in worker processes.

durable_rules is contained as DESIGN.md prescribes: one Host per process,
ONE reused session id; for each chunk its facts are asserted, then the sweep
fact, what fired is collected, and everything asserted is retracted before
the next chunk. `delete_state` is never called (it segfaults after blocked
absence rules). A worker that dies is replaced and its task retried once;
a task that fails twice becomes an engine error naming rule and subjects.
"""

from __future__ import annotations

import faulthandler
import hashlib
import json
import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from durable import engine as durable_engine

from auditor.engine.compiler import Chunk, ChunkOutcome, CompiledRule, Firing, compile_rule
from auditor.engine.window import SweepWindow
from auditor.rulebook import Rule

SID = "0"


class EngineFailure(RuntimeError):
    """durable_rules failed on a chunk (an exception in an action or in the engine)."""


class _Collector:
    """Receives what fired; the actions registered in durable_rules write here."""

    def __init__(self) -> None:
        self.firings: list[Firing] = []
        self.errors: list[BaseException] = []

    def sink(self, name: str, reader: Any) -> Any:
        def run(c: Any) -> None:
            try:
                self.firings.append((name, reader(c)))
            except BaseException as exc:  # durable_rules would swallow it into the session state
                self.errors.append(exc)

        return run


class DurableEvaluator:
    """The per-process durable_rules host; rulesets are registered once under a content-derived name."""

    def __init__(self) -> None:
        self.host = durable_engine.Host()
        self.collector = _Collector()
        self.registered: set[str] = set()

    def _ruleset_name(self, compiled: CompiledRule) -> str:
        definition = json.dumps(compiled.rules(), sort_keys=True, default=str)
        digest = hashlib.sha256(definition.encode()).hexdigest()[:12]
        return f"{compiled.name}_{digest}"

    def evaluate(self, compiled: CompiledRule, chunk: Chunk) -> ChunkOutcome:
        """Evaluate one chunk; the session is empty again afterwards."""
        name = self._ruleset_name(compiled)
        if name not in self.registered:
            self.host.set_rulesets({name: compiled.ruleset(self.collector.sink)})
            self.registered.add(name)
        facts = compiled.encode_chunk(chunk)
        for fact in facts:
            fact["sid"] = SID
        sweep = compiled.sweep_fact()
        sweep["sid"] = SID
        self.collector.firings = []
        self.collector.errors = []
        asserted: list[dict[str, Any]] = []
        try:
            if facts:
                self.host.assert_facts(name, facts)
                asserted.extend(facts)
            self.host.assert_fact(name, sweep)
            asserted.append(sweep)
        finally:
            if asserted:
                self.host.retract_facts(name, asserted)
        if self.collector.errors:
            raise EngineFailure(f"action failed: {self.collector.errors[0]!r}")
        return compiled.interpret(chunk, self.collector.firings)


_EVALUATOR: DurableEvaluator | None = None


def evaluator() -> DurableEvaluator:
    """This process's evaluator (created on first use)."""
    global _EVALUATOR
    if _EVALUATOR is None:
        _EVALUATOR = DurableEvaluator()
    return _EVALUATOR


@dataclass
class Task:
    """Chunks of one rule to evaluate together in one worker call."""

    rule_index: int
    chunks: list[Chunk]

    def subjects(self) -> list[str]:
        return sorted(k for c in self.chunks for k in c.keys)


@dataclass
class TaskResult:
    rule_index: int
    outcomes: list[ChunkOutcome] = field(default_factory=list)
    error: str | None = None
    subjects: list[str] = field(default_factory=list)
    retried: bool = False


# The rules and window a worker evaluates; set once per worker by the pool initializer.
_WORKER_RULES: list[CompiledRule] = []


def _init_worker(rules: list[Rule], window: SweepWindow) -> None:
    global _WORKER_RULES
    faulthandler.disable()  # a crash is reported by the parent as an engine error, not as a dump
    _WORKER_RULES = [compile_rule(rule, window) for rule in rules]


def _run_task(task: Task) -> list[ChunkOutcome]:
    compiled = _WORKER_RULES[task.rule_index]
    _maybe_crash(compiled, task)
    return [evaluator().evaluate(compiled, chunk) for chunk in task.chunks]


def _maybe_crash(compiled: CompiledRule, task: Task) -> None:
    """Fault injection for tests: segfault this worker on a given rule and subject.

    AUDITOR_FAULT_RULE and AUDITOR_FAULT_SUBJECT select the task; with
    AUDITOR_FAULT_ONCE_FILE set, only the first attempt crashes (the file marks it).
    """
    rule_id = os.environ.get("AUDITOR_FAULT_RULE")
    if not rule_id or compiled.rule.id != rule_id or os.environ.get("AUDITOR_FAULT_SUBJECT") not in task.subjects():
        return
    marker = os.environ.get("AUDITOR_FAULT_ONCE_FILE")
    if marker is not None:
        if os.path.exists(marker):
            return
        open(marker, "w").close()
    os.kill(os.getpid(), signal.SIGSEGV)


def run_local(compiled: list[CompiledRule], tasks: Iterable[Task]) -> Iterator[TaskResult]:
    """Evaluate in this process (used by rule tests and property tests); errors become results."""
    for task in tasks:
        result = TaskResult(task.rule_index, subjects=task.subjects())
        try:
            result.outcomes = [evaluator().evaluate(compiled[task.rule_index], c) for c in task.chunks]
        except Exception as exc:  # noqa: BLE001 - recorded as an engine error, never dropped
            result.error = f"{type(exc).__name__}: {exc}"
        yield result


def run_pool(rules: list[Rule], window: SweepWindow, tasks: list[Task], jobs: int) -> Iterator[TaskResult]:
    """Evaluate tasks in `jobs` worker processes; a task whose worker dies is retried once."""
    context = multiprocessing.get_context("fork")
    pending = list(tasks)
    attempts: dict[int, int] = {}
    while pending:
        executor = ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(rules, window))
        futures: dict[Future[list[ChunkOutcome]], tuple[int, Task]] = {}
        for task in pending:
            key = id(task)
            attempts.setdefault(key, 0)
            futures[executor.submit(_run_task, task)] = (key, task)
        retry: list[Task] = []
        broken = False
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for future in done:
                key, task = futures[future]
                try:
                    outcomes = future.result()
                except BrokenProcessPool:
                    broken = True
                    attempts[key] += 1
                    if attempts[key] <= 1:
                        retry.append(task)
                    else:
                        yield TaskResult(
                            task.rule_index,
                            error="worker process died twice (crash in durable_rules?)",
                            subjects=task.subjects(),
                            retried=True,
                        )
                    continue
                except Exception as exc:  # noqa: BLE001
                    yield TaskResult(task.rule_index, error=f"{type(exc).__name__}: {exc}", subjects=task.subjects())
                    continue
                yield TaskResult(task.rule_index, outcomes, subjects=task.subjects(), retried=attempts[key] > 0)
        executor.shutdown(wait=True, cancel_futures=True)
        if broken and len(retry) > 1:
            # Retry the tasks of a broken pool one at a time so a bad one cannot take others down again.
            results: list[TaskResult] = []
            for task in retry:
                results.extend(_isolated(rules, window, task, attempts))
            yield from results
            retry = []
        pending = retry


def _isolated(rules: list[Rule], window: SweepWindow, task: Task, attempts: dict[int, int]) -> list[TaskResult]:
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker, initargs=(rules, window)) as executor:
        try:
            outcomes = executor.submit(_run_task, task).result()
        except BrokenProcessPool:
            return [
                TaskResult(
                    task.rule_index,
                    error="worker process died twice (crash in durable_rules?)",
                    subjects=task.subjects(),
                    retried=True,
                )
            ]
        except Exception as exc:  # noqa: BLE001
            return [
                TaskResult(
                    task.rule_index, error=f"{type(exc).__name__}: {exc}", subjects=task.subjects(), retried=True
                )
            ]
    return [TaskResult(task.rule_index, outcomes, subjects=task.subjects(), retried=True)]
