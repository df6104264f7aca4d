"""`auditor status`: the last sweep, open and overdue findings, expiring waivers, database and rules versions.

Reads only: the database is neither created nor migrated, and the URL is shown with its password masked.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from auditor.findings.lifecycle import ACTIVE
from auditor.findings.query import NoSweepError, list_findings
from auditor.report.sections import WAIVER_HORIZON_DAYS, waivers_expiring
from auditor.rulebook import SEVERITY_ORDER, Rulebook
from auditor.store.db import connect, database_url
from auditor.store.migrate import current_revision, head_revision
from auditor.store.models import Sweep

SEVERITIES = tuple(sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.__getitem__))


def masked_url(url: str) -> str:
    """The database URL with any password replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)


@dataclass
class Status:
    """Everything `auditor status` shows (JSON-ready through `as_dict`)."""

    today: str
    database: str
    revision: str | None
    head: str
    rules: dict[str, Any]
    last_sweep: dict[str, Any] | None = None
    last_complete_sweep: dict[str, Any] | None = None
    open_by_severity: dict[str, dict[str, int]] = field(default_factory=dict)
    overdue_by_severity: dict[str, int] = field(default_factory=dict)
    waivers_expiring: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def open_total(self) -> int:
        return sum(sum(by_status.values()) for by_status in self.open_by_severity.values())

    @property
    def overdue_total(self) -> int:
        return sum(self.overdue_by_severity.values())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "open_total": self.open_total, "overdue_total": self.overdue_total}


def collect_status(url: str | None, book: Rulebook, today: date, rules_paths: list[Path] | None = None) -> Status:
    """The status of the database at `url` (resolved like every command's --db) for the rules in `book`."""
    resolved = database_url(url)
    rules = {
        "count": len(book.rules),
        "problems": len(book.problems),
        "digest": book.digest,
        "paths": [str(p) for p in rules_paths or []],
        "policy": book.policy.source,
        "timezone": book.policy.timezone,
    }
    status = Status(today.isoformat(), masked_url(resolved), None, head_revision(), rules)
    if _missing_sqlite_file(resolved):
        status.notes.append("no database file yet: run `auditor ingest` or `auditor db upgrade`")
        return status
    engine = connect(url)
    try:
        status.revision = current_revision(engine)
        if status.revision != status.head:
            status.notes.append("the database is not at the newest revision: run `auditor db upgrade`")
            return status
        _fill(status, engine, book, today)
    finally:
        engine.dispose()
    return status


def _fill(status: Status, engine: Engine, book: Rulebook, today: date) -> None:
    with Session(engine) as session:
        last = session.execute(select(Sweep).order_by(Sweep.id.desc()).limit(1)).scalar()
        complete = session.execute(
            select(Sweep).where(Sweep.status == "complete").order_by(Sweep.id.desc()).limit(1)
        ).scalar()
        status.last_sweep = _sweep(last) if last else None
        status.last_complete_sweep = _sweep(complete) if complete else None
        status.waivers_expiring = waivers_expiring(session, today, WAIVER_HORIZON_DAYS)
    if complete is None:
        status.notes.append("no complete sweep yet")
        return
    last_digest = complete.rules_digest
    status.rules["last_sweep_digest"] = last_digest
    status.rules["changed_since_last_sweep"] = bool(last_digest) and last_digest != book.digest
    try:
        _, findings = list_findings(engine, tracked=True, today=today)
    except NoSweepError:
        return
    active = [f for f in findings if f["status"] in ACTIVE]
    counts = Counter((f["severity"], f["status"]) for f in active)
    status.open_by_severity = {
        sev: {st: counts[(sev, st)] for st in sorted(ACTIVE, reverse=True)} for sev in SEVERITIES
    }
    overdue = Counter(f["severity"] for f in active if f["overdue"])
    status.overdue_by_severity = {sev: overdue[sev] for sev in SEVERITIES}


def _sweep(row: Sweep) -> dict[str, Any]:
    return {
        "id": row.id,
        "as_of": row.as_of.isoformat(),
        "since": row.since.isoformat() if row.since else None,
        "status": row.status,
        "started_at": row.started_at.isoformat(sep=" ", timespec="seconds"),
        "finished_at": row.finished_at.isoformat(sep=" ", timespec="seconds") if row.finished_at else None,
        "findings": row.findings_count,
        "engine_errors": row.engine_errors_count,
        "actor": row.actor,
        "rules_digest": row.rules_digest,
    }


def _missing_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    path = parsed.database if parsed.get_backend_name() == "sqlite" else None
    return bool(path) and path != ":memory:" and not path.startswith("file:") and not Path(path).exists()
