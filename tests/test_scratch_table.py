"""Temporary tables filled from one JSON document (store/scratch.py), on each database."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, select
from sqlalchemy.orm import Session

from auditor.store import open_database
from auditor.store.scratch import scratch_table


def test_a_scratch_table_holds_every_row_as_given(db_url: str) -> None:
    engine = open_database(db_url)
    columns = [Column("rule_id", String(80)), Column("subject", String(400)), Column("period", String(40))]
    odd = ['a"b', "it's", "\\", "ünïcode ✓", "", "[1, 2]", "null"]
    rows = [
        {"rule_id": f"R-{n % 7}", "subject": f"S-{n}", "period": None if n % 3 else f"2026-W{n % 52:02}"}
        for n in range(70_000)
    ]  # more than PostgreSQL's 65,535 bound parameters
    rows += [{"rule_id": "ODD", "subject": text, "period": text} for text in odd]
    with Session(engine) as session, session.begin():
        with scratch_table(session, "left_out", columns, rows, index=("rule_id", "subject")) as table:
            stored = session.execute(select(table.c.rule_id, table.c.subject, table.c.period)).all()
            assert sorted(stored, key=repr) == sorted(
                ((r["rule_id"], r["subject"], r["period"]) for r in rows), key=repr
            )
            assert session.execute(select(table.c.period).where(table.c.subject == "S-1")).scalar_one() is None
        with scratch_table(session, "no_rows", [Column("n", Integer)], []) as empty:
            assert session.execute(select(empty.c.n)).all() == []
        with scratch_table(session, "numbers", [Column("n", Integer)], [{"n": 3}, {"n": -1}]) as numbers:
            assert sorted(session.execute(select(numbers.c.n)).scalars()) == [-1, 3]
    engine.dispose()
