"""Fuzzing ingest: malformed CSV, JSONL and XES never crash it, never leave a partial batch, and every
bad record is accounted for with a reason, while the good records around it still load."""

from __future__ import annotations

import json
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditor.ingest import RejectRateError, SourceError, ingest_file
from auditor.store import open_database
from auditor.store.models import FactRow, IngestBatch, Reject

from .test_ingest_xes import xes_text

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER = "id,manager_id,rep_id,at,plan_documented"

formula = st.sampled_from(["=cmd|'/c calc'!A1", "+1+1", "-2", "@SUM(A1)", '=HYPERLINK("http://x")'])
plain_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=30).filter(
    lambda s: s.strip()
)


@st.composite
def good_row(draw: st.DrawFn, number: int) -> str:
    """A valid coaching session whose values may look like formulas or carry quotes, commas and line breaks."""
    manager = draw(st.one_of(plain_text, formula))
    quoted = '"' + manager.replace('"', '""') + '"'
    day = draw(st.integers(1, 28))
    return f"S{number},{quoted},P{number},2026-02-{day:02d}T10:00:00,{draw(st.sampled_from(['true', 'false']))}"


BAD_ROWS = {
    "ragged": lambda n: f"S{n},M1,P1,2026-02-01T10:00:00,true,extra",
    "short": lambda n: f"S{n},M1",
    "bad date": lambda n: f"S{n},M1,P1,2026-13-45,true",
    "wrong type": lambda n: f"S{n},M1,P1,2026-02-01T10:00:00,perhaps",
    "missing field": lambda n: f"S{n},,P1,2026-02-01T10:00:00,true",
    "NUL byte": lambda n: f"S{n},M\x001,P1,2026-02-01T10:00:00,true",
    "huge field": lambda n: f"S{n},{'M' * 200_000},P1,2026-02-01T10:00:00,true",
    "bad encoding": lambda n: f"S{n},M\udcff\udcfe,P1,2026-02-01T10:00:00,true",  # bytes 0xff 0xfe
}


def _encode(line: str) -> bytes:
    return line.encode("utf-8", "surrogateescape")


def _load(path: Path, url: str, rate: float = 1.0):  # type: ignore[no-untyped-def]
    engine = open_database(url)
    with Session(engine) as session:
        try:
            return engine, ingest_file(session, path, "coaching_session", max_reject_rate=rate, jobs=1)
        except RejectRateError as exc:
            return engine, exc.result


def _batch_counts(engine, batch_id: int) -> tuple[int, int, str]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        facts = session.execute(select(func.count()).select_from(FactRow).where(FactRow.batch_id == batch_id))
        rejects = session.execute(select(func.count()).select_from(Reject).where(Reject.batch_id == batch_id))
        status = session.execute(select(IngestBatch.status).where(IngestBatch.id == batch_id)).scalar_one()
        return facts.scalar_one(), rejects.scalar_one(), status


@FUZZ
@given(data=st.data())
def test_csv_good_rows_load_and_every_bad_row_is_rejected_by_line(data: st.DataObject) -> None:
    kinds = data.draw(st.lists(st.sampled_from(["good", *BAD_ROWS]), min_size=1, max_size=25))
    lines, bad_lines = [HEADER], {}
    for number, what in enumerate(kinds):
        line_number = len("\n".join(lines).split("\n")) + 1
        if what == "good":
            lines.append(data.draw(good_row(number)))
        else:
            lines.append(BAD_ROWS[what](number))
            bad_lines[line_number] = what
    with TemporaryDirectory() as folder:
        path = Path(folder) / "coaching_session.csv"
        path.write_bytes(b"\r\n".join(_encode(line) for line in lines) + b"\r\n")
        engine, result = _load(path, f"sqlite:///{folder}/fuzz.db")
        assert {r.line for r in result.rejects} == set(bad_lines)
        assert all(r.reason for r in result.rejects)
        good = kinds.count("good")
        assert (result.read, result.loaded, result.rejected) == (len(kinds), good, len(bad_lines))
        assert _batch_counts(engine, result.batch_id) == (good, len(bad_lines), "loaded")
        engine.dispose()


