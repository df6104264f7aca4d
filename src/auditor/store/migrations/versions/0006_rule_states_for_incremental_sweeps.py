"""Rule states for incremental sweeps: what the last complete sweep knew of each rule's partitions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `rule_states` (empty: the next sweep evaluates everything and fills it)."""
    op.create_table(
        "rule_states",
        sa.Column("rule_id", sa.String(length=80), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("max_fact_id", sa.Integer(), nullable=False),
        sa.Column("fact_counts", sa.JSON(), nullable=False),
        sa.Column("partitions", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["sweep_id"], ["sweeps.id"]),
        sa.PrimaryKeyConstraint("rule_id"),
    )


def downgrade() -> None:
    """Drop `rule_states`."""
    op.drop_table("rule_states")
