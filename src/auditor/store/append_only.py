"""Database triggers that refuse UPDATE and DELETE on append-only tables (the audit trail)."""

from __future__ import annotations

from sqlalchemy import DDL, Table, event

_PG_FUNCTION = DDL(
    "CREATE OR REPLACE FUNCTION auditor_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$body$ BEGIN RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only: rows are never changed '"
    " || 'or deleted'; END $body$"
)


def protect(*tables: Table) -> None:
    """Create the refusing triggers together with each table (SQLite and PostgreSQL)."""
    for table in tables:
        name = table.name
        for op in ("UPDATE", "DELETE"):
            event.listen(
                table,
                "after_create",
                DDL(
                    f"CREATE TRIGGER {name}_no_{op.lower()} BEFORE {op} ON {name} "
                    f"BEGIN SELECT RAISE(ABORT, '{name} is append-only: rows are never changed or deleted'); END"
                ).execute_if(dialect="sqlite"),
            )
        event.listen(table, "after_create", _PG_FUNCTION.execute_if(dialect="postgresql"))
        event.listen(
            table,
            "after_create",
            DDL(
                f"CREATE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {name} "
                "FOR EACH ROW EXECUTE FUNCTION auditor_append_only()"
            ).execute_if(dialect="postgresql"),
        )
