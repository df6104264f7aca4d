"""Evaluate a sweep's tasks on a Dask cluster (`auditor sweep --scheduler ADDRESS`).

Only the sweeping process reads the database. It partitions the facts as a
local sweep does (evaluate._tasks, the same tasks) and ships bundles of one
rule's tasks, facts included, to the cluster; results come back as bundles
finish, at most IN_FLIGHT_PER_THREAD bundles per Dask thread at a time.

Containment (runner's docstring): durable_rules is only safe with one ruleset
per process and never frees what it is given, while a Dask worker process is
long-lived and gets bundles of every rule. So a Dask worker never evaluates:
each bundle goes through the local pool (`run_pool`, one evaluation process
at a time per Dask thread), whose processes are forked from a fork server in
the Dask worker, dedicated to the bundle's rule, and gone when the bundle is.
An evaluation process that dies costs its task a retry, twice an engine
error, as locally. A Dask worker that dies is Dask's to retry on another
worker; when Dask gives up on a bundle (KilledWorker), its tasks are retried
once more, each alone, and then become engine errors naming rule and subjects.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import multiprocessing
import os
import signal
import sys
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import auditor
from auditor.engine.compiler import CompiledRule
from auditor.engine.runner import TASKS_PER_WORKER, Task, TaskResult, fault_fires, fault_variables, run_pool

CONNECT_TIMEOUT = 10.0  # seconds to reach the scheduler
WORKER_WAIT = 30.0  # seconds to wait for a first worker to join the scheduler
BUNDLE_FACTS = 20_000  # facts shipped in one Dask task (with TASKS_PER_WORKER tasks at most)
IN_FLIGHT_PER_THREAD = 2  # bundles submitted and not yet collected, per Dask worker thread
_KILLED = "Dask workers died running this task, also when retried alone (KilledWorker)"
_LOST = "scheduler-connection-lost"  # why Dask cancels the futures of a client that lost its scheduler


class ClusterError(RuntimeError):
    """The Dask cluster cannot be used: no scheduler, no worker, or workers that run other code."""


@dataclass
class Bundle:
    """Tasks of one rule shipped together to a Dask worker, with what they need there."""

    rule_index: int
    compiled: CompiledRule
    tasks: list[Task]
    fault: dict[str, str]  # fault injection (tests only), from the sweeping process
    fingerprint: str  # the sweeping process's code_fingerprint(): a worker with other code refuses the bundle
    retry: bool = False  # a task alone, retried after Dask gave up on its bundle

    def facts(self) -> int:
        return sum(len(chunk.facts) for task in self.tasks for chunk in task.chunks)


class Cluster:
    """A client of a checked Dask cluster: reachable, with workers that run the same auditor code."""

    def __init__(self, address: str, timeout: float | None = None) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ClusterError(
                "--scheduler needs Dask distributed: pip install 'auditor[cluster]' (here and on the workers)"
            ) from None
        self.address = address
        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT if timeout is None else timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        try:
            self._check()
        except BaseException:
            self.client.close()
            raise

    def _check(self) -> None:
        """Wait for a worker; refuse workers that run other code."""
        try:
            self.client.wait_for_workers(1, timeout=WORKER_WAIT)
        except TimeoutError:
            raise ClusterError(
                f"no Dask worker joined the scheduler at {self.address} within {WORKER_WAIT:g} s"
            ) from None
        try:
            found = self.client.run(code_fingerprint)
        except Exception as exc:  # noqa: BLE001 - a worker that cannot even import auditor
            raise ClusterError(
                f"the Dask workers cannot run auditor ({type(exc).__name__}: {exc}); {_INSTALL}"
            ) from None
        ours = code_fingerprint()
        other = sorted(worker for worker, theirs in found.items() if theirs != ours)
        if other:
            raise ClusterError(
                f"{len(other)} Dask worker(s) run other code than this auditor ({', '.join(other[:3])}: "
                f"{found[other[0]]}, here {ours}); {_INSTALL}"
            )

    def worker_threads(self) -> int:
        """Threads of the workers now connected (at least one)."""
        return max(1, sum(self.client.nthreads().values()))

    def close(self) -> None:
        """Close the client. One that lost its scheduler is closed quietly: Dask would log the reconnection it
        cancels as an error with a traceback, after the sweep said what went wrong (ClusterError)."""
        if self.client.status == "running":
            self.client.close()
            return
        logger = logging.getLogger("distributed.client")
        level = logger.level
        logger.setLevel(logging.CRITICAL)
        try:
            self.client.close()
        finally:
            logger.setLevel(level)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def run(self, compiled: list[CompiledRule], batches: Iterable[list[Task]]) -> Iterator[TaskResult]:
        """Evaluate the batches' tasks on the cluster; each task's result as its bundle finishes.

        A bundle Dask gave up on (KilledWorker: workers died running it, maybe
        because of another bundle on the same worker) is retried once, each
        task alone, first in line; a task alone that Dask gives up on again is
        an engine error.
        """
        from distributed import as_completed

        held: dict[Any, Bundle] = {}  # future -> its bundle
        done = as_completed(loop=self.client.loop)
        again: deque[Bundle] = deque()
        fresh = bundles(compiled, batches, fault_variables())
        run = uuid.uuid4().hex[:12]
        exhausted = False
        for number in itertools.count():
            limit = IN_FLIGHT_PER_THREAD * self.worker_threads()  # workers may join or leave meanwhile
            # Make room; once every bundle is out, wait for results (which may bring retries).
            while held and (len(held) >= limit or (exhausted and not again)):
                results, retries = _collect(next(done), held, self.address)
                again.extend(retries)
                yield from results
            bundle = again.popleft() if again else None if exhausted else next(fresh, None)
            if bundle is None:
                if not held and not again:
                    return
                exhausted = True
                continue
            # The bundle travels inside the task (not scattered): should its worker die, the scheduler still holds
            # it and can run the task elsewhere. A bundle is a few MB at most (about 120 bytes per packed fact).
            key = f"auditor-{run}-{number}-{bundle.compiled.rule.id}"
            future = self.client.submit(run_bundle, bundle, pure=False, key=key)
            held[future] = bundle
            done.add(future)


_INSTALL = "install the same auditor (same commit, with its [cluster] extra) and Python on every worker"


def bundles(compiled: list[CompiledRule], batches: Iterable[list[Task]], fault: dict[str, str]) -> Iterator[Bundle]:
    """Each rule's tasks in bundles of at most BUNDLE_FACTS facts and TASKS_PER_WORKER tasks (one at least)."""
    fingerprint = code_fingerprint()
    for batch in batches:
        current: list[Task] = []
        size = 0
        for task in batch:
            facts = sum(len(chunk.facts) for chunk in task.chunks)
            if current and (size + facts > BUNDLE_FACTS or len(current) >= TASKS_PER_WORKER):
                yield Bundle(current[0].rule_index, compiled[current[0].rule_index], current, fault, fingerprint)
                current, size = [], 0
            current.append(task)
            size += facts
        if current:
            yield Bundle(current[0].rule_index, compiled[current[0].rule_index], current, fault, fingerprint)


