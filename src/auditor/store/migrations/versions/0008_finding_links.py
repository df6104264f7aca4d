"""Finding links: a re-sweep's findings that stand as an earlier sweep stored them, linked instead of copied.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `finding_links` (append-only, as the findings are); sweeps stored before keep their copied rows."""
    op.create_table(
        "finding_links",
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("appearance", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["finding_id"], ["findings.id"]),
        sa.ForeignKeyConstraint(["sweep_id"], ["sweeps.id"]),
        sa.PrimaryKeyConstraint("sweep_id", "finding_id"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_finding_links_finding_id", "finding_links", ["finding_id"], unique=False)
    if op.get_context().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER finding_links_no_{action.lower()} BEFORE {action} ON finding_links "
                "BEGIN SELECT RAISE(ABORT, 'finding_links is append-only: rows are never changed or deleted'); END"
            )
    else:  # the trigger function was created with the first tables (0001)
        op.execute(
            "CREATE TRIGGER finding_links_append_only BEFORE UPDATE OR DELETE ON finding_links "
            "FOR EACH ROW EXECUTE FUNCTION auditor_append_only()"
        )


def downgrade() -> None:
    """Drop `finding_links` (its index and triggers go with it)."""
    op.drop_table("finding_links")
