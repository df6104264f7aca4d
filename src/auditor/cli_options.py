"""Options and helpers shared by the CLI's command modules."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from auditor.config import DEFAULT_REPORTS, default_policy_path, default_rules_path
from auditor.ops.period import PERIOD_HELP, PeriodError
from auditor.ops.period import sweep_days as ops_sweep_days
from auditor.ops.settings import CONFIG_ENV, SCHEDULER_ENV, Settings, SettingsError, find_config, load_settings
from auditor.rulebook import SEVERITY_ORDER, Policy, PolicyError, Rulebook, load_policy, load_rulebook
from auditor.store.db import ENV_VAR

PIPE_WIDTH = 160
"""Table width when output goes to a file or pipe (a terminal uses its own width; COLUMNS overrides)."""


def _width(stream: object) -> int | None:
    tty = getattr(stream, "isatty", lambda: False)()
    return None if tty or os.environ.get("COLUMNS") else PIPE_WIDTH


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))

SETTINGS_KEY = "auditor.settings"


def settings_for(ctx: click.Context | None = None) -> Settings:
    """The settings in force: `--config` (or $AUDITOR_CONFIG, or ./auditor.toml), read once per command line."""
    ctx = ctx or click.get_current_context()
    if SETTINGS_KEY not in ctx.meta:  # meta is shared by a command line's contexts
        try:
            ctx.meta[SETTINGS_KEY] = load_settings(find_config(ctx.find_root().params.get("config")))
        except SettingsError as exc:
            raise Refused(str(exc)) from None
    return ctx.meta[SETTINGS_KEY]


config_option = click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar=CONFIG_ENV,
    help=(
        f"Settings file (default: ${CONFIG_ENV}, else ./auditor.toml when present). Command-line options win over "
        "the environment, which wins over the file, which wins over the defaults."
    ),
)


def _db_default(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value or os.environ.get(ENV_VAR):
        return value  # the store resolves --db, then the environment
    return settings_for(ctx).database.url


def _rules_default(ctx: click.Context, _param: click.Parameter, value: tuple[Path, ...]) -> tuple[Path, ...]:
    return value or settings_for(ctx).rules_paths()


def _policy_default(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    return value or settings_for(ctx).policy_path()


def _scheduler_default(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    return value or settings_for(ctx).cluster.scheduler


def _reports_default(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path:
    return value or settings_for(ctx).reports_dir(DEFAULT_REPORTS)


db_option = click.option(
    "--db",
    "db_url",
    metavar="URL",
    callback=_db_default,
    help="Database URL (default: $AUDITOR_DATABASE_URL, [database] url of auditor.toml, sqlite:///auditor.db).",
)
rules_option = click.option(
    "--rules",
    "rules_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    callback=_rules_default,
    help="Rule file or folder (repeatable; default: [paths] rules of auditor.toml, else ./rules).",
)
policy_option = click.option(
    "--policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    callback=_policy_default,
    help=(
        "Policy file (YAML or TOML): param overrides, holidays, time zone, days to fix "
        "(default: [paths] policy of auditor.toml, else policy.yml, policy.toml, auditor.toml)."
    ),
)
reports_option = click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    callback=_reports_default,
    help=f"Report folder (default: [paths] reports of auditor.toml, else {DEFAULT_REPORTS}).",
)
period_option = click.option(
    "--period",
    metavar="PERIOD",
    help=(
        f"Sweep a whole period instead of --as-of/--since: {PERIOD_HELP} (calendar days in the policy's time zone; "
        "weeks start on Monday; the period must be over)."
    ),
)
jobs_option = click.option(
    "--jobs", type=int, default=None, help="Worker processes (default: number of cores; unused with --scheduler)."
)
scheduler_option = click.option(
    "--scheduler",
    metavar="ADDRESS",
    callback=_scheduler_default,
    help=(
        f"Evaluate on the Dask cluster of this scheduler (e.g. tcp://host:8786) instead of local worker processes "
        f"(default: ${SCHEDULER_ENV}, [cluster] scheduler of auditor.toml). This process alone reads and writes "
        "the database and ships the facts to the workers, which need the same auditor installed; use PostgreSQL "
        "for a real cluster (docs/scaling.md). Exit 2 when the cluster cannot be reached or used."
    ),
)
fail_on_option = click.option(
    "--fail-on",
    "fail_on",
    type=click.Choice(sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.__getitem__)),
    help="Exit 1 when findings of this severity or worse appear: new, or reopened (found again after being resolved "
    "or after their waiver lapsed).",
)


def read_rules(paths: tuple[Path, ...], policy: Path | None) -> Rulebook:
    """The rulebook with its problems (the policy file must be readable: else exit 2)."""
    configured = list(settings_for().rules_paths()) if click.get_current_context(silent=True) else []
    return load_rulebook(list(paths) or configured or [default_rules_path()], read_policy(policy))


def load_rules(paths: tuple[Path, ...], policy: Path | None) -> Rulebook:
    """The rulebook, or exit 2 listing every problem (file, line, rule id)."""
    book = read_rules(paths, policy)
    if book.problems:
        for problem in book.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(book.problems)} problem(s) in the rules; run `auditor rules check`.", err=True)
        sys.exit(2)
    return book


def sweep_days(period: str | None, as_of: Any, since: Any, policy: Policy) -> tuple[date, date | None]:
    """The sweep's as-of and since days from --period or --as-of/--since, in the policy's time zone (else exit 2)."""
    try:
        return ops_sweep_days(period, as_of.date() if as_of else None, since.date() if since else None, policy.today())
    except PeriodError as exc:
        raise click.UsageError(str(exc)) from None


def print_appeared(found: list[dict[str, Any]], fail_on: str | None) -> None:
    """Say which findings trip --fail-on (on standard error)."""
    if not fail_on:
        return
    if not found:
        err_console.print(f"--fail-on {fail_on}: no new or reopened finding at or above {fail_on}", highlight=False)
        return
    err_console.print(f"[red]--fail-on {fail_on}:[/red] {len(found)} new or reopened finding(s) at or above {fail_on}")
    for f in found[:20]:
        err_console.print(f"  {f['appearance']} {f['severity']} {f['key']}", highlight=False)
    if len(found) > 20:
        err_console.print(f"  ... and {len(found) - 20} more (`auditor findings list --new-since-last`)")


def read_policy(path: Path | None) -> Policy:
    """The policy file (given or the default one), or exit 2 naming the problem."""
    try:
        return load_policy(path or default_policy_path())
    except PolicyError as exc:
        raise click.UsageError(str(exc)) from None


class Refused(click.ClickException):
    """An action the lifecycle or the input refuses; exit 2, nothing changed."""

    exit_code = 2


class Busy(click.ClickException):
    """The database is busy with a sweep (exit 75, EX_TEMPFAIL: try again later)."""

    exit_code = 75
