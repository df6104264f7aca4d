"""KPI items for incremental sweeps: the fields the KPIs read of the last sweep's facts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `kpi_items` (empty: the next sweep reads the facts and fills it)."""
    op.create_table(
        "kpi_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("max_fact_id", sa.Integer(), nullable=False),
        sa.Column("fact_rows", sa.Integer(), nullable=False),
        sa.Column("records", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["sweep_id"], ["sweeps.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    """Drop `kpi_items`."""
    op.drop_table("kpi_items")
