"""Temporary tables that hand one statement more values than bound parameters carry well."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Column, Index, MetaData, Table
from sqlalchemy.orm import Session

from auditor.store.bulk import insert_rows


@contextlib.contextmanager
def scratch_table(
    session: Session, name: str, columns: Sequence[Column[Any]], rows: list[dict[str, Any]], index: Sequence[str] = ()
) -> Iterator[Table]:
    """A temporary table of these columns holding the rows, in the session's transaction, for the statements of
    the `with` block; dropped after it. (When the block fails, the transaction's rollback drops it.)"""
    table = Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])
    if index:
        Index(f"{name}_lookup", *(table.c[column] for column in index))
    connection = session.connection()
    table.create(connection)
    insert_rows(session, table, rows)
    yield table
    table.drop(connection)