@FUZZ
@given(blob=st.binary(max_size=3000), extra=st.lists(st.sampled_from(['"', ",", "\n", "\r", "\x00", "é"]), max_size=40))
def test_arbitrary_bytes_never_crash_and_nothing_is_half_loaded(blob: bytes, extra: list[str]) -> None:
    with TemporaryDirectory() as folder:
        path = Path(folder) / "coaching_session.csv"
        body = blob + "".join(extra).encode()
        path.write_bytes(_encode(HEADER) + b"\n" + body)
        engine = open_database(f"sqlite:///{folder}/fuzz.db")
        with Session(engine) as session:
            try:
                result = ingest_file(session, path, max_reject_rate=0.0, jobs=1)
            except RejectRateError as exc:
                result = exc.result
        facts, rejects, status = _batch_counts(engine, result.batch_id)
        assert rejects == result.rejected
        if result.rejected:  # all or nothing: one bad record refuses the whole file at a 0 % limit
            assert (facts, status) == (0, "refused")
        else:
            assert (facts, status) == (result.loaded, "loaded")
            assert result.read == result.loaded + result.unchanged
        engine.dispose()


JSON_BAD = {
    "not json": lambda n: "{nope",
    "not an object": lambda n: "[1, 2, 3]",
    "wrong type": lambda n: json.dumps({"kind": "coaching_session", "id": f"S{n}", "manager_id": 5}),
    "unknown kind": lambda n: json.dumps({"kind": "séance", "id": f"S{n}"}),
    "deep nesting": lambda n: "[" * 100_000 + "]" * 100_000,
    "NUL escape": lambda n: json.dumps({"kind": "coaching_session", "id": f"S{n}\u0000", "manager_id": "M"}),
    "lone surrogate": lambda n: (
        '{"kind": "coaching_session", "id": "S\\ud800", "manager_id": "M1", "rep_id": "P1", '
        '"at": "2026-02-01T10:00:00", "plan_documented": true}'
    ),
    "huge": lambda n: json.dumps({"kind": "coaching_session", "id": "x" * 300_000}),
}


@FUZZ
@given(
    kinds=st.lists(st.sampled_from(["good", *JSON_BAD]), min_size=1, max_size=20),
    manager=st.one_of(plain_text, formula),
)
def test_jsonl_good_lines_load_and_every_bad_line_is_rejected(kinds: list[str], manager: str) -> None:
    lines, bad = [], set()
    for number, what in enumerate(kinds):
        if what == "good":
            fact = {"kind": "coaching_session", "id": f"S{number}", "manager_id": manager, "rep_id": "P1"}
            lines.append(json.dumps({**fact, "at": "2026-02-01T10:00:00", "plan_documented": True}))
        else:
            lines.append(JSON_BAD[what](number))
            bad.add(number + 1)
    with TemporaryDirectory() as folder:
        path = Path(folder) / "facts.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        engine = open_database(f"sqlite:///{folder}/fuzz.db")
        with Session(engine) as session:
            result = ingest_file(session, path, max_reject_rate=1.0, jobs=1)
        assert {r.line for r in result.rejects} == bad
        assert result.loaded == kinds.count("good")
        assert _batch_counts(engine, result.batch_id) == (kinds.count("good"), len(bad), "loaded")
        engine.dispose()


@FUZZ
@given(cut=st.integers(0, 2000), noise=st.text(max_size=20), where=st.integers(0, 2000))
def test_damaged_xes_is_loaded_whole_or_refused_whole(cut: int, noise: str, where: int) -> None:
    text = xes_text()
    damaged = text[:where] + noise + text[where:]
    damaged = damaged[: len(damaged) - cut]
    with TemporaryDirectory() as folder:
        path = Path(folder) / "log.xes"
        path.write_text(damaged, encoding="utf-8", errors="surrogateescape")
        engine = open_database(f"sqlite:///{folder}/fuzz.db")
        with Session(engine) as session:
            try:
                result = ingest_file(session, path, max_reject_rate=1.0, jobs=1)
            except SourceError:
                result = None
        with Session(engine) as session:
            batch = session.execute(select(IngestBatch)).scalar_one()
        facts, rejects, status = _batch_counts(engine, batch.id)
        if result is None:
            assert (facts, rejects, status) == (0, 1, "refused")
        else:
            assert (facts, rejects) == (result.loaded, result.rejected)
            assert result.read == result.loaded + result.rejected + result.unchanged
        engine.dispose()
