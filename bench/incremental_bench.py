"""An incremental sweep after 1 % of the facts changed, against a full sweep of the same data (issue #9 item 3).

    .venv/bin/python bench/incremental_bench.py --facts 100000      # a quick run
    .venv/bin/python bench/incremental_bench.py --facts 1000000     # the acceptance run (under 10 % of a full sweep)

Steps, each in a fresh Python process, on the organisation and loaded database of bench/sweep_bench.py (same
`--workdir`, reused when it exists):

1. **base**: a copy of the loaded database, swept in full (this stores the rule states).
2. **change**: one correction batch through `auditor.ingest.ingest_file` (the real path): new content for
   `--share` (default 1 %) of the current facts, picked at random over the whole history, plus new facts
   (a quarter as many, copies under new ids); rejected rows (a change can make a row invalid) are counted.
3. the changed database is copied; the copy gets a **full** sweep (`full=True`), the original an
   **incremental** one, same window, `--jobs` workers; wall time and phases of each. The incremental sweep is
   run `--repeat` times (default 3), each on a fresh copy of the changed database, and its median counts: a
   sweep of a few seconds moves by a few percent from run to run on a shared machine.
4. **compare**: every row both sweeps stored (findings with lifecycle, events, rule checks, cadence results,
   KPIs) must be equal.

Prints both times and their ratio; the exit status is 1 when the results differ or the ratio is 10 % or more.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import benchlib
from benchlib import log, machine, timed_sweep
from sweep_bench import _timers, setup

ACCEPT_RATIO = 0.10
EXTRA_PHASES = (("auditor.engine.sweep", "plan_sweep"), ("auditor.engine.sweep", "save_states"))


def step_base(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    """A copy of the loaded database, swept in full: the base every later sweep compares against."""
    shutil.copyfile(work / "loaded.db", work / "incr.db")
    return _sweep(work / "incr.db", args, full=True)


def step_change(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    """A correction batch (new content for a share of the facts) and new facts, ingested as one file."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from auditor.ingest import ingest_file
    from auditor.store import open_database
    from auditor.store.models import FactRow

    engine = open_database(f"sqlite:///{work / 'incr.db'}")
    rng = random.Random(args["seed"])
    with Session(engine) as session:
        rows = session.execute(select(FactRow.kind, FactRow.payload).where(FactRow.current.is_(True))).all()
    picked = rng.sample(rows, int(len(rows) * args["share"]))
    records = [changed for _, payload in picked if (changed := _change(payload, rng))]
    for _, payload in rng.sample(rows, int(len(rows) * args["share"] / 4)):
        if "id" in payload:
            records.append(dict(payload, id=f"{payload['id']}-new{rng.randrange(10**9)}"))
    path = work / "changes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    start = time.perf_counter()
    with Session(engine) as session:
        result = ingest_file(session, path, max_reject_rate=1.0)
    seconds = time.perf_counter() - start
    engine.dispose()
    shutil.copyfile(work / "incr.db", work / "incr-full.db")
    return {
        "records": len(records),
        "facts": len(rows),
        "loaded": result.loaded,
        "updated": result.updated,
        "rejected": result.rejected,
        "seconds": seconds,
    }


