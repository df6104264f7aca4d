"""SQLAlchemy tables: facts (versioned), ingest batches, rejects, sweeps, findings, their events and waivers.

Findings, the links to them, finding events and waivers are append-only: the database refuses an UPDATE or
DELETE on them (triggers on SQLite and PostgreSQL, see append_only.py). A sweep's findings are its own rows and
the rows of earlier sweeps it links (`SweepFinding` reads both).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Subquery,
    Text,
    UniqueConstraint,
    select,
    union_all,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every table."""


class IngestBatch(Base):
    """One file loaded by `auditor ingest`, with its counts."""

    __tablename__ = "ingest_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str | None] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    loaded: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="loaded", server_default="loaded")


def _bytewise(length: int) -> String:
    """Text compared byte by byte: COLLATE "C" on PostgreSQL (SQLite's BINARY already is)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")  # type: ignore[return-value]


class FactRow(Base):
    """One version of one fact; exactly one version per natural id is current."""

    __tablename__ = "facts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(_bytewise(40))
    natural_id: Mapped[str] = mapped_column(_bytewise(500))
    version: Mapped[int] = mapped_column(Integer, default=1)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    content_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    batch_id: Mapped[int] = mapped_column(Integer)  # an ingest_batches.id; not a declared foreign key (0005)

    __table_args__ = (Index("ix_facts_identity", "kind", "natural_id", "version", unique=True),)


class Reject(Base):
    """A row that failed validation: where it was, what it said, and why."""

    __tablename__ = "rejects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batches.id"), index=True)
    source: Mapped[str] = mapped_column(Text)
    line: Mapped[int] = mapped_column(Integer)
    raw: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)


class Sweep(Base):
    """One evaluation of the rulebook as of a date: running, then complete or failed."""

    __tablename__ = "sweeps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    since: Mapped[date | None] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(20), default="running")
    rules_digest: Mapped[str] = mapped_column(String(64), default="")
    facts_evaluated: Mapped[int] = mapped_column(Integer, default=0)
    findings_count: Mapped[int] = mapped_column(Integer, default=0)
    engine_errors_count: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(200), default="")
    failure: Mapped[str] = mapped_column(Text, default="")
    kpis: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class FindingRow(Base):
    """A deviation found by one rule in one sweep, as it stood at the end of that sweep (never changed)."""

    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"), index=True)
    finding_key: Mapped[str] = mapped_column(String(700), index=True)
    rule_id: Mapped[str] = mapped_column(String(80))
    area: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(400))
    occurrence: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text)
    remediation: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list[int]] = mapped_column(JSON, default=list)
    appearance: Mapped[str] = mapped_column(String(20), default="new")
    status: Mapped[str] = mapped_column(String(20), default="open")
    first_seen_sweep: Mapped[int] = mapped_column(Integer, default=0)
    age: Mapped[int] = mapped_column(Integer, default=1)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    person_id: Mapped[str] = mapped_column(String(200), default="")
    region: Mapped[str] = mapped_column(String(200), default="")
    branch: Mapped[str] = mapped_column(String(200), default="")
    manager_id: Mapped[str] = mapped_column(String(200), default="")

    __table_args__ = (UniqueConstraint("sweep_id", "finding_key", name="uq_findings_sweep_key"),)


class FindingLink(Base):
    """A finding of a sweep stored as an earlier sweep's row (a re-sweep's findings that stand as they were): the
    row as it is but for its sweep and its appearance in it (recurring or suppressed). Always the stored row itself,
    never a link: links do not chain."""

    __tablename__ = "finding_links"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLite: the primary key is the table (one B-tree less)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"), primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), primary_key=True, index=True)
    appearance: Mapped[str] = mapped_column(String(20))


def _sweep_findings() -> Subquery:
    """Every sweep's findings: its own rows, and the rows it links with the link's sweep and appearance."""
    rows, links = FindingRow.__table__, FindingLink.__table__
    swapped = {"sweep_id": links.c.sweep_id, "appearance": links.c.appearance}
    linked = select(*(swapped.get(c.name, c) for c in rows.columns)).join_from(
        links, rows, rows.c.id == links.c.finding_id
    )
    return union_all(select(*rows.columns), linked).subquery("sweep_findings")


class SweepFinding(Base):
    """A finding as a sweep holds it (`FindingRow`'s columns; `id` is the stored row's, shared by the sweeps that
    link it): what every reader of a sweep's findings reads. Read-only; sweeps write `FindingRow` and
    `FindingLink`."""

    __table__ = _sweep_findings()
    __mapper_args__ = {"primary_key": [__table__.c.sweep_id, __table__.c.id]}  # noqa: RUF012


class FindingEvent(Base):
    """One change of a tracked finding (append-only): who, when, from, to, why."""

    __tablename__ = "finding_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_key: Mapped[str] = mapped_column(String(700), index=True)
    sweep_id: Mapped[int | None] = mapped_column(ForeignKey("sweeps.id"), nullable=True, index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WaiverRow(Base):
    """A waiver of one finding or of every finding matching a rule, subject and branch pattern (append-only)."""

    __tablename__ = "waivers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_key: Mapped[str | None] = mapped_column(String(700), nullable=True)
    rule_pattern: Mapped[str] = mapped_column(String(200), default="*")
    subject_pattern: Mapped[str] = mapped_column(String(400), default="*")
    branch: Mapped[str | None] = mapped_column(String(200), nullable=True)
    until: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    approver: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class RuleCheck(Base):
    """How many subjects or occurrences a rule judged in a sweep, and how many failed."""

    __tablename__ = "rule_checks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(80))
    area: Mapped[str] = mapped_column(String(80))
    checked: Mapped[int] = mapped_column(Integer)
    violations: Mapped[int] = mapped_column(Integer)


class CadenceResult(Base):
    """One member and period a cadence rule judged in a sweep, whether it was met, and the manager accountable."""

    __tablename__ = "cadence_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(80))
    area: Mapped[str] = mapped_column(String(80))
    subject: Mapped[str] = mapped_column(String(400))
    period: Mapped[str] = mapped_column(String(40))
    period_start: Mapped[date] = mapped_column(Date)
    met: Mapped[bool] = mapped_column(Boolean)
    manager_id: Mapped[str] = mapped_column(String(200), default="")


class EngineError(Base):
    """A partition the engine could not evaluate; the sweep reports it, never drops it."""

    __tablename__ = "engine_errors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(80))
    subjects: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(Text)


class RuleState(Base):
    """What the last complete sweep knew of one rule's partitions, for the next sweep to carry over (incremental).

    `fingerprint` covers the rule's definition, the sweep window and the engine's cache format; `max_fact_id`
    and `fact_counts` (current facts per kind) describe the facts as that sweep saw them; `partitions` is a
    compressed JSON document: per partition key, the member fact row ids, the occurrences judged and the
    findings (engine/incremental.py).
    """

    __tablename__ = "rule_states"
    rule_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"))
    max_fact_id: Mapped[int] = mapped_column(Integer)
    fact_counts: Mapped[dict[str, int]] = mapped_column(JSON)
    partitions: Mapped[bytes] = mapped_column(LargeBinary)


class KpiItems(Base):
    """The fields the KPIs read of every current fact in the last sweep's window, for the next sweep (one row).

    `records` holds them per kind (MessagePack, kpis/items.py); `max_fact_id` and `fact_rows` describe the facts they
    cover; `fingerprint` their format and window.
    """

    __tablename__ = "kpi_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"))
    max_fact_id: Mapped[int] = mapped_column(Integer)
    fact_rows: Mapped[int] = mapped_column(Integer)
    records: Mapped[bytes] = mapped_column(LargeBinary)


from auditor.store.append_only import protect  # noqa: E402 - needs the tables above

protect(FindingRow.__table__, FindingLink.__table__, FindingEvent.__table__, WaiverRow.__table__)
