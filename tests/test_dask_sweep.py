"""A sweep on a Dask cluster (--scheduler) stores exactly what the local sweep stores, crashes included.

One LocalCluster (two worker processes, one thread each) serves the module.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from auditor.cli import main
from auditor.engine import cluster as cluster_module
from auditor.engine.cluster import Cluster, ClusterError
from auditor.engine.evaluate import Evaluation, evaluate
from auditor.engine.sweep import run_sweep
from auditor.ingest import ingest_file
from auditor.rulebook import load_rulebook
from auditor.store import open_database
from auditor.store.models import CadenceResult, EngineError, FindingRow, RuleCheck, Sweep, SweepFinding
from auditor.synth import SynthResult, generate

from .conftest import RULES
from .test_worker_crash import BOOK, WINDOW, _facts

distributed = pytest.importorskip("distributed")
# With the dashboard off the scheduler still serves HTTP (health, metrics): on 8787, else any port, with a warning.
pytestmark = pytest.mark.filterwarnings("ignore:Port .* is already in use:UserWarning")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a local Dask cluster: two worker processes (nanny-started, so daemonic), one thread each."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return generate(tmp_path_factory.mktemp("org"), seed=4, reps=8, months=3)


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut the (small) data into many chunks, tasks and bundles, so that rules span bundles and bundles tasks."""
    from auditor.engine import evaluate as evaluate_module
    from auditor.engine import partition

    monkeypatch.setattr(partition, "MAX_CHUNK_KEYS", 4)
    monkeypatch.setattr(evaluate_module, "TASK_CHUNKS", 3)
    monkeypatch.setattr(cluster_module, "BUNDLE_FACTS", 150)


def _stored(engine: Engine, sweep_id: int) -> dict[str, Any]:
    """What a sweep stored that the engine decides (not the lifecycle: a second sweep's findings recur)."""
    with Session(engine) as session:
        sweep = session.get_one(Sweep, sweep_id)
        assert sweep.status == "complete", sweep.failure

        def rows(*columns: Any) -> list[tuple[Any, ...]]:
            query = select(*columns).where(columns[0].class_.sweep_id == sweep_id)
            return sorted(tuple(row) for row in session.execute(query))

        findings = [
            (key, message, tuple(evidence), *rest)
            for key, message, evidence, *rest in rows(
                SweepFinding.finding_key,
                SweepFinding.message,
                SweepFinding.evidence,
                SweepFinding.severity,
                SweepFinding.due_on,
                SweepFinding.person_id,
                SweepFinding.manager_id,
            )
        ]
        errors = [(r, tuple(s), e) for r, s, e in rows(EngineError.rule_id, EngineError.subjects, EngineError.error)]
        return {
            "facts": sweep.facts_evaluated,
            "findings": findings,
            "checks": rows(RuleCheck.rule_id, RuleCheck.checked, RuleCheck.violations),
            "cadence": rows(CadenceResult.rule_id, CadenceResult.subject, CadenceResult.period, CadenceResult.met),
            "errors": errors,
        }


def test_cli_sweep_on_the_cluster_equals_the_local_sweep(
    db_url: str, synth: SynthResult, scheduler: str, small_pieces: None
) -> None:
    engine = open_database(db_url)
    for path in synth.files:
        with Session(engine) as session:
            ingest_file(session, path)
    book = load_rulebook([RULES])
    local = run_sweep(engine, book.rules, synth.as_of, synth.since, jobs=2, rules_digest=book.digest)
    swept = CliRunner().invoke(
        main,
        ["sweep", "--as-of", str(synth.as_of), "--since", str(synth.since), "--rules", str(RULES)]
        + ["--db", db_url, "--scheduler", scheduler],
    )
    assert swept.exit_code == 0, swept.output
    expected, found = _stored(engine, local.sweep_id), _stored(engine, local.sweep_id + 1)
    assert len(expected["findings"]) > 50 and len(expected["checks"]) == len(book.rules)
    assert found == expected
    engine.dispose()


def _same(a: Evaluation, b: Evaluation) -> None:
    assert [(f.key, f.evidence, f.context) for f in a.findings] == [(f.key, f.evidence, f.context) for f in b.findings]
    assert {r: o.checked for r, o in a.outcomes.items()} == {r: o.checked for r, o in b.outcomes.items()}
    assert a.errors == b.errors


