"""A full sweep of a synthetic organisation with the whole catalog: time, facts/s and peak memory (issue #9).

    .venv/bin/python bench/sweep_bench.py --facts 1000000      # the acceptance run (under 60 s, under 2 GiB)
    .venv/bin/python bench/sweep_bench.py --facts 100000       # a quick run

Steps, each in a fresh Python process: generate an organisation of about `--facts` facts (`auditor.synth`), load
it into SQLite through the benchmarks' bulk path (bench/benchlib.py), then sweep a copy of that database with the
shipped catalog (`rules/`, `--jobs` 2). The generated data and loaded database stay in `--workdir` and are reused by
later runs of the same size and seed.

Peak memory of the sweep is the largest sum of the resident sets of the sweeping process and all its
descendants (the fork server and its workers), sampled every 0.1 s with psutil; CPU is every process's user+system
time, the workers' included.

Baselines, measured in the same run on the same data:

* DuckDB: six of the catalog's rules written by hand in SQL (bench/sweep_sql.py says which), against the engine
  evaluating the same six rules; their counts must equal the sweep's.
* the reference evaluator (`engine/reference.py`, plain Python, one process) over the whole catalog, against the
  engine's evaluation; it runs per partition (it is quadratic within one), its counts must equal the sweep's.
* durable_rules used naively: all facts of one rule (STG-001) in one session through the Host API with a Python
  action per match, on growing prefixes, each in a child process with a time limit and an address-space limit;
  it shows where one session stops working.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import benchlib
from benchlib import book, log, machine, size_for, step_generate, step_ingest, time_calls, timed_sweep

STATE_FILE = "sweep-bench-state.json"
ACCEPT_SECONDS = 60.0
ACCEPT_BYTES = 2 * 1024**3
NAIVE_RULE = "STG-001"
NAIVE_SIZES = (1_000, 10_000, 100_000, 1_000_000_000)
PHASES = (  # (module, function) timed inside the sweep: where its time goes (the sweeping thread's only)
    ("auditor.engine.sweep", "load_facts"),
    ("auditor.engine.sweep", "evaluate"),
    ("auditor.engine.sweep", "combine"),
    ("auditor.engine.sweep", "_window_kpis"),
    ("auditor.engine.kpi_job", "KpiJob.result"),
    ("auditor.engine.sweep", "save_items"),
    ("auditor.engine.sweep", "_findings"),
    ("auditor.engine.sweep", "encoding"),  # written here; compressed in a thread of its own
    ("auditor.engine.sweep", "store_cadence"),
    ("auditor.engine.sweep", "track"),
)


# ---------------------------------------------------------------- memory and time of a process tree


class TreeSampler:
    """Samples the summed RSS of this process and all its descendants in a thread (psutil)."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self.psutil = psutil
        self.me = psutil.Process()
        self.interval = interval
        self.peak_sum = self.peak_self = self.peak_child = 0
        self.processes = 0
        self._seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        total = 0
        try:
            children = self.me.children(recursive=True)
        except self.psutil.Error:
            return
        for process in [self.me, *children]:
            try:
                rss = process.memory_info().rss
            except self.psutil.Error:
                continue
            total += rss
            if process.pid == self.me.pid:
                self.peak_self = max(self.peak_self, rss)
            else:
                self.peak_child = max(self.peak_child, rss)
                self._seen.add(process.pid)
        self.peak_sum = max(self.peak_sum, total)
        self.processes = len(self._seen)


def _timers() -> dict[str, float]:
    """Wrap the sweep's phases in timers; the dict fills with seconds per phase."""
    return time_calls(PHASES)


def _cpu_seconds() -> tuple[float, float]:
    """User+system seconds of this process and of its waited-for descendants."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _stop_fork_server() -> None:
    """End the fork server, which waited for the workers: their CPU time then counts as our children's."""
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)
    if stop is not None:
        stop()


# ---------------------------------------------------------------- steps (each runs in a child process)


