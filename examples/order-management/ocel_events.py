"""Flatten the OCEL 2.0 order-management log (SQLite) into an event-log CSV with one case per order.

    python examples/order-management/ocel_events.py running-example.sqlite events.csv

`auditor ingest --mapping examples/order-management/mapping.yml events.csv` then loads the rows as
`activity` facts. Only the standard library is used (sqlite3, csv); the database is opened read-only.

An event belongs to an order when it is related to the order directly (place / confirm order, payment
reminder), through one of the order's items (pick item, item out of stock), or through a package that
contains one of its items (create / send package, failed delivery); an event that touches several orders
appears once per order. The resource is the employee the event names (sales person, packer, shipper,
employee); the customer is kept as a column.

The customer's sales representatives (object_object customer -> employee `primarySalesRep` /
`secondarySalesRep`) are relations, not events: each order gets two rows, `primary sales rep` and
`secondary sales rep`, with lifecycle `relation`, dated when the order was placed, the representative as
resource. Rules can then compare who confirmed an order with its representatives.
"""

from __future__ import annotations

import csv
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

COLUMNS = ["case_id", "activity", "lifecycle", "timestamp", "resource", "customer", "event_id"]
RESOURCE_QUALIFIERS = ("sales person", "packer", "shipper", "employee")
REP_ACTIVITIES = (("primarySalesRep", "primary sales rep"), ("secondarySalesRep", "secondary sales rep"))

# (event, order) pairs: an order's own events, its items' events, and its items' packages' events.
EVENT_ORDERS = """
SELECT eo.ocel_event_id, eo.ocel_object_id FROM event_object eo JOIN object o ON o.ocel_id = eo.ocel_object_id
 WHERE o.ocel_type = 'orders'
UNION
SELECT eo.ocel_event_id, oi.ocel_source_id FROM event_object eo
  JOIN object_object oi ON oi.ocel_target_id = eo.ocel_object_id AND oi.ocel_qualifier = 'comprises'
  JOIN object o ON o.ocel_id = eo.ocel_object_id AND o.ocel_type = 'items'
UNION
SELECT eo.ocel_event_id, oi.ocel_source_id FROM event_object eo
  JOIN object o ON o.ocel_id = eo.ocel_object_id AND o.ocel_type = 'packages'
  JOIN object_object pc ON pc.ocel_source_id = eo.ocel_object_id AND pc.ocel_qualifier = 'contains'
  JOIN object_object oi ON oi.ocel_target_id = pc.ocel_target_id AND oi.ocel_qualifier = 'comprises'
"""


def _event_times(db: sqlite3.Connection) -> dict[str, str]:
    """Event id -> ocel_time, read from the per-type tables listed in event_map_type."""
    times: dict[str, str] = {}
    for (suffix,) in db.execute("SELECT ocel_type_map FROM event_map_type"):
        table = f"event_{suffix}"
        if not suffix.isidentifier():
            raise ValueError(f"unexpected event table name {table!r}")
        times.update(db.execute(f'SELECT ocel_id, ocel_time FROM "{table}"').fetchall())  # noqa: S608
    return times


def _iso(ocel_time: str) -> str:
    """'2023-04-03 12:08:18' -> '2023-04-03T12:08:18' (OCEL times carry no zone; the mapping says UTC)."""
    return ocel_time.replace(" ", "T")


def order_rows(db: sqlite3.Connection) -> Iterator[dict[str, str]]:
    """Every row of the flattened log, ordered by order, time and event id."""
    types = dict(db.execute("SELECT ocel_id, ocel_type FROM event"))
    times = _event_times(db)
    resources: dict[str, str] = {}
    for event, employee, qualifier in db.execute(
        "SELECT ocel_event_id, ocel_object_id, ocel_qualifier FROM event_object"
    ):
        if qualifier in RESOURCE_QUALIFIERS:
            resources.setdefault(event, employee)
    customer_of = dict(
        db.execute("SELECT ocel_target_id, ocel_source_id FROM object_object WHERE ocel_qualifier = 'places'")
    )
    reps: dict[tuple[str, str], str] = {
        (customer, qualifier): employee
        for customer, employee, qualifier in db.execute(
            "SELECT ocel_source_id, ocel_target_id, ocel_qualifier FROM object_object "
            "WHERE ocel_qualifier IN ('primarySalesRep', 'secondarySalesRep')"
        )
    }
    rows: list[dict[str, str]] = []
    placed: dict[str, str] = {}
    for event, order in db.execute(EVENT_ORDERS):
        activity = types[event]
        if activity == "place order":
            placed[order] = times[event]
        rows.append(
            {
                "case_id": order,
                "activity": activity,
                "lifecycle": "complete",
                "timestamp": _iso(times[event]),
                "resource": resources.get(event, ""),
                "customer": customer_of.get(order, ""),
                "event_id": event,
            }
        )
    for order, at in placed.items():
        customer = customer_of.get(order, "")
        for qualifier, activity in REP_ACTIVITIES:
            rep = reps.get((customer, qualifier))
            if rep:
                rows.append(
                    {
                        "case_id": order,
                        "activity": activity,
                        "lifecycle": "relation",
                        "timestamp": _iso(at),
                        "resource": rep,
                        "customer": customer,
                        "event_id": "",
                    }
                )
    rows.sort(key=lambda r: (r["case_id"], r["timestamp"], r["event_id"], r["activity"]))
    yield from rows


def export(database: Path, out: Path) -> int:
    """Write the flattened log of `database` to `out` (CSV); returns the number of rows."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        with out.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            count = 0
            for row in order_rows(db):
                writer.writerow(row)
                count += 1
    finally:
        db.close()
    return count


def main(argv: list[str]) -> int:
    """Command line: ocel_events.py OCEL.sqlite OUT.csv."""
    if len(argv) != 2:
        print("usage: ocel_events.py OCEL.sqlite OUT.csv", file=sys.stderr)
        return 2
    count = export(Path(argv[0]), Path(argv[1]))
    print(f"{count} rows written to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
