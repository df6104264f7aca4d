"""Report of a large sweep: time, size and memory of `auditor report` on a synthetic organisation (issue #7).

    .venv/bin/python bench/report_bench.py --facts 1000000     # the acceptance run (about 7 min from nothing)
    .venv/bin/python bench/report_bench.py --facts 100000      # a quicker run (about 1 min)

Steps: generate a synthetic organisation of about `--facts` facts (`auditor.synth`), load it into a fresh
SQLite database, sweep it with the shipped catalog (`rules/`, 2 worker processes), then write the report of
that sweep in every format. Each step runs in its own Python process, so its peak RSS is its own
(`ru_maxrss` of that process; the sweep's worker processes are reported separately).

Baseline, measured in the same run: `list_findings` of the sweep, i.e. reading every finding with its
current status, which every report format needs and cannot beat. The ratio report / baseline says what
rendering, summaries, KPIs, evidence and history add on top of it.

The acceptance (issue #7): the HTML report renders in under 5 s and index.html stays under 10 MB.

Loading: by default the generated CSVs are loaded by a bench-only bulk path (every row validated by
`auditor.ingest.loader.validate_row`, the same pydantic models as `auditor ingest`, content hash and
payload computed the same way, then SQLAlchemy Core executemany into `facts` with one `ingest_batches`
row per file). `--ingest orm` uses `auditor.ingest.ingest_file`, the row-by-row path of `auditor ingest`.

`--workdir DIR` keeps the data, database and reports in DIR and reuses a database built there by an
earlier run with the same --facts and --seed (only the report steps run again); without it everything
goes to a temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import benchlib
from benchlib import book, machine, rss_mb, size_for, step_generate, step_ingest, time_calls, timed_sweep

FORMATS = ("html", "md", "json", "csv")
ACCEPT_SECONDS = 5.0
ACCEPT_BYTES = 10 * 1000 * 1000
STATE_FILE = "bench-state.json"


# ---------------------------------------------------------------- steps (each runs in a child process)


def step_sweep(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    summary, seconds = timed_sweep(work / "auditor.db", args)
    return {
        "seconds": seconds,
        "sweep_id": summary.sweep_id,
        "facts_evaluated": summary.facts,
        "findings": summary.findings,
        "engine_errors": len(summary.errors),
        "workers_peak_rss_mb": rss_mb(resource.RUSAGE_CHILDREN),
    }


def step_baseline(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    from auditor.findings.query import list_findings
    from auditor.store import open_database

    engine = open_database(f"sqlite:///{work / 'auditor.db'}")
    start = time.perf_counter()
    _, findings = list_findings(engine, args["sweep_id"], today=date.fromisoformat(args["as_of"]))
    seconds = time.perf_counter() - start
    engine.dispose()
    return {"seconds": seconds, "findings": len(findings)}


def step_report(work: Path, args: dict[str, Any]) -> dict[str, Any]:
    from auditor.kpis import settings_from_rules
    from auditor.report import ReportOptions, write_report
    from auditor.store import open_database

    engine = open_database(f"sqlite:///{work / 'auditor.db'}")
    rulebook = book()
    options = ReportOptions(
        settings=settings_from_rules(rulebook), rules=rulebook.rules, today=date.fromisoformat(args["as_of"])
    )
    out = work / "reports" / args["format"]
    if out.exists():
        shutil.rmtree(out)
    parts = _time_parts()
    start = time.perf_counter()
    path = write_report(engine, out, args["sweep_id"], options, args["format"])
    seconds = time.perf_counter() - start
    engine.dispose()
    files = {p.name: p.stat().st_size for p in sorted(path.parent.iterdir())}
    shown = None
    if args["format"] == "html":
        shown = path.read_text(encoding="utf-8").count('<tr class="finding"')
    return {"seconds": seconds, "main": path.name, "files": files, "shown": shown, "parts": parts}


PARTS = (  # where write_report's time goes: (module, function) wrapped with a timer in the report's process
    ("auditor.report.html", "assemble"),
    ("auditor.report.data", "list_findings"),
    ("auditor.report.data", "compute_kpis"),
    ("auditor.report.html", "render_html"),
    ("auditor.report.html", "render_markdown"),
    ("auditor.report.html", "write_json_report"),
    ("auditor.report.html", "write_findings_csv"),
    ("auditor.report.exports", "write_findings_csv"),
)


def _time_parts() -> dict[str, float]:
    """Wrap the report's main parts in timers; the returned dict fills with seconds per part as they run."""
    return time_calls(PARTS)


STEPS = {
    "generate": step_generate,
    "ingest": step_ingest,
    "sweep": step_sweep,
    "baseline": step_baseline,
    "report": step_report,
}


