"""Options and helpers shared by the CLI's command modules."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console

from auditor.config import default_policy_path, default_rules_path
from auditor.rulebook import Policy, PolicyError, Rulebook, load_policy, load_rulebook

PIPE_WIDTH = 160
"""Table width when output goes to a file or pipe (a terminal uses its own width; COLUMNS overrides)."""


def _width(stream: object) -> int | None:
    tty = getattr(stream, "isatty", lambda: False)()
    return None if tty or os.environ.get("COLUMNS") else PIPE_WIDTH


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))

db_option = click.option(
    "--db", "db_url", metavar="URL", help="Database URL (default: $AUDITOR_DATABASE_URL or sqlite:///auditor.db)."
)
rules_option = click.option(
    "--rules",
    "rules_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Rule file or folder (repeatable; default: ./rules).",
)
policy_option = click.option(
    "--policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=(
        "Policy file (YAML or TOML): param overrides, holidays, time zone, days to fix "
        "(default: policy.yml, policy.toml, auditor.toml)."
    ),
)


def read_rules(paths: tuple[Path, ...], policy: Path | None) -> Rulebook:
    """The rulebook with its problems (the policy file must be readable: else exit 2)."""
    return load_rulebook(list(paths) or [default_rules_path()], read_policy(policy))


def load_rules(paths: tuple[Path, ...], policy: Path | None) -> Rulebook:
    """The rulebook, or exit 2 listing every problem (file, line, rule id)."""
    book = read_rules(paths, policy)
    if book.problems:
        for problem in book.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(book.problems)} problem(s) in the rules; run `auditor rules check`.", err=True)
        sys.exit(2)
    return book


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
