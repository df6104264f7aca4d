"""Content hashes of stored facts are the sha256 of the fact's JSON in model field order.

Bulk ingest (issue #8) hashes the JSON it stores instead of a key-sorted copy;
existing facts are re-hashed the same way so that reloading a file already
loaded still finds every row unchanged. A payload that no longer validates
keeps its hash (it will compare as changed, which is the truth).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FACTS = sa.table(
    "facts", sa.column("id", sa.Integer), sa.column("payload", sa.JSON), sa.column("content_hash", sa.String)
)


def upgrade() -> None:
    """Re-hash every stored fact, a few thousand at a time."""
    from pydantic import ValidationError

    from auditor.facts import UnknownKindError, model_for
    from auditor.ingest.conversion import content_hash

    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(_FACTS.c.id, _FACTS.c.payload).where(_FACTS.c.id > last).order_by(_FACTS.c.id).limit(5000)
        ).all()
        if not rows:
            return
        changes = []
        for fact_id, payload in rows:
            try:
                fact = model_for(payload["kind"]).model_validate(payload)
            except (KeyError, TypeError, UnknownKindError, ValidationError):
                continue
            changes.append({"fact_id": fact_id, "digest": content_hash(fact)})
        if changes:
            rehash = _FACTS.update().where(_FACTS.c.id == sa.bindparam("fact_id"))
            connection.execute(rehash.values(content_hash=sa.bindparam("digest")), changes)
        last = rows[-1][0]


def downgrade() -> None:
    """Nothing to undo: the old loader treats a changed hash as a correction, not as an error."""
