"""Alembic migrations: they build exactly the models' schema with the append-only triggers, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from auditor.cli import main
from auditor.store import legacy, migrate, open_database
from auditor.store.migrate import (
    INITIAL_REVISION,
    SchemaMismatchError,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from auditor.store.models import Base, FindingEvent, FindingLink, FindingRow, Sweep, WaiverRow

NOW = datetime(2026, 6, 30, 12, 0)


def _schema_diff(engine) -> list:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def _collations(engine) -> tuple[set, set]:  # type: ignore[no-untyped-def]
    """(table, column, collation) of every column: as the models declare them, and as the database has them.

    Alembic's comparison does not look at collations (facts.kind and natural_id are COLLATE "C" on PostgreSQL).
    """
    declared, found = set(), set()
    with engine.connect() as conn:
        inspector = inspect(conn)
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                impl = column.type.dialect_impl(engine.dialect)
                declared.add((table.name, column.name, getattr(impl, "collation", None)))
            for reflected in inspector.get_columns(table.name):
                found.add((table.name, reflected["name"], getattr(reflected["type"], "collation", None)))
    return declared, found


def test_models_and_migrations_agree(db_url: str) -> None:
    engine = open_database(db_url)
    try:
        assert current_revision(engine) == head_revision()
        assert _schema_diff(engine) == []
        declared, found = _collations(engine)
        assert declared == found
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            every = legacy.APPEND_ONLY + legacy.APPEND_ONLY_LATER
            assert legacy.triggers(conn) == legacy.expected_triggers(engine.dialect.name, every)
        assert tables == set(Base.metadata.tables) | {"alembic_version"}
    finally:
        engine.dispose()


def test_helper_check_finds_no_pending_operations(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    open_database(db_url).dispose()
    migrate.main(["--db", db_url, "check"])
    assert "No new upgrade operations detected" in capsys.readouterr().out


def _one_row_each(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        sweep = Sweep(as_of=date(2026, 6, 30), started_at=NOW)
        session.add(sweep)
        session.flush()
        session.add_all(
            [
                FindingRow(
                    sweep_id=sweep.id, finding_key="R|S|", rule_id="R", area="a", title="t", severity="high",
                    subject="S", message="m",
                ),
                FindingEvent(finding_key="R|S|", sweep_id=sweep.id, at=NOW, actor="me", action="ack", to_status="ack"),
                WaiverRow(until=date(2026, 12, 31), reason="r", approver="boss", actor="me", created_at=NOW),
            ]
        )  # fmt: skip
        session.flush()
        later = Sweep(as_of=date(2026, 6, 30), started_at=NOW)
        session.add(later)
        session.flush()
        row = session.execute(select(FindingRow)).scalar_one()
        session.add(FindingLink(sweep_id=later.id, finding_id=row.id, appearance="recurring"))
        session.commit()


@pytest.mark.parametrize("table", ["findings", "finding_links", "finding_events", "waivers"])
def test_triggers_refuse_update_and_delete(db_url: str, table: str) -> None:
    engine = open_database(db_url)
    try:
        _one_row_each(engine)
        for statement in (f"UPDATE {table} SET actor = 'x'", f"DELETE FROM {table}"):
            if table == "findings":
                statement = statement.replace("actor", "title")
            if table == "finding_links":
                statement = statement.replace("actor", "appearance")
            with engine.begin() as conn, pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text(statement))
        with engine.connect() as conn:
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 1
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = open_database(db_url)
    try:
        with engine.connect() as conn:
            before = sorted(inspect(conn).get_table_names())
        monkeypatch.setattr(command, "upgrade", lambda *a, **k: pytest.fail("migrated a database at head"))
        result = upgrade(engine)
        assert (result.before, result.after, result.changed) == (head_revision(), head_revision(), False)
        open_database(db_url).dispose()
        with engine.connect() as conn:
            assert sorted(inspect(conn).get_table_names()) == before
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    engine = open_database(db_url)
    try:
        with engine.connect() as conn:
            command.downgrade(alembic_config(connection=conn), "base")
            conn.commit()
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
            assert legacy.triggers(conn) == set()
        assert upgrade(engine).before is None
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


def _open(url: str) -> str | None:
    engine = open_database(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def test_concurrent_first_use_migrates_once(db_url: str) -> None:
    with ProcessPoolExecutor(max_workers=4) as pool:
        revisions = list(pool.map(_open, [db_url] * 4))
    assert revisions == [head_revision()] * 4
    engine = create_engine(db_url)
    try:
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


# ---------------------------------------------------------------- databases made by create_all


def _legacy_database(engine) -> None:  # type: ignore[no-untyped-def]
    """What open_database's create_all built before migrations existed: revision 0001's schema, no history."""
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(connection=conn), INITIAL_REVISION)
        conn.execute(text("DROP TABLE alembic_version"))


def test_legacy_create_all_database_is_stamped(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        _legacy_database(engine)
        assert current_revision(engine) is None
        result = upgrade(engine)
        assert result.stamped and result.after == head_revision()
        assert current_revision(engine) == head_revision()
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


def test_legacy_database_with_other_tables_is_refused(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        Base.metadata.create_all(engine, tables=[Sweep.__table__, FindingRow.__table__])
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE findings ADD COLUMN extra INTEGER"))
        with pytest.raises(SchemaMismatchError) as caught:
            upgrade(engine)
        message = str(caught.value)
        assert "table facts is missing" in message
        assert "table findings has unexpected column(s) extra" in message
        assert "nothing was changed" in message
        assert current_revision(engine) is None
        assert not inspect(engine).has_table("facts")
    finally:
        engine.dispose()


def test_legacy_database_without_triggers_is_refused(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        _legacy_database(engine)
        drop = "DROP TRIGGER findings_no_update" if engine.dialect.name == "sqlite" else (
            "DROP TRIGGER findings_append_only ON findings"
        )  # fmt: skip
        with engine.begin() as conn:
            conn.execute(text(drop))
        with pytest.raises(SchemaMismatchError, match="append-only trigger"):
            upgrade(engine)
    finally:
        engine.dispose()


def test_unknown_revision_is_refused(db_url: str) -> None:
    engine = open_database(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaMismatchError, match="revision 9999, which this version of auditor does not know"):
            open_database(db_url)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- CLI


def test_cli_db_upgrade_and_current(db_url: str) -> None:
    runner = CliRunner()
    current = runner.invoke(main, ["db", "current", "--db", db_url])
    assert current.exit_code == 0, current.output
    assert current.output.startswith("none")
    first = runner.invoke(main, ["db", "upgrade", "--db", db_url])
    assert first.exit_code == 0, first.output
    assert f"upgraded an empty database -> {head_revision()} (head)" in first.output
    again = runner.invoke(main, ["db", "upgrade", "--db", db_url])
    assert again.exit_code == 0, again.output
    assert f"already at {head_revision()}" in again.output
    current = runner.invoke(main, ["db", "current", "--db", db_url])
    assert current.exit_code == 0, current.output
    assert current.output.strip() == f"{head_revision()} (head)"


def test_cli_db_current_creates_no_sqlite_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "absent.db"
    result = CliRunner().invoke(main, ["db", "current", "--db", f"sqlite:///{path}"])
    assert (result.exit_code, result.output.strip()) == (0, "none")
    assert not path.exists()


def test_cli_db_upgrade_stamps_or_refuses_legacy(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        _legacy_database(engine)
    finally:
        engine.dispose()
    runner = CliRunner()
    stamped = runner.invoke(main, ["db", "upgrade", "--db", db_url])
    assert stamped.exit_code == 0, stamped.output
    assert f"stamped the tables made before migrations at {INITIAL_REVISION}" in stamped.output


def test_cli_db_upgrade_refuses_foreign_schema(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE findings (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    result = CliRunner().invoke(main, ["db", "upgrade", "--db", sqlite_url])
    assert result.exit_code == 1
    assert "no migration history" in result.output and "table facts is missing" in result.output
