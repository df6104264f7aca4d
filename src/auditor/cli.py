"""The `auditor` command line: thin wrappers that parse options, call the library and print."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from sqlalchemy.orm import Session

from auditor import __version__
from auditor.cli_db import db
from auditor.cli_findings import actor_option, findings, sweeps
from auditor.cli_ingest import ingest, rejects
from auditor.cli_ops import ops_commands
from auditor.cli_options import (
    Busy,
    Refused,
    config_option,
    console,
    db_option,
    err_console,
    fail_on_option,
    jobs_option,
    load_rules,
    period_option,
    policy_option,
    print_appeared,
    read_rules,
    reports_option,
    rules_option,
    scheduler_option,
    sweep_days,
)
from auditor.config import DEFAULT_REPORTS, default_rules_path
from auditor.engine.evaluate import default_jobs
from auditor.findings.query import NoSweepError
from auditor.store import database_url, open_database


@click.group()
@click.version_option(__version__, prog_name="auditor")
@config_option
def main(config: Path | None) -> None:
    """Audit a sales organisation's activity facts against declarative process rules."""


# ---------------------------------------------------------------- sweep


@main.command()
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Judge the data as of the end of this day (required unless --period is given).",
)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day judged (default: the earliest fact).")
@period_option
@jobs_option
@scheduler_option
@click.option(
    "--full",
    is_flag=True,
    help="Evaluate every partition, not only those whose facts changed since the last sweep (same results).",
)
@fail_on_option
@rules_option
@policy_option
@db_option
@actor_option
def sweep(
    as_of: Any,
    since: Any,
    period: str | None,
    jobs: int | None,
    scheduler: str | None,
    full: bool,
    fail_on: str | None,
    rules_paths: tuple[Path, ...],
    policy: Path | None,
    db_url: str | None,
    actor: str | None,
) -> None:
    """Evaluate every rule as of a day, store the findings and track them against the previous sweeps.

    Findings are new, recurring, reopened or suppressed (waived, false
    positive); open findings a rule judged again and did not find are resolved.
    One sweep at a time per database: a second one is refused (exit 75).

    Sweeps are incremental: a rule whose definition and window are those of
    the last complete sweep re-evaluates only the partitions (requests,
    opportunities, people...) whose facts changed since, and carries the
    others' outcomes over; the stored results equal a full sweep's.

    Exit status: 0 done; 1 findings at or above --fail-on appeared (new or
    reopened); 2 usage or input error, or the --scheduler cluster cannot be
    used, nothing swept; 3 engine errors (wins over 1); 75 another sweep is
    running.
    """
    from auditor.engine.cluster import ClusterError
    from auditor.engine.sweep import run_sweep
    from auditor.ops.exit_status import appeared, exit_status
    from auditor.store.lock import DatabaseBusyError

    book = load_rules(rules_paths, policy)
    day, first = sweep_days(period, as_of, since, book.policy)
    engine = open_database(db_url)
    try:
        summary = run_sweep(
            engine,
            book.rules,
            day,
            first,
            jobs=default_jobs() if jobs is None else jobs,
            rules_digest=book.digest,
            policy=book.policy,
            actor=actor,
            scheduler=scheduler,
            full=full,
        )
    except DatabaseBusyError as exc:
        raise Busy(str(exc)) from None
    except ClusterError as exc:
        raise Refused(str(exc)) from None
    _print_sweep(summary)
    found = appeared(engine, summary.sweep_id, fail_on) if fail_on else []
    print_appeared(found, fail_on)
    status = exit_status(engine_errors=bool(summary.errors), findings_appeared=bool(found))
    if status:
        sys.exit(status)


def _print_sweep(summary: Any) -> None:
    window = summary.window
    table = Table(
        title=f"Sweep {summary.sweep_id}: as of {window.as_of}, judged from {window.since}, {summary.facts} facts"
    )
    for name in ("rule", "area", "severity", "title", "checked", "findings"):
        table.add_column(name, justify="right" if name in ("checked", "findings") else "left")
    for row in summary.rows:
        table.add_row(
            row["rule_id"], row["area"], row["severity"], row["title"], str(row["checked"]), str(row["findings"])
        )
    console.print(table)
    life = summary.lifecycle
    console.print(
        f"{summary.findings} findings: {life.get('new', 0)} new, {life.get('recurring', 0)} recurring, "
        f"{life.get('reopened', 0)} reopened, {life.get('suppressed', 0)} waived or false positive; "
        f"{life.get('resolved', 0)} resolved by data."
    )
    for error in summary.errors:
        err_console.print(
            f"[red]engine error[/red] {error['rule_id']} ({len(error['subjects'])} subjects): {error['error']}"
        )


main.add_command(ingest)
main.add_command(rejects)
main.add_command(findings)
main.add_command(sweeps)
main.add_command(db)
for _command in ops_commands:
    main.add_command(_command)

# ---------------------------------------------------------------- report


