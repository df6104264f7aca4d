"""The sweep benchmark's tables (bench/sweep_bench.py measures, this prints)."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

ACCEPT_SECONDS = 60.0
ACCEPT_MB = 2 * 1024


def _rate(facts: int, seconds: float) -> str:
    return f"{facts / seconds:,.0f}" if seconds else "-"


def _match(engine: dict[str, list[int]], other: dict[str, Any]) -> str:
    differ = [rule for rule, counts in other.items() if list(counts) != list(engine.get(rule, []))]
    return "yes" if not differ else "NO: " + ", ".join(differ)


def print_results(state: dict[str, Any], results: dict[str, Any], jobs: int, machine: str) -> bool:
    """Print every table; True when the sweep meets the acceptance (under 60 s and 2 GiB)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    sweep = results["sweep"]
    console.print(f"[bold]Sweep benchmark[/bold] {date.today().isoformat()} on {machine}")
    console.print(
        f"{state['facts']:,} facts generated ({state['reps']} reps x {state['months']} months), "
        f"swept as of {state['as_of']} since {state['since']}: {sweep['facts']:,} facts of the kinds the catalog "
        f"reads, {sweep['findings']:,} findings, {sweep['engine_errors']} engine errors"
    )
    table = Table(title=f"Full sweep, whole catalog, {jobs} workers")
    for name in ("time", "facts/s", "peak RSS, all processes", "largest process", "CPU (all processes)"):
        table.add_column(name, justify="right")
    cpu = sweep["cpu_parent"] + sweep["cpu_children"]
    table.add_row(
        f"{sweep['seconds']:.1f} s",
        _rate(sweep["facts"], sweep["seconds"]),
        f"{sweep['peak_sum_mb']:,.0f} MB",
        f"{max(sweep['peak_parent_mb'], sweep['peak_child_mb']):,.0f} MB",
        f"{cpu:.1f} s ({sweep['cpu_parent']:.1f} s sweeping process, {sweep['worker_processes']} workers)",
    )
    console.print(table)

    phases = Table(title="Where the sweep's time goes")
    phases.add_column("phase")
    phases.add_column("time", justify="right")
    labels = {
        "load_facts": "load and decode the facts",
        "evaluate": "partition, evaluate in durable_rules (workers), merge",
        "combine": "outcomes carried over, rule states built",
        "_window_kpis": "KPI records (from the loaded facts) and KPIs",
        "KpiJob.result": "waiting for the KPI process (stored records brought up to date, KPIs)",
        "save_items": "KPI records stored",
        "_findings": "findings: messages, accountability",
        "encoding": "rule states packed (compressed in a thread of their own, while the rows are stored)",
        "store_cadence": "cadence results",
        "track": "lifecycle: tracking against the previous sweep, events",
    }
    for name, label in labels.items():
        if name in sweep["phases"]:  # a phase the sweep went through (a full sweep starts no KPI process)
            phases.add_row(label, f"{sweep['phases'][name]:.1f} s")
    phases.add_row("the rest", f"{sweep['seconds'] - sum(sweep['phases'].values()):.1f} s")
    console.print(phases)

    base = Table(title="Baselines (same data, same run)")
    for name, justify in (("what", "left"), ("rules", "right"), ("time", "right"), ("engine", "right")):
        base.add_column(name, justify=justify)  # type: ignore[arg-type]
    base.add_column("engine / baseline", justify="right")
    base.add_column("counts equal the sweep's", justify="left")
    evaluate = sweep["phases"].get("evaluate", 0.0)
    if "duckdb" in results:
        duck, sub = results["duckdb"], results["engine_subset"]
        base.add_row(
            "DuckDB SQL by hand (CSVs already loaded)",
            str(len(duck["counts"])),
            f"{duck['seconds']:.2f} s",
            f"{sub['seconds']:.1f} s",
            f"{sub['seconds'] / duck['seconds']:.0f}x" if duck["seconds"] else "-",
            _match(sweep["counts"], duck["counts"]),
        )
        base.add_row("  DuckDB loading the CSVs", "", f"{duck['load_seconds']:.2f} s", "", "", "")
    if "reference" in results:
        ref = results["reference"]
        base.add_row(
            "reference evaluator, plain Python, 1 process",
            str(len(ref["counts"])),
            f"{ref['seconds']:.1f} s",
            f"{evaluate:.1f} s",
            f"{evaluate / ref['seconds']:.2f}x" if ref["seconds"] else "-",
            _match(sweep["counts"], ref["counts"]),
        )
    console.print(base)

    if "naive" in results:
        naive = Table(title="durable_rules used naively: one rule's facts in ONE session")
        for name in ("facts asked", "facts in the session", "result"):
            naive.add_column(name, justify="right")
        for item in results["naive"]:
            asked = "all" if item["size"] >= 10**9 else f"{item['size']:,}"
            if "failed" in item:
                naive.add_row(asked, "", f"[red]failed[/red] at {asked} facts: {item['failed']}")
            else:
                naive.add_row(
                    asked,
                    f"{item['facts']:,}",
                    f"{item['seconds']:.1f} s, {_rate(item['facts'], item['seconds'])} facts/s, "
                    f"{item['peak_rss_mb']:,.0f} MB",
                )
        console.print(naive)

    ok = sweep["seconds"] < ACCEPT_SECONDS and sweep["peak_sum_mb"] < ACCEPT_MB and sweep["engine_errors"] == 0
    verdict = "[green]PASS[/green]" if ok else "[red]FAIL[/red]"
    console.print(
        f"Acceptance (under {ACCEPT_SECONDS:g} s and under 2 GiB in all processes): {verdict} - "
        f"{sweep['seconds']:.1f} s, {sweep['peak_sum_mb']:,.0f} MB"
    )
    return ok
