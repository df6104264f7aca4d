"""Statements run in a second thread inside the session's transaction (store/background.py)."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from auditor.store.background import in_background
from auditor.store.db import connect


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = connect(f"sqlite:///{tmp_path / 'background.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE numbers (n INTEGER)"))
    return engine


def _insert(session: Session, *values: int) -> str:
    for value in values:
        session.execute(text("INSERT INTO numbers (n) VALUES (:n)"), {"n": value})
    return threading.current_thread().name


def _stored(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return [n for (n,) in connection.execute(text("SELECT n FROM numbers ORDER BY n"))]


def test_the_work_runs_in_another_thread_in_the_same_transaction(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        with in_background(session, _insert, 1, 2) as work:
            here = sum(range(100_000))  # the sweep's Python work meanwhile
        assert here == 4_999_950_000
        assert work.result() != threading.current_thread().name
        session.execute(text("INSERT INTO numbers (n) VALUES (3)"))
    assert _stored(engine) == [1, 2, 3]


def test_a_rollback_undoes_the_work(engine: Engine) -> None:
    failing = pytest.raises(RuntimeError, match="the block failed")
    with failing, Session(engine) as session, session.begin(), in_background(session, _insert, 1):
        raise RuntimeError("the block failed")  # waits for the thread, then rolls its insert back
    assert _stored(engine) == []


def _fail(session: Session) -> None:
    session.execute(text("INSERT INTO numbers (n) VALUES (1)"))
    raise ValueError("the statement failed")


def test_the_work_s_error_is_raised_when_the_block_ends(engine: Engine) -> None:
    reached = False
    failing = pytest.raises(ValueError, match="the statement failed")
    with failing, Session(engine) as session, session.begin(), in_background(session, _fail):
        reached = True
    assert reached
    assert _stored(engine) == []


def test_an_in_memory_database_does_the_work_after_the_block_in_this_thread() -> None:
    engine = connect("sqlite://")
    with Session(engine) as session, session.begin():
        session.execute(text("CREATE TABLE numbers (n INTEGER)"))
        with in_background(session, _insert, 7) as work:
            assert not work.done()
        assert work.result() == threading.current_thread().name
        assert session.execute(text("SELECT n FROM numbers")).scalars().all() == [7]


def _insert_when_handed(session: Session, handed: Future[list[int] | None]) -> None:
    values = handed.result(timeout=10)  # the block hands them over: never waits that long
    if values is not None:
        _insert(session, *values)


@pytest.mark.parametrize("url", ["file", "sqlite://"])
def test_the_work_may_wait_for_what_the_block_hands_over(url: str, tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'handed.db'}" if url == "file" else url)
    with Session(engine) as session, session.begin():
        session.execute(text("CREATE TABLE IF NOT EXISTS numbers (n INTEGER)"))
        handed: Future[list[int] | None] = Future()
        with in_background(session, _insert_when_handed, handed) as work:
            handed.set_result([3, 4])  # picked by the block while the work waits
        assert work.done()
        assert session.execute(text("SELECT n FROM numbers ORDER BY n")).scalars().all() == [3, 4]