@main.command()
@click.option("--sweep", "sweep_id", type=int, help="Sweep id (default: the latest).")
@reports_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "md", "csv", "json"]),
    default="html",
    show_default=True,
    help="html: index.html + findings.csv; md: report.md; csv: summary.csv + findings.csv; json: report.json.",
)
@rules_option
@policy_option
@db_option
def report(
    sweep_id: int | None,
    out_dir: Path,
    fmt: str,
    rules_paths: tuple[Path, ...],
    policy: Path | None,
    db_url: str | None,
) -> None:
    """Write the report of a sweep (latest by default) into <out>/<sweep>/.

    KPI targets (mystery-shopping threshold, material and pre-sales turnarounds,
    holidays), rule texts and the time zone (for overdue findings and expiring
    waivers) come from the rules and policy, as in the sweep.
    """
    from auditor.kpis import settings_from_rules
    from auditor.report import ReportOptions, write_report

    book = load_rules(rules_paths, policy)
    options = ReportOptions(settings=settings_from_rules(book), rules=book.rules, today=book.policy.today())
    try:
        path = write_report(open_database(db_url), out_dir, sweep_id, options, fmt)
    except NoSweepError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Report written to {path}")


# ---------------------------------------------------------------- rules


@main.group()
def rules() -> None:
    """Work with rule files: list, check, test."""


@rules.command("list")
@rules_option
@policy_option
def rules_list(rules_paths: tuple[Path, ...], policy: Path | None) -> None:
    """List the rules: id, area, severity, title."""
    book = load_rules(rules_paths, policy)
    table = Table()
    for name in ("id", "area", "severity", "template", "title"):
        table.add_column(name)
    for rule in sorted(book.rules, key=lambda r: (r.area, r.id)):
        table.add_row(rule.id, rule.area, rule.severity, rule.template, rule.title)
    console.print(table)


@rules.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@policy_option
def rules_check(paths: tuple[Path, ...], policy: Path | None) -> None:
    """Validate rule files; every problem is printed with file, line and rule id."""
    book = read_rules(paths, policy)
    for problem in book.problems:
        click.echo(str(problem), err=True)
    if book.problems:
        click.echo(f"{len(book.problems)} problem(s) in the rules.", err=True)
        sys.exit(1)
    click.echo(f"{len(book.rules)} rules OK.")


@rules.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@rules_option
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write JUnit XML to this file.")
def rules_test(paths: tuple[Path, ...], rules_paths: tuple[Path, ...], junit: Path | None) -> None:
    """Run rule test cases (default: rules/tests/) through the engine and the reference evaluator."""
    from auditor.rulebook.testing import run_rule_tests, write_junit

    book = load_rules(rules_paths, None)
    results = run_rule_tests(book.rules, list(paths) or [default_rules_path()])
    if junit is not None:
        write_junit(results, junit)
    failed = 0
    for result in results:
        status = "PASS" if result.passed else "FAIL"
        click.echo(f"{status} {result.rule_id}::{result.name}")
        if not result.passed:
            failed += 1
            click.echo(result.diff())
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed or not results:
        sys.exit(1)


@rules.command("explain")
@click.argument("rule_id")
@click.option("--subject", required=True, help="The subject to explain (e.g. a request, opportunity or person id).")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), help="Default: the latest sweep's as-of day.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Default: the latest sweep's since day.")
@rules_option
@policy_option
@db_option
def rules_explain(
    rule_id: str,
    subject: str,
    as_of: Any,
    since: Any,
    rules_paths: tuple[Path, ...],
    policy: Path | None,
    db_url: str | None,
) -> None:
    """Show which facts a rule matched for one subject, what was missing, and why it did or did not fire."""
    from auditor.engine.explain import explain
    from auditor.engine.sweep import load_facts, resolve_window, rule_kinds

    book = load_rules(rules_paths, policy)
    try:
        rule = book.by_id(rule_id)
    except KeyError:
        raise click.UsageError(f"no rule {rule_id!r} (see `auditor rules list`)") from None
    engine = open_database(db_url)
    try:
        window = resolve_window(
            engine, as_of.date() if as_of else None, since.date() if since else None, book.policy.holidays
        )
    except NoSweepError as exc:
        raise click.UsageError(f"{exc}; or give --as-of") from None
    with Session(engine) as session:
        facts = load_facts(session, rule_kinds([rule]), window.as_of_end)
    click.echo(explain(rule, facts, subject, window).render())


# ---------------------------------------------------------------- synth and demo


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--reps", type=int, default=20, show_default=True, help="Number of sales people.")
@click.option("--months", type=int, default=6, show_default=True, help="Whole months of activity.")
def synth(out_dir: Path, seed: int, reps: int, months: int) -> None:
    """Write a synthetic organisation's facts (one CSV per kind) and the ground truth of injected deviations."""
    from auditor.synth import generate

    result = generate(out_dir, seed=seed, reps=reps, months=months)
    click.echo(
        f"Wrote {result.facts} facts in {len(result.files)} files to {out_dir}; "
        f"{len(result.truth)} injected deviations in {out_dir / 'ground_truth.json'}; "
        f"sweep with --since {result.since} --as-of {result.as_of}"
    )


@main.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo"),
    show_default=True,
    help="Folder for the demo's data and database (recreated).",
)
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_REPORTS, show_default=True
)
@click.option("--seed", type=int, default=7, show_default=True)
def demo(workdir: Path, out_dir: Path, seed: int) -> None:
    """Synthesize a small organisation, ingest it, sweep it and write the report."""
    from auditor.demo import run_demo

    result = run_demo(workdir, out_dir, seed=seed, echo=click.echo)
    click.echo("")
    click.echo(f"Report: {result.report.resolve()}")
    click.echo(f"Explore: auditor findings list --db {database_url(result.db_url)}")
