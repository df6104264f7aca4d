"""The KPIs of a sweep's window, worked out in a process of their own while the sweep plans.

An incremental sweep brings the stored KPI records up to date and computes the KPIs from them (kpis/items.py):
a second or so of work that needs nothing from the sweep but its window and the fact rows it sees. The sweeping
process plans meanwhile, on one core, so a process of the workers' fork server does it on the other one; it
hands back the KPIs of the window's facts, then encodes the records for storing while the sweep stores its
findings (the second core is idle then; encoding them before handing back the KPIs ran into the evaluation).
A sweep that loads every fact (`--full`), or finds no stored records it can bring up to date, works its KPIs
out itself afterwards.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from auditor.engine.runner import without_main, worker_context
from auditor.findings.query import gc_paused
from auditor.kpis import KpiSettings, window_kpis
from auditor.kpis.items import Items, current_items
from auditor.kpis.window import KpiWindow
from auditor.store.db import connect

Outcome = tuple[Items, dict[str, Any]]
"""The KPI records of the window's facts (only encoded, when they come from the KPI process) and their KPIs."""


class KpiJob:
    """The KPI process of one sweep (a context manager: the process ends with it).

    The process is started from a thread: starting it waits for the fork server, which may still be importing
    the engine (a third of a second) when the sweep begins; the sweep plans meanwhile.
    """

    def __init__(self, engine: Engine, window: KpiWindow, max_fact_id: int, rows: int, settings: KpiSettings) -> None:
        """Start working out the KPIs of the window's facts up to row `max_fact_id` (`rows` rows)."""
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=worker_context())
        url = shared_url(engine)
        arguments = (records_and_kpis, url, window, max_fact_id, rows, settings.as_kwargs())
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kpi-job")
        self._submitted = self._starter.submit(self._start, *arguments)

    def _start(self, *arguments: Any) -> Future[Any]:
        with without_main():  # the pool starts its process on the first task
            return self._pool.submit(*arguments)

    def result(self) -> Outcome:
        """The records and the KPIs (waiting for the KPIs if need be). The process encodes the records for
        storing only now, while the sweep stores its findings: `encoded()` of the records waits for that."""
        (max_fact_id, fact_rows), kpis = self._submitted.result().result()
        return _Encoding(max_fact_id, fact_rows, self._pool.submit(encoded_records)), kpis

    def __enter__(self) -> KpiJob:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        """End the process: after the work handed to it when all went well (records read later still decode),
        at once otherwise."""
        self._starter.shutdown(wait=True)
        self._pool.shutdown(wait=True, cancel_futures=kind is not None)


def shared_url(engine: Engine) -> str:
    """The engine's URL for another process: with its password, and a SQLite file's path made absolute."""
    url = engine.url
    database = url.database or ""
    if (
        engine.dialect.name == "sqlite"
        and database
        and not database.startswith("file:")
        and not os.path.isabs(database)
    ):
        url = url.set(database=os.path.abspath(database))
    return url.render_as_string(hide_password=False)


class _Encoding(Items):
    """The records of the KPI process: encoded there, and handed over once that is done (only encoded: a
    fraction of the objects to hand over)."""

    def __init__(self, max_fact_id: int, fact_rows: int, encoding: Future[bytes]) -> None:
        super().__init__({}, max_fact_id, fact_rows)
        self._encoding = encoding

    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = self._encoding.result()
        return self._encoded


_KEPT: Items | None = None
"""In the KPI process: the records between working out the KPIs and encoding them (the pool has one process)."""


@gc_paused()  # half a million records, long-lived: the collector would rescan them again and again
def records_and_kpis(
    url: str, window: KpiWindow, max_fact_id: int, rows: int, options: dict[str, Any]
) -> tuple[tuple[int, int], dict[str, Any]]:
    """In the KPI process: the stored records brought up to the fact rows (kept for `encoded_records`), the fact
    rows they cover and the KPIs they give."""
    global _KEPT
    engine = connect(url)
    try:
        with Session(engine) as session:
            items = current_items(session, window, max_fact_id, rows)
        kpis = window_kpis(engine, window, items=items, **options)
    finally:
        engine.dispose()
    _KEPT = items
    return (items.max_fact_id, items.fact_rows), kpis


@gc_paused()
def encoded_records() -> bytes:
    """In the KPI process: the records `records_and_kpis` brought up to date, encoded for storing."""
    global _KEPT
    items, _KEPT = _KEPT, None
    if items is None:
        raise RuntimeError("the KPI process holds no records: records_and_kpis ran elsewhere or failed")
    return items.encoded()
