"""Ingest + sweep of the full BPI Challenge 2012 log with the example's mapping and rules (issue #10).

    .venv/bin/python bench/bpic_bench.py                  # fresh database in a new temporary folder
    .venv/bin/python bench/bpic_bench.py --jobs 1         # sweep with one worker process

Runs the commands of examples/bpic2012/run.sh as a user would (`auditor ingest --mapping ...`, `auditor sweep
...`), each as its own process, in an empty working folder, then `auditor report`, and prints the seconds of
each step and the total of ingest + sweep. Acceptance (issue #10): ingest + sweep under 60 s. The report step
is timed too and checked to render: index.html exists, names every rule and shows the sweep's finding count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "bpic2012"
DATA = ROOT.parent / "shared" / "data" / "external" / "bpic2012" / "events.csv.gz"
ACCEPT_SECONDS = 60.0
RULES = ("BPI-001", "BPI-002", "BPI-003", "BPI-004", "BPI-005", "BPI-006")


def auditor_command() -> str:
    """The project's auditor if the venv has one, else the one on PATH."""
    local = ROOT / ".venv" / "bin" / "auditor"
    return str(local) if local.exists() else (shutil.which("auditor") or "auditor")


def timed(label: str, argv: list[str], cwd: Path) -> tuple[float, str]:
    """Run one command in `cwd`; returns its wall-clock seconds and its standard output."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{label} failed ({done.returncode}):\n{done.stderr or done.stdout}")
    print(f"{label:<8} {seconds:7.1f} s", flush=True)
    return seconds, done.stdout


def check_report(work: Path, findings: int) -> Path:
    """The report's index.html: present, every rule named, the finding count shown."""
    pages = sorted(work.glob("reports/*/index.html"))
    if not pages:
        sys.exit("no reports/<sweep>/index.html written")
    html = pages[-1].read_text(encoding="utf-8")
    missing = [rule for rule in RULES if rule not in html]
    if missing or f"{findings:,}" not in html and str(findings) not in html:
        sys.exit(f"report incomplete: rules missing {missing}, or finding count {findings} not shown")
    return pages[-1]


def main() -> None:
    """Measure, print, exit 1 when ingest + sweep take 60 s or more."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="empty working folder (default: a new temporary one)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="sweep worker processes")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"missing {DATA} (../shared beside the project)")
    work = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="bpic-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    auditor, db = auditor_command(), "sqlite:///auditor.db"
    print(f"BPI Challenge 2012, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, in {work}")
    ingest, _ = timed(
        "ingest", [auditor, "ingest", "--db", db, "--mapping", str(EXAMPLE / "mapping.yml"), str(DATA)], work
    )
    window = ["--since", "2011-09-30", "--as-of", "2012-03-14"]
    sweep_cmd = [auditor, "sweep", "--db", db, "--rules", str(EXAMPLE / "rules.yml"), *window, "--jobs", str(args.jobs)]
    sweep, _ = timed("sweep", sweep_cmd, work)
    _, listed = timed("list", [auditor, "findings", "list", "--format", "json", "--db", db], work)
    findings = len(json.loads(listed))
    report, _ = timed("report", [auditor, "report", "--db", db, "--rules", str(EXAMPLE / "rules.yml")], work)
    page = check_report(work, findings)
    total = ingest + sweep
    verdict = "PASS" if total < ACCEPT_SECONDS else "FAIL"
    print(f"findings {findings}; report {page.relative_to(work)} ({page.stat().st_size / 1024:.0f} KiB)")
    print(f"ingest + sweep {total:.1f} s (acceptance < {ACCEPT_SECONDS:.0f} s): {verdict}; report {report:.1f} s")
    sys.exit(0 if verdict == "PASS" else 1)


if __name__ == "__main__":
    main()
