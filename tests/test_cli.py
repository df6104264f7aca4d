"""The CLI end to end on a small hand-made organisation: ingest, sweep, findings, report, rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main

from .conftest import RULES

FILES = {
    "person.csv": "id,name,role,manager_id,region,branch,joined_on,left_on\n"
    "M1,Mia Park,team_leader,,North,N1,2024-01-01,\n"
    "P1,Ann Lee,sales_person,M1,North,N1,2025-01-01,\n"
    "P2,Bo Chen,sales_person,M1,North,N1,2025-01-01,\n",
    "coaching_session.csv": "id,manager_id,rep_id,at,plan_documented\nC1,M1,P1,2026-01-10T10:00:00,true\n",
    "material_request.csv": "id,category,item,requested_by,requested_at,quantity\n"
    "R1,sales_kit,starter kit,P1,2026-01-05T10:00:00,1\nR2,sales_kit,starter kit,P2,2026-01-05T10:00:00,1\n",
    "material_delivery.csv": "request_id,delivered_at,quantity\nR1,2026-01-19T10:00:00,1\n",
    "opportunity_stage.csv": "opportunity_id,stage,at,owner_id\nO1,contact,2026-01-02,P1\nO1,proposal,2026-01-09,P1\n",
    "mystery_shop.csv": "id,subject_id,at,score,badge_worn,visiting_card_given,brochure_current\n"
    "MS1,P1,2026-01-20,70,true,true,true\nMS2,P2,2026-01-20,88,true,false,true\n",
}


@pytest.fixture
def org(tmp_path: Path) -> list[str]:
    paths = []
    for name, text in FILES.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    return paths


def test_ingest_sweep_list_report(org: list[str], db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", *org, "--db", db_url])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        main,
        [
            "sweep",
            "--as-of",
            "2026-01-31",
            "--since",
            "2026-01-01",
            "--rules",
            str(RULES),
            "--db",
            db_url,
            "--jobs",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = result.output
    result = runner.invoke(main, ["findings", "list", "--format", "json", "--db", db_url])
    assert result.exit_code == 0, result.output
    findings = json.loads(result.output)
    assert f"{len(findings)} findings: {len(findings)} new," in summary
    keys = {(f["rule_id"], f["subject"], f["occurrence"]) for f in findings}
    # The tiny organisation breaks many catalog rules (no plans, no meetings...); these four are the ones set up.
    assert {key for key in keys if key[0] in ("COA-001", "MAT-001", "STG-001", "REP-001", "REP-002")} == {
        ("COA-001", "P2", "2026-01"),
        ("MAT-001", "R2", ""),
        ("STG-001", "O1", ""),
        ("REP-002", "MS2", ""),
    }
    for f in findings:
        assert f["severity"] in ("critical", "high", "medium", "low") and f["message"]
    kit = next(f for f in findings if f["rule_id"] == "MAT-001")
    assert kit["message"] == "Kit request R2 from P2 is 12 day(s) past its 14-day turnaround and not delivered."
    explained = runner.invoke(
        main, ["rules", "explain", "MAT-001", "--subject", "R2", "--rules", str(RULES), "--db", db_url]
    )
    assert explained.exit_code == 0, explained.output
    assert "no follow-up (deadline passed" in explained.output
    assert "=> finding(s)" in explained.output and "reference evaluator agrees" in explained.output
    explained = runner.invoke(
        main, ["rules", "explain", "MAT-001", "--subject", "R1", "--rules", str(RULES), "--db", db_url]
    )
    assert "on time" in explained.output and "=> no finding" in explained.output
    out = tmp_path / "reports"
    result = runner.invoke(main, ["report", "--out", str(out), "--db", db_url])
    assert result.exit_code == 0, result.output
    html = (out / "1" / "index.html").read_text(encoding="utf-8")
    assert "Kit request R2" in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html), "the report must not load anything from outside"


def test_findings_list_without_sweep_is_a_clear_error(sqlite_url: str) -> None:
    result = CliRunner().invoke(main, ["findings", "list", "--db", sqlite_url])
    assert result.exit_code != 0
    assert "no sweep yet" in result.output


BAD_RULES = """\
area: sales_material
rules:
  - id: BAD-001
    title: Unknown fact kind
    severity: high
    owner: ops
    rationale: x
    check:
      threshold:
        fact: {fact: materiel_request, where: "quantity > 1"}
    message: m
  - id: BAD-002
    title: Unknown field in an expression
    severity: high
    owner: ops
    rationale: x
    check:
      threshold:
        fact: {fact: mystery_shop, where: "scor < 70"}
    message: m
  - id: BAD-003
    title: Type error
    severity: high
    owner: ops
    rationale: x
    check:
      threshold:
        fact: {fact: mystery_shop, where: "score < 'seventy'"}
    message: m
  - id: BAD-004
    title: Unknown message variable
    severity: high
    owner: ops
    rationale: x
    check:
      threshold:
        fact: {fact: mystery_shop, where: "score < 70"}
    message: "{{ shop.score }} is low"
  - id: BAD-004
    title: Duplicate id
    severity: high
    owner: ops
    rationale: x
    check:
      threshold:
        fact: {fact: mystery_shop, where: "__import__('os').system('rm -rf /') == 0"}
    message: m