def _change(payload: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    """The fact with one field changed: a time moved by a few days, a number changed, a flag flipped."""
    record = dict(payload)
    names = [n for n, v in record.items() if n != "id" and isinstance(v, bool | int | float)]
    names += [n for n, v in record.items() if isinstance(v, str) and len(v) >= 10 and v[4] == "-" and v[7] == "-"]
    if not names:
        return None
    name = rng.choice(names)
    value = record[name]
    if isinstance(value, bool):
        record[name] = not value
    elif isinstance(value, int | float):
        record[name] = value + rng.choice([-10, -1, 1, 5])
    else:
        moved = date.fromisoformat(value[:10]) + timedelta(days=rng.choice([-3, -1, 1, 2, 6]))
        record[name] = moved.isoformat() + value[10:]
    return record


def step_sweep(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    """The incremental sweep of the changed database, or (`full`) the full sweep of its copy."""
    db = work / ("incr-full.db" if args["full"] else "incr.db")
    return _sweep(db, args, full=args["full"])


def _sweep(db: Path, args: dict[str, Any], full: bool) -> dict[str, Any]:
    import sweep_bench

    for name in EXTRA_PHASES:
        if name not in sweep_bench.PHASES:
            sweep_bench.PHASES = (*sweep_bench.PHASES, name)
    phases = _timers()
    summary, seconds = timed_sweep(db, args, full=full)
    return {
        "seconds": seconds,
        "sweep_id": summary.sweep_id,
        "findings": summary.findings,
        "partitions": summary.partitions,
        "phases": phases,
    }


def _incremental_sweeps(work: Path, window: dict[str, Any], repeat: int) -> list[dict[str, Any]]:
    """`repeat` incremental sweeps of the changed database, each on a fresh copy of it (the last one stays, for
    the comparison)."""
    pristine = work / "incr-changed.db"
    shutil.copyfile(work / "incr.db", pristine)
    runs = []
    for attempt in range(repeat):
        if attempt:
            shutil.copyfile(pristine, work / "incr.db")
        runs.append(run_step("sweep", work, {**window, "full": False}))
    pristine.unlink()
    return runs


def step_compare(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Every row the two sweeps stored, compared."""
    sys.path.insert(0, str(benchlib.ROOT))
    from tests.test_incremental_sweep import _snapshot

    from auditor.store import open_database

    a = open_database(f"sqlite:///{work / 'incr.db'}")
    b = open_database(f"sqlite:///{work / 'incr-full.db'}")
    mine, theirs = _snapshot(a, args["sweep_id"]), _snapshot(b, args["sweep_id"])
    differing = sorted(name for name in mine if mine[name] != theirs[name])
    return {"equal": not differing, "differing": differing, "findings": len(mine["findings"])}


STEPS = {"base": step_base, "change": step_change, "sweep": step_sweep, "compare": step_compare}


def run_step(step: str, work: Path, args: dict[str, Any]) -> dict[str, Any]:
    return benchlib.run_step(Path(__file__).resolve(), step, work, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--facts", type=int, default=100_000, help="about how many facts (100000, 1000000, ...)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--share", type=float, default=0.01, help="share of the facts corrected (default 0.01)")
    parser.add_argument("--jobs", type=int, default=2, help="sweep worker processes (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="incremental sweeps, the median counts (default 3)")
    parser.add_argument("--workdir", type=Path, help="as bench/sweep_bench.py (default /tmp/auditor-bench/sweep-FACTS)")
    parser.add_argument("--json", type=Path, help="also write every measurement to this file")
    opts = benchlib.parse_or_run_step(parser, STEPS, argv)
    if opts is None:
        return 0  # a step, run in this child process
    work = (opts.workdir or Path(f"/tmp/auditor-bench/sweep-{opts.facts}-seed{opts.seed}")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    state = setup(work, opts)
    window = {"as_of": state["as_of"], "since": state["since"], "jobs": opts.jobs}
    log("base: full sweep of the loaded database ...")
    base = run_step("base", work, window)
    log(f"  {base['seconds']:.1f} s; changing {opts.share:.1%} of the facts ...")
    change = run_step("change", work, {"seed": opts.seed, "share": opts.share})
    log(f"  {change['updated']:,} updated, {change['loaded']:,} new, {change['rejected']:,} rejected")
    log("full sweep of the changed data ...")
    full = run_step("sweep", work, {**window, "full": True})
    log(f"  {full['seconds']:.1f} s; incremental sweep ...")
    runs = _incremental_sweeps(work, window, max(1, opts.repeat))
    inc = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]  # the median run (its phases too)
    times = ", ".join(f"{run['seconds']:.2f}" for run in runs)
    log(f"  {times} s; comparing ...")
    compare = run_step("compare", work, {"sweep_id": inc["sweep_id"]})
    ratio = inc["seconds"] / full["seconds"]
    print(f"Incremental sweep benchmark {date.today()} on {machine()}")
    print(f"{state['facts']:,} facts; changed: {change['updated']:,} corrected, {change['loaded']:,} new")
    print(f"  full sweep (base)         {base['seconds']:8.2f} s")
    print(f"  full sweep after changes  {full['seconds']:8.2f} s")
    print(f"  incremental sweep         {inc['seconds']:8.2f} s   ({ratio:.1%} of the full sweep)")
    if len(runs) > 1:
        print(f"    median of {len(runs)}: {times} s")
    for name in sorted(set(full["phases"]) | set(inc["phases"])):
        print(
            f"    {name:14} full {full['phases'].get(name, 0):7.2f} s   incremental {inc['phases'].get(name, 0):7.2f} s"
        )
    print(f"  partitions: full {full['partitions']}, incremental {inc['partitions']}")
    print(f"  results equal: {compare['equal']} ({compare['findings']:,} findings) {compare['differing'] or ''}")
    ok = compare["equal"] and ratio < ACCEPT_RATIO
    print(f"Acceptance (equal results, incremental under {ACCEPT_RATIO:.0%} of full): {'PASS' if ok else 'FAIL'}")
    if opts.json:
        record = {"machine": machine(), "date": date.today().isoformat(), "state": state}
        record |= {"base": base, "change": change, "full": full, "incremental": inc, "runs": runs, "compare": compare}
        opts.json.write_text(json.dumps(record, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
