"""Statements that run in a second thread while this one works on in Python.

A sweep stores everything in one transaction, so its statements cannot be spread over connections; but while
the database executes one (SQLite and psycopg release the GIL meanwhile), the sweeping thread can do work that
needs no database, on the other core. `in_background` hands the session to a second thread for a `with` block:
the block must not use the session, and its end waits for the thread.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from auditor.store.db import private_database

SWITCH_INTERVAL = 0.0002
"""Seconds the thread waits at most for the GIL between its statements while the block computes (Python's default,
5 ms, made the cadence copy of a sweep at 1M facts take twice as long)."""


@contextlib.contextmanager
def in_background(session: Session, work: Callable[..., Any], *args: Any) -> Iterator[Future[Any]]:
    """Run `work(session, *args)` in a second thread during the `with` block; the block's end waits for it and
    raises what it raised (an error of the block itself wins, after the thread is done with the session). The
    work may wait for what the block hands over (a `Future` among `args` that the block resolves, come what may).

    The session's transaction is begun here first, so that both threads work in it. A database only this process
    can open (in-memory SQLite) does the work after the block, in this thread: its connection belongs to this
    thread.
    """
    session.connection()  # the transaction's connection, taken before the thread uses it
    if private_database(session.get_bind()):  # type: ignore[arg-type]
        later: Future[Any] = Future()
        yield later
        later.set_result(work(session, *args))
        return
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="background-sql") as pool:  # leaving waits for it
            future = pool.submit(work, session, *args)
            yield future
    finally:
        sys.setswitchinterval(interval)
    future.result()
