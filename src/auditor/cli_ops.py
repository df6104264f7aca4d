"""`auditor init`, `run`, `digest` and `status`: running the auditor on a schedule and closing the loop to owners."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from auditor.cli_findings import actor_option
from auditor.cli_options import (
    Busy,
    Refused,
    console,
    db_option,
    err_console,
    fail_on_option,
    jobs_option,
    load_rules,
    period_option,
    policy_option,
    print_appeared,
    read_policy,
    read_rules,
    reports_option,
    rules_option,
    scheduler_option,
    settings_for,
    sweep_days,
)
from auditor.engine.evaluate import default_jobs
from auditor.findings.query import NoSweepError
from auditor.store import open_database

if TYPE_CHECKING:
    from auditor.ops.scheduled_run import DigestRun
    from auditor.ops.status import Status

DAY = click.DateTime(["%Y-%m-%d"])
dry_run_option = click.option(
    "--dry-run",
    is_flag=True,
    help="Write the digests as .eml files (into --outbox, default <report folder>/<sweep>/digests/); send nothing.",
)
outbox_option = click.option(
    "--outbox", type=click.Path(file_okay=False, path_type=Path), help="Folder for --dry-run's .eml files."
)


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def init(folder: Path) -> None:
    """Write a commented starter auditor.toml and an empty rules/ (with rules/tests/) into FOLDER (default: here).

    The policy (time zone, holidays, param overrides, days to fix) starts as top-level keys of auditor.toml.
    Existing files are never overwritten: exit 2 and nothing written.
    """
    from auditor.ops.starter import write_starter

    try:
        created = write_starter(folder)
    except FileExistsError as exc:
        raise Refused(str(exc)) from None
    for path in created:
        click.echo(f"created {path}{'/' if path.is_dir() else ''}")
    click.echo("Next: add owners' addresses and digest settings to auditor.toml, rule files to rules/.")


@click.command("run")
@period_option
@click.option("--as-of", "as_of", type=DAY, help="Judge as of the end of this day (instead of --period).")
@click.option("--since", type=DAY, help="First day judged (with --as-of; default: the earliest fact).")
@fail_on_option
@dry_run_option
@outbox_option
@jobs_option
@scheduler_option
@reports_option
@rules_option
@policy_option
@db_option
@actor_option
def run_command(
    period: str | None,
    as_of: Any,
    since: Any,
    fail_on: str | None,
    dry_run: bool,
    outbox: Path | None,
    jobs: int | None,
    scheduler: str | None,
    out_dir: Path,
    rules_paths: tuple[Path, ...],
    policy: Path | None,
    db_url: str | None,
    actor: str | None,
) -> None:
    """Sweep, write the HTML report and send the owner digests: the command a scheduler calls.

    Needs no terminal and no input. Digests go by SMTP ([smtp] of auditor.toml or AUDITOR_SMTP_*; password
    only from AUDITOR_SMTP_PASSWORD), one per owner with new, reopened and overdue findings; owners without
    an address are listed in the summary.

    Exit status: 0 done; 1 findings at or above --fail-on appeared (new or reopened); 2 usage, settings or
    input error, or the --scheduler cluster cannot be used, nothing swept; 3 engine errors (report and
    digests still written); 4 some digests could not be sent (resend with `auditor digest --sweep N`); 75
    another sweep is running. Order when several apply: 3, 4, 1.
    """
    from auditor.engine.cluster import ClusterError
    from auditor.ops.scheduled_run import DigestConfigError, run_scheduled
    from auditor.store.lock import DatabaseBusyError

    settings = settings_for()
    book = load_rules(rules_paths, policy)
    day, first = sweep_days(period, as_of, since, book.policy)
    engine = open_database(db_url)
    try:
        result = run_scheduled(
            engine,
            book,
            settings,
            as_of=day,
            since=first,
            reports=out_dir,
            jobs=default_jobs() if jobs is None else jobs,
            scheduler=scheduler,
            actor=actor,
            fail_on=fail_on,
            dry_run=dry_run,
            outbox=outbox,
        )
    except (DigestConfigError, ClusterError) as exc:
        raise Refused(str(exc)) from None
    except DatabaseBusyError as exc:
        raise Busy(str(exc)) from None
    summary = result.sweep
    life = summary.lifecycle
    click.echo(
        f"Sweep {summary.sweep_id}: as of {summary.window.as_of}, judged from {summary.window.since}, "
        f"{summary.facts} facts, {summary.findings} findings: {life.get('new', 0)} new, "
        f"{life.get('recurring', 0)} recurring, {life.get('reopened', 0)} reopened, "
        f"{life.get('resolved', 0)} resolved by data."
    )
    for error in summary.errors:
        err_console.print(
            f"[red]engine error[/red] {error['rule_id']} ({len(error['subjects'])} subjects): {error['error']}"
        )
    click.echo(f"Report: {result.report}")
    _print_digests(result.digests)
    print_appeared(result.appeared, fail_on)
    if result.exit_status:
        sys.exit(result.exit_status)


@click.command()
@click.option("--sweep", "sweep_id", type=int, help="Sweep id (default: the latest).")
@dry_run_option
@outbox_option
@reports_option
@policy_option
@db_option
def digest(
    sweep_id: int | None, dry_run: bool, outbox: Path | None, out_dir: Path, policy: Path | None, db_url: str | None
) -> None:
    """Send (again) the owner digests of a sweep, e.g. after `auditor run` could not reach the SMTP server.

    Attaches <report folder>/<sweep>/index.html when it exists. Exit status 4 when some could not be sent.
    """
    from auditor.ops.exit_status import DIGESTS_NOT_SENT
    from auditor.ops.scheduled_run import DigestConfigError, resend_digests

    settings = settings_for()
    today = read_policy(policy).today()
    try:
        _, result = resend_digests(
            open_database(db_url), sweep_id, settings, today=today, reports=out_dir, dry_run=dry_run, outbox=outbox
        )
    except (NoSweepError, DigestConfigError) as exc:
        raise Refused(str(exc)) from None
    _print_digests(result)
    if result.failed:
        sys.exit(DIGESTS_NOT_SENT)


def _print_digests(run: DigestRun) -> None:
    delivery = run.delivery
    if run.error:
        err_console.print(f"[red]digests not sent:[/red] {run.error}", highlight=False)
    if run.dry_run:
        where = f" to {delivery.written[0].parent}" if delivery.written else ""
        click.echo(f"Digests: {len(delivery.written)} written (dry run, nothing sent){where}")
    elif not run.error:
        click.echo(f"Digests: {len(delivery.sent)} sent" + (f" ({', '.join(delivery.sent)})" if delivery.sent else ""))
    for owner, reason in delivery.failed.items():
        err_console.print(f"[red]digest not sent[/red] to {owner}: {reason}", highlight=False)
    for d in run.unaddressed:
        err_console.print(
            f"[yellow]no address[/yellow] for owner {d.owner!r}: {d.counts()} not sent "
            "(add it to \\[owners] in auditor.toml)",
            highlight=False,
        )


@click.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@rules_option
@policy_option
@db_option
def status(fmt: str, rules_paths: tuple[Path, ...], policy: Path | None, db_url: str | None) -> None:
    """Last sweep, open findings by severity, overdue findings, waivers expiring within 30 days, database and rules
    versions. Reads only (the database is not created or migrated); the database password is masked."""
    from auditor.ops.status import collect_status

    book = read_rules(rules_paths, policy)
    result = collect_status(db_url, book, book.policy.today(), list(rules_paths))
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    _print_status(result)


def _print_status(s: Status) -> None:
    console.print(f"Database: {s.database} at revision {s.revision or 'none'} (newest: {s.head})", highlight=False)
    rules = s.rules
    changed = rules.get("changed_since_last_sweep")
    note = "" if changed is None else " (changed since the last sweep)" if changed else " (as in the last sweep)"
    console.print(
        f"Rules: {rules['count']} rules, {rules['problems']} problem(s), digest {rules['digest'][:12]}{note}; "
        f"policy {rules['policy']}, time zone {rules['timezone']}",
        highlight=False,
    )
    for title, sweep in (("Last sweep", s.last_sweep), ("Last complete sweep", s.last_complete_sweep)):
        if sweep and (title == "Last sweep" or sweep["id"] != s.last_sweep["id"]):
            console.print(
                f"{title}: #{sweep['id']} as of {sweep['as_of']} (from {sweep['since']}), {sweep['status']}, "
                f"started {sweep['started_at']}, finished {sweep['finished_at'] or '-'}, {sweep['findings']} "
                f"findings, {sweep['engine_errors']} engine errors, by {sweep['actor']}",
                highlight=False,
            )
    if s.open_by_severity:
        table = Table(title=f"Open findings: {s.open_total}, overdue {s.overdue_total} (today {s.today})")
        for name in ("severity", "open", "acknowledged", "overdue"):
            table.add_column(name, justify="left" if name == "severity" else "right")
        for severity, counts in s.open_by_severity.items():
            table.add_row(
                severity, str(counts["open"]), str(counts["acknowledged"]), str(s.overdue_by_severity[severity])
            )
        console.print(table)
    console.print(f"Waivers expiring within 30 days: {len(s.waivers_expiring)}")
    for w in s.waivers_expiring:
        console.print(f"  #{w['id']} until {w['until']} ({w['days_left']} days): {w['scope']}", highlight=False)
    for note_text in s.notes:
        console.print(f"Note: {note_text}", highlight=False)


ops_commands = (init, run_command, digest, status)
