"""`auditor db`: bring the database schema to the newest migration, or show its revision."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.engine import make_url

from auditor.cli_options import db_option
from auditor.store.db import connect, database_url
from auditor.store.migrate import INITIAL_REVISION, SchemaMismatchError, current_revision, head_revision, upgrade


@click.group()
def db() -> None:
    """Database schema: migrations (every other command upgrades on first use too)."""


@db.command("upgrade")
@db_option
def db_upgrade(db_url: str | None) -> None:
    """Upgrade the database to the newest revision (creates the schema in an empty database)."""
    engine = connect(db_url)
    try:
        result = upgrade(engine)
    except SchemaMismatchError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    if result.stamped:
        click.echo(f"stamped the tables made before migrations at {INITIAL_REVISION}; now at {result.after} (head)")
    elif result.before == result.after:
        click.echo(f"already at {result.after} (head)")
    else:
        click.echo(f"upgraded {result.before or 'an empty database'} -> {result.after} (head)")


@db.command("current")
@db_option
def db_current(db_url: str | None) -> None:
    """Print the database's revision ('none' when it has no migration history); changes nothing."""
    url = make_url(database_url(db_url))
    path = url.database if url.get_backend_name() == "sqlite" else None
    if path and path != ":memory:" and not path.startswith("file:") and not Path(path).exists():
        click.echo("none")  # no file: say so rather than create an empty one
        return
    engine = connect(db_url)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    note = " (head)" if revision == head else f" (head is {head}; run `auditor db upgrade`)"
    click.echo(f"{revision or 'none'}{note}")
