"""Column mappings: foreign exports (a stage history, a CRM opportunity list, an event log) into facts."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.cli import main
from auditor.ingest import ingest_file
from auditor.ingest.mapping import MappingError, load_mapping
from auditor.store import open_database
from auditor.store.models import FactRow

from .conftest import ROOT, require

MAPPINGS = ROOT / "fixtures" / "mappings"
EXPORTS = ROOT / "fixtures" / "exports"
EXTERNAL = ROOT.parent / "shared" / "data" / "external"


def _ingest(db_url: str, path: Path, mapping: str, **kwargs):  # type: ignore[no-untyped-def]
    loaded = load_mapping(MAPPINGS / mapping)
    with Session(open_database(db_url)) as session:
        return ingest_file(session, path, convert=loaded, text_format=loaded.text_format(path), **kwargs)


def _payloads(db_url: str, kind: str) -> list[dict]:  # type: ignore[type-arg]
    with Session(open_database(db_url)) as session:
        rows = session.execute(select(FactRow.payload).where(FactRow.kind == kind, FactRow.current.is_(True)))
        return [payload for (payload,) in rows]


def test_stage_history_maps_names_formats_zone_and_defaults(db_url: str) -> None:
    result = _ingest(db_url, EXPORTS / "opportunity_history.csv", "stage_history.yml", max_reject_rate=0.5)
    assert (result.read, result.loaded, result.rejected) == (8, 6, 2)
    reasons = {r.line: r.reason for r in result.rejects}
    assert "field 'stage'" in reasons[8] and "Qualifikation" in reasons[8]  # a stage name the map lacks
    assert "does not match the date format" in reasons[9] and "2026-03-19" in reasons[9]
    stages = {(p["opportunity_id"], p["stage"]): p for p in _payloads(db_url, "opportunity_stage")}
    assert set(stages) == {
        ("006A1", "contact"),
        ("006A1", "qualification"),
        ("006A1", "proposal"),
        ("006A1", "deal"),
        ("006B2", "contact"),
        ("006B2", "lost"),
    }
    # Berlin is UTC+1 in March and UTC+2 after the last Sunday of March, UTC+1 again on 28 October
    assert stages[("006A1", "contact")]["at"] == "2026-03-02T08:15:00"
    assert stages[("006A1", "deal")]["at"] == "2026-03-30T14:45:00"
    assert stages[("006B2", "lost")]["at"] == "2026-10-28T01:30:00"
    assert stages[("006B2", "contact")]["owner_id"] == "unassigned"  # the default for an empty column
    assert stages[("006A1", "qualification")]["amount"] == 12000


def test_crm_opportunities_make_an_engaged_and_a_closed_stage_per_deal(db_url: str) -> None:
    path = EXTERNAL / "crm-opportunities" / "sales_pipeline.csv"
    require(path.exists(), f"{path} (../shared beside the project)")
    result = _ingest(db_url, path, "crm_opportunities.yml")
    with path.open(encoding="utf-8") as handle:
        deals = list(csv.DictReader(handle))
    engaged = [d for d in deals if d["engage_date"]]
    closed = [d for d in deals if d["close_date"]]
    assert (result.read, result.rejected) == (len(deals), 0)
    assert result.loaded == len(engaged) + len(closed)
    stored = _payloads(db_url, "opportunity_stage")
    assert Counter(p["stage"] for p in stored) == Counter(
        Counter({"qualification": len(engaged)})
        + Counter({"Won": "deal", "Lost": "lost"}[d["deal_stage"]] for d in closed)
    )
    first = deals[0]
    day = datetime.strptime(first["close_date"], "%m/%d/%Y").date().isoformat()
    won = next(p for p in stored if p["opportunity_id"] == first["opportunity_id"] and p["stage"] == "deal")
    assert (won["at"], won["amount"], won["owner_id"]) == (
        f"{day}T00:00:00",
        float(first["close_value"]),
        first["sales_agent"],
    )


def test_event_log_csv_becomes_activity_facts_with_attributes(db_url: str) -> None:
    path = EXTERNAL / "hiring" / "events.csv.gz"
    require(path.exists(), f"{path} (../shared beside the project)")
    result = _ingest(db_url, path, "event_log.yml")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        events = list(csv.DictReader(handle))
    assert (result.read, result.loaded, result.rejected) == (len(events), len(events), 0)
    stored = _payloads(db_url, "activity")
    assert Counter(p["activity"] for p in stored) == Counter(e["activity"] for e in events)
    sample = next(p for p in stored if p["case_id"] == events[0]["case_id"] and p["activity"] == events[0]["activity"])
    assert sample["resource"] == events[0]["resource"]
    assert sample["attributes"]["yearsOfEducation"] == events[0]["yearsOfEducation"]
    assert "lifecycle" not in sample["attributes"] and "timestamp" not in sample["attributes"]


def test_repeated_events_of_a_case_keep_their_own_identity(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "case_id,activity,lifecycle,timestamp,resource\n"
        "C1,W_Call,START,2026-01-02T10:00:00,R1\n"
        "C1,W_Call,COMPLETE,2026-01-02T10:00:00,R1\n"  # same case, activity and time: seq 1
        "C1,W_Call,START,2026-01-03T10:00:00,R1\n",
        encoding="utf-8",
    )
    first = _ingest(db_url, path, "event_log.yml")
    again = _ingest(db_url, path, "event_log.yml")
    assert (first.loaded, again.loaded, again.unchanged) == (3, 0, 3)
    assert sorted((p["lifecycle"], p["seq"]) for p in _payloads(db_url, "activity")) == [
        ("COMPLETE", 1),
        ("START", 0),
        ("START", 0),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "kind: opportunity_stage\nfields:\n  at: x\n  colour: y\n",
            ":4: fields.colour: opportunity_stage has no field 'colour'",
        ),
        ("kind: nonsense\nfields: {}\n", ":1: kind: unknown fact kind 'nonsense'"),
        ("kind: activity\ntimezone: Mars/Olympus\nfields: {}\n", ":2: timezone: Value error, unknown time zone"),
        ("kind: activity\nfields:\n  at: {column: t, value: 1}\n", ":3: fields.at: Value error, give exactly one"),
        ("kind: activity\nfields:\n  at: [\n", ":4: not valid YAML"),
        ("facts:\n  - kind: activity\n    fields: {}\n    attributes: some\n", ":4: facts.0.attributes"),
    ],
)
def test_mapping_mistakes_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert str(caught.value).startswith(str(path)), caught.value
    assert expected in str(caught.value), caught.value


def test_cli_ingest_with_a_mapping_and_a_bad_mapping(tmp_path: Path, sqlite_url: str) -> None:
    runner = CliRunner()
    mapping = str(MAPPINGS / "stage_history.yml")
    export = str(EXPORTS / "opportunity_history.csv")
    result = runner.invoke(
        main, ["ingest", "--mapping", mapping, "--max-reject-rate", "50", export, "--db", sqlite_url]
    )
    assert result.exit_code == 0, result.output
    assert "opportunity_history.csv:8: field 'stage'" in result.output
    bad = tmp_path / "bad.yml"
    bad.write_text("kind: opportunity_stage\nfields: {colour: c}\n", encoding="utf-8")
    result = runner.invoke(main, ["ingest", "--mapping", str(bad), export, "--db", sqlite_url])
    assert result.exit_code == 2 and f"{bad}:2" in result.output, result.output