def test_crash_once_is_retried_on_the_worker(scheduler: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    facts = _facts()
    clean = evaluate(BOOK.rules, facts, WINDOW, jobs=2)
    monkeypatch.setenv("AUDITOR_FAULT_RULE", "MAT-001")
    monkeypatch.setenv("AUDITOR_FAULT_SUBJECT", "R7")
    monkeypatch.setenv("AUDITOR_FAULT_ONCE_FILE", str(tmp_path / "crashed-once"))
    crashed = evaluate(BOOK.rules, facts, WINDOW, scheduler=scheduler)
    assert (tmp_path / "crashed-once").exists(), "the fault was not injected"
    assert crashed.errors == [] and crashed.retried_tasks == 1
    _same(crashed, clean)


def test_crash_always_is_the_same_engine_error_as_locally(scheduler: str, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = _facts()
    monkeypatch.setenv("AUDITOR_FAULT_RULE", "MAT-001")
    monkeypatch.setenv("AUDITOR_FAULT_SUBJECT", "R7")
    local = evaluate(BOOK.rules, facts, WINDOW, jobs=2)
    remote = evaluate(BOOK.rules, facts, WINDOW, scheduler=scheduler)
    assert len(remote.errors) == 1
    error = remote.errors[0]
    assert error.rule_id == "MAT-001" and "R7" in error.subjects and "died or hung twice" in error.error
    _same(remote, local)

    def evaluator_in_worker() -> bool:
        from auditor.engine import runner

        return runner._EVALUATOR is not None

    with distributed.Client(scheduler, set_as_default=False) as client:
        held = client.run(evaluator_in_worker)
    assert len(held) == 2 and not any(held.values()), "durable_rules ran inside a Dask worker process"


@pytest.fixture(scope="module")
def fragile() -> Iterator[str]:
    """A cluster whose workers the tests kill; Dask gives up on a task at the first death of its worker."""
    import dask

    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local,
    ):
        yield local.scheduler_address


def _kill_dask_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITOR_FAULT_KIND", "dask-worker")
    monkeypatch.setenv("AUDITOR_FAULT_RULE", "MAT-001")
    monkeypatch.setenv("AUDITOR_FAULT_SUBJECT", "R7")


def test_bundles_on_a_dask_worker_that_died_are_retried(
    fragile: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    facts = _facts()
    clean = evaluate(BOOK.rules, facts, WINDOW, jobs=2)
    _kill_dask_worker(monkeypatch)
    monkeypatch.setenv("AUDITOR_FAULT_ONCE_FILE", str(tmp_path / "killed-once"))
    remote = evaluate(BOOK.rules, facts, WINDOW, scheduler=fragile)
    assert (tmp_path / "killed-once").exists(), "the fault was not injected"
    assert remote.retried_tasks >= 1  # the bundle Dask gave up on, and any other on the same worker, retried alone
    _same(remote, clean)


def test_task_that_keeps_killing_dask_workers_is_an_engine_error(fragile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Alone on the cluster (one rule), so that no other task dies with the worker twice."""
    rule = [BOOK.by_id("MAT-001")]
    _kill_dask_worker(monkeypatch)
    remote = evaluate(rule, _facts(), WINDOW, scheduler=fragile)
    assert len(remote.errors) == 1
    error = remote.errors[0]
    assert error.rule_id == "MAT-001" and "R7" in error.subjects and "KilledWorker" in error.error


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_scheduler_exits_2_and_sweeps_nothing(
    sqlite_url: str, synth: SynthResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT", 2.0)
    runner = CliRunner()
    address = f"tcp://127.0.0.1:{_free_port()}"
    assert runner.invoke(main, ["ingest", str(synth.files[0]), "--db", sqlite_url]).exit_code == 0
    swept = runner.invoke(
        main, ["sweep", "--as-of", str(synth.as_of), "--rules", str(RULES), "--db", sqlite_url, "--scheduler", address]
    )
    assert swept.exit_code == 2, swept.output
    assert f"cannot reach the Dask scheduler at {address}" in swept.output
    with Session(open_database(sqlite_url)) as session:
        assert session.execute(select(Sweep)).first() is None


def test_run_takes_the_scheduler_from_the_environment_over_auditor_toml(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT", 1.0)
    in_file, in_env = f"tcp://127.0.0.1:{_free_port()}", f"tcp://127.0.0.2:{_free_port()}"
    config = tmp_path / "auditor.toml"
    config.write_text(f'[database]\nurl = "{sqlite_url}"\n[cluster]\nscheduler = "{in_file}"\n', encoding="utf-8")
    command = ["--config", str(config), "run", "--as-of", "2026-01-31", "--dry-run", "--rules", str(RULES)]
    monkeypatch.delenv("AUDITOR_SCHEDULER", raising=False)
    from_file = CliRunner().invoke(main, command)
    assert from_file.exit_code == 2 and f"cannot reach the Dask scheduler at {in_file}" in from_file.output
    monkeypatch.setenv("AUDITOR_SCHEDULER", in_env)
    from_env = CliRunner().invoke(main, command)
    assert from_env.exit_code == 2 and f"cannot reach the Dask scheduler at {in_env}" in from_env.output
    with Session(open_database(sqlite_url)) as session:
        assert session.execute(select(Sweep)).first() is None


def test_scheduler_without_workers_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_module, "WORKER_WAIT", 1.0)
    with (
        distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as empty,
        pytest.raises(ClusterError, match="no Dask worker joined"),
    ):
        Cluster(empty.scheduler_address)


def _serve(*arguments: str) -> subprocess.Popen[bytes]:
    """A Dask command-line process (scheduler or worker) in a process group of its own, to be killed whole."""
    command = [sys.executable, "-m", *arguments]
    return subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_losing_the_scheduler_mid_sweep_fails_the_sweep_and_stores_nothing(
    sqlite_url: str,
    synth: SynthResult,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The scheduler dies while the sweep waits for a bundle (held up on purpose in its worker): the sweep ends at
    once with exit status 2 and a message naming the scheduler (no traceback logged by Dask), is marked failed,
    and stores no findings."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _serve("distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port))
    worker = _serve("distributed.cli.dask_worker", address, "--nthreads", "1", "--nworkers", "1")
    try:
        runner = CliRunner()
        for path in synth.files:
            assert runner.invoke(main, ["ingest", str(path), "--db", sqlite_url]).exit_code == 0
        held = tmp_path / "held"
        monkeypatch.setenv("AUDITOR_FAULT_KIND", "hang")
        monkeypatch.setenv("AUDITOR_FAULT_RULE", "COA-001")
        monkeypatch.setenv("AUDITOR_FAULT_SUBJECT", "SP-001")
        monkeypatch.setenv("AUDITOR_FAULT_ONCE_FILE", str(held))

        def kill_scheduler_once_held() -> None:
            deadline = time.monotonic() + 120
            while not held.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            _kill(scheduler)

        threading.Thread(target=kill_scheduler_once_held, daemon=True).start()
        started = time.monotonic()
        swept = runner.invoke(
            main,
            ["sweep", "--as-of", str(synth.as_of), "--rules", str(RULES), "--db", sqlite_url, "--scheduler", address],
        )
        assert held.exists(), "the bundle was not held up: the scheduler was not lost mid-sweep"
        assert swept.exit_code == 2, swept.output
        assert f"lost the connection to the Dask scheduler at {address} during the sweep" in swept.output
        assert time.monotonic() - started < 90  # not the hung task's hour, nor a long wait for the scheduler
        logged = [r for r in caplog.records if r.name.startswith("distributed") and r.levelno >= logging.ERROR]
        assert not logged, logged  # Dask's log of the reconnection the client gave up, with a traceback
        with Session(open_database(sqlite_url)) as session:
            sweep = session.execute(select(Sweep)).scalar_one()
            assert sweep.status == "failed" and "lost the connection to the Dask scheduler" in sweep.failure
            assert session.execute(select(FindingRow)).first() is None
            assert session.execute(select(CadenceResult)).first() is None
    finally:
        _kill(worker)
        _kill(scheduler)
