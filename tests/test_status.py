"""`auditor status`: last sweep, open and overdue findings by severity, expiring waivers, database and rules."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from auditor.cli import main
from auditor.rulebook import Policy
from auditor.store.migrate import head_revision

from .conftest import RULES
from .test_cli_findings import RULE_FILES, run, swept  # noqa: F401 - swept is a fixture


def status(db_url: str, *rules: str) -> dict:
    result = run("status", "--format", "json", "--db", db_url, *(rules or RULE_FILES))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_status_of_a_swept_database(swept: str) -> None:  # noqa: F811
    today = Policy().today()
    until = (today + timedelta(days=10)).isoformat()
    waived = run(
        "findings", "waive", "REP-001|MS4|", "--until", until, "--reason", "move", "--approver", "hos", "--db", swept
    )
    assert waived.exit_code == 0, waived.output
    assert run("findings", "ack", "REP-001|MS3|", "--db", swept).exit_code == 0
    state = status(swept)
    assert state["revision"] == state["head"] == head_revision()
    assert state["last_sweep"]["id"] == 2 and state["last_sweep"]["status"] == "complete"
    assert (state["last_sweep"]["as_of"], state["last_sweep"]["since"]) == ("2026-02-28", "2026-01-01")
    assert state["last_complete_sweep"]["id"] == 2 and state["last_sweep"]["actor"] == "audit-bot"
    assert state["open_by_severity"]["high"] == {"open": 1, "acknowledged": 1}  # MS1 open, MS3 acked, MS4 waived
    assert state["open_total"] == 2
    assert state["overdue_by_severity"] == {"critical": 0, "high": 2, "medium": 0, "low": 0}  # due in February
    assert [(w["until"], w["days_left"], w["scope"]) for w in state["waivers_expiring"]] == [
        (until, 10, "REP-001|MS4|")
    ]
    assert state["rules"]["changed_since_last_sweep"] is False and state["rules"]["count"] == 10
    assert state["rules"]["digest"] == state["last_sweep"]["rules_digest"]
    changed = status(swept, "--rules", str(RULES / "representation.yml"))
    assert changed["rules"]["changed_since_last_sweep"] is True and changed["rules"]["count"] == 3
    table = run("status", "--db", swept, *RULE_FILES).output
    assert "Last sweep: #2 as of 2026-02-28 (from 2026-01-01), complete" in table
    assert "Open findings: 2, overdue 2" in table and "Waivers expiring within 30 days: 1" in table
    assert "(as in the last sweep)" in table and f"at revision {head_revision()}" in table


def test_status_without_database_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    result = CliRunner().invoke(main, ["status", "--db", url])
    assert result.exit_code == 0, result.output
    assert "no database file yet" in result.output and not (tmp_path / "none.db").exists()
    state = status(url)
    assert state["last_sweep"] is None and state["revision"] is None and state["open_total"] == 0
