"""XES event logs: streamed into activity facts, refused safely when hostile, usable by process rules."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditor.cli import main
from auditor.ingest import SourceError, ingest_file
from auditor.ingest.quarantine import list_rejects
from auditor.store import open_database
from auditor.store.models import FactRow, IngestBatch

# (case, [(activity, day, resource)]): case 1 follows the process; case 2 skips pre-acceptance, never gets its
# offer back and declines without a call; case 3 declines without a call.
CASES = {
    "L1": [
        ("A_SUBMITTED", 1, "112"),
        ("A_PREACCEPTED", 1, "112"),
        ("A_ACCEPTED", 2, "10862"),
        ("O_SENT", 2, "10862"),
        ("W_Nabellen offertes", 3, "10862"),
        ("O_SENT_BACK", 5, "10862"),
        ("O_DECLINED", 6, "10862"),
    ],
    "L2": [("A_SUBMITTED", 1, "112"), ("A_ACCEPTED", 2, "10629"), ("O_SENT", 2, "10629"), ("O_DECLINED", 4, "10629")],
    "L3": [("A_SUBMITTED", 3, "112"), ("A_PREACCEPTED", 3, "112"), ("O_DECLINED", 9, "10912")],
}

RULES = """
area: loan_process
rules:
  - id: LOAN-001
    title: Offer declined without a follow-up call
    severity: high
    owner: back-office
    rationale: Every declined offer is preceded by a call to the customer.
    check:
      requires_before:
        fact: {fact: activity, where: "activity == 'O_DECLINED'"}
        requires: {fact: activity, where: "activity == 'W_Nabellen offertes'"}
        subject: case_id
    message: "Application {{ fact.case_id }}: offer declined without a call."
  - id: LOAN-002
    title: Offer not sent back within 20 days
    severity: medium
    owner: back-office
    rationale: Offers come back within 20 days.
    check:
      within:
        trigger: {fact: activity, where: "activity == 'O_SENT'"}
        expect: {fact: activity, where: "activity == 'O_SENT_BACK'", match: {case_id: case_id}}
        limit: days(20)
        subject: case_id
    message: "Application {{ trigger.case_id }}: offer {{ status }}."
  - id: LOAN-003
    title: Application accepted without pre-acceptance
    severity: high
    owner: back-office
    rationale: Pre-acceptance comes before acceptance.
    check:
      sequence:
        fact: {fact: activity}
        subject: case_id
        field: activity
        steps: [A_SUBMITTED, A_PREACCEPTED, A_ACCEPTED]
        mandatory: [A_PREACCEPTED]
    message: "Application {{ subject }}: {{ problems | join('; ') }}"
