"""Evaluate compiled rules chunk by chunk in durable_rules, locally or in worker processes.

How durable_rules 2.0.28 is contained (docs/engine.md has the evidence):

* Its Host starts background threads that dispatch every ruleset while the
  caller asserts facts: a data race in the C engine. `QuietHost` never starts
  them (we use neither durable timers nor queued messages).
* Freeing anything in the C engine (`retract_facts`, `delete_state`) leaves it
  reading freed or uninitialised memory later. So nothing is ever freed: every
  chunk is evaluated in a fresh session, and the memory is reclaimed by
  throwing the process away. A ruleset takes at most 1,024 sessions, so it is
  re-registered under a new generation before that; worker processes are
  replaced after a bounded number of tasks.
* A worker that dies anyway is replaced and its task retried once, alone; a
  task that fails twice becomes an engine error naming rule and subjects.
* durable_rules keeps about 9 KB per asserted fact until the process ends, so a
  worker retires after FACTS_PER_WORKER encoded facts. Workers are forked from
  a small fork server, not from the sweeping process that holds every fact.
  A worker freezes what it inherits (`gc.freeze`): the cyclic collector would
  otherwise walk every imported object and write to each page it lies on,
  copying the fork server's pages into every worker (a quarter of the
  workers' CPU time in an incremental sweep, docs/benchmarks.md).
* What fired is read straight from the C engine's action queue
  (`start_action_for_state` / `complete_and_start_action`): the Python Host's
  action protocol (a closure, a state update and JSON round trips per firing)
  was most of the evaluation time, and our actions only record fact ids.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import json
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import threading
import time
import types
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait as connection_wait
from typing import Any

import durable_rules_engine
import msgspec
from durable import engine as durable_engine

from auditor.engine.compiler import Chunk, ChunkOutcome, CompiledRule, Firing

SESSIONS_PER_RULESET = 1000  # durable_rules refuses the 1,025th session of a ruleset (MemoryError)
TASKS_PER_WORKER = 40  # a worker process is replaced after this many tasks (bounded memory) ...
FACTS_PER_WORKER = 30_000  # ... or once it asserted this many encoded facts (about 9 KB each, never freed)
TASK_TIMEOUT = float(os.environ.get("AUDITOR_TASK_TIMEOUT", "600"))  # seconds before a silent worker is killed
FAULT_VARIABLES = ("AUDITOR_FAULT_RULE", "AUDITOR_FAULT_SUBJECT", "AUDITOR_FAULT_ONCE_FILE", "AUDITOR_FAULT_KIND")


class EngineFailure(RuntimeError):
    """durable_rules failed on a chunk (an exception in an action or in the engine)."""


def quiet_host() -> durable_engine.Host:
    """A durable_rules Host whose background threads are stopped before they first run.

    `Host.__init__` starts two daemon timers that, 0.1 s later and then every
    0.2 s, call `dispatch()` and `dispatch_timers()` on every ruleset,
    concurrently with the caller's asserts on the same (not thread-safe) C
    handles. We use neither durable timers nor queued messages (actions run
    synchronously inside assert), so both are cancelled at once. (Overriding
    `Host._run` in a subclass instead crashed the engine on small inputs.)
    """
    host = durable_engine.Host()
    for attribute in ("_d_timer", "_t_timer"):
        _stop_timer(host, attribute)
    return host


def _stop_timer(host: durable_engine.Host, attribute: str) -> None:
    """Cancel a Host timer, including the replacement it creates if it fired before the cancel.

    On a loaded machine the first 0.1 s timer can fire before we cancel it; with
    no rulesets registered yet it only schedules a replacement timer, which may
    not be started yet when we look (joining it would raise), so we cancel
    whatever timer the attribute holds until it stays the same.
    """
    while True:
        timer = getattr(host, attribute)
        timer.cancel()  # a cancelled timer that starts later returns at once
        while True:
            try:
                timer.join()
                break
            except RuntimeError:  # created by the firing callback, not started yet
                time.sleep(0.001)
        if getattr(host, attribute) is timer:
            return


@dataclass
class _Registration:
    name: str
    sessions: int = 0


class DurableEvaluator:
    """This process's durable_rules host: one fresh session per chunk, rulesets renewed before their cap."""

    def __init__(self) -> None:
        self.host = quiet_host()
        self.registrations: dict[str, _Registration] = {}
        self.generations = 0
        self.sessions = 0
        self.asserted = 0  # encoded facts asserted by this process (durable_rules keeps them all)

    def _registration(self, compiled: CompiledRule) -> _Registration:
        key = f"{compiled.name}_{compiled.digest}"
        current = self.registrations.get(key)
        if current is None or current.sessions >= SESSIONS_PER_RULESET:
            self.generations += 1
            current = _Registration(f"{key}_g{self.generations}")
            self.host.set_rulesets({current.name: compiled.ruleset()})
            self.registrations[key] = current
        return current

    def evaluate(self, compiled: CompiledRule, chunk: Chunk) -> ChunkOutcome:
        """Evaluate one chunk in a session of its own (never reused, never freed)."""
        registration = self._registration(compiled)
        registration.sessions += 1
        self.sessions += 1
        sid = str(registration.sessions)
        facts = compiled.encode_chunk(chunk)
        for fact in facts:
            fact["sid"] = sid
        sweep = compiled.sweep_fact()
        sweep["sid"] = sid
        ruleset = self.host.get_ruleset(registration.name)
        firings: list[Firing] = []
        if facts:
            _assert(ruleset, durable_rules_engine.assert_facts, facts, firings)
        _assert(ruleset, durable_rules_engine.assert_fact, sweep, firings)
        self.asserted += len(facts) + 1
        return compiled.interpret(chunk, firings)


