"""The schema of revision 0001, frozen, to recognise a database made by `create_all` before migrations existed.

Such a database has every table, column, index and unique constraint of the
initial revision and the append-only triggers, but no `alembic_version`; it is
then stamped at 0001 rather than created again. Do not edit this module when the
models change: it describes the past.
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect, text

INITIAL_TABLES: dict[str, tuple[str, ...]] = {
    "ingest_batches": (
        "id", "source", "sha256", "kind", "started_at", "finished_at",
        "rows_read", "loaded", "unchanged", "updated", "rejected",
    ),
    "sweeps": (
        "id", "as_of", "since", "started_at", "finished_at", "status", "rules_digest",
        "facts_evaluated", "findings_count", "engine_errors_count", "actor", "failure",
    ),
    "waivers": (
        "id", "finding_key", "rule_pattern", "subject_pattern", "branch", "until",
        "reason", "approver", "actor", "created_at",
    ),
    "engine_errors": ("id", "sweep_id", "rule_id", "subjects", "error"),
    "facts": (
        "id", "kind", "natural_id", "version", "current", "occurred_at", "content_hash", "payload", "batch_id",
    ),
    "finding_events": (
        "id", "finding_key", "sweep_id", "at", "actor", "action", "from_status", "to_status", "note", "details",
    ),
    "findings": (
        "id", "sweep_id", "finding_key", "rule_id", "area", "title", "severity", "owner", "subject",
        "occurrence", "message", "remediation", "evidence", "appearance", "status", "first_seen_sweep",
        "age", "due_on", "person_id", "region", "branch", "manager_id",
    ),
    "rejects": ("id", "batch_id", "source", "line", "raw", "reason"),
    "rule_checks": ("id", "sweep_id", "rule_id", "area", "checked", "violations"),
}  # fmt: skip

INITIAL_INDEXES: dict[str, tuple[str, ...]] = {
    "ingest_batches": ("ix_ingest_batches_sha256",),
    "engine_errors": ("ix_engine_errors_sweep_id",),
    "facts": ("ix_facts_current", "ix_facts_identity"),
    "finding_events": ("ix_finding_events_finding_key", "ix_finding_events_sweep_id"),
    "findings": ("ix_findings_finding_key", "ix_findings_sweep_id"),
    "rejects": ("ix_rejects_batch_id",),
    "rule_checks": ("ix_rule_checks_sweep_id",),
}

INITIAL_UNIQUES: dict[str, tuple[str, ...]] = {"findings": ("uq_findings_sweep_key",)}

APPEND_ONLY = ("findings", "finding_events", "waivers")


APPEND_ONLY_LATER = ("finding_links",)
"""Tables made append-only by later revisions (0008)."""


def expected_triggers(dialect: str, tables: tuple[str, ...] = APPEND_ONLY) -> set[str]:
    """Names of the append-only triggers on these tables on this dialect (none on others); by default the ones
    revision 0001 creates."""
    if dialect == "sqlite":
        return {f"{table}_no_{op}" for table in tables for op in ("update", "delete")}
    if dialect == "postgresql":
        return {f"{table}_append_only" for table in tables}
    return set()


def triggers(conn: Connection) -> set[str]:
    """Names of the user triggers in the database's current schema (SQLite and PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        return set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
    if conn.dialect.name == "postgresql":
        return set(
            conn.execute(
                text(
                    "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
                )
            ).scalars()
        )
    return set()


def differences(conn: Connection) -> list[str]:
    """How the database's auditor tables differ from revision 0001 (empty: the same)."""
    inspector = inspect(conn)
    present = set(inspector.get_table_names())
    problems: list[str] = []
    for table, columns in INITIAL_TABLES.items():
        if table not in present:
            problems.append(f"table {table} is missing")
            continue
        have = {column["name"] for column in inspector.get_columns(table)}
        if missing := [c for c in columns if c not in have]:
            problems.append(f"table {table} lacks column(s) {', '.join(missing)}")
        if extra := sorted(have - set(columns)):
            problems.append(f"table {table} has unexpected column(s) {', '.join(extra)}")
        indexes = {index["name"] for index in inspector.get_indexes(table)}
        if missing := [i for i in INITIAL_INDEXES.get(table, ()) if i not in indexes]:
            problems.append(f"table {table} lacks index(es) {', '.join(missing)}")
        uniques = {u["name"] for u in inspector.get_unique_constraints(table)}
        if missing := [u for u in INITIAL_UNIQUES.get(table, ()) if u not in uniques]:
            problems.append(f"table {table} lacks unique constraint(s) {', '.join(missing)}")
    if missing_triggers := sorted(expected_triggers(conn.dialect.name) - triggers(conn)):
        problems.append(f"append-only trigger(s) missing: {', '.join(missing_triggers)}")
    return problems
