"""Altered copies of the external data sets, written to a temporary folder, for the example rules that find
nothing on the real data (the hiring log always interviews before offering; every order is confirmed; every
won deal has a value): the copy injects such deviations, so those rules are shown to fire, and fire exactly
where the independent computation says.

Every change is deterministic (every n-th case or row), and the originals are never touched.
"""

from __future__ import annotations

import csv
import gzip
import shutil
import sqlite3
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path


def _read_log(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _write_log(path: Path, columns: list[str], rows: list[dict[str, str]]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def hiring(src: Path, out: Path) -> Path:
    """Every 5th application with an offer (500 of them), with one required step taken out of each in turn."""
    columns, rows = _read_log(src)
    by_case: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_case[row["case_id"]].append(row)
    offered = [case for case, events in by_case.items() if any(e["activity"] == "Make Job Offer" for e in events)]
    steps = ["Telephonic Screening", "Screening Interview", "Background Check", "Coding Interview"]
    steps.append("Behavioral Interview")
    kept: list[dict[str, str]] = []
    for n, case in enumerate(offered[::5]):
        dropped = steps[n % len(steps)] if n % 3 == 0 else None
        kept.extend(e for e in by_case[case] if e["activity"] != dropped)
    return _write_log(out / "events.csv.gz", columns, kept)


def bpic2012(src: Path, out: Path) -> Path:
    """The first 600 applications; every 4th accepted offer loses its O_SENT_BACK, every 7th call after an
    offer is gone."""
    columns, rows = _read_log(src)
    cases: list[str] = []
    activities: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if not cases or cases[-1] != row["case_id"]:
            cases.append(row["case_id"])
        activities[row["case_id"]].add(row["activity"])
    chosen = set(cases[:600])
    accepted = [c for c in cases[:600] if "O_ACCEPTED" in activities[c]]
    no_back = set(accepted[::4])
    kept, calls = [], 0
    for row in rows:
        if row["case_id"] not in chosen:
            continue
        if row["case_id"] in no_back and row["activity"] == "O_SENT_BACK":
            continue
        if row["activity"] == "W_Nabellen offertes" and row["lifecycle"] == "COMPLETE":
            calls += 1
            if calls % 7 == 0:
                continue
        kept.append(row)
    return _write_log(out / "events.csv.gz", columns, kept)


def crm(src: Path, out: Path) -> Path:
    """A copy of the CRM folder: every 97th deal owned by an unknown agent, every 89th won deal without a value,
    every 83rd closed deal closed the day before it was engaged."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("products.csv", "sales_teams.csv", "accounts.csv"):
        shutil.copyfile(src / name, out / name)
    with (src / "sales_pipeline.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns, rows = list(reader.fieldnames or []), list(reader)
    won = closed = 0
    for n, row in enumerate(rows):
        if n % 97 == 0:
            row["sales_agent"] = "Agent Not Listed"
        if row["deal_stage"] == "Won":
            won += 1
            if won % 89 == 0:
                row["close_value"] = ""
        if row["close_date"] and row["engage_date"]:
            closed += 1
            if closed % 83 == 0:
                row["close_date"] = _day_before(row["engage_date"])
    with (out / "sales_pipeline.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return out


def _day_before(mdy: str) -> str:
    """The day before an M/D/YYYY date, in the same format."""
    month, day, year = (int(p) for p in mdy.split("/"))
    before = date(year, month, day) - timedelta(days=1)
    return f"{before.month}/{before.day}/{before.year}"


def order_management(src: Path, out: Path) -> Path:
    """A copy of the OCEL database in which every 40th order that got a package was never confirmed, and every
    30th confirmation was made by a warehouse employee."""
    path = out / "running-example.sqlite"
    shutil.copyfile(src, path)
    path.chmod(0o644)
    db = sqlite3.connect(path)
    try:
        packaged = [
            order
            for (order,) in db.execute(
                "SELECT DISTINCT oi.ocel_source_id FROM object_object pc JOIN object_object oi "
                "ON oi.ocel_target_id = pc.ocel_target_id AND oi.ocel_qualifier = 'comprises' "
                "WHERE pc.ocel_qualifier = 'contains' ORDER BY 1"
            )
        ]
        confirms = dict(
            db.execute(
                "SELECT eo.ocel_object_id, e.ocel_id FROM event e JOIN event_object eo "
                "ON eo.ocel_event_id = e.ocel_id AND eo.ocel_qualifier = 'order' WHERE e.ocel_type = 'confirm order'"
            )
        )
        dropped = [confirms[order] for order in packaged[::40]]
        for event in dropped:
            for table in ("event", "event_ConfirmOrder"):
                db.execute(f'DELETE FROM "{table}" WHERE ocel_id = ?', (event,))  # noqa: S608
            db.execute("DELETE FROM event_object WHERE ocel_event_id = ?", (event,))
        for event in sorted(set(confirms.values()) - set(dropped))[::30]:
            db.execute(
                "UPDATE event_object SET ocel_object_id = 'Nina Graves' "
                "WHERE ocel_event_id = ? AND ocel_qualifier = 'sales person'",
                (event,),
            )
        db.commit()
    finally:
        db.close()
    return path