def _assert(ruleset: Any, assert_function: Any, payload: Any, firings: list[Firing]) -> None:
    """Assert facts into a session and record every rule that fires: (rule name, {alias: durable id}).

    The same calls as `Ruleset.assert_facts` and `Ruleset.do_actions`, without
    running Python actions: each queued action's matched facts are read and
    the action completed at once. Catch-all rules never fire (compiler.catch_all).
    """
    handle = ruleset._handle
    state = ruleset._handle_result(assert_function(handle, json.dumps(payload, ensure_ascii=False)), payload)
    started = durable_rules_engine.start_action_for_state(handle, state)
    message = started[1] if started else None
    while message:
        name, matched = _read_action(message)
        if not name.startswith("accept_"):  # catch-alls never fire; should one, it says nothing
            firings.extend(matched)
        message = durable_rules_engine.complete_and_start_action(handle, state)


class _Bound(msgspec.Struct):
    """A matched fact as far as we read it: its durable id (every other field is skipped unparsed)."""

    id: int


_READ_ACTION = msgspec.json.Decoder(dict[str, list[dict[str, _Bound]] | dict[str, _Bound]])


def _read_action(message: str | bytes) -> tuple[str, list[Firing]]:
    """A queued action's rule name and its matches as firings.

    A queued action is `{rule: match}` or `{rule: [match, ...]}` (`cap`), each match `{alias: fact}` with the
    matched facts in full; only their ids are read (msgspec), which costs a fraction of parsing every fact.
    A message of another shape is parsed in full as JSON; one without ids is an EngineFailure.
    """
    try:
        ((name, matched),) = _READ_ACTION.decode(message).items()
    except (msgspec.ValidationError, ValueError):
        return _parse_action(message)
    matches = matched if isinstance(matched, list) else [matched]
    return name, [(name, {alias: fact.id for alias, fact in match.items()}) for match in matches]


def _parse_action(message: str | bytes) -> tuple[str, list[Firing]]:
    name, matched = next(iter(json.loads(message).items()))
    if name.startswith("accept_"):
        return name, []
    try:
        matches = matched if isinstance(matched, list) else [matched]
        return name, [(name, {alias: fact["id"] for alias, fact in match.items()}) for match in matches]
    except (AttributeError, KeyError, TypeError) as exc:
        raise EngineFailure(f"unreadable firing of {name}: {exc!r}") from exc


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


# The fault to inject (tests only); set when a worker starts.
_WORKER_FAULT: dict[str, str] = {}


def _maybe_crash(compiled: CompiledRule, task: Task) -> None:
    """Fault injection for tests: segfault (or hang) this worker on a given rule and subject."""
    if _WORKER_FAULT.get("AUDITOR_FAULT_KIND", "crash") not in ("crash", "hang"):
        return  # another process's fault (engine/cluster.py)
    if not fault_fires(_WORKER_FAULT, compiled.rule.id, task.subjects()):
        return
    if _WORKER_FAULT.get("AUDITOR_FAULT_KIND") == "hang":
        time.sleep(3600)
    os.kill(os.getpid(), signal.SIGSEGV)


