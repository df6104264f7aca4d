"""`auditor run`: the one command a scheduler calls. Sweep, write the HTML report, send the owner digests.

Needs no terminal and no standard input; everything comes from options, the environment and auditor.toml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from auditor.engine.sweep import SweepSummary, run_sweep
from auditor.findings.query import get_sweep
from auditor.kpis import settings_from_rules
from auditor.ops.digests import Digest, SweepInfo, collect_digests, compose
from auditor.ops.exit_status import appeared, exit_status
from auditor.ops.mailer import Delivery, MailError, send_messages, write_messages
from auditor.ops.settings import Settings
from auditor.report import ReportOptions, write_report
from auditor.rulebook import Rulebook

DRY_RUN_SENDER = "auditor@localhost"


class DigestConfigError(ValueError):
    """Digests cannot be sent with these settings (e.g. no sender address)."""


@dataclass
class DigestRun:
    """The digests of a sweep and what became of them."""

    digests: list[Digest]
    delivery: Delivery
    error: str | None = None  # the SMTP server could not be used at all
    dry_run: bool = False

    @property
    def unaddressed(self) -> list[Digest]:
        """Owners with findings but no e-mail address (listed in the run summary)."""
        return [d for d in self.digests if d.address is None]

    @property
    def failed(self) -> bool:
        return self.error is not None or bool(self.delivery.failed)


@dataclass
class RunResult:
    """What a scheduled run did, and the status it exits with."""

    sweep: SweepSummary
    report: Path
    digests: DigestRun
    appeared: list[dict[str, Any]] = field(default_factory=list)
    fail_on: str | None = None

    @property
    def exit_status(self) -> int:
        return exit_status(
            engine_errors=bool(self.sweep.errors),
            digests_failed=self.digests.failed,
            findings_appeared=bool(self.appeared),
        )


def check_digest_settings(settings: Settings, dry_run: bool) -> None:
    """Refuse, before anything runs, settings with which digests could not be sent."""
    if not dry_run and not settings.digest.sender:
        raise DigestConfigError(
            "digests need a sender: set `from` in [digest] of auditor.toml or AUDITOR_DIGEST_FROM (or use --dry-run)"
        )


def deliver_digests(
    engine: Engine,
    sweep_id: int,
    settings: Settings,
    *,
    today: date,
    report: Path | None,
    dry_run: bool,
    outbox: Path,
) -> DigestRun:
    """Collect a sweep's digests and send them (or, with `dry_run`, write them as .eml files into `outbox`)."""
    check_digest_settings(settings, dry_run)
    with Session(engine) as session:
        row = get_sweep(session, sweep_id)
        info = SweepInfo(row.id, row.as_of, row.since)
    digests = collect_digests(engine, sweep_id, today, settings)
    sender = settings.digest.sender or DRY_RUN_SENDER
    messages = [compose(d, info, settings, report, sender) for d in digests if d.address is not None]
    if dry_run:
        return DigestRun(digests, write_messages(messages, outbox, prefix=f"sweep-{sweep_id}-"), dry_run=True)
    try:
        return DigestRun(digests, send_messages(messages, settings.smtp))
    except MailError as exc:
        return DigestRun(digests, Delivery(), str(exc))


def resend_digests(
    engine: Engine,
    sweep_id: int | None,
    settings: Settings,
    *,
    today: date,
    reports: Path,
    dry_run: bool,
    outbox: Path | None = None,
) -> tuple[int, DigestRun]:
    """Deliver a sweep's digests again (latest sweep by default), attaching its report when it was written."""
    with Session(engine) as session:
        sweep_id = get_sweep(session, sweep_id).id
    report = reports / str(sweep_id) / "index.html"
    return sweep_id, deliver_digests(
        engine,
        sweep_id,
        settings,
        today=today,
        report=report if report.is_file() else None,
        dry_run=dry_run,
        outbox=outbox or reports / str(sweep_id) / "digests",
    )


def run_scheduled(
    engine: Engine,
    book: Rulebook,
    settings: Settings,
    *,
    as_of: date,
    since: date | None,
    reports: Path,
    jobs: int,
    scheduler: str | None = None,
    actor: str | None = None,
    fail_on: str | None = None,
    dry_run: bool = False,
    outbox: Path | None = None,
    today: date | None = None,
) -> RunResult:
    """Sweep, write `<reports>/<sweep>/index.html`, deliver the digests; the result knows its exit status.

    Raises DigestConfigError before sweeping when digests could not be sent, and the sweep's own errors
    (DatabaseBusyError; ClusterError with `scheduler`) as they come. Engine errors do not stop the report or
    the digests.
    """
    check_digest_settings(settings, dry_run)
    today = today or book.policy.today()
    summary = run_sweep(
        engine,
        book.rules,
        as_of,
        since,
        jobs=jobs,
        rules_digest=book.digest,
        policy=book.policy,
        actor=actor,
        today=today,
        scheduler=scheduler,
    )
    options = ReportOptions(settings=settings_from_rules(book), rules=book.rules, today=today)
    report = write_report(engine, reports, summary.sweep_id, options, "html")
    digests = deliver_digests(
        engine,
        summary.sweep_id,
        settings,
        today=today,
        report=report,
        dry_run=dry_run,
        outbox=outbox or report.parent / "digests",
    )
    found = appeared(engine, summary.sweep_id, fail_on) if fail_on else []
    return RunResult(summary, report, digests, found, fail_on)
