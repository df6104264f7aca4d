"""Which fact rows a sweep sees, and whether any of them was deleted since.

Fact rows are appended, never changed: the highest row id and the number of rows describe exactly the rows a
sweep saw. What a sweep keeps for the next one (rule states, KPI records) stays usable while every row up to
its highest id is still there.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditor.store.models import FactRow


def fact_watermark(session: Session) -> tuple[int, int]:
    """The highest fact row id and the number of fact rows (one statement, two scalar subqueries: SQLite counts a
    table's rows alone without reading them, a fifth of the time a count beside the `max` took at 1M facts)."""
    newest = select(func.coalesce(func.max(FactRow.id), 0)).scalar_subquery()
    rows = select(func.count()).select_from(FactRow).scalar_subquery()
    max_id, count = session.execute(select(newest, rows)).one()
    return int(max_id), int(count)


def facts_intact(session: Session, max_fact_id: int, rows: int | None, watermark: tuple[int, int]) -> bool:
    """Whether the fact rows up to `max_fact_id` are still the `rows` rows counted then (none deleted), given
    the rows seen now (`fact_watermark`): all of them less those added after `max_fact_id`. Only the added
    rows are counted (an index range), not every row again."""
    newest, total = watermark
    after = FactRow.id > max_fact_id
    added = session.execute(select(func.count()).where(after, FactRow.id <= newest)).scalar() or 0
    return total - added == rows
