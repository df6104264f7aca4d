"""Ground truth of the joiner, stock, short-delivery, certification and training rules, reproduced by
independent plain-Python checks of the generated CSVs (MAT-004..007, REP-003, TRN-001, TRN-002)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from auditor.synth import SynthResult, generate

from .synth_rows import SEEDS, Rows, read_rows, ts

LEGACY = "Sales foundation certificate"  # the synthetic certificate without expiry
Found = set[tuple[str, str, str]]


def day(text: str) -> date:
    return date.fromisoformat(text)


class Window:
    """The sweep window: judged from the start of `since`, deadlines passed before the end of `as_of`."""

    def __init__(self, since: date, as_of: date) -> None:
        self.since, self.as_of = since, as_of
        self.start = datetime.combine(since, datetime.min.time())
        self.end = datetime.combine(as_of + timedelta(days=1), datetime.min.time())


# ------------------------------------------------------------ independent rule checks


def check_joiner_material(rows: Rows, window: Window, rule_id: str, item: str) -> Found:
    """MAT-004 / MAT-005: a joiner gets the item (delivered to them) by 7 days after the joining day's midnight."""
    received: dict[str, list[datetime]] = defaultdict(list)
    for d in rows["material_delivery"]:
        if d["item"] == item and d["recipient_id"]:
            received[d["recipient_id"]].append(ts(d["delivered_at"]))
    found = set()
    for p in rows["person"]:
        joined = ts(p["joined_on"])
        deadline = joined + timedelta(days=7)
        if joined < window.start or deadline >= window.end:
            continue
        if not any(at <= deadline for at in received[p["id"]]):
            found.add((rule_id, p["id"], ""))
    return found


def check_stock(rows: Rows, window: Window) -> Found:
    """MAT-006: a count below the reorder level needs a request for that branch and item, made from 14 days
    before the count up to 5 days after it; one finding per branch."""
    requests: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for r in rows["material_request"]:
        if r["branch"]:
            requests[(r["branch"], r["item"])].append(ts(r["requested_at"]))
    found = set()
    for c in rows["material_stock"]:
        counted = ts(c["at"])
        if int(c["on_hand"]) >= int(c["reorder_level"]) or counted < window.start:
            continue
        if counted + timedelta(days=5) >= window.end:
            continue
        asked = requests[(c["branch"], c["item"])]
        if not any(counted - timedelta(days=14) <= at <= counted + timedelta(days=5) for at in asked):
            found.add(("MAT-006", c["branch"], ""))
    return found


def check_short(rows: Rows, window: Window) -> Found:
    """MAT-007: the first delivery brings less than requested and no other delivery follows within 14 days."""
    deliveries: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for d in rows["material_delivery"]:
        deliveries[d["request_id"]].append((ts(d["delivered_at"]), int(d["quantity"])))
    found = set()
    for r in rows["material_request"]:
        if ts(r["requested_at"]) < window.start or not deliveries[r["id"]]:
            continue
        (first, quantity), *rest = sorted(deliveries[r["id"]])
        limit = first + timedelta(days=14)
        if quantity < int(r["quantity"]) and limit < window.end and not any(first < at <= limit for at, _ in rest):
            found.add(("MAT-007", r["id"], ""))
    return found


def certifications(rows: Rows) -> dict[str, list[dict[str, str]]]:
    held: dict[str, list[dict[str, str]]] = defaultdict(list)
    for t in rows["training"]:
        if t["training_type"] == "certification":
            held[t["person_id"]].append(t)
    return held


def check_certified_shops(rows: Rows, window: Window) -> Found:
    """REP-003: at a mystery shop the person holds a certification completed by the visit day, valid through it."""
    held = certifications(rows)
    found = set()
    for s in rows["mystery_shop"]:
        at = ts(s["at"])
        visit = at.date()
        current = any(
            day(c["completed_on"]) <= visit and (not c["expires_on"] or visit <= day(c["expires_on"]))
            for c in held[s["subject_id"]]
        )
        if at >= window.start and not current:
            found.add(("REP-003", s["subject_id"], s["id"]))
    return found


