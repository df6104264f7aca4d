"""Cadence results (per member and period, for the managers' heat map) and each sweep's KPIs as it computed them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the cadence_results table and sweeps.kpis."""
    op.create_table(
        "cadence_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=80), nullable=False),
        sa.Column("area", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("met", sa.Boolean(), nullable=False),
        sa.Column("manager_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["sweep_id"],
            ["sweeps.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cadence_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cadence_results_sweep_id"), ["sweep_id"], unique=False)

    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kpis", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.drop_column("kpis")

    with op.batch_alter_table("cadence_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cadence_results_sweep_id"))

    op.drop_table("cadence_results")
