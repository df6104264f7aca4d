"""The KPI records kept between sweeps (kpis/items.py), brought up to date, equal the records read anew."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import create_engine, delete, func, make_url, select
from sqlalchemy.orm import Session

from auditor.engine.kpi_job import KpiJob, shared_url
from auditor.kpis import KpiSettings, window_kpis
from auditor.kpis.items import DELTA_SHARE, RECORDS, Items, current_items, decode_records, read_items, stored_usable
from auditor.kpis.window import KpiWindow
from auditor.store import open_database
from auditor.store.models import FactRow, KpiItems, Sweep
from auditor.store.watermark import fact_watermark
from auditor.synth import generate

from .test_kpis import _ingest, _sweep


def _anew(engine, window: KpiWindow) -> Items:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return read_items(session, window, *fact_watermark(session))


def _current(engine, window: KpiWindow) -> Items:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return current_items(session, window, *fact_watermark(session))


def _stored_max(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.execute(select(KpiItems.max_fact_id)).scalar_one()


def test_stored_records_brought_up_to_date_equal_the_records_read_anew(tmp_path: Path, db_url: str) -> None:
    org = generate(tmp_path / "org", seed=2, reps=4, months=3)
    engine = open_database(db_url)
    _ingest(engine, sorted(org.files))
    _sweep(engine, org.as_of, org.since)  # stores the records (a full sweep)
    with Session(engine) as session:
        sweep = session.execute(select(Sweep).order_by(Sweep.id.desc())).scalars().first()
        window = KpiWindow.of_sweep(sweep)
        rows = {
            kind: [
                p
                for (p,) in session.execute(
                    select(FactRow.payload).where(FactRow.kind == kind, FactRow.current.is_(True)).order_by(FactRow.id)
                )
            ]
            for kind in RECORDS
        }
    assert _current(engine, window).records == _anew(engine, window).records
    request, stage, late, twice = (
        rows["material_request"][0],
        rows["opportunity_stage"][0],
        rows["material_request"][1],
        rows["presales_request"][0],
    )
    after_end = (window.end + timedelta(days=3)).isoformat()
    changes = [
        dict(request, quantity=request["quantity"] + 5),  # a new version in the window
        dict(late, requested_at=after_end),  # moved out of the window: its record goes
        dict(stage, owner_id=stage["owner_id"] + "-x"),  # a new owner
        dict(twice, topic="first"),  # corrected twice in one file: the first new row is superseded
        dict(twice, topic="second"),
        dict(rows["mystery_shop"][0], id="MS-NEW-1"),  # a new fact
    ]
    path = tmp_path / "changes.jsonl"
    path.write_text("".join(json.dumps(change) + "\n" for change in changes), encoding="utf-8")
    _ingest(engine, [path])
    updated, anew = _current(engine, window), _anew(engine, window)
    assert updated.records == anew.records
    assert updated.max_fact_id > _stored_max(engine)
    assert late["id"] not in updated.records["material_request"]
    assert updated.records["material_request"][request["id"]].quantity == request["quantity"] + 5
    # Fact rows deleted since (fewer rows up to the stored id): the records are read again.
    with Session(engine) as session, session.begin():
        gone = session.execute(select(func.min(FactRow.id)).where(FactRow.kind == "mystery_shop")).scalar_one()
        session.execute(delete(FactRow).where(FactRow.id == gone))
    assert _current(engine, window).records == _anew(engine, window).records
    engine.dispose()


def _swept(tmp_path: Path, db_url: str, seed: int) -> tuple[Any, Any, KpiWindow]:
    """A small organisation ingested and swept once (storing its KPI records): it, the database, the window."""
    org = generate(tmp_path / "org", seed=seed, reps=3, months=2)
    engine = open_database(db_url)
    _ingest(engine, sorted(org.files))
    _sweep(engine, org.as_of, org.since)
    with Session(engine) as session:
        window = KpiWindow.of_sweep(session.execute(select(Sweep).order_by(Sweep.id.desc())).scalars().first())
    return org, engine, window


def test_the_kpi_process_gives_what_the_sweeping_process_works_out(tmp_path: Path, db_url: str) -> None:
    """The KPI process (engine/kpi_job.py) hands back the records, encoded, and the KPIs of the window: equal
    to what the sweeping process works out itself. Uncompressed records (an earlier format) are refused."""
    org, engine, window = _swept(tmp_path, db_url, seed=6)
    with Session(engine) as session:
        seen = fact_watermark(session)
        assert stored_usable(session, window, seen)
    settings = KpiSettings(mystery_threshold=60.0, holidays=frozenset({org.as_of}))
    with KpiJob(engine, window, *seen, settings) as job:
        items, kpis = job.result()
    here = _current(engine, window)
    assert items.records == {}  # handed back encoded only
    assert (items.max_fact_id, items.fact_rows) == seen
    assert decode_records(items.encoded()) == here.records
    assert kpis == window_kpis(engine, window, items=here, **settings.as_kwargs())
    assert kpis["mystery_shopping"]["threshold"] == 60.0
    plain = msgspec.msgpack.encode({kind: msgspec.msgpack.encode(r) for kind, r in here.records.items()})
    with pytest.raises(ValueError, match="earlier format"):  # uncompressed: FORMAT 1, never decoded
        decode_records(plain)
    engine.dispose()


def test_an_in_memory_database_is_swept_again_without_a_kpi_process(tmp_path: Path) -> None:
    """No other process can open a private in-memory database: its re-sweep works the KPIs out itself."""
    org = generate(tmp_path / "org", seed=3, reps=2, months=2)
    engine = open_database("sqlite://")
    _ingest(engine, sorted(org.files))
    first = _sweep(engine, org.as_of, org.since)
    again = _sweep(engine, org.as_of, org.since)  # incremental: the stored records are usable
    with Session(engine) as session:
        kpis = [session.get_one(Sweep, s.sweep_id).kpis for s in (first, again)]
    assert {k: v for k, v in kpis[0].items() if k not in ("sweep_id", "basis")} == {
        k: v for k, v in kpis[1].items() if k not in ("sweep_id", "basis")
    }
    assert again.partitions["rules_in_full"] == 0
    engine.dispose()


def test_the_kpi_process_opens_the_same_database_wherever_it_runs(tmp_path: Path, monkeypatch: Any) -> None:
    """A relative SQLite path is made absolute for the KPI process; passwords and other URLs go as they are."""
    monkeypatch.chdir(tmp_path)
    relative = make_url(shared_url(create_engine("sqlite:///auditor.db")))
    assert relative.database == str(tmp_path / "auditor.db")
    for url in ("sqlite:////tmp/my dir/a b.db", "sqlite:///file:a.db?uri=true", "postgresql+psycopg://u:p%40ss@h/d"):
        assert make_url(shared_url(create_engine(url))) == make_url(url)


def test_the_kpis_do_not_depend_on_the_order_of_the_records(tmp_path: Path) -> None:
    """Stored records come back in another order than the facts' load order (and reversed here): every KPI is
    the same, and equals the KPIs of the facts read one by one."""
    org = generate(tmp_path / "org", seed=4, reps=4, months=3)
    engine = open_database(f"sqlite:///{tmp_path / 'order.db'}")
    _ingest(engine, sorted(org.files))
    sweep = _sweep(engine, org.as_of, org.since)
    with Session(engine) as session:
        window = KpiWindow.of_sweep(session.get_one(Sweep, sweep.sweep_id))
    items = _anew(engine, window)
    assert all(len(items.records[kind]) > 1 for kind in RECORDS)
    backwards = Items({kind: dict(reversed(r.items())) for kind, r in items.records.items()}, 0, 0)
    assert [next(iter(r)) for r in backwards.records.values()] != [next(iter(r)) for r in items.records.values()]
    in_order = window_kpis(engine, window)
    assert window_kpis(engine, window, items=items) == in_order
    assert window_kpis(engine, window, items=backwards) == in_order
    engine.dispose()


def _blob(engine) -> bytes:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.execute(select(KpiItems.records)).scalar_one()


def _stored(engine) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def]
    """The records stored in full and the changes since, as stored."""
    return msgspec.msgpack.decode(_blob(engine), type=tuple[bytes, bytes])


def test_a_re_sweep_stores_the_changes_beside_the_records_as_read(tmp_path: Path, db_url: str) -> None:
    """A re-sweep writes the records stored in full back as it read them, with the changes since; with more
    changes than DELTA_SHARE of the records, the records are stored in full again."""
    org, engine, window = _swept(tmp_path, db_url, seed=4)
    with Session(engine) as session:
        request = session.execute(
            select(FactRow.payload).where(FactRow.kind == "material_request", FactRow.current.is_(True)).limit(1)
        ).scalar_one()
    full, _ = _stored(engine)
    assert decode_records(_blob(engine)) == _anew(engine, window).records
    path = tmp_path / "changes.jsonl"
    path.write_text(json.dumps(dict(request, quantity=request["quantity"] + 5)) + "\n", encoding="utf-8")
    _ingest(engine, [path])
    _sweep(engine, org.as_of, org.since)
    again, changes = _stored(engine)
    assert again == full  # as read, not encoded again
    blob = msgspec.msgpack.encode((again, changes))
    assert decode_records(blob) == _anew(engine, window).records
    assert decode_records(blob)["material_request"][request["id"]].quantity == request["quantity"] + 5
    items = _current(engine, window)
    assert items.full == full and set(items.changes) == {"material_request"}
    records = sum(map(len, items.records.values()))
    items.changes = {"mystery_shop": {f"gone-{n}": None for n in range(int(records * DELTA_SHARE) + 1)}}
    rewritten, none = msgspec.msgpack.decode(items.encoded(), type=tuple[bytes, bytes])
    assert rewritten != full and decode_records(items.encoded()) == items.records
    assert decode_records(msgspec.msgpack.encode((rewritten, none))) == items.records
    engine.dispose()
