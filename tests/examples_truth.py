"""Independent answers for the example rule files (examples/*/rules.yml), computed from the source files.

Plain Python over the original exports (csv, gzip, sqlite3), written from each rule's definition in its
README and not from the rule's YAML or the engine: the OCEL answers query the OCEL database directly (not
the flattened CSV the example ingests). Each function returns {rule id: sorted subjects, one per expected
finding}; a subject appears once per finding (rules with an occurrence may repeat it).
"""

from __future__ import annotations

import csv
import gzip
import sqlite3
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

Truth = dict[str, list[str]]
Events = dict[str, list[tuple[str, datetime]]]


def _log(path: Path, only_complete: bool) -> Events:
    """case -> [(activity, aware time)] of an event-log CSV (optionally gzip), COMPLETE events only if asked."""
    opener = gzip.open if path.suffix == ".gz" else open
    cases: Events = defaultdict(list)
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if only_complete and row["lifecycle"] != "COMPLETE":
                continue
            cases[row["case_id"]].append((row["activity"], datetime.fromisoformat(row["timestamp"])))
    return cases


def _times(events: list[tuple[str, datetime]], activity: str) -> list[datetime]:
    return sorted(t for a, t in events if a == activity)


def _lacks_earlier(cases: Events, activity: str, required: str) -> list[str]:
    """Cases with an `activity` event that has no `required` event at or before it."""
    out = []
    for case, events in cases.items():
        needed = _times(events, required)
        if any(not needed or needed[0] > t for t in _times(events, activity)):
            out.append(case)
    return sorted(out)


def bpic2012(path: Path) -> Truth:
    """BPI-001..006 over the BPI Challenge 2012 CSV (COMPLETE events)."""
    cases = _log(path, only_complete=True)
    truth = {
        "BPI-001": _lacks_earlier(cases, "O_DECLINED", "W_Nabellen offertes"),
        "BPI-002": _lacks_earlier(cases, "A_CANCELLED", "A_PREACCEPTED"),
        "BPI-005": _lacks_earlier(cases, "A_APPROVED", "W_Valideren aanvraag"),
        "BPI-006": _lacks_earlier(cases, "O_ACCEPTED", "O_SENT_BACK"),
    }
    never_called, late_back = [], []
    for case, events in cases.items():
        calls = _times(events, "W_Nabellen offertes")
        sent = _times(events, "O_SENT")
        for t in sorted(set(sent)):  # one finding per offer (its send time)
            if not any(c >= t for c in calls):
                never_called.append(case)
        for back in sorted(set(_times(events, "O_SENT_BACK"))):  # one finding per return (its time)
            answered = [s for s in sent if s <= back]
            if answered and back - max(answered) > timedelta(days=20):
                late_back.append(case)
    truth["BPI-003"] = sorted(never_called)
    truth["BPI-004"] = sorted(late_back)
    return truth


REQUIRED_BEFORE_OFFER = {
    "HIR-001": "Telephonic Screening",
    "HIR-002": "Screening Interview",
    "HIR-003": "Background Check",
    "HIR-004": "Coding Interview",
    "HIR-005": "Behavioral Interview",
}


def hiring(path: Path) -> Truth:
    """HIR-001..007 over the hiring log CSV."""
    cases = _log(path, only_complete=False)
    truth = {rule: _lacks_earlier(cases, "Make Job Offer", step) for rule, step in REQUIRED_BEFORE_OFFER.items()}
    after_rejection, repeated = [], []
    for case, events in cases.items():
        offers = _times(events, "Make Job Offer")
        rejections = _times(events, "Application Rejected")
        if offers and rejections and rejections[0] < offers[-1]:
            after_rejection.append(case)
        if len(set(offers)) > 1:
            repeated.append(case)
    truth["HIR-006"] = sorted(after_rejection)
    truth["HIR-007"] = sorted(repeated)
    return truth


def crm_last_day(folder: Path) -> date:
    """The data's last date: the latest engage or close date of sales_pipeline.csv."""
    rows = _rows(folder / "sales_pipeline.csv")
    return max(_mdy(v) for row in rows for v in (row["engage_date"], row["close_date"]) if v)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _mdy(text: str) -> date:
    month, day, year = (int(part) for part in text.split("/"))
    return date(year, month, day)


