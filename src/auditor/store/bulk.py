"""Inserting many rows at once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

INSERT_BATCH = 5000  # rows per executemany


def insert_rows(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows of a model (or a table) through its table (Core executemany, in batches): the ORM's bulk path
    costs more per row than the rows themselves."""
    table = getattr(model, "__table__", model)
    connection = session.connection()
    for start in range(0, len(rows), INSERT_BATCH):
        connection.execute(insert(table), rows[start : start + INSERT_BATCH])
