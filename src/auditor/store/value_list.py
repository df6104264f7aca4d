"""A column's membership in a long list of values, bound as one parameter.

`column.in_(values)` binds one parameter per value: SQLAlchemy renders and binds each (a tenth of a second per
100,000 values), and the list must be cut into batches (PostgreSQL takes at most 65,535 parameters). Bound as one
JSON document (SQLite's `json_each`) or one array (PostgreSQL's `= ANY`), a list of any length is one parameter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Text, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def among(session: Session, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """`column IN values` for the session's database, with the values bound as one parameter."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("values_list", list(values), type_=ARRAY(Text)))
    listed = func.json_each(bindparam("values_json", json.dumps(list(values)), type_=Text)).table_valued("value")
    return column.in_(select(listed.c.value))
