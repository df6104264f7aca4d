"""A sweep killed with SIGKILL (while evaluating, or half-way through writing) leaves the previous state intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from auditor.cli import main
from auditor.engine.sweep import run_sweep
from auditor.findings.query import get_sweep, list_findings
from auditor.store.lock import DatabaseBusyError
from auditor.store.models import FindingEvent, FindingRow, Sweep

from .conftest import RULES
from .test_finding_history import MS1, POLICY, SINCE, SWEPT, org, shops  # noqa: F401 - org is a fixture

CLI = [sys.executable, "-c", "from auditor.cli import main; main()"]


def _state(engine: Engine) -> tuple[list[tuple[int, str, str, str]], int, list[tuple[int, str]]]:
    with Session(engine) as session:
        findings = session.execute(
            select(FindingRow.sweep_id, FindingRow.finding_key, FindingRow.status, FindingRow.message).order_by(
                FindingRow.id
            )
        ).all()
        events = session.execute(select(func.count()).select_from(FindingEvent)).scalar_one()
        sweeps = session.execute(select(Sweep.id, Sweep.status).order_by(Sweep.id)).all()
    return [tuple(f) for f in findings], events, [tuple(s) for s in sweeps]  # type: ignore[misc]


def _start_sweep(db_url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    args = ["sweep", "--as-of", "2026-02-28", "--since", "2026-01-01", "--jobs", "1", "--db", db_url]
    for name in ("representation.yml", "sales_material.yml"):
        args += ["--rules", str(RULES / name)]
    return subprocess.Popen(
        [*CLI, *args],
        env={**os.environ, **env},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for(condition, process: subprocess.Popen[bytes], what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 120
    while not condition():
        if process.poll() is not None:
            out = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"the sweep ended (exit {process.returncode}) before {what}:\n{out}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


def _running(engine: Engine) -> bool:
    with Session(engine) as session:
        return session.execute(select(Sweep.id).where(Sweep.status == "running")).first() is not None


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # the sweeping process and its workers
    process.wait(timeout=30)


def _sweep_again(engine: Engine):  # type: ignore[no-untyped-def]
    """A new sweep; PostgreSQL may need a moment to notice the dead connection and release its lock."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return run_sweep(engine, SWEPT, date(2026, 2, 28), SINCE, jobs=1, policy=POLICY, actor="t")
        except DatabaseBusyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("moment", ["while writing", "while evaluating"])
def test_killed_sweep_leaves_the_previous_state(org: Engine, db_url: str, tmp_path: Path, moment: str) -> None:  # noqa: F811
    first = run_sweep(org, SWEPT, date(2026, 1, 31), SINCE, jobs=1, policy=POLICY, actor="t")
    shops(org, tmp_path, "fixed", MS1=85)  # the next sweep would resolve MS1
    before = _state(org)
    marker = tmp_path / "paused"
    if moment == "while writing":
        env = {"AUDITOR_FAULT_PAUSE_FILE": str(marker)}
    else:
        env = {"AUDITOR_FAULT_RULE": "REP-001", "AUDITOR_FAULT_SUBJECT": "MS3", "AUDITOR_FAULT_KIND": "hang"}
    process = _start_sweep(db_url, env)
    try:
        if moment == "while writing":
            _wait_for(marker.exists, process, "the sweep wrote its findings and paused before committing")
        else:
            _wait_for(lambda: _running(org), process, "the sweep recorded itself as running")
            time.sleep(1.0)  # evaluating: a worker hangs on REP-001/MS3
        busy = CliRunner().invoke(
            main, ["sweep", "--as-of", "2026-02-28", "--rules", str(RULES / "representation.yml"), "--db", db_url]
        )
        assert busy.exit_code == 75, busy.output
        assert "another sweep is running on this database (sweep 2" in busy.output
    finally:
        _kill(process)

    findings, events, sweeps = _state(org)
    assert (findings, events) == before[:2]  # nothing of the killed sweep is visible
    assert sweeps == [(first.sweep_id, "complete"), (2, "running")]
    with Session(org) as session:
        assert get_sweep(session).id == first.sweep_id  # readers see the last complete sweep
    assert {f["key"] for f in list_findings(org)[1]} == {k for _, k, _, _ in before[0]}

    again = _sweep_again(org)
    assert again.sweep_id == 3 and again.lifecycle == {"recurring": 2, "resolved": 1}
    with Session(org) as session:
        killed = session.get_one(Sweep, 2)
        assert killed.status == "failed" and "interrupted" in killed.failure
