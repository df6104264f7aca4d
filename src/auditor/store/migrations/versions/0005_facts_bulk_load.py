"""Facts load faster: byte-order keys on PostgreSQL, no (current, kind) index, no batch foreign key.

Measured on COPY of half a million facts into PostgreSQL 15 (docs/benchmarks.md):

- `kind` and `natural_id` compare byte by byte (COLLATE "C") on PostgreSQL, as
  they always did on SQLite: identity keys need no language rules, and both
  databases now sort them the same way;
- `ix_facts_current (current, kind)` is gone: every query that reads current
  facts of a kind is served by the identity index (kind first), and the sweep
  reads nearly all facts anyway;
- `facts.batch_id` is no longer a declared foreign key: PostgreSQL checks it
  with one query per inserted row, a third of the insert time. Batches are
  never deleted (a refused batch keeps its row), and every fact is written in
  the transaction that created its batch.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's foreign key of revision 0001 has no name: batch mode finds it by this convention.
_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_FK = {"sqlite": "fk_facts_batch_id_ingest_batches", "postgresql": "facts_batch_id_fkey"}


def upgrade() -> None:
    """Drop the index and the foreign key; byte-order collation for the identity columns on PostgreSQL."""
    dialect = op.get_bind().dialect.name
    op.drop_index("ix_facts_current", table_name="facts")
    with op.batch_alter_table("facts", naming_convention=_NAMES) as batch_op:
        batch_op.drop_constraint(_FK.get(dialect, _FK["postgresql"]), type_="foreignkey")
    if dialect == "postgresql":
        op.alter_column("facts", "kind", type_=sa.String(40, collation="C"), existing_nullable=False)
        op.alter_column("facts", "natural_id", type_=sa.String(500, collation="C"), existing_nullable=False)


def downgrade() -> None:
    """Restore the index, the foreign key and the database's default collation."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.alter_column("facts", "kind", type_=sa.String(40), existing_nullable=False)
        op.alter_column("facts", "natural_id", type_=sa.String(500), existing_nullable=False)
    with op.batch_alter_table("facts", naming_convention=_NAMES) as batch_op:
        batch_op.create_foreign_key(_FK.get(dialect, _FK["postgresql"]), "ingest_batches", ["batch_id"], ["id"])
    op.create_index("ix_facts_current", "facts", ["current", "kind"], unique=False)
