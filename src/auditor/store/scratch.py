"""Temporary tables that hand one statement more values than bound parameters carry well."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Column, Index, MetaData, Table, text
from sqlalchemy.orm import Session


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
    fill(session, table, rows)
    yield table
    table.drop(connection)


def fill(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows of JSON values (strings, numbers, None) into a table in one statement, the rows bound as one
    JSON document: one parameter and one step of the database, not one per row. (A statement run from a second
    thread while this one computes waits for the interpreter lock once, not between every two rows: 2,962 rows
    took 0.1 s one by one there.)"""
    if not rows:
        return
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    names = [column.name for column in table.columns]
    document = json.dumps([[row.get(name) for name in names] for row in rows])
    if dialect.name == "postgresql":
        values = [
            f"CAST(value ->> {i} AS {column.type.compile(dialect=dialect)})" for i, column in enumerate(table.columns)
        ]
        source = "jsonb_array_elements(CAST(:rows AS jsonb))"
    else:
        values = [f"json_extract(value, '$[{i}]')" for i in range(len(names))]
        source = "json_each(:rows)"
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, names))}) SELECT {', '.join(values)} FROM {source}"
    )
    session.connection().execute(text(statement), {"rows": document})
