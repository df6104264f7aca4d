"""SIGKILL during ingest: no partial batch; running the ingest again gives exactly a clean single run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditor.store import open_database
from auditor.store.models import FactRow, IngestBatch

ROWS = 40_000


def _write_large_file(path: Path) -> Path:
    """About 2.5 MiB of opportunity stages: several blocks, so the kill lands between parts of one batch."""
    stages = ["contact", "qualification", "proposal", "negotiation", "deal"]
    with path.open("w", encoding="utf-8") as handle:
        handle.write("opportunity_id,stage,at,owner_id,account_id,amount\n")
        for n in range(ROWS):
            day = 1 + n % 28
            handle.write(
                f"OPP-{n // 5:06d},{stages[n % 5]},2026-03-{day:02d}T09:{n % 60:02d}:00,P{n % 97},A{n % 31},{n}\n"
            )
    return path


def _ingest(path: Path, url: str, **env: str) -> subprocess.Popen[bytes]:
    command = [str(Path(sys.executable).parent / "auditor"), "ingest", str(path), "--db", url, "--jobs", "2"]
    return subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _table(url: str) -> list[tuple]:  # type: ignore[type-arg]
    engine = open_database(url)
    with Session(engine) as session:
        rows = session.execute(
            select(
                FactRow.kind,
                FactRow.natural_id,
                FactRow.version,
                FactRow.current,
                FactRow.content_hash,
                FactRow.payload,
            ).order_by(FactRow.kind, FactRow.natural_id, FactRow.version)
        )
        result = [tuple(r[:5]) + (repr(sorted(r[5].items())),) for r in rows]
    engine.dispose()
    return result


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # the ingest and its validating workers
    process.wait(timeout=30)


def _wait_for(marker: Path, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            out = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"ingest ended before the pause (exit {process.returncode}): {out}")
        if time.monotonic() > deadline:
            _kill(process)
            pytest.fail("ingest never reached the pause")
        time.sleep(0.05)


@pytest.mark.parametrize("moment", ["part", "commit"])
def test_sigkill_during_ingest_leaves_no_partial_batch_and_a_rerun_equals_a_clean_run(
    tmp_path: Path, db_url: str, moment: str
) -> None:
    """Killed after the first part of the batch was merged, or with every part merged just before the commit."""
    path = _write_large_file(tmp_path / "opportunity_stage.csv")
    marker = tmp_path / "paused"
    process = _ingest(path, db_url, AUDITOR_FAULT_INGEST_PAUSE_FILE=str(marker), AUDITOR_FAULT_INGEST_PAUSE_AT=moment)
    _wait_for(marker, process)
    _kill(process)

    assert _table(db_url) == []  # nothing of the killed batch is visible
    engine = open_database(db_url)
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(IngestBatch)).scalar_one() == 0
    engine.dispose()

    rerun = _ingest(path, db_url)
    assert rerun.wait(timeout=300) == 0, rerun.stdout.read().decode() if rerun.stdout else ""
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    clean = _ingest(path, clean_url)
    assert clean.wait(timeout=300) == 0
    table = _table(db_url)
    assert len(table) == ROWS
    assert table == _table(clean_url)
