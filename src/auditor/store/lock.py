"""One writer of findings at a time per database: the sweep lock.

PostgreSQL: a session-level advisory lock on a dedicated connection. SQLite: an
exclusive `flock` on `<database file>.lock`. Both are released by the operating
system or the server when the holding process dies, so a killed sweep never
leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from auditor.store.db import private_database
from auditor.store.models import Sweep

ADVISORY_KEY = 0x61756469746F72  # "auditor"


class DatabaseBusyError(RuntimeError):
    """Another sweep holds the lock; nothing was changed."""


@contextmanager
def exclusive(engine: Engine, doing: str) -> Iterator[None]:
    """Hold the database's sweep lock while `doing`, or raise DatabaseBusyError at once."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, doing):
            yield
        return
    if private_database(engine):
        yield  # a private in-memory database cannot be shared
        return
    with _file_lock(engine, f"{engine.url.database}.lock", doing):
        yield


@contextmanager
def _advisory_lock(engine: Engine, doing: str) -> Iterator[None]:
    conn = engine.connect()
    try:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar()
        conn.commit()
        if not got:
            raise DatabaseBusyError(_busy_message(engine, doing))
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
            conn.commit()
    finally:
        conn.close()


@contextmanager
def _file_lock(engine: Engine, lock_path: str, doing: str) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseBusyError(_busy_message(engine, doing)) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _busy_message(engine: Engine, doing: str) -> str:
    """Name the running sweep when it can be read (a sweep records itself before it evaluates)."""
    running = ""
    try:
        with Session(engine) as session:
            sweep = session.execute(
                select(Sweep).where(Sweep.status == "running").order_by(Sweep.id.desc()).limit(1)
            ).scalar()
            if sweep is not None:
                who = f" by {sweep.actor}" if sweep.actor else ""
                started = sweep.started_at.isoformat(sep=" ", timespec="seconds")
                running = f" (sweep {sweep.id} as of {sweep.as_of}, started {started}{who})"
    except Exception:  # noqa: BLE001 - the message is best effort; the refusal is what matters
        pass
    return f"another sweep is running on this database{running}; cannot {doing} until it finishes. Nothing was changed."
