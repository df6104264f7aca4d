"""Workers and the KPI process start without running the caller's main script again (engine/runner.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import RULES

CALLER = """
from datetime import date
from pathlib import Path

with open({marker!r}, "a", encoding="utf-8") as ran:  # the top level: once per process that runs it
    ran.write("x")

if __name__ == "__main__":
    from auditor.engine.compiler import compile_rule
    from auditor.engine.runner import Task, run_pool, start_fork_server
    from auditor.engine.window import SweepWindow
    from auditor.rulebook import load_rulebook

    start_fork_server()
    window = SweepWindow(as_of=date(2026, 3, 31), since=date(2026, 1, 1))
    compiled = [compile_rule(rule, window) for rule in load_rulebook([Path({rules!r})]).rules[:4]]
    results = list(run_pool(compiled, iter([[Task(index, [])] for index in range(4)]), 2))
    print(len(results), "tasks", sorted(result.rule_index for result in results))
"""


def test_workers_do_not_run_the_callers_main_script_again(tmp_path: Path) -> None:
    """A script that sweeps (a scheduled job, the benchmarks) runs its top level once, not once more in each of
    the four workers it starts (multiprocessing's fork server would run it in each)."""
    marker = tmp_path / "ran"
    script = tmp_path / "caller.py"
    script.write_text(CALLER.format(marker=str(marker), rules=str(RULES)), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4 tasks [0, 1, 2, 3]"
    assert marker.read_text(encoding="utf-8") == "x"