def _collect(future: Any, held: dict[Any, Bundle], address: str) -> tuple[list[TaskResult], list[Bundle]]:
    """A finished bundle's results, or its tasks to retry alone when Dask gave up on it the first time.

    ClusterError when Dask failed otherwise, e.g. the client lost the scheduler (at `address`): every future it
    held is cancelled then, and the sweep cannot go on.
    """
    from distributed import KilledWorker

    bundle = held.pop(future)
    try:
        results: list[TaskResult] = future.result()
    except KilledWorker as exc:
        if not bundle.retry:
            return [], [replace(bundle, tasks=[task], retry=True) for task in bundle.tasks]
        return [
            TaskResult(t.rule_index, error=f"{_KILLED}: {exc}", subjects=t.subjects(), retried=True)
            for t in bundle.tasks
        ], []
    except Exception as exc:
        if getattr(exc, "reason", None) == _LOST:
            raise ClusterError(
                f"lost the connection to the Dask scheduler at {address} during the sweep; the sweep is marked "
                "failed and stored nothing: run it again once the scheduler is back"
            ) from exc
        raise ClusterError(
            f"Dask failed evaluating rule {bundle.compiled.rule.id}: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        future.release()
    for result in results:
        result.retried = result.retried or bundle.retry
    return results, []


def run_bundle(bundle: Bundle) -> list[TaskResult]:
    """On a Dask worker: evaluate a bundle through the local pool, in one evaluation process at a time."""
    if bundle.fingerprint != code_fingerprint():  # a worker that joined after the check, with other code
        raise RuntimeError(f"this Dask worker runs {code_fingerprint()}, the sweep {bundle.fingerprint}; {_INSTALL}")
    _maybe_kill_worker(bundle)
    _allow_children()
    compiled: Mapping[int, CompiledRule] = {bundle.rule_index: bundle.compiled}
    return list(run_pool(compiled, [bundle.tasks], jobs=1, fault=bundle.fault))


def _maybe_kill_worker(bundle: Bundle) -> None:
    """Fault injection for tests: with AUDITOR_FAULT_KIND=dask-worker the Dask worker itself dies (SIGKILL)."""
    if bundle.fault.get("AUDITOR_FAULT_KIND") != "dask-worker":
        return
    if fault_fires(bundle.fault, bundle.compiled.rule.id, [s for t in bundle.tasks for s in t.subjects()]):
        os.kill(os.getpid(), signal.SIGKILL)


def _allow_children() -> None:
    """Let this Dask worker start evaluation processes.

    A worker started by a nanny is a daemonic process (`distributed.worker.daemon`),
    and multiprocessing refuses children to those so that none is orphaned. Ours
    are not: the fork server exits with the worker, evaluation processes are
    daemonic themselves and end when their pipe to the worker closes.
    """
    process = multiprocessing.current_process()
    if process.daemon:
        process.daemon = False


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """What must match between the sweeping process and the workers: auditor's code, durable_rules, Python."""
    digest = hashlib.sha256()
    package = Path(auditor.__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    durable = metadata.version("durable_rules")
    python = ".".join(map(str, sys.version_info[:2]))
    return f"auditor {auditor.__version__} ({digest.hexdigest()[:12]}), durable_rules {durable}, Python {python}"
