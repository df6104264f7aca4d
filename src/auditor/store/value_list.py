"""A column's membership in a long list of values, bound as one parameter.

`column.in_(values)` binds one parameter per value: SQLAlchemy renders and binds each (a tenth of a second per
100,000 values), and the list must be cut into batches (PostgreSQL takes at most 65,535 parameters). Bound as one
JSON document (SQLite's `json_each`) or one array (PostgreSQL's `= ANY`), a list of any length is one parameter.

SQLite's planner does not know how long the list is: next to another indexed condition (`kind IN (...)`) it may
scan that index instead of looking the values up. Filter such a column in Python, or check the plan.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, Text, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def among(session: Session, column: Any, values: Sequence[str] | Sequence[int]) -> ColumnElement[bool]:
    """`column IN values` for the session's database, with the values (strings, or integers for an integer
    column) bound as one parameter."""
    if session.get_bind().dialect.name == "postgresql":
        element = Integer if isinstance(column.type, Integer) else Text
        return column == any_(bindparam("values", list(values), type_=ARRAY(element), unique=True))
    document = bindparam("values", json.dumps(list(values)), type_=Text, unique=True)
    return column.in_(select(func.json_each(document).table_valued("value").c.value))
