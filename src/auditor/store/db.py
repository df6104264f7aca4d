"""Database URL resolution and engine/session set-up."""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from auditor.store.models import Base

DEFAULT_URL = "sqlite:///auditor.db"
ENV_VAR = "AUDITOR_DATABASE_URL"


def database_url(explicit: str | None = None) -> str:
    """`--db` wins, then AUDITOR_DATABASE_URL, then a SQLite file in the working directory."""
    return explicit or os.environ.get(ENV_VAR) or DEFAULT_URL


def open_database(url: str | None = None) -> Engine:
    """Connect to the database and create any missing tables."""
    engine = create_engine(database_url(url), future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    Base.metadata.create_all(engine)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to the engine."""
    return sessionmaker(engine, expire_on_commit=False)