def fault_fires(fault: dict[str, str], rule_id: str, subjects: Iterable[str]) -> bool:
    """Whether an injected fault (tests only) selects this rule and one of these subjects, now.

    AUDITOR_FAULT_RULE and AUDITOR_FAULT_SUBJECT (in the sweeping process's
    environment) select the task; with AUDITOR_FAULT_ONCE_FILE set, only the
    first attempt fires (the file marks it). AUDITOR_FAULT_KIND says how.
    """
    if not fault.get("AUDITOR_FAULT_RULE") or fault["AUDITOR_FAULT_RULE"] != rule_id:
        return False
    if fault.get("AUDITOR_FAULT_SUBJECT") not in subjects:
        return False
    marker = fault.get("AUDITOR_FAULT_ONCE_FILE")
    if marker is not None:
        if os.path.exists(marker):
            return False
        open(marker, "w").close()
    return True


def fault_variables() -> dict[str, str]:
    """The fault injection settings (tests only) in this process's environment."""
    return {name: os.environ[name] for name in FAULT_VARIABLES if name in os.environ}


def run_pool(
    compiled: Sequence[CompiledRule] | Mapping[int, CompiledRule],
    batches: Iterable[list[Task]],
    jobs: int,
    fault: dict[str, str] | None = None,
) -> Iterator[TaskResult]:
    """Evaluate each batch's tasks in up to `jobs` worker processes, each dedicated to one rule.

    A batch is one rule's tasks; the next is taken (partitioned) on every turn
    of the loop while the workers evaluate. durable_rules is only safe with
    one ruleset per process, so a worker evaluates tasks of a single rule and
    retires when that rule has no more work, after TASKS_PER_WORKER tasks or
    FACTS_PER_WORKER asserted facts (bounded memory, under the 1,024 session
    cap). The parent knows which task each worker holds: a worker
    that dies costs only its own task, retried once in a fresh worker; a
    second death makes it an engine error. `compiled` is indexed by the tasks'
    rule_index; `fault` (tests only) defaults to this process's environment.
    """
    fault = fault_variables() if fault is None else fault
    pending: dict[int, deque[tuple[Task, int]]] = {}
    more = iter(batches)
    exhausted = False

    def take() -> None:
        """Queue the next batch of tasks (a rule's), if any is left."""
        nonlocal exhausted
        batch = next(more, None)
        if batch is None:
            exhausted = True
        for task in batch or ():
            pending.setdefault(task.rule_index, deque()).append((task, 0))

    workers: list[_Worker] = []
    retiring: list[Any] = []  # processes told to end, not yet waited for

    def requeue(worker: _Worker) -> TaskResult | None:
        """A worker died holding a task: retry it once (first in line, for a fresh worker), else fail it."""
        task, attempt = worker.lost()
        workers.remove(worker)
        if attempt == 0:
            pending[task.rule_index].appendleft((task, 1))
            return None
        return TaskResult(task.rule_index, error=_DIED, subjects=task.subjects(), retried=True)

    try:
        while any(pending.values()) or workers or not exhausted:
            if not exhausted:
                take()  # the next rule's tasks, partitioned while the workers evaluate
            for worker in [w for w in workers if w.task is None]:
                queue = pending.get(worker.rule_index)
                fresh = worker.done < TASKS_PER_WORKER and not worker.spent
                if queue and queue[0][1] == 0 and fresh and worker.alive():
                    if not worker.assign(*queue.popleft()):
                        requeue(worker)
                else:
                    retiring.append(worker.retire())
                    workers.remove(worker)
            retiring[:] = [process for process in retiring if process.is_alive()]  # the others are reaped now
            while len(workers) < max(1, jobs) and any(pending.values()):
                rule_index = max(pending, key=lambda r: len(pending[r]))
                worker = _Worker.start(compiled[rule_index], rule_index, fault)
                workers.append(worker)
                if not worker.assign(*pending[rule_index].popleft()):
                    requeue(worker)
            if not workers:
                continue
            timeout = 1.0 if exhausted else 0.0  # more to partition: only collect what is ready
            ready = connection_wait([w.conn for w in workers] + [w.process.sentinel for w in workers], timeout=timeout)
            for worker in list(workers):
                if worker.overdue():
                    worker.process.kill()  # a hung worker counts as a dead one
                elif worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                result = worker.collect()
                if result is not None:
                    yield result
                    continue
                failed = requeue(worker)  # the worker died with its task
                if failed is not None:
                    yield failed
    finally:
        for worker in workers:
            retiring.append(worker.retire())
        for process in retiring:
            _reap(process)


_DIED = "worker process died or hung twice (crash in durable_rules?)"


def start_fork_server() -> None:
    """Start the workers' fork server now: it imports the engine in a process of its own (about a third of a
    second), which a sweep spends planning instead of waiting for its first worker."""
    worker_context()
    multiprocessing.forkserver.ensure_running()


_STARTING = threading.Lock()


