"""Shared parts of the benchmarks: a synthetic organisation of a given size, its bench-only bulk load, steps in
child processes, peak memory and the machine's description.

Every benchmark runs its steps in fresh interpreters (`run_step`), so each step's peak RSS is its own; a step
prints its result as one JSON line marked with RESULT_MARK as the last line of its stdout.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PILOT_REPS = 200  # the small organisation that calibrates reps for a number of facts
MONTHS = 12
MAX_REPS = 570
RESULT_MARK = "BENCH-RESULT "
Step = Callable[[Path, dict[str, Any]], dict[str, Any]]


def rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size of this process (or its largest waited-for child) in MB."""
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


def book() -> Any:
    """The shipped rule catalog (`rules/`), refusing a catalog with problems."""
    from auditor.rulebook import RulebookError, load_rulebook

    loaded = load_rulebook([ROOT / "rules"])
    if loaded.problems:
        raise RulebookError(loaded.problems)
    return loaded


def time_calls(targets: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Wrap each (module, function) in a timer; the returned dict fills with seconds per function name (a method
    as `Class.method`)."""
    import functools
    import importlib

    spent: dict[str, float] = {}
    for module_name, name in targets:
        owner = importlib.import_module(module_name)
        *path, attribute = name.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args: Any, __original: Any = original, __name: str = name, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                spent[__name] = spent.get(__name, 0.0) + time.perf_counter() - start

        setattr(owner, attribute, timed)
    return spent


def timed_sweep(db: Path, args: dict[str, Any], **options: Any) -> tuple[Any, float]:
    """Sweep the SQLite database `db` with the shipped catalog as of args["as_of"] since args["since"].

    `options` go to `run_sweep` (e.g. full=True); returns its summary and the seconds it took.
    """
    from datetime import date

    from auditor.engine.sweep import run_sweep
    from auditor.store import open_database

    engine = open_database(f"sqlite:///{db}")
    rulebook = book()
    as_of, since = date.fromisoformat(args["as_of"]), date.fromisoformat(args["since"])
    start = time.perf_counter()
    summary = run_sweep(
        engine,
        rulebook.rules,
        as_of,
        since,
        jobs=args["jobs"],
        rules_digest=rulebook.digest,
        policy=rulebook.policy,
        today=as_of,
        **options,
    )
    seconds = time.perf_counter() - start
    engine.dispose()
    return summary, seconds


# ---------------------------------------------------------------- generate and load


def step_generate(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Write a synthetic organisation (`reps` x `months`, `seed`) as CSVs into work/data."""
    from auditor.synth import generate

    data = work / "data"
    if data.exists():
        shutil.rmtree(data)
    start = time.perf_counter()
    result = generate(data, seed=args["seed"], reps=args["reps"], months=args["months"])
    return {
        "seconds": time.perf_counter() - start,
        "facts": result.facts,
        "as_of": result.as_of.isoformat(),
        "since": result.since.isoformat(),
        "files": [str(p) for p in result.files],
        "injected": len(result.truth),
    }


def step_ingest(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Load the CSVs into a fresh SQLite database work/<db> (default auditor.db), bulk or through ingest_file."""
    from auditor.store import open_database

    db = work / args.get("db", "auditor.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    engine = open_database(f"sqlite:///{db}")
    files = [Path(p) for p in args["files"]]
    start = time.perf_counter()
    if args["ingest"] == "orm":
        loaded, rejected = ingest_orm(engine, files)
    else:
        loaded, rejected = ingest_bulk(engine, files)
    seconds = time.perf_counter() - start
    engine.dispose()
    return {"seconds": seconds, "loaded": loaded, "rejected": rejected, "db_bytes": db.stat().st_size}


def ingest_orm(engine: Any, files: list[Path]) -> tuple[int, int]:
    """Load through `auditor.ingest.ingest_file`, the row-by-row path of `auditor ingest`."""
    from sqlalchemy.orm import Session

    from auditor.ingest import ingest_file

    loaded = rejected = 0
    for path in files:
        with Session(engine) as session:
            result = ingest_file(session, path)
        loaded, rejected = loaded + result.loaded, rejected + result.rejected
    return loaded, rejected


def ingest_bulk(engine: Any, files: list[Path], chunk: int = 20_000) -> tuple[int, int]:
    """Bench-only bulk load of fresh files into an empty database: validated like `auditor ingest`, one version each.

    Refuses (rather than versions) a natural id seen twice, and any bad row: the generator writes neither.
    """
    from sqlalchemy import insert, update

    from auditor.ingest.loader import content_hash, file_sha256, validate_row
    from auditor.ingest.readers import read_rows
    from auditor.store.models import FactRow, IngestBatch

    loaded = 0
    with engine.begin() as conn:
        for path in files:
            started = datetime.now()
            batch_id = conn.execute(  # kind: None, as `auditor ingest` records a file whose name gives the kind
                insert(IngestBatch).values(source=str(path), sha256=file_sha256(path), kind=None, started_at=started)
            ).inserted_primary_key[0]
            seen: set[str] = set()
            pending: list[dict[str, Any]] = []
            read = 0
            for row in read_rows(path):
                read += 1
                fact = validate_row(row)  # ValueError on a bad row
                natural_id = fact.natural_id()
                if natural_id in seen:
                    raise RuntimeError(f"{path}:{row.line}: {fact.kind} {natural_id} twice; use --ingest orm")
                seen.add(natural_id)
                pending.append(
                    {
                        "kind": fact.kind,
                        "natural_id": natural_id,
                        "version": 1,
                        "current": True,
                        "occurred_at": fact.occurred_at(),
                        "content_hash": content_hash(fact),
                        "payload": fact.model_dump(mode="json"),
                        "batch_id": batch_id,
                    }
                )
                if len(pending) >= chunk:
                    conn.execute(insert(FactRow), pending)
                    pending.clear()
            if pending:
                conn.execute(insert(FactRow), pending)
            conn.execute(
                update(IngestBatch)
                .where(IngestBatch.id == batch_id)
                .values(rows_read=read, loaded=read, finished_at=datetime.now())
            )
            loaded += read
    return loaded, 0


def size_for(facts: int, seed: int) -> tuple[int, int]:
    """Reps and months for about `facts` facts (within a few per cent), from small pilot organisations.

    12 months while the reps fit; the generator's name pools allow about 588 reps (4 accounts each), so a
    larger organisation gets more months instead (1,000,000 facts: 562 reps over 62 months). Facts
    per rep-month fall slightly with more reps and more months, so the pilots measure both effects.
    """
    from auditor.synth import generate

    def rate(reps: int, months: int) -> float:
        with tempfile.TemporaryDirectory() as pilot:
            return generate(Path(pilot), seed=seed, reps=reps, months=months).facts / (reps * months)

    reps = round(facts / (MONTHS * rate(PILOT_REPS, MONTHS)))
    if reps < MAX_REPS:
        return max(1, round(facts / (MONTHS * rate(max(1, reps), MONTHS)))), MONTHS
    per_rep_month = rate(MAX_REPS, MONTHS)
    months = math.ceil(facts / (MAX_REPS * per_rep_month))
    per_rep_month *= rate(PILOT_REPS // 4, months) / rate(PILOT_REPS // 4, MONTHS)  # the longer span's effect
    months = math.ceil(facts / (MAX_REPS * per_rep_month))
    return min(MAX_REPS, round(facts / (months * per_rep_month))), months


# ---------------------------------------------------------------- steps in child processes


def parse_or_run_step(parser: Any, steps: dict[str, Step], argv: list[str] | None) -> Any:
    """Parse a benchmark's arguments, with the hidden `--step` options `run_step` calls it with.

    Returns the options, or None after running the step asked for in this process (`child_main`).
    """
    import argparse

    parser.add_argument("--step", choices=sorted(steps), help=argparse.SUPPRESS)
    parser.add_argument("--step-args", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.step:
        child_main(steps, opts.step, opts.workdir, opts.step_args)
        return None
    return opts


def child_main(steps: dict[str, Step], step: str, work: Path, payload: str) -> None:
    """Run one step in this process and print its result (with this process's peak RSS) as the last line."""
    result = steps[step](work, json.loads(payload))
    result["peak_rss_mb"] = rss_mb()
    print(RESULT_MARK + json.dumps(result), flush=True)


def run_step(script: Path, step: str, work: Path, args: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run a step of `script` (its `--step` entry) in a fresh interpreter; its stderr passes through.

    The script is the step's main module: the sweep's workers do not run it again (`runner.without_main`).
    SystemExit when it fails; subprocess.TimeoutExpired after `timeout` seconds.
    """
    command = [sys.executable, str(script), "--step", step, "--workdir", str(work)]
    command += ["--step-args", json.dumps(args)]
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, timeout=timeout)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout)
        raise SystemExit(f"step {step} failed (exit {proc.returncode})")
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARK)]
    return json.loads(lines[-1][len(RESULT_MARK) :])


def machine() -> str:
    """Cores, CPU model, memory, Python and OS of this machine, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores {cpu}{memory}, Python {platform.python_version()}, {platform.system()}"


def log(message: str) -> None:
    """A time-stamped progress line on stderr."""
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)