def crm(folder: Path) -> Truth:
    """CRM-001..006 over sales_pipeline.csv, products.csv and sales_teams.csv."""
    deals = _rows(folder / "sales_pipeline.csv")
    catalogue = {row["product"] for row in _rows(folder / "products.csv")}
    team = {row["sales_agent"] for row in _rows(folder / "sales_teams.csv")}
    last = crm_last_day(folder)
    open_stages = {"Prospecting", "Engaging"}
    return {
        "CRM-001": sorted(d["product"] for d in deals if d["product"] not in catalogue),
        "CRM-002": sorted(
            d["opportunity_id"]
            for d in deals
            if d["deal_stage"] == "Engaging" and (not d["engage_date"] or (last - _mdy(d["engage_date"])).days > 90)
        ),
        "CRM-003": sorted(d["opportunity_id"] for d in deals if d["deal_stage"] in open_stages and not d["account"]),
        "CRM-004": sorted(d["opportunity_id"] for d in deals if d["deal_stage"] == "Won" and not d["close_value"]),
        "CRM-005": sorted(d["sales_agent"] for d in deals if d["sales_agent"] not in team),
        "CRM-006": sorted(
            d["opportunity_id"]
            for d in deals
            if d["close_date"] and (not d["engage_date"] or _mdy(d["close_date"]) < _mdy(d["engage_date"]))
        ),
    }


ORDER_OF_ITEM_EVENT = """
SELECT e.ocel_id, oi.ocel_source_id, t.ocel_time FROM event e
  JOIN event_object eo ON eo.ocel_event_id = e.ocel_id AND eo.ocel_qualifier = 'item'
  JOIN object_object oi ON oi.ocel_target_id = eo.ocel_object_id AND oi.ocel_qualifier = 'comprises'
  JOIN event_PickItem t ON t.ocel_id = e.ocel_id
 WHERE e.ocel_type = 'pick item'
"""
ORDER_OF_PACKAGE_EVENT = """
SELECT DISTINCT e.ocel_type, oi.ocel_source_id, COALESCE(c.ocel_time, s.ocel_time) FROM event e
  JOIN event_object eo ON eo.ocel_event_id = e.ocel_id AND eo.ocel_qualifier IN ('creates', 'package')
  JOIN object_object pc ON pc.ocel_source_id = eo.ocel_object_id AND pc.ocel_qualifier = 'contains'
  JOIN object_object oi ON oi.ocel_target_id = pc.ocel_target_id AND oi.ocel_qualifier = 'comprises'
  LEFT JOIN event_CreatePackage c ON c.ocel_id = e.ocel_id
  LEFT JOIN event_SendPackage s ON s.ocel_id = e.ocel_id
 WHERE e.ocel_type IN ('create package', 'send package')
"""
CONFIRMATIONS = """
SELECT o.ocel_object_id, t.ocel_time, p.ocel_object_id, c.ocel_object_id FROM event e
  JOIN event_ConfirmOrder t ON t.ocel_id = e.ocel_id
  JOIN event_object o ON o.ocel_event_id = e.ocel_id AND o.ocel_qualifier = 'order'
  LEFT JOIN event_object p ON p.ocel_event_id = e.ocel_id AND p.ocel_qualifier = 'sales person'
  LEFT JOIN event_object c ON c.ocel_event_id = e.ocel_id AND c.ocel_qualifier = 'customer'
 WHERE e.ocel_type = 'confirm order'
"""


def order_management(path: Path) -> Truth:
    """ORD-001..004 straight from the OCEL 2.0 SQLite database (not from the flattened CSV)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        reps: dict[str, set[str]] = defaultdict(set)
        for customer, employee in db.execute(
            "SELECT ocel_source_id, ocel_target_id FROM object_object "
            "WHERE ocel_qualifier IN ('primarySalesRep', 'secondarySalesRep')"
        ):
            reps[customer].add(employee)
        confirmed: dict[str, list[str]] = defaultdict(list)
        wrong_person = set()
        for order, at, person, customer in db.execute(CONFIRMATIONS):
            confirmed[order].append(at)
            if person not in reps[customer]:
                wrong_person.add(order)
        packages = db.execute(ORDER_OF_PACKAGE_EVENT).fetchall()
        picks = db.execute(ORDER_OF_ITEM_EVENT).fetchall()
    finally:
        db.close()

    def before_confirmation(order: str, at: str) -> bool:
        return not confirmed[order] or at < min(confirmed[order])  # same 'YYYY-MM-DD HH:MM:SS' text

    return {
        "ORD-001": sorted(wrong_person),
        "ORD-002": sorted({order for _, order, _ in packages if not confirmed[order]}),
        "ORD-003": sorted(
            {order for kind, order, at in packages if kind == "create package" and before_confirmation(order, at)}
        ),
        "ORD-004": sorted({order for _, order, at in picks if before_confirmation(order, at)}),
    }
