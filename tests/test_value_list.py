"""A column's membership in a long list bound as one parameter (store/value_list.py), on each database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.store import open_database
from auditor.store.models import IngestBatch
from auditor.store.value_list import among


def test_membership_in_more_values_than_bound_parameters_carry(db_url: str) -> None:
    engine = open_database(db_url)
    with Session(engine) as session, session.begin():
        session.add_all(
            IngestBatch(source=f"file-{n}", sha256="0" * 64, started_at=datetime(2026, 1, 1)) for n in range(10)
        )
    wanted = [f"file-{n}" for n in (1, 4, 9)] + [f"missing-{n}" for n in range(70_000)]  # PostgreSQL: 65,535 at most
    column = IngestBatch.source
    with Session(engine) as session:
        assert sorted(session.execute(select(column).where(among(session, column, wanted))).scalars()) == [
            "file-1",
            "file-4",
            "file-9",
        ]
        assert session.execute(select(column).where(among(session, column, []))).all() == []
        quoted = ['a"b', "it's", "file-2", "\\"]
        assert session.execute(select(column).where(among(session, column, quoted))).scalars().all() == ["file-2"]


def test_integer_values_and_two_lists_in_one_statement(db_url: str) -> None:
    engine = open_database(db_url)
    with Session(engine) as session, session.begin():
        session.add_all(
            IngestBatch(source=f"file-{n}", sha256="0" * 64, started_at=datetime(2026, 1, 1)) for n in range(10)
        )
    with Session(engine) as session:
        ids = sorted(session.execute(select(IngestBatch.id)).scalars())
        both = select(IngestBatch.id).where(
            among(session, IngestBatch.id, [ids[2], ids[5], ids[7], 10**9]),
            among(session, IngestBatch.source, ["file-5", "file-7", "file-8"]),
        )
        assert sorted(session.execute(both).scalars()) == [ids[5], ids[7]]