def run_step(step: str, work: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Run a step of this script in a fresh interpreter (benchlib.run_step)."""
    return benchlib.run_step(Path(__file__).resolve(), step, work, args)


# ---------------------------------------------------------------- the run


def setup(work: Path, opts: argparse.Namespace, log: Any) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """Generate, load and sweep (or reuse what an earlier run with the same size left in `work`)."""
    state_path = work / STATE_FILE
    wanted = {"facts_target": opts.facts, "seed": opts.seed, "ingest": opts.ingest, "jobs": opts.jobs}
    if state_path.exists() and (work / "auditor.db").exists():
        state = json.loads(state_path.read_text())
        if state.get("wanted") == wanted:
            log(f"reusing the database in {work} (built {state['built']}); delete {state_path.name} to rebuild")
            return state, state["setup_steps"]
    reps, months = size_for(opts.facts, opts.seed)
    steps: list[tuple[str, dict[str, Any]]] = []
    log(f"generate: {reps} reps x {months} months, seed {opts.seed} ...")
    gen = run_step("generate", work, {"seed": opts.seed, "reps": reps, "months": months})
    steps.append((f"generate {gen['facts']:,} facts ({reps} reps x {months} months)", gen))
    log(f"  {gen['facts']:,} facts in {gen['seconds']:.1f} s; ingest ({opts.ingest}) ...")
    ing = run_step("ingest", work, {"files": gen["files"], "ingest": opts.ingest})
    label = "bulk: validate_row + Core executemany, bench only" if opts.ingest == "bulk" else "ingest_file, row by row"
    steps.append((f"ingest {ing['loaded']:,} facts ({label})", ing))
    log(f"  {ing['loaded']:,} facts in {ing['seconds']:.1f} s; sweep (jobs={opts.jobs}) ...")
    swp = run_step("sweep", work, {"as_of": gen["as_of"], "since": gen["since"], "jobs": opts.jobs})
    steps.append((f"sweep: {swp['facts_evaluated']:,} facts, {swp['findings']:,} findings", swp))
    log(f"  {swp['findings']:,} findings in {swp['seconds']:.1f} s")
    state = {
        "wanted": wanted,
        "built": datetime.now().isoformat(timespec="seconds"),
        "reps": reps,
        "months": months,
        "facts": gen["facts"],
        "as_of": gen["as_of"],
        "since": gen["since"],
        "sweep_id": swp["sweep_id"],
        "findings": swp["findings"],
        "setup_steps": steps,
    }
    state_path.write_text(json.dumps(state, indent=2))
    return state, steps


def measure(work: Path, state: dict[str, Any], opts: argparse.Namespace, log: Any) -> dict[str, list[dict[str, Any]]]:
    """Baseline and every report format, `--repeat` times each, alternating so drift hits all alike."""
    common = {"sweep_id": state["sweep_id"], "as_of": state["as_of"]}
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], **{f: [] for f in opts.formats}}
    for i in range(opts.repeat):
        log(f"report round {i + 1}/{opts.repeat}: baseline {' '.join(opts.formats)}")
        runs["baseline"].append(run_step("baseline", work, common))
        for fmt in opts.formats:
            runs[fmt].append(run_step("report", work, {**common, "format": fmt}))
    return runs


def _mb(n: float) -> str:
    return f"{n / 1_000_000:.2f} MB"


def print_results(
    state: dict[str, Any], setup_steps: list[tuple[str, dict[str, Any]]], runs: dict[str, list[dict[str, Any]]]
) -> bool:
    """Tables on stdout; True when the HTML report meets the acceptance."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 150)
    console.print(f"[bold]Report benchmark[/bold] {date.today().isoformat()} on {machine()}")
    console.print(
        f"{state['facts']:,} facts ({state['reps']} reps x {state['months']} months), "
        f"sweep {state['sweep_id']} as of {state['as_of']} with {state['findings']:,} findings"
    )

    table = Table(title="Set-up (once; not part of the acceptance)")
    table.add_column("step")
    table.add_column("time", justify="right")
    table.add_column("peak RSS", justify="right")
    for label, r in setup_steps:
        rss = f"{r['peak_rss_mb']:,.0f} MB"
        if "workers_peak_rss_mb" in r:
            rss += f" (+ workers {r['workers_peak_rss_mb']:,.0f} MB each at most)"
        table.add_row(label, f"{r['seconds']:.1f} s", rss)
    console.print(table)

    base = statistics.median(r["seconds"] for r in runs["baseline"])
    repeats = len(runs["baseline"])
    table = Table(title=f"Report of the sweep (median of {repeats} run(s), each in a fresh process)")
    for name, justify in (("what", "left"), ("time", "right"), ("vs baseline", "right"), ("range", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("files", justify="left")
    table.add_column("peak RSS", justify="right")
    table.add_row(
        "baseline: list_findings",
        f"{base:.2f} s",
        "1.00x",
        _range(runs["baseline"]),
        f"{runs['baseline'][0]['findings']:,} findings",
        f"{max(r['peak_rss_mb'] for r in runs['baseline']):,.0f} MB",
    )
    ok = True
    for fmt, items in runs.items():
        if fmt == "baseline":
            continue
        seconds = statistics.median(r["seconds"] for r in items)
        files = ", ".join(f"{name} {_mb(size)}" for name, size in items[0]["files"].items())
        if fmt == "html":
            files += f" ({items[0]['shown']:,} findings shown)"
            ok = seconds < ACCEPT_SECONDS and items[0]["files"]["index.html"] < ACCEPT_BYTES
        table.add_row(
            f"report --format {fmt}",
            f"{seconds:.2f} s",
            f"{seconds / base:.2f}x" if base else "-",
            _range(items),
            files,
            f"{max(r['peak_rss_mb'] for r in items):,.0f} MB",
        )
    console.print(table)
    if "html" in runs:
        console.print(breakdown(runs["html"]))
        html = runs["html"][0]
        verdict = "[green]PASS[/green]" if ok else "[red]FAIL[/red]"
        console.print(
            f"Acceptance (HTML under {ACCEPT_SECONDS:g} s, index.html under {_mb(ACCEPT_BYTES)}): {verdict} - "
            f"{statistics.median(r['seconds'] for r in runs['html']):.2f} s, {_mb(html['files']['index.html'])}"
        )
    return ok


def breakdown(items: list[dict[str, Any]]) -> Any:
    """Where the HTML report's time goes (median over the runs of each part)."""
    from rich.table import Table

    def median(name: str) -> float:
        return statistics.median(r["parts"].get(name, 0.0) for r in items)

    total = statistics.median(r["seconds"] for r in items)
    findings, kpis, assemble = median("list_findings"), median("compute_kpis"), median("assemble")
    render, csv_file = median("render_html"), median("write_findings_csv")
    rows = [
        ("read the findings with their status (list_findings: the baseline's work)", findings),
        ("recompute the sweep's KPIs from its facts (compute_kpis)", kpis),
        ("other sections: trend, changes, accountability, heat map, evidence, history", assemble - findings - kpis),
        ("render index.html (Jinja, 2,000 findings at most)", render),
        ("write findings.csv (every finding)", csv_file),
        ("the rest (writing index.html, ...)", total - assemble - render - csv_file),
    ]
    table = Table(title="Where the HTML report's time goes (median)")
    table.add_column("part")
    table.add_column("time", justify="right")
    table.add_column("share", justify="right")
    for label, seconds in rows:
        table.add_row(label, f"{seconds:.2f} s", f"{100 * seconds / total:.0f} %" if total else "-")
    table.add_row("[bold]total[/bold]", f"[bold]{total:.2f} s[/bold]", "100 %")
    return table


def _range(items: list[dict[str, Any]]) -> str:
    values = [r["seconds"] for r in items]
    return f"{min(values):.2f}-{max(values):.2f} s" if len(values) > 1 else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--facts", type=int, default=1_000_000, help="about how many facts (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--jobs", type=int, default=2, help="sweep worker processes (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the baseline and of each format (default 3)")
    parser.add_argument("--formats", default=",".join(FORMATS), help="report formats, comma-separated (html first)")
    parser.add_argument("--ingest", choices=("bulk", "orm"), default="bulk", help="how to load the CSVs (see above)")
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) data, database and reports here")
    parser.add_argument("--json", type=Path, help="also write every measurement to this file")
    opts = benchlib.parse_or_run_step(parser, STEPS, argv)
    if opts is None:
        return 0  # a step, run in this child process
    opts.formats = [f for f in opts.formats.split(",") if f]
    if unknown := set(opts.formats) - set(FORMATS):
        parser.error(f"unknown formats {sorted(unknown)}")

    def log(message: str) -> None:
        print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)

    temporary = opts.workdir is None
    work = Path(tempfile.mkdtemp(prefix="report-bench-")) if temporary else opts.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        state, setup_steps = setup(work, opts, log)
        runs = measure(work, state, opts, log)
        ok = print_results(state, setup_steps, runs)
        if opts.json:
            record = {"machine": machine(), "date": date.today().isoformat(), "state": state, "runs": runs}
            opts.json.write_text(json.dumps(record, indent=2))
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