def check_orientation(rows: Rows, window: Window) -> Found:
    """TRN-001: orientation completed no later than 30 days after the joining day."""
    oriented: dict[str, list[date]] = defaultdict(list)
    for t in rows["training"]:
        if t["training_type"] == "orientation":
            oriented[t["person_id"]].append(day(t["completed_on"]))
    found = set()
    for p in rows["person"]:
        joined = day(p["joined_on"])
        deadline = joined + timedelta(days=30)
        if joined < window.since or deadline > window.as_of:
            continue
        if not any(done <= deadline for done in oriented[p["id"]]):
            found.add(("TRN-001", p["id"], ""))
    return found


def check_expired(rows: Rows, window: Window) -> Found:
    """TRN-002: a certification expiring in the window, not renewed (same course) by its expiry day, of someone
    on the roster who had not left by then."""
    people = {p["id"]: p for p in rows["person"]}
    held = certifications(rows)
    found = set()
    for person_id, certs in held.items():
        for c in certs:
            if not c["expires_on"] or person_id not in people:
                continue
            expires, done = day(c["expires_on"]), day(c["completed_on"])
            left = people[person_id]["left_on"]
            if not window.since <= expires <= window.as_of or (left and day(left) <= expires):
                continue
            renewed = any(
                o["course"] == c["course"] and done < day(o["completed_on"]) <= expires for o in certs if o is not c
            )
            if not renewed:
                found.add(("TRN-002", person_id, c["course"]))
    return found


CHECKS: dict[str, Callable[[Rows, Window], Found]] = {
    "MAT-004": lambda rows, w: check_joiner_material(rows, w, "MAT-004", "visiting cards"),
    "MAT-005": lambda rows, w: check_joiner_material(rows, w, "MAT-005", "badge"),
    "MAT-006": check_stock,
    "MAT-007": check_short,
    "REP-003": check_certified_shops,
    "TRN-001": check_orientation,
    "TRN-002": check_expired,
}


def truth_of(result: SynthResult, rule_id: str) -> Found:
    return {(f["rule_id"], f["subject"], f["occurrence"]) for f in result.truth if f["rule_id"] == rule_id}


# ------------------------------------------------------------ tests


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rule_id", sorted(CHECKS))
def test_truth_matches_independent_check(generated, seed: int, rule_id: str) -> None:
    result, rows = generated[seed]
    found = CHECKS[rule_id](rows, Window(result.since, result.as_of))
    assert found == truth_of(result, rule_id)
    assert len(found) >= 5


def test_other_shapes_match_independent_check(tmp_path: Path) -> None:
    for seed, reps, months, start in ((4, 3, 1, date(2025, 12, 1)), (5, 9, 14, date(2025, 11, 1))):
        result = generate(tmp_path / str(seed), seed=seed, reps=reps, months=months, start=start)
        rows = read_rows(result.out_dir)
        for rule_id, check in CHECKS.items():
            assert check(rows, Window(result.since, result.as_of)) == truth_of(result, rule_id), (seed, rule_id)


