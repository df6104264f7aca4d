"""Database URL resolution and engine/session set-up."""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///auditor.db"
ENV_VAR = "AUDITOR_DATABASE_URL"


def database_url(explicit: str | None = None) -> str:
    """`--db` wins, then AUDITOR_DATABASE_URL, then a SQLite file in the working directory."""
    return explicit or os.environ.get(ENV_VAR) or DEFAULT_URL


def connect(url: str | None = None) -> Engine:
    """An engine on the database as it is (no migration)."""
    engine = create_engine(database_url(url), future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def private_database(engine: Engine) -> bool:
    """Whether the database lives in this process only (in-memory SQLite): no other process can open it."""
    if engine.dialect.name != "sqlite":
        return False
    path = engine.url.database
    return not path or path == ":memory:" or path.startswith("file::memory:")


def open_database(url: str | None = None) -> Engine:
    """Connect and bring the schema to the newest migration (a database already there is only read).

    Raises migrate.SchemaMismatchError for tables without migration history that are not revision 0001's.
    """
    from auditor.store.migrate import upgrade  # here, so `python -m auditor.store.migrate` runs it as __main__ only

    engine = connect(url)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")  # wait for another process's write (e.g. a first-use migration)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages (default 2 MiB): bulk ingest updates big indexes
    cursor.execute("PRAGMA temp_store=MEMORY")  # ingest's staging tables hold one block at a time
    _wal(cursor)
    cursor.close()


def _wal(cursor: Any) -> None:
    """Switch the database file to WAL (once; it persists). Switching ignores busy_timeout: when another
    process holds the file (e.g. switching it too, on first use), wait and try again for up to 30 s."""
    for _attempt in range(300):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.1)
    raise sqlite3.OperationalError("database is locked: could not switch it to WAL within 30 s")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to the engine."""
    return sessionmaker(engine, expire_on_commit=False)