"""


def test_rules_check_reports_every_mistake_with_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(BAD_RULES, encoding="utf-8")
    result = CliRunner().invoke(main, ["rules", "check", str(path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith(str(path))]
    assert len(lines) == 5, result.output
    expected = [
        (10, "BAD-001", "unknown fact kind 'materiel_request'"),
        (19, "BAD-002", "unknown name 'scor'"),
        (28, "BAD-003", "cannot compare a num with a str"),
        (38, "BAD-004", "unknown variable(s) shop"),
        (46, "BAD-004", "name '__import__' is not allowed"),
    ]
    for line, (number, rule_id, text) in zip(lines, expected, strict=True):
        assert line.startswith(f"{path}:{number} [{rule_id}]"), line
        assert text in line, line


def test_rules_list_and_test_pass_on_the_catalog() -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["rules", "list", "--rules", str(RULES)])
    assert listed.exit_code == 0 and "MAT-001" in listed.output
    tested = runner.invoke(main, ["rules", "test", str(RULES), "--rules", str(RULES)])
    assert tested.exit_code == 0, tested.output
    assert " 0 failed" in tested.output


def test_sweep_with_a_crashing_partition_exits_3_and_reports_it(
    org: list[str], sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", *org, "--db", sqlite_url]).exit_code == 0
    monkeypatch.setenv("AUDITOR_FAULT_RULE", "MAT-001")
    monkeypatch.setenv("AUDITOR_FAULT_SUBJECT", "R2")
    swept = runner.invoke(
        main, ["sweep", "--as-of", "2026-01-31", "--since", "2026-01-01", "--rules", str(RULES), "--db", sqlite_url]
    )
    assert swept.exit_code == 3, swept.output
    assert "engine error" in swept.output and "MAT-001" in swept.output
    monkeypatch.delenv("AUDITOR_FAULT_RULE")
    listed = json.loads(runner.invoke(main, ["findings", "list", "--format", "json", "--db", sqlite_url]).output)
    found = {f["rule_id"] for f in listed}
    assert "MAT-001" not in found and {"COA-001", "STG-001", "REP-002"} <= found  # the other rules are complete
    out = tmp_path / "reports"
    assert runner.invoke(main, ["report", "--out", str(out), "--db", sqlite_url]).exit_code == 0
    html = (out / "1" / "index.html").read_text(encoding="utf-8")
    assert 'id="engine-errors"' in html and "R2" in html


DANGEROUS = """\
area: security
rules:
{rules}
"""
RULE = """\
  - id: {id}
    title: t
    severity: low
    owner: o
    rationale: r
    check:
      threshold:
        fact: {{fact: mystery_shop, where: "{where}"}}
    message: m
"""


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("__import__('os').system('touch {marker}') == 0", "name '__import__' is not allowed"),
        ("score.__class__ == 1", "attribute '__class__' is not allowed"),
        ("(lambda: 1)() == 1", "calling lambda is not allowed"),
        ("open('{marker}', 'w') == 1", "function 'open' is not allowed"),
    ],
)
def test_rules_check_refuses_code_and_runs_nothing(tmp_path: Path, where: str, expected: str) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / "evil.yml"
    path.write_text(
        DANGEROUS.format(rules=RULE.format(id="EVIL-1", where=where.format(marker=marker))), encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["rules", "check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:10 [EVIL-1]" in result.output and expected in result.output, result.output
    assert not marker.exists()
