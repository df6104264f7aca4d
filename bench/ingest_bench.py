"""Bulk ingest of a million rows: rows/s and peak memory of `auditor ingest` into SQLite and PostgreSQL (issue #8).

    .venv/bin/python bench/ingest_bench.py --rows 1000000                  # generates the data (a few minutes)
    .venv/bin/python bench/ingest_bench.py --data /tmp/rb/new/data         # CSVs already generated

Data: a synthetic organisation (`auditor.synth`, every fact kind, one CSV per kind) of about `--rows` rows,
kept in `--workdir` (default bench-work/ingest) and reused by later runs.

Each measurement runs in a fresh interpreter, so its peak RSS is its own; the validating worker processes
are reported separately (their largest peak). Measured in the same run:

- floor: reading and CSV-parsing every file, nothing else (the speed of the input itself);
- sqlite / postgresql: `auditor.ingest.ingest_file` per file into an empty database, then the same files
  again (every row unchanged: the idempotent reload);
- memory flatness: the same ingest of the first 10 % of every file; peak RSS should not grow with size.

PostgreSQL: $AUDITOR_BENCH_PG_URL, else $AUDITOR_TEST_PG_URL (its tables are dropped first); skipped without.
The acceptance (issue #8): at least 100,000 rows/s into SQLite and into PostgreSQL.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import ROOT, child_main, log, machine, run_step, size_for, step_generate  # noqa: E402

ACCEPT_ROWS_PER_SECOND = 100_000


def _files(args: dict[str, Any]) -> list[Path]:
    return sorted(Path(p) for p in args["files"])


def step_floor(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Read and CSV-parse every file (the input's own speed)."""
    rows = 0
    start = time.perf_counter()
    for path in _files(args):
        with path.open(newline="", encoding="utf-8") as handle:
            rows += sum(1 for _ in csv.reader(handle)) - 1
    return {"seconds": time.perf_counter() - start, "rows": rows}


def step_ingest(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    """`ingest_file` of every file into the database, twice (the second time everything is unchanged)."""
    from sqlalchemy.orm import Session

    from auditor.ingest import ingest_file
    from auditor.store import open_database
    from auditor.store.models import Base

    url = args["url"]
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url.removeprefix('sqlite:///')}{suffix}").unlink(missing_ok=True)
    else:
        _empty_postgres(url, Base)
    engine = open_database(url)
    passes = []
    for _ in range(2):
        counts = dict.fromkeys(("read", "loaded", "unchanged", "rejected"), 0)
        start = time.perf_counter()
        for path in _files(args):
            with Session(engine) as session:
                result = ingest_file(session, path)
            for name in counts:
                counts[name] += getattr(result, name)
        passes.append({"seconds": time.perf_counter() - start, **counts})
    engine.dispose()
    return {"first": passes[0], "again": passes[1], "workers_rss_mb": _workers_peak_mb()}


def _workers_peak_mb() -> float:
    """The largest peak RSS of the validating workers (VmHWM; they are the fork server's children, not ours)."""
    from auditor.ingest import pipeline

    peaks = [0.0]
    for pool in pipeline._POOLS.values():
        for worker in pool._pool:
            try:
                status = Path(f"/proc/{worker.pid}/status").read_text()
            except OSError:
                continue
            peaks += [int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")]
    return max(peaks)


def _empty_postgres(url: str, base: Any) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        conn.execute(text("DROP FUNCTION IF EXISTS auditor_append_only()"))
    engine.dispose()


STEPS = {"generate": step_generate, "floor": step_floor, "ingest": step_ingest}


def _sample(files: list[Path], folder: Path, share: float) -> list[str]:
    """The first `share` of every file's rows, as files of the same names in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for path in files:
        with path.open(encoding="utf-8") as handle:
            lines = handle.readlines()
        keep = 1 + int((len(lines) - 1) * share)
        (folder / path.name).write_text("".join(lines[:keep]), encoding="utf-8")
        out.append(str(folder / path.name))
    return out


def _data(work: Path, opts: argparse.Namespace) -> list[str]:
    if opts.data:
        return [str(p) for p in sorted(Path(opts.data).glob("*.csv"))]
    marker = work / f"data-{opts.rows}-{opts.seed}.txt"
    if marker.exists():
        return marker.read_text(encoding="utf-8").split("\n")
    reps, months = size_for(opts.rows, opts.seed)
    log(f"generating about {opts.rows:,} rows: {reps} reps x {months} months")
    result = run_step(Path(__file__), "generate", work, {"seed": opts.seed, "reps": reps, "months": months})
    files = [f for f in result["files"] if f.endswith(".csv")]
    marker.write_text("\n".join(files), encoding="utf-8")
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", help="Folder of CSVs named after their kinds (skips generation).")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench-work" / "ingest")
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--step-args", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    work = opts.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if opts.step:
        child_main(STEPS, opts.step, work, opts.step_args)
        return 0

    files = _data(work, opts)
    sample = _sample([Path(f) for f in files], work / "sample", 0.1)
    targets = [("sqlite", f"sqlite:///{work / 'ingest.db'}")]
    pg_url = os.environ.get("AUDITOR_BENCH_PG_URL") or os.environ.get("AUDITOR_TEST_PG_URL")
    if pg_url:
        targets.append(("postgresql", pg_url))
    else:
        log("no PostgreSQL URL ($AUDITOR_BENCH_PG_URL or $AUDITOR_TEST_PG_URL): PostgreSQL skipped")

    log("floor: read + CSV parse")
    floor = run_step(Path(__file__), "floor", work, {"files": files})
    rows = floor["rows"]
    print(f"\nIngest benchmark, {machine()}, {time.strftime('%Y-%m-%d')}; {rows:,} rows in {len(files)} files")
    print(f"{'measurement':<34}{'rows':>11}{'seconds':>9}{'rows/s':>11}{'x floor':>9}{'RSS MB':>8}{'workers':>9}")
    print(
        f"{'floor: read + CSV parse':<34}{rows:>11,}{floor['seconds']:>9.2f}{rows / floor['seconds']:>11,.0f}"
        f"{1:>9.2f}{floor['peak_rss_mb']:>8.0f}{'':>9}"
    )
    verdict = True
    for name, url in targets:
        for label, chosen in (("10 %", sample), ("all", files)):
            log(f"{name}: ingest {label}")
            result = run_step(Path(__file__), "ingest", work, {"url": url, "files": chosen})
            for which in ("first", "again"):
                measured = result[which]
                speed = measured["read"] / measured["seconds"]
                title = f"{name} {label}, {'load' if which == 'first' else 'reload (unchanged)'}"
                print(
                    f"{title:<34}{measured['read']:>11,}{measured['seconds']:>9.2f}{speed:>11,.0f}"
                    f"{floor['seconds'] / rows * measured['read'] / measured['seconds']:>9.2f}"
                    f"{result['peak_rss_mb']:>8.0f}{result['workers_rss_mb']:>9.0f}"
                )
                if label == "all" and which == "first":
                    verdict &= speed >= ACCEPT_ROWS_PER_SECOND and measured["rejected"] == 0
    print(
        f"\nacceptance (>= {ACCEPT_ROWS_PER_SECOND:,} rows/s loading into each database): "
        f"{'PASS' if verdict else 'FAIL'}"
    )
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
