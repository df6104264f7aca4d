"""Ingest batch status: `loaded`, or `refused` when too many of its rows were rejected (nothing loaded).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ingest_batches.status (existing batches were loaded)."""
    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=20), server_default="loaded", nullable=False))


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.drop_column("status")