def step_sweep(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Sweep a fresh copy of the loaded database with the whole catalog."""
    db = work / "sweep.db"
    shutil.copyfile(work / "loaded.db", db)
    phases = _timers()
    with TreeSampler() as sampler:
        summary, seconds = timed_sweep(db, args)
    _stop_fork_server()
    own, children = _cpu_seconds()
    return {
        "seconds": seconds,
        "facts": summary.facts,
        "findings": summary.findings,
        "engine_errors": len(summary.errors),
        "counts": {row["rule_id"]: [row["checked"], row["findings"]] for row in summary.rows},
        "phases": phases,
        "peak_sum_mb": sampler.peak_sum / 2**20,
        "peak_parent_mb": sampler.peak_self / 2**20,
        "peak_child_mb": sampler.peak_child / 2**20,
        "worker_processes": sampler.processes,
        "cpu_parent": own,
        "cpu_children": children,
    }


def _window(args: dict[str, Any], rulebook: Any) -> Any:
    from auditor.engine.window import SweepWindow

    as_of, since = date.fromisoformat(args["as_of"]), date.fromisoformat(args["since"])
    return SweepWindow(as_of=as_of, since=since, holidays=rulebook.policy.holidays)


def _load(work: Path, rules: list[Any], window: Any) -> list[Any]:
    from sqlalchemy.orm import Session

    from auditor.engine.sweep import load_facts, rule_kinds
    from auditor.store import open_database

    engine = open_database(f"sqlite:///{work / 'loaded.db'}")
    with Session(engine) as session:
        facts = load_facts(session, rule_kinds(rules), window.as_of_end)
    engine.dispose()
    return facts


def step_engine_subset(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    """The engine's evaluation (no database, no storing) of some rules, `--jobs` workers."""
    from auditor.engine.evaluate import evaluate

    rulebook = book()
    rules = [rulebook.by_id(rule_id) for rule_id in args["rules"]]
    window = _window(args, rulebook)
    facts = _load(work, rules, window)
    start = time.perf_counter()
    evaluation = evaluate(rules, facts, window, jobs=args["jobs"])
    seconds = time.perf_counter() - start
    counts = {r.id: [len(evaluation.outcomes[r.id].checked), len(evaluation.outcomes[r.id].findings)] for r in rules}
    return {"seconds": seconds, "facts": len(facts), "counts": counts, "errors": len(evaluation.errors)}


def step_duckdb(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    import sweep_sql

    return sweep_sql.run(work / "data", date.fromisoformat(args["as_of"]), date.fromisoformat(args["since"]))


def step_reference(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    """The reference evaluator over the whole catalog, one partition at a time, in this one process."""
    from auditor.engine.compiler import compile_rule
    from auditor.engine.partition import partition
    from auditor.engine.reference import reference_evaluate

    rulebook = book()
    window = _window(args, rulebook)
    facts = _load(work, rulebook.rules, window)
    counts = {}
    start = time.perf_counter()
    for rule in rulebook.rules:
        checked: set[tuple[str, str]] = set()
        findings: set[tuple[str, str]] = set()
        for key, members in partition(compile_rule(rule, window), facts).items():
            result = reference_evaluate([rule], members, window.as_of, window.since, window.holidays)
            checked |= {c for c in result.checked[rule.id] if c[0] == key}
            findings |= {(f.subject, f.occurrence) for f in result.findings if f.subject == key}
        counts[rule.id] = [len(checked), len(findings)]
    return {"seconds": time.perf_counter() - start, "facts": len(facts), "counts": counts}


def step_naive(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    """One rule's first `size` facts (whole partitions) in ONE durable_rules session, used as its docs show.

    The compiled rule (exact answers need its shape) on the Host API: facts asserted, then the sweep fact,
    and a Python action per match (`run` called with each match, no batches).
    """
    from auditor.engine.compiler import Chunk, compile_rule
    from auditor.engine.partition import partition
    from auditor.engine.runner import quiet_host

    rulebook = book()
    rule = rulebook.by_id(args["rule"])
    window = _window(args, rulebook)
    compiled = compile_rule(rule, window)
    chunk = Chunk(set())
    seen: set[int] = set()
    for key, members in sorted(partition(compiled, _load(work, [rule], window)).items()):
        if len(chunk.facts) >= args["size"]:
            break
        chunk.keys.add(key)
        for fact in members:
            if fact.row_id not in seen:
                seen.add(fact.row_id)
                chunk.facts.append(fact)
    limit = args["memory_gb"] * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    fired: list[tuple[str, Any]] = []
    ruleset = compiled.ruleset()
    for name, body in ruleset.items():
        body.pop("cap", None)
        if not name.startswith(("accept_", "zz_")):
            body["run"] = lambda c, name=name: fired.append((name, c.m))
    start = time.perf_counter()
    host = quiet_host()
    host.set_rulesets({"naive": ruleset})
    facts = [dict(fact, sid="1") for fact in compiled.encode_chunk(chunk)]
    host.assert_facts("naive", facts)
    host.assert_fact("naive", dict(compiled.sweep_fact(), sid="1"))
    return {"seconds": time.perf_counter() - start, "facts": len(chunk.facts), "fired": len(fired)}


STEPS = {
    "generate": step_generate,
    "ingest": step_ingest,
    "sweep": step_sweep,
    "engine_subset": step_engine_subset,
    "duckdb": step_duckdb,
    "reference": step_reference,
    "naive": step_naive,
}


def run_step(step: str, work: Path, args: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    return benchlib.run_step(Path(__file__).resolve(), step, work, args, timeout=timeout)


# ---------------------------------------------------------------- the run


def setup(work: Path, opts: argparse.Namespace) -> dict[str, Any]:
    """Generate and load (or reuse what an earlier run of the same size and seed left in `work`)."""
    state_path = work / STATE_FILE
    wanted = {"facts_target": opts.facts, "seed": opts.seed}
    if state_path.exists() and (work / "loaded.db").exists():
        state = json.loads(state_path.read_text())
        if state.get("wanted") == wanted:
            log(f"reusing the loaded database in {work} (built {state['built']}); delete {STATE_FILE} to rebuild")
            return state
    reps, months = size_for(opts.facts, opts.seed)
    log(f"generate: {reps} reps x {months} months, seed {opts.seed} ...")
    gen = run_step("generate", work, {"seed": opts.seed, "reps": reps, "months": months})
    log(f"  {gen['facts']:,} facts in {gen['seconds']:.1f} s; bulk load ...")
    ing = run_step("ingest", work, {"files": gen["files"], "ingest": "bulk", "db": "loaded.db"})
    log(f"  loaded in {ing['seconds']:.1f} s")
    state = {
        "wanted": wanted,
        "built": datetime.now().isoformat(timespec="seconds"),
        "reps": reps,
        "months": months,
        "facts": gen["facts"],
        "as_of": gen["as_of"],
        "since": gen["since"],
        "generate": gen,
        "ingest": ing,
    }
    state_path.write_text(json.dumps(state, indent=2))
    return state


def naive(work: Path, window: dict[str, Any], opts: argparse.Namespace) -> list[dict[str, Any]]:
    """The naive durable_rules baseline on growing prefixes, until one fails (time, memory or a crash)."""
    out = []
    for size in NAIVE_SIZES:
        args = {**window, "rule": NAIVE_RULE, "size": size, "memory_gb": opts.naive_memory_gb}
        log(f"naive durable_rules: {NAIVE_RULE}, up to {size:,} facts in one session ...")
        try:
            result = run_step("naive", work, args, timeout=opts.naive_timeout)
            out.append({"size": size, **result})
            if result["facts"] < size:
                break  # every fact of the rule was in it
        except subprocess.TimeoutExpired:
            out.append({"size": size, "failed": f"no answer within {opts.naive_timeout:g} s"})
            break
        except SystemExit as exc:
            out.append({"size": size, "failed": f"{exc} (MemoryError or a crash, {opts.naive_memory_gb} GiB limit)"})
            break
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--facts", type=int, default=1_000_000, help="about how many facts (100000, 1000000, ...)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--jobs", type=int, default=2, help="sweep worker processes (default 2)")
    parser.add_argument("--workdir", type=Path, help="data and databases (default /tmp/auditor-bench/sweep-FACTS)")
    parser.add_argument("--baselines", default="duckdb,reference,naive", help="comma-separated; '' for none")
    parser.add_argument("--naive-timeout", type=float, default=120.0, help="seconds per naive session (default 120)")
    parser.add_argument("--naive-memory-gb", type=int, default=4, help="address-space limit of a naive session")
    parser.add_argument("--json", type=Path, help="also write every measurement to this file")
    opts = benchlib.parse_or_run_step(parser, STEPS, argv)
    if opts is None:
        return 0  # a step, run in this child process
    baselines = [b for b in opts.baselines.split(",") if b]
    work = (opts.workdir or Path(f"/tmp/auditor-bench/sweep-{opts.facts}-seed{opts.seed}")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    state = setup(work, opts)
    window = {"as_of": state["as_of"], "since": state["since"]}
    log(f"sweep ({opts.jobs} workers) ...")
    sweep = run_step("sweep", work, {**window, "jobs": opts.jobs})
    log(f"  {sweep['seconds']:.1f} s")
    results: dict[str, Any] = {"sweep": sweep}
    if "duckdb" in baselines:
        import sweep_sql

        log("DuckDB baseline and the engine on the same rules ...")
        results["duckdb"] = run_step("duckdb", work, window)
        subset = {**window, "jobs": opts.jobs, "rules": sweep_sql.RULES}
        results["engine_subset"] = run_step("engine_subset", work, subset)
    if "reference" in baselines:
        log("reference evaluator (one process) ...")
        results["reference"] = run_step("reference", work, window)
    if "naive" in baselines:
        results["naive"] = naive(work, window, opts)
    from sweep_report import print_results

    ok = print_results(state, results, opts.jobs, machine())
    if opts.json:
        record = {"machine": machine(), "date": date.today().isoformat(), "state": state, "results": results}
        opts.json.write_text(json.dumps(record, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
