"""Ingest: good rows load, bad rows are rejected with line and reason, reloading adds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditor.ingest import SourceError, ingest_file
from auditor.store import open_database
from auditor.store.models import FactRow, IngestBatch, Reject

HEADER = "opportunity_id,stage,at,owner_id\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _count(engine, *where) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(FactRow).where(*where)).scalar_one()


def test_bad_rows_are_rejected_with_line_and_reason_and_good_rows_load(tmp_path: Path, db_url: str) -> None:
    path = _write(
        tmp_path / "opportunity_stage.csv",
        HEADER
        + "O1,contact,2026-01-02T09:00:00,P1\n"  # line 2: good
        + "O1,qualification,2026-13-45,P1\n"  # line 3: malformed date
        + "O2,shaking_hands,2026-01-03,P1\n"  # line 4: unknown stage
        + "O3,proposal,2026-01-04,\n"  # line 5: missing required owner_id
        + "O4,deal,2026-01-05T10:00:00+02:00,P2\n",  # line 6: good
    )
    engine = open_database(db_url)
    with Session(engine) as session:
        result = ingest_file(session, path, max_reject_rate=1.0)
    assert (result.read, result.loaded, result.rejected) == (5, 2, 3)
    reasons = {r.line: r.reason for r in result.rejects}
    assert set(reasons) == {3, 4, 5}
    assert "field 'at'" in reasons[3] and "2026-13-45" in reasons[3]
    assert "field 'stage'" in reasons[4] and "shaking_hands" in reasons[4]
    assert "field 'owner_id'" in reasons[5] and "required" in reasons[5]
    with Session(engine) as session:
        stored = session.execute(select(Reject.line, Reject.source, Reject.raw).order_by(Reject.line)).all()
    assert [(line, source) for line, source, _ in stored] == [(3, str(path)), (4, str(path)), (5, str(path))]
    assert stored[1].raw == "O2,shaking_hands,2026-01-03,P1"
    assert _count(engine) == 2


def test_offsets_are_normalised_to_utc(tmp_path: Path, db_url: str) -> None:
    path = _write(tmp_path / "opportunity_stage.csv", HEADER + "O4,deal,2026-01-05T10:00:00+02:00,P2\n")
    engine = open_database(db_url)
    with Session(engine) as session:
        ingest_file(session, path)
        row = session.execute(select(FactRow)).scalar_one()
    assert row.payload["at"] == "2026-01-05T08:00:00"


def test_loading_the_same_file_twice_adds_nothing(tmp_path: Path, db_url: str) -> None:
    path = _write(tmp_path / "opportunity_stage.csv", HEADER + "O1,contact,2026-01-02,P1\nO1,proposal,2026-01-09,P1\n")
    engine = open_database(db_url)
    with Session(engine) as session:
        first = ingest_file(session, path)
    with Session(engine) as session:
        second = ingest_file(session, path)
    assert (first.loaded, second.loaded, second.unchanged) == (2, 0, 2)
    assert _count(engine) == 2
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(IngestBatch)).scalar_one() == 2


def test_corrected_row_updates_and_keeps_the_old_version(tmp_path: Path, db_url: str) -> None:
    header = "id,manager_id,rep_id,at,plan_documented\n"
    engine = open_database(db_url)
    first = _write(tmp_path / "coaching_session.csv", header + "C1,M1,P1,2026-01-05T10:00:00,false\n")
    with Session(engine) as session:
        ingest_file(session, first)
    fixed = _write(tmp_path / "coaching_session.csv", header + "C1,M1,P1,2026-01-05T10:00:00,true\n")
    with Session(engine) as session:
        result = ingest_file(session, fixed)
    assert (result.loaded, result.updated) == (0, 1)
    with Session(engine) as session:
        versions = session.execute(
            select(FactRow.version, FactRow.current, FactRow.payload).order_by(FactRow.version)
        ).all()
    assert [(v, c, p["plan_documented"]) for v, c, p in versions] == [(1, False, False), (2, True, True)]


def test_jsonl_with_kind_per_line(tmp_path: Path, db_url: str) -> None:
    path = _write(
        tmp_path / "facts.jsonl",
        '{"kind": "mystery_shop", "id": "MS1", "subject_id": "P1", "at": "2026-01-05", "score": 80,'
        ' "badge_worn": true, "visiting_card_given": true, "brochure_current": true}\n'
        '{"kind": "mystery_shop", "id": "MS2", "subject_id": "P1", "at": "2026-01-05", "score": 140,'
        ' "badge_worn": true, "visiting_card_given": true, "brochure_current": true}\n'
        "not json\n"
        '{"kind": "no_such_kind", "id": "X"}\n'
        '{"kind": "mystery_shop", "id": "MS3", "subject_id": "P1", "at": "2026-01-05", "score": 80,'
        ' "badge_worn": true, "visiting_card_given": true, "brochure_current": true, "colour": "red"}\n',
    )
    engine = open_database(db_url)
    with Session(engine) as session:
        result = ingest_file(session, path, max_reject_rate=1.0)
    reasons = {r.line: r.reason for r in result.rejects}
    assert result.loaded == 1
    assert "field 'score'" in reasons[2] and "100" in reasons[2]
    assert "invalid JSON" in reasons[3]
    assert "unknown fact kind 'no_such_kind'" in reasons[4]
    assert "field 'colour': unknown field" in reasons[5]


def test_csv_kind_must_be_known(tmp_path: Path, db_url: str) -> None:
    path = _write(tmp_path / "stuff.csv", "a,b\n1,2\n")
    engine = open_database(db_url)
    with Session(engine) as session, pytest.raises(SourceError, match="--kind"):
        ingest_file(session, path)


def test_ragged_csv_row_is_rejected(tmp_path: Path, db_url: str) -> None:
    path = _write(
        tmp_path / "opportunity_stage.csv", HEADER + "O1,contact,2026-01-02,P1,extra\nO2,contact,2026-01-02,P1\n"
    )
    engine = open_database(db_url)
    with Session(engine) as session:
        result = ingest_file(session, path, max_reject_rate=1.0)
    assert result.loaded == 1
    assert result.rejects[0].line == 2 and "5 values" in result.rejects[0].reason


def test_natural_ids_with_the_separator_do_not_collide(tmp_path: Path, db_url: str) -> None:
    path = _write(
        tmp_path / "material_stock.csv",
        "item,category,branch,at,on_hand,reorder_level\n"
        "a|b,sales_kit,c,2026-02-01,5,2\n"
        "a,sales_kit,b|c,2026-02-01,7,2\n",
    )
    engine = open_database(db_url)
    with Session(engine) as session:
        result = ingest_file(session, path)
    assert (result.loaded, result.updated) == (2, 0)
    assert _count(engine, FactRow.current.is_(True)) == 2


def test_jsonl_splits_lines_on_newlines_only(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "facts.jsonl"
    path.write_bytes(
        b'{"kind": "mystery_shop", "id": "MS1", "subject_id": "P1", "at": "2026-01-05", "score": 80,\r'
        b' "badge_worn": true, "visiting_card_given": true, "brochure_current": true}\n'
        b'{"kind": "mystery_shop", "id": "MS2"}\n'
    )
    engine = open_database(db_url)
    with Session(engine) as session:
        result = ingest_file(session, path, max_reject_rate=1.0)
    assert result.loaded == 1
    assert [r.line for r in result.rejects] == [2]


def test_duplicate_csv_columns_are_a_file_error(tmp_path: Path, db_url: str) -> None:
    path = _write(
        tmp_path / "opportunity_stage.csv", "opportunity_id,stage,at,owner_id,stage\nO1,contact,2026-01-02,P1,deal\n"
    )
    engine = open_database(db_url)
    with Session(engine) as session, pytest.raises(SourceError, match="stage appear more than once"):
        ingest_file(session, path)


def test_rejected_csv_rows_keep_their_quoting(tmp_path: Path, db_url: str) -> None:
    path = _write(tmp_path / "opportunity_stage.csv", HEADER + 'O1,"contact, maybe",2026-01-02,P1\n')
    engine = open_database(db_url)
    with Session(engine) as session:
        ingest_file(session, path, max_reject_rate=1.0)
        raw = session.execute(select(Reject.raw)).scalar_one()
    assert raw == 'O1,"contact, maybe",2026-01-02,P1'


def _stages(bad: int, good: int) -> str:
    rows = [f"O{i},contact,2026-01-02T09:00:00,P1\n" for i in range(good)]
    rows += [f"B{i},contact,not a date,P1\n" for i in range(bad)]
    return HEADER + "".join(rows)


def test_a_file_with_too_many_bad_rows_is_refused_whole_and_its_rejects_kept(tmp_path: Path, db_url: str) -> None:
    from auditor.ingest import RejectRateError
    from auditor.ingest.quarantine import list_rejects

    engine = open_database(db_url)
    at_limit = _write(tmp_path / "opportunity_stage.csv", _stages(bad=1, good=9))  # 10 %: loads
    with Session(engine) as session:
        assert ingest_file(session, at_limit).loaded == 9
    (tmp_path / "more").mkdir()
    over = _write(tmp_path / "more" / "opportunity_stage.csv", _stages(bad=2, good=8).replace("O", "N"))
    with Session(engine) as session, pytest.raises(RejectRateError, match=r"2 of 10 rows \(20.0 %\)") as caught:
        ingest_file(session, over)
    assert "nothing was loaded" in str(caught.value)
    assert _count(engine) == 9  # nothing of the refused file
    refused = caught.value.result.batch_id
    with Session(engine) as session:
        batch = session.get_one(IngestBatch, refused)
        assert (batch.status, batch.rows_read, batch.rejected, batch.loaded) == ("refused", 10, 2, 0)
    listed = list_rejects(engine, refused)
    assert [(r["line"], r["batch_status"]) for r in listed] == [(10, "refused"), (11, "refused")]
    assert listed[0]["raw"] == "B0,contact,not a date,P1" and "field 'at'" in listed[0]["reason"]
    assert len(list_rejects(engine)) == 3 and len(list_rejects(engine, source="more")) == 2
    with Session(engine) as session:  # a higher limit lets the good rows in
        assert ingest_file(session, over, max_reject_rate=0.25).loaded == 8
    assert _count(engine) == 17


def test_cli_refuses_with_exit_2_and_lists_rejects(tmp_path: Path, sqlite_url: str) -> None:
    import json

    from click.testing import CliRunner

    from auditor.cli import main

    path = _write(tmp_path / "opportunity_stage.csv", _stages(bad=3, good=7))
    runner = CliRunner()
    refused = runner.invoke(main, ["ingest", str(path), "--db", sqlite_url])
    assert refused.exit_code == 2
    assert "refused:" in refused.output and "3 of 10 rows (30.0 %)" in refused.output
    assert "limit of 10 %" in refused.output
    listed = json.loads(runner.invoke(main, ["rejects", "list", "--format", "json", "--db", sqlite_url]).output)
    assert [r["line"] for r in listed] == [9, 10, 11]
    loaded = runner.invoke(main, ["ingest", str(path), "--max-reject-rate", "30", "--db", sqlite_url])
    assert loaded.exit_code == 0, loaded.output
    table = runner.invoke(main, ["rejects", "list", "--db", sqlite_url]).output
    assert "6 rejected row(s)" in table and "refused" in table and "loaded" in table


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_natural_id_repeated_in_a_later_part_of_a_large_file_is_merged_like_row_by_row(
    tmp_path: Path, db_url: str, jobs: int
) -> None:
    """Over 1 MiB, so the file is read in several parts; its last rows repeat ids of its first part."""
    rows = [f"O{n},contact,2026-01-02T09:00:00,P{n % 7}" for n in range(40_000)]
    rows += ["O0,contact,2026-01-02T09:00:00,P0", "O1,contact,2026-01-02T09:00:00,P9"]  # same / new content
    path = _write(tmp_path / "opportunity_stage.csv", HEADER + "\n".join(rows) + "\n")
    assert path.stat().st_size > 1 << 20
    engine = open_database(db_url)
    with Session(engine) as session:
        result = ingest_file(session, path, jobs=jobs)
    assert (result.read, result.loaded, result.unchanged, result.updated) == (40_002, 40_000, 1, 1)
    with Session(engine) as session:
        versions = session.execute(
            select(FactRow.version, FactRow.current, FactRow.payload["owner_id"].as_string())
            .where(FactRow.natural_id.like("O1|%"))
            .order_by(FactRow.version)
        ).all()
    assert [tuple(v) for v in versions] == [(1, False, "P1"), (2, True, "P9")]
    assert _count(engine) == 40_001


AWKWARD = ["tab\there", "line\nbreak", "carriage\rreturn", "back\\slash", "\\N", 'quote"d', "ünï\u2028code"]


def test_awkward_text_is_stored_exactly_on_first_load_and_on_merge(tmp_path: Path, db_url: str) -> None:
    """Tabs, line breaks, backslashes and COPY's null marker survive both ways into `facts` (COPY on PostgreSQL)."""
    import csv
    import json

    def write(name: str, note_suffix: str) -> Path:
        path = tmp_path / name / "material_request.csv"
        path.parent.mkdir()
        with path.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(["id", "category", "item", "requested_by", "requested_at", "quantity"])
            for n, text in enumerate(AWKWARD):
                out.writerow([f"R{n}{text}", "sales_kit", text + note_suffix, f"P{n}", "2026-01-02", 1])
        return path

    engine = open_database(db_url)
    with Session(engine) as session:
        first = ingest_file(session, write("first", ""))  # straight into facts
    with Session(engine) as session:
        again = ingest_file(session, write("again", "!"))  # staged and merged: every row updated
    assert (first.loaded, again.updated) == (len(AWKWARD), len(AWKWARD))
    with Session(engine) as session:
        rows = session.execute(select(FactRow.natural_id, FactRow.version, FactRow.payload)).all()
    keys = [f"R{n}{text}".replace("\\", "\\\\") for n, text in enumerate(AWKWARD)]  # natural ids escape \\
    assert sorted((natural_id, version) for natural_id, version, _ in rows) == sorted(
        (key, version) for key in keys for version in (1, 2)
    )
    for natural_id, version, payload in rows:
        payload = payload if isinstance(payload, dict) else json.loads(payload)
        text = AWKWARD[int(natural_id[1])]
        assert payload["item"] == text + ("!" if version == 2 else "")