"""


def xes_text(cases: dict[str, list[tuple[str, int, str]]] = CASES, namespace: bool = True) -> str:
    """A small XES log: one trace per case with a case attribute, events with a lifecycle and resource."""
    ns = ' xmlns="http://www.xes-standard.org/"' if namespace else ""
    out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1.0"{ns}>']
    out.append('  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>')
    out.append('  <string key="concept:name" value="loans"/>')
    for case, events in cases.items():
        out.append(
            f'  <trace>\n    <string key="concept:name" value="{case}"/>\n    <int key="AMOUNT_REQ" value="5000"/>'
        )
        for activity, day, resource in events:
            out.append(
                "    <event>\n"
                f'      <string key="concept:name" value="{activity}"/>\n'
                '      <string key="lifecycle:transition" value="COMPLETE"/>\n'
                f'      <string key="org:resource" value="{resource}"/>\n'
                f'      <date key="time:timestamp" value="2026-01-{day:02d}T09:30:00.000+01:00"/>\n'
                '      <list key="nested"><values><string key="x" value="ignored"/></values></list>\n'
                "    </event>"
            )
        out.append("  </trace>")
    out.append("</log>\n")
    return "\n".join(out)


def _facts(db_url: str) -> list[dict]:  # type: ignore[type-arg]
    with Session(open_database(db_url)) as session:
        return [p for (p,) in session.execute(select(FactRow.payload).where(FactRow.current.is_(True)))]


@pytest.mark.parametrize("compressed", [False, True])
def test_xes_events_load_as_activity_facts(tmp_path: Path, db_url: str, compressed: bool) -> None:
    text = xes_text()
    path = tmp_path / ("log.xes.gz" if compressed else "log.xes")
    path.write_bytes(gzip.compress(text.encode()) if compressed else text.encode())
    with Session(open_database(db_url)) as session:
        first = ingest_file(session, path)
    with Session(open_database(db_url)) as session:
        again = ingest_file(session, path)
    total = sum(len(events) for events in CASES.values())
    assert (first.read, first.loaded, first.rejected) == (total, total, 0)
    assert (again.loaded, again.unchanged) == (0, total)
    declined = next(f for f in _facts(db_url) if f["case_id"] == "L3" and f["activity"] == "O_DECLINED")
    assert declined == {
        "kind": "activity",
        "case_id": "L3",
        "activity": "O_DECLINED",
        "at": "2026-01-09T08:30:00",  # +01:00 made UTC
        "seq": 0,
        "lifecycle": "COMPLETE",
        "resource": "10912",
        "attributes": {"case:AMOUNT_REQ": "5000"},  # the nested list attribute is not an event attribute
    }


def test_events_with_the_same_case_activity_and_time_are_numbered(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "log.xes"
    path.write_text(xes_text({"C": [("W_Call", 1, "R1"), ("W_Call", 1, "R2"), ("W_Call", 1, "R3")]}), encoding="utf-8")
    with Session(open_database(sqlite_url)) as session:
        assert ingest_file(session, path).loaded == 3
    assert sorted((f["seq"], f["resource"]) for f in _facts(sqlite_url)) == [(0, "R1"), (1, "R2"), (2, "R3")]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE log [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<log><trace><string key="concept:name" value="&d;"/><event><string key="concept:name" value="x"/>
<date key="time:timestamp" value="2026-01-01T00:00:00"/></event></trace></log>
"""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (BILLION_LAUGHS, "document type declaration is refused"),
        (xes_text()[: len(xes_text()) // 2], "malformed XML"),
        (xes_text().replace("<trace>", "<trace>" + "<a>" * 5000, 1), "malformed XML"),
        ("this is not XML", "malformed XML"),
    ],
    ids=["entity-expansion", "truncated", "deeply-nested", "not-xml"],
)
def test_hostile_or_broken_xes_is_refused_whole_with_a_reason(
    tmp_path: Path, sqlite_url: str, text: str, reason: str
) -> None:
    path = tmp_path / "log.xes"
    path.write_text(text, encoding="utf-8")
    engine = open_database(sqlite_url)
    with Session(engine) as session, pytest.raises(SourceError, match=reason):
        ingest_file(session, path)
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(FactRow)).scalar_one() == 0
        assert session.execute(select(IngestBatch.status)).scalars().all() == ["refused"]
    [reject] = list_rejects(engine)
    assert reason in reject["reason"] and str(path) in reject["reason"]


def test_process_rules_judge_xes_cases_by_case_id(tmp_path: Path, db_url: str) -> None:
    log = tmp_path / "loans.xes"
    log.write_text(xes_text(), encoding="utf-8")
    rules = tmp_path / "loan_process.yml"
    rules.write_text(RULES, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", str(log), "--db", db_url])
    assert result.exit_code == 0, result.output
    sweep = ["sweep", "--as-of", "2026-03-31", "--since", "2026-01-01", "--rules", str(rules), "--db", db_url]
    result = runner.invoke(main, [*sweep, "--jobs", "0"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["findings", "list", "--format", "json", "--db", db_url])
    assert result.exit_code == 0, result.output
    found = {(f["rule_id"], f["subject"]) for f in json.loads(result.output)}
    assert found == {("LOAN-001", "L2"), ("LOAN-001", "L3"), ("LOAN-002", "L2"), ("LOAN-003", "L2")}
