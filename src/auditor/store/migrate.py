"""Alembic, configured in code: bring a database to the head revision, read its revision, write new revisions.

`upgrade(engine)` is what `open_database` runs: a database at head costs one
cheap look at `alembic_version`; otherwise the migration runs under a lock
(SQLite: `BEGIN IMMEDIATE`; PostgreSQL: an advisory transaction lock) in one
transaction, so concurrent first uses migrate once. A database made by
`create_all` before migrations existed is stamped at the initial revision if
its schema is that revision's, else refused with the differences.

For developers: `python -m auditor.store.migrate [--db URL] COMMAND ...` is the
`alembic` command line on the package's migrations (see docs/storage.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import CommandLine, Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect, text

from auditor.store import legacy
from auditor.store.lock import ADVISORY_KEY

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
INITIAL_REVISION = "0001"
MIGRATION_LOCK_KEY = ADVISORY_KEY + 1
"""PostgreSQL advisory lock held while migrating (not the sweep lock)."""


class SchemaMismatchError(RuntimeError):
    """The database holds tables this version cannot take over or a revision it does not know; nothing changed."""


@dataclass(frozen=True)
class UpgradeResult:
    """What an upgrade did: the revision before (None: not versioned) and after, and whether a legacy database
    was stamped."""

    before: str | None
    after: str
    stamped: bool = False

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return self.stamped or self.before != self.after


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An alembic Config for the package's migrations, on `connection` if given, else on `url`."""
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this version of auditor ships."""
    head = _scripts().get_current_head()
    assert head is not None, "no migrations shipped"
    return head


def current_revision(bind: Engine | Connection) -> str | None:
    """The database's revision, or None when it has no alembic_version (empty or legacy)."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return current_revision(conn)
    return MigrationContext.configure(bind).get_current_revision()


def upgrade(engine: Engine) -> UpgradeResult:
    """Bring the database to head; a database already there is only read."""
    head = head_revision()
    before = current_revision(engine)
    if before == head:
        return UpgradeResult(before, head)
    with engine.connect() as conn, _migration_transaction(conn):
        before = current_revision(conn)  # again, under the lock: another process may have migrated meanwhile
        if before == head:
            return UpgradeResult(before, head)
        stamped = False
        if before is None and _has_tables(conn):
            problems = legacy.differences(conn)
            if problems:
                raise SchemaMismatchError(
                    "the database has auditor tables but no migration history, and they are not the schema of "
                    f"revision {INITIAL_REVISION}, so it cannot be upgraded; nothing was changed:\n  - "
                    + "\n  - ".join(problems)
                )
            command.stamp(alembic_config(connection=conn), INITIAL_REVISION)
            stamped = True
        elif before is not None and _unknown(before):
            raise SchemaMismatchError(
                f"the database is at revision {before}, which this version of auditor does not know "
                f"(its newest is {head}); upgrade auditor. Nothing was changed."
            )
        command.upgrade(alembic_config(connection=conn), "head")
        return UpgradeResult(before, head, stamped)


@contextmanager
def _migration_transaction(conn: Connection) -> Iterator[None]:
    """One transaction holding the migration lock: committed if the block succeeds, else rolled back."""
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        # Foreign keys off while migrating (a batch migration copies and drops tables); it cannot change in a
        # transaction. BEGIN IMMEDIATE takes SQLite's write lock now and makes the DDL transactional.
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    try:
        yield
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()


def _has_tables(conn: Connection) -> bool:
    """Whether any auditor table (of the initial revision) exists."""
    return bool(set(inspect(conn).get_table_names()) & set(legacy.INITIAL_TABLES))


def _unknown(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is None
    except Exception:  # noqa: BLE001 - alembic raises for unknown ids
        return True


# ---------------------------------------------------------------- developer command line


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m auditor.store.migrate [--db URL] COMMAND`: alembic's commands on the package's migrations.

    `revision` without `--db` diffs against a scratch SQLite database at head, and numbers the revision
    after the head (0002, 0003, ...) unless `--rev-id` is given.
    """
    from auditor.store.db import database_url

    cli = CommandLine(prog="python -m auditor.store.migrate")
    cli.parser.add_argument("--db", metavar="URL", help="Database URL (default: $AUDITOR_DATABASE_URL or auditor.db).")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    name = options.cmd[0].__name__
    head = _scripts().get_current_head()
    if name == "revision" and not getattr(options, "rev_id", None) and (head or "0").isdigit():
        options.rev_id = f"{int(head or 0) + 1:04d}"
    if name == "revision" and not options.db:
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite:///{Path(scratch) / 'head.db'}"
            engine = create_engine(url)
            if head is not None:
                upgrade(engine)
            engine.dispose()
            _run(cli, options, url)
        return
    _run(cli, options, database_url(options.db))


def _run(cli: CommandLine, options: argparse.Namespace, url: str) -> None:
    config = alembic_config(url)
    config.cmd_opts = options
    cli.run_cmd(config, options)


if __name__ == "__main__":
    main(sys.argv[1:])