@pytest.mark.parametrize("seed", SEEDS)
def test_near_misses_exist(generated, seed: int) -> None:
    result, rows = generated[seed]
    truth = {(f["rule_id"], f["subject"]) for f in result.truth}
    people = {p["id"]: p for p in rows["person"]}
    joiners = [p for p in people.values() if day(p["joined_on"]) >= result.since]

    # MAT-004 / MAT-005: cards exactly 7 days after joining; a badge ready before the joining day.
    handed: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for d in rows["material_delivery"]:
        handed[(d["recipient_id"], d["item"])].append(ts(d["delivered_at"]))
    at_limit = [p for p in joiners if ts(p["joined_on"]) + timedelta(days=7) in handed[(p["id"], "visiting cards")]]
    early = [p for p in joiners if any(at < ts(p["joined_on"]) for at in handed[(p["id"], "badge")])]
    assert at_limit and not any(("MAT-004", p["id"]) in truth for p in at_limit)
    assert early and not any(("MAT-005", p["id"]) in truth for p in early)

    # MAT-006: a count exactly at the reorder level; requests exactly 14 days before and 5 days after a count.
    counts = rows["material_stock"]
    assert any(c["on_hand"] == c["reorder_level"] for c in counts)
    asked = {(r["branch"], r["item"], ts(r["requested_at"])) for r in rows["material_request"] if r["branch"]}
    low = [c for c in counts if int(c["on_hand"]) < int(c["reorder_level"])]
    for offset in (timedelta(days=-14), timedelta(days=5)):
        assert any((c["branch"], c["item"], ts(c["at"]) + offset) in asked for c in low)

    # MAT-007: the rest exactly 14 days after a short first delivery; an over-delivery.
    deliveries: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for d in rows["material_delivery"]:
        deliveries[d["request_id"]].append((ts(d["delivered_at"]), int(d["quantity"])))
    quantity = {r["id"]: int(r["quantity"]) for r in rows["material_request"]}
    rest_at_limit = [
        rid
        for rid, ds in deliveries.items()
        if len(ds) == 2 and sorted(ds)[0][1] < quantity[rid] and sorted(ds)[1][0] - sorted(ds)[0][0] == timedelta(14)
    ]
    assert rest_at_limit and not any(("MAT-007", rid) in truth for rid in rest_at_limit)
    assert any(len(ds) == 1 and ds[0][1] > quantity[rid] for rid, ds in deliveries.items())

    # TRN-001: orientation exactly 30 days after joining.
    oriented = {
        (t["person_id"], day(t["completed_on"])) for t in rows["training"] if t["training_type"] == "orientation"
    }
    on_day_30 = [p for p in joiners if (p["id"], day(p["joined_on"]) + timedelta(days=30)) in oriented]
    assert on_day_30 and not any(("TRN-001", p["id"]) in truth for p in on_day_30)

    # TRN-002: renewed on the expiry day; expiring after the as-of day; expired after the holder left.
    held = certifications(rows)
    certs = [c for cs in held.values() for c in cs]
    renewed_on_expiry = [
        c
        for c in certs
        if any(o["course"] == c["course"] and o["completed_on"] == c["expires_on"] for o in held[c["person_id"]])
    ]
    assert renewed_on_expiry and not any(("TRN-002", c["person_id"]) in truth for c in renewed_on_expiry)
    assert any(c["expires_on"] and result.as_of < day(c["expires_on"]) <= result.as_of + timedelta(40) for c in certs)
    gone = [
        c
        for c in certs
        if c["expires_on"]
        and people[c["person_id"]]["left_on"]
        and result.since <= day(c["expires_on"])
        and day(people[c["person_id"]]["left_on"]) <= day(c["expires_on"])
    ]
    assert gone and not any(("TRN-002", c["person_id"]) in truth for c in gone)

    # REP-003: shops on the day a certification expires or is completed; holders of a certification without
    # expiry are never uncertified.
    flagged = {(f["subject"], f["occurrence"]) for f in result.truth if f["rule_id"] == "REP-003"}
    for field in ("expires_on", "completed_on"):
        boundary = [
            s
            for s in rows["mystery_shop"]
            if any(
                c[field] == s["at"][:10] for c in held[s["subject_id"]] if c["course"] != "Sales foundation certificate"
            )
        ]
        assert boundary and not any((s["subject_id"], s["id"]) in flagged for s in boundary), field
    lifelong = {c["person_id"] for c in certs if not c["expires_on"]}
    shopped = {s["subject_id"] for s in rows["mystery_shop"]}
    assert lifelong & shopped and not any(("REP-003", p) in truth for p in lifelong)