@contextlib.contextmanager
def without_main() -> Iterator[None]:
    """Start processes (workers, the KPI process) without the caller's main script.

    With the fork server, multiprocessing runs the main script's top level again in every process it starts,
    unless the fork server preloaded it, which Python 3.11's never does (it looks for a key its own preparation
    data does not have). A worker needs nothing of it; a script that imports more than the auditor (a benchmark,
    a scheduled job) cost each of the dozens of workers of a sweep some milliseconds. While a process starts,
    the main module looks like one without a file, which multiprocessing leaves alone.
    """
    with _STARTING:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = main


def worker_context() -> Any:
    """Workers are forked by a fork server that imported the engine and holds no facts.

    Forked from the sweeping process instead, every worker would map (and be
    counted with) the parent's memory: the facts of the whole sweep.
    """
    context = multiprocessing.get_context("forkserver")
    # Everything of ours the sweep imported, so that no worker imports anything when it unpickles its work
    # (the first start of the fork server fixes the list for the process).
    context.set_forkserver_preload(sorted(name for name in sys.modules if name.split(".")[0] == "auditor"))
    return context


@dataclass
class _Worker:
    """One worker process (forked by the fork server) and the task it holds."""

    process: Any
    conn: Any
    rule_index: int
    task: Task | None = None
    attempt: int = 0
    done: int = 0
    started: float = 0.0
    spent: bool = False  # asserted FACTS_PER_WORKER facts: retire

    @classmethod
    def start(cls, compiled: CompiledRule, rule_index: int, fault: dict[str, str]) -> _Worker:
        context = worker_context()
        parent, child = context.Pipe()
        process = context.Process(target=_worker_main, args=(child, compiled, fault), daemon=True)
        with without_main():
            process.start()
        child.close()
        return cls(process, parent, rule_index)

    def assign(self, task: Task, attempt: int) -> bool:
        """Hand over a task; False when the worker is already gone (the task stays held for requeueing)."""
        self.task, self.attempt, self.started = task, attempt, time.monotonic()
        try:
            self.conn.send(task)
        except OSError:  # BrokenPipeError, ConnectionResetError: the worker died meanwhile
            return False
        return True

    def overdue(self) -> bool:
        return self.task is not None and time.monotonic() - self.started > TASK_TIMEOUT

    def collect(self) -> TaskResult | None:
        """The result of the held task, or None when the worker died."""
        assert self.task is not None
        if not self.process.is_alive() and not self.conn.poll():
            return None
        try:
            kind, payload, self.spent = self.conn.recv()
        except Exception:  # noqa: BLE001 - EOF, a broken pipe or an unreadable result: the task is lost
            return None
        task, self.task = self.task, None
        self.done += 1
        retried = self.attempt > 0
        if kind == "ok":
            return TaskResult(task.rule_index, payload, subjects=task.subjects(), retried=retried)
        return TaskResult(task.rule_index, error=payload, subjects=task.subjects(), retried=retried)

    def lost(self) -> tuple[Task, int]:
        """Give up on this worker (killing it if it still runs) and return the task it held."""
        assert self.task is not None
        task, self.task = self.task, None
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()
        return task, self.attempt

    def alive(self) -> bool:
        return self.process.is_alive()

    def retire(self) -> Any:
        """Tell the worker to end, without waiting for it (the pool goes on at once); returns its process, to be
        reaped once it ended (`is_alive`) or at the end of the pool (`_reap`)."""
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send(None)
        self.conn.close()
        return self.process


def _reap(process: Any) -> None:
    """Wait for a retired worker to end (killed after 5 s: it has nothing left to do)."""
    process.join(timeout=5)
    if process.is_alive():
        process.kill()
        process.join()


def _worker_main(conn: Any, compiled: CompiledRule, fault: dict[str, str]) -> None:
    global _EVALUATOR, _WORKER_FAULT
    faulthandler.disable()  # a crash is reported by the parent as an engine error, not as a dump
    gc.freeze()  # the fork server's objects: never collected here, so their pages stay shared (module docstring)
    _EVALUATOR = None  # a fresh durable_rules host, never shared with another rule
    _WORKER_FAULT = fault
    while True:
        task = conn.recv()
        if task is None:
            return
        try:
            _maybe_crash(compiled, task)
            outcomes = [evaluator().evaluate(compiled, chunk) for chunk in task.chunks]
            conn.send(("ok", outcomes, evaluator().asserted >= FACTS_PER_WORKER))
        except Exception as exc:  # noqa: BLE001 - reported as an engine error by the parent
            conn.send(("error", f"{type(exc).__name__}: {exc}", True))
