"""The sweep benchmark's speed limit: six catalog rules written by hand in DuckDB SQL over the generated CSVs.

One rule per template shape the catalog leans on, with the catalog's parameters:

| rule | template | what the SQL checks |
|---|---|---|
| REP-001 | threshold | mystery shop score below 70 |
| COA-002 | threshold | coaching session without a documented plan |
| MAT-001 | within | sales-kit request delivered within 14 days (missing or late) |
| STG-001 | requires_before | proposal/negotiation/deal without a qualification at or before it |
| STG-002 | requires_before | deal without a proposal at or before it |
| COA-001 | cadence | every active sales person coached at least once per complete month |

Each query returns (checked, violations) as the engine counts them: subjects (or subject-periods) judged, and
subjects (or subject-periods) with a finding. Only facts before the end of the as-of day are seen, and facts
are judged from the since day, as in a sweep. DuckDB is a benchmark dependency only (`.[bench]`).
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

RULES = ("REP-001", "COA-002", "MAT-001", "STG-001", "STG-002", "COA-001")
KINDS = ("mystery_shop", "coaching_session", "material_request", "material_delivery", "opportunity_stage", "person")

QUERIES = {
    "REP-001": """
        SELECT count(DISTINCT id), count(DISTINCT id) FILTER (WHERE score < 70)
        FROM mystery_shop WHERE "at" >= $since AND "at" < $end AND id IS NOT NULL""",
    "COA-002": """
        SELECT count(DISTINCT id), count(DISTINCT id) FILTER (WHERE NOT plan_documented)
        FROM coaching_session WHERE "at" >= $since AND "at" < $end AND id IS NOT NULL""",
    "MAT-001": """
        WITH t AS (
            SELECT id, requested_at + INTERVAL 14 DAY AS deadline FROM material_request
            WHERE category = 'sales_kit' AND requested_at >= $since AND requested_at < $end
        ), j AS (
            SELECT t.id, t.deadline, bool_or(d.delivered_at <= t.deadline) AS on_time
            FROM t LEFT JOIN material_delivery d ON d.request_id = t.id AND d.delivered_at < $end
            GROUP BY t.id, t.deadline
        )
        SELECT count(*) FILTER (WHERE coalesce(on_time, false) OR deadline < $end),
               count(*) FILTER (WHERE NOT coalesce(on_time, false) AND deadline < $end)
        FROM j""",
    "STG-001": """
        WITH f AS (
            SELECT opportunity_id, "at" FROM opportunity_stage
            WHERE stage IN ('proposal', 'negotiation', 'deal') AND "at" >= $since AND "at" < $end
        ), q AS (SELECT opportunity_id, min("at") AS first FROM opportunity_stage
                 WHERE stage = 'qualification' AND "at" < $end GROUP BY opportunity_id)
        SELECT count(DISTINCT f.opportunity_id),
               count(DISTINCT f.opportunity_id) FILTER (WHERE q.first IS NULL OR q.first > f."at")
        FROM f LEFT JOIN q USING (opportunity_id)""",
    "STG-002": """
        WITH f AS (
            SELECT opportunity_id, "at" FROM opportunity_stage WHERE stage = 'deal' AND "at" >= $since AND "at" < $end
        ), q AS (SELECT opportunity_id, min("at") AS first FROM opportunity_stage
                 WHERE stage = 'proposal' AND "at" < $end GROUP BY opportunity_id)
        SELECT count(DISTINCT f.opportunity_id),
               count(DISTINCT f.opportunity_id) FILTER (WHERE q.first IS NULL OR q.first > f."at")
        FROM f LEFT JOIN q USING (opportunity_id)""",
    "COA-001": """
        WITH months AS (
            SELECT m AS start, m + INTERVAL 1 MONTH AS stop FROM range($first_month, $last_month, INTERVAL 1 MONTH) r(m)
        ), members AS (
            SELECT p.id, months.start, months.stop FROM person p, months
            WHERE p.role = 'sales_person' AND p.joined_on < $end
              AND p.joined_on <= months.start
              AND (p.left_on IS NULL OR p.left_on >= months.stop - INTERVAL 1 DAY)
        ), counted AS (
            SELECT m.id, m.start, count(c.id) AS sessions FROM members m
            LEFT JOIN coaching_session c ON c.rep_id = m.id AND c."at" >= m.start AND c."at" < m.stop AND c."at" < $end
            GROUP BY m.id, m.start
        )
        SELECT count(*), count(*) FILTER (WHERE sessions < 1) FROM counted""",
}


def load(con: Any, data: Path) -> None:
    """Read the generated CSVs the queries use into DuckDB tables."""
    for kind in KINDS:
        path = str(data / f"{kind}.csv")
        con.execute(f"CREATE OR REPLACE TABLE {kind} AS SELECT * FROM read_csv_auto(?, header = true)", [path])


def run(data: Path, as_of: date, since: date) -> dict[str, Any]:
    """Load, then run every query; times and (checked, violations) per rule."""
    import duckdb

    con = duckdb.connect()
    start = time.perf_counter()
    load(con, data)
    loaded = time.perf_counter() - start
    first_month = since if since.day == 1 else date(since.year + since.month // 12, since.month % 12 + 1, 1)
    last_month = date(as_of.year, as_of.month, 1)  # the as-of month is incomplete unless as-of is its last day
    if (as_of + timedelta(days=1)).day == 1:
        last_month = as_of + timedelta(days=1)
    params = {
        "since": since,
        "end": as_of + timedelta(days=1),
        "first_month": first_month,
        "last_month": last_month,
    }
    counts: dict[str, tuple[int, int]] = {}
    start = time.perf_counter()
    for rule_id, sql in QUERIES.items():
        used = {name: value for name, value in params.items() if f"${name}" in sql}
        checked, violations = con.execute(sql, used).fetchone()
        counts[rule_id] = (int(checked), int(violations))
    return {"load_seconds": loaded, "seconds": time.perf_counter() - start, "counts": counts}
