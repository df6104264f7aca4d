"""The synthetic planning and people areas: the ground truth of PLN, GOL, PRF and HIR rules equals an
independent plain-Python reading of each rule on the generated CSVs, and the near-misses exist."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from auditor.synth import SynthResult, generate

from .synth_rows import SEEDS, Rows, midnight, read_rows, ts

RULES = (
    "GOL-001", "GOL-002", "HIR-001", "HIR-002", "HIR-003", "HIR-004", "HIR-005",
    "PLN-001", "PLN-002", "PLN-003", "PRF-001", "PRF-002", "PRF-003", "PRF-004",
)  # fmt: skip
Found = set[tuple[str, str, str]]
ANY_PERIOD = "*"
STAFF = {"vp", "branch_manager", "sales_manager", "team_leader", "sales_person"}  # not partners, not the director
MANAGERS = {"branch_manager", "sales_manager", "team_leader"}
FIRST_LINE = {"sales_manager", "team_leader"}


# ------------------------------------------------------------ cadences with a deadline


def periods(
    every: str, since: date, as_of: date, due: int, lead: int = 0
) -> Iterator[tuple[str, date, datetime, datetime, date]]:
    """(label, start, count from, deadline, last day to be employed) of each judged quarter or year.

    A period is judged when it starts on or after `since` and its deadline (start + `due` days) lies
    before the end of the as-of day; facts count from `lead` days before the start to the deadline.
    """
    step = 3 if every == "quarter" else 12
    year, month = since.year, 1 if every == "year" else (since.month - 1) // 3 * 3 + 1
    while True:
        start = date(year, month, 1)
        month += step
        if month > 12:
            year, month = year + 1, month - 12
        if start < since:
            continue
        deadline = midnight(start) + timedelta(days=due)
        if deadline >= midnight(as_of) + timedelta(days=1):
            return
        label = str(start.year) if every == "year" else f"{start.year}-Q{(start.month - 1) // 3 + 1}"
        last = min(date(year, month, 1) - timedelta(days=1), (deadline - timedelta(seconds=1)).date())
        yield label, start, midnight(start) - timedelta(days=lead), deadline, last


def missing_duties(
    rule_id: str,
    members: list[tuple[str, date | None, date | None]],
    done: dict[str, list[tuple[str, datetime]]],
    windows: Iterator[tuple[str, date, datetime, datetime, date]],
) -> Found:
    """(rule, member, period) for members (id, active from, active until) without a duty done for the
    period (label, moment; ANY_PERIOD counts for whichever) between the count-from moment and the deadline."""
    found = set()
    for label, start, count_from, deadline, last in windows:
        for member, begins, ends in members:
            if (begins is not None and begins > start) or (ends is not None and ends < last):
                continue
            if not any(p in (label, ANY_PERIOD) and count_from <= at <= deadline for p, at in done[member]):
                found.add((rule_id, member, label))
    return found


def people(rows: Rows, roles: set[str]) -> list[tuple[str, date | None, date | None]]:
    return [
        (p["id"], date.fromisoformat(p["joined_on"]), date.fromisoformat(p["left_on"]) if p["left_on"] else None)
        for p in rows["person"]
        if p["role"] in roles
    ]


def check_plans(rows: Rows, since: date, as_of: date) -> Found:
    """PLN-001 territory plans (31 days, lead 61), PLN-002 customer plans of key accounts (60 days, lead 61),
    PLN-003 quarterly plan reviews of first-line managers (30 days, lead 15)."""
    by_owner: dict[tuple[str, str], list[tuple[str, datetime]]] = defaultdict(list)
    by_account: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for plan in rows["business_plan"]:
        at = ts(plan["submitted_at"])
        by_owner[(plan["plan_type"], plan["owner_id"])].append((plan["period"], at))
        if plan["plan_type"] == "customer":
            by_account[plan["account_id"]].append((plan["period"], at))
    territory = defaultdict(list, {o: v for (t, o), v in by_owner.items() if t == "territory"})
    reviews = defaultdict(list, {o: v for (t, o), v in by_owner.items() if t == "quarterly_review"})
    keys = [(a["id"], date.fromisoformat(a["since"]), None) for a in rows["account"] if a["key_account"] == "true"]
    return (
        missing_duties("PLN-001", people(rows, {"sales_person"}), territory, periods("year", since, as_of, 31, 61))
        | missing_duties("PLN-002", keys, by_account, periods("year", since, as_of, 60, 61))
        | missing_duties("PLN-003", people(rows, FIRST_LINE), reviews, periods("quarter", since, as_of, 30, 15))
    )


def check_goals(rows: Rows, since: date, as_of: date) -> Found:
    """GOL-001: CSFs per managed team and quarter (30 days, lead 45); GOL-002: a CSF in the window without a measure."""
    csfs: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    found = set()
    for csf in rows["csf"]:
        defined = ts(csf["defined_on"])
        csfs[csf["team_id"]].append((csf["period"], defined))
        if not csf["measure"] and defined >= midnight(since):
            found.add(("GOL-002", csf["id"], ""))
    return found | missing_duties("GOL-001", people(rows, MANAGERS), csfs, periods("quarter", since, as_of, 30, 45))


def check_performance(rows: Rows, since: date, as_of: date) -> Found:
    """PRF-001 objectives (45 days, lead 61), PRF-002 quarterly reviews of reps (121 days), PRF-003 annual
    appraisals (90 days, lead 31, any period), PRF-004 two weak quarters without a PIP within 30 days."""
    objectives: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for o in rows["objective"]:
        objectives[o["person_id"]].append((o["year"], ts(o["set_on"])))
    quarterly: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    annual: dict[str, list[datetime]] = defaultdict(list)
    pips: dict[str, list[datetime]] = defaultdict(list)
    for r in rows["performance_review"]:
        at = ts(r["at"])
        if r["review_type"] == "quarterly":
            quarterly[r["person_id"]].append((r["period"], at))
        elif r["review_type"] == "annual":
            annual[r["person_id"]].append(at)
        else:
            pips[r["person_id"]].append(at)
    appraised = defaultdict(list, {p: [(ANY_PERIOD, at) for at in ats] for p, ats in annual.items()})
    found = (
        missing_duties("PRF-001", people(rows, STAFF), objectives, periods("year", since, as_of, 45, 61))
        | missing_duties("PRF-002", people(rows, {"sales_person"}), quarterly, periods("quarter", since, as_of, 121))
        | missing_duties("PRF-003", people(rows, STAFF), appraised, periods("year", since, as_of, 90, 31))
    )
    as_of_end = midnight(as_of) + timedelta(days=1)
    weak = [
        (r["person_id"], r["period"], ts(r["closed_on"]))
        for r in rows["sales_result"]
        if float(r["actual"]) < float(r["target"])
    ]
    for person, period, closed in weak:
        deadline = closed + timedelta(days=30)
        if closed < midnight(since) or deadline >= as_of_end:
            continue
        for other, _, before in weak:
            consecutive = other == person and closed - timedelta(days=120) <= before < closed
            if consecutive and not any(before <= at <= deadline for at in pips[person]):
                found.add(("PRF-004", person, period))
    return found


def check_hiring(rows: Rows, since: date) -> Found:
    """HIR-001 to HIR-003: a step required at or before a hire; HIR-004: an offer or hire with exactly one
    named interviewer up to it; HIR-005: different recorded question sets for one interview step of a requisition."""
    steps: dict[str, list[dict[str, str]]] = defaultdict(list)
    for s in rows["hiring_step"]:
        steps[s["candidate_id"]].append(s)
    start = midnight(since)
    required = {"HIR-001": "fit_interview", "HIR-002": "behavioural_interview", "HIR-003": "psychometric_profile"}
    found = set()
    sets: dict[tuple[str, str], set[str]] = defaultdict(set)
    for candidate, history in steps.items():
        for hire in (ts(s["at"]) for s in history if s["step"] == "hire" and ts(s["at"]) >= start):
            for rule_id, step in required.items():
                if not any(s["step"] == step and ts(s["at"]) <= hire for s in history):
                    found.add((rule_id, candidate, ""))
        interviews = [s for s in history if s["step"] in ("fit_interview", "behavioural_interview")]
        for decision in (ts(s["at"]) for s in history if s["step"] in ("offer", "hire") and ts(s["at"]) >= start):
            named = {s["interviewer_id"] for s in interviews if s["interviewer_id"] and ts(s["at"]) <= decision}
            if len(named) == 1:  # interviews after the decision do not count
                found.add(("HIR-004", candidate, ""))
        for s in interviews:
            if s["question_set"]:
                sets[(s["requisition_id"], s["step"])].add(s["question_set"])
    found |= {("HIR-005", req, step) for (req, step), used in sets.items() if len(used) > 1}
    return found


def planning_people_findings(rows: Rows, since: date, as_of: date) -> Found:
    """The findings of the 14 planning and people rules, computed directly from the CSV rows."""
    return (
        check_plans(rows, since, as_of)
        | check_goals(rows, since, as_of)
        | check_performance(rows, since, as_of)
        | check_hiring(rows, since)
    )


def truth_of(result: SynthResult) -> Found:
    return {(f["rule_id"], f["subject"], f["occurrence"]) for f in result.truth if f["rule_id"] in RULES}


# ------------------------------------------------------------ tests


@pytest.mark.parametrize("seed", SEEDS)
def test_truth_matches_independent_check(generated, seed: int) -> None:
    result, rows = generated[seed]
    found = planning_people_findings(rows, result.since, result.as_of)
    truth = truth_of(result)
    for rule in RULES:
        assert {f for f in found if f[0] == rule} == {f for f in truth if f[0] == rule}, rule


@pytest.mark.parametrize("seed", SEEDS)
def test_every_rule_has_at_least_five_injected_findings(generated, seed: int) -> None:
    result, _rows = generated[seed]
    counts = {rule: sum(1 for f in truth_of(result) if f[0] == rule) for rule in RULES}
    assert all(count >= 5 for count in counts.values()), counts


def test_other_shapes_match_independent_check(tmp_path: Path) -> None:
    shapes = ((4, 3, 1, date(2025, 12, 1)), (5, 9, 14, date(2025, 11, 1)), (6, 16, 5, date(2026, 1, 1)))
    for seed, reps, months, start in shapes:
        result = generate(tmp_path / str(seed), seed=seed, reps=reps, months=months, start=start)
        rows = read_rows(result.out_dir)
        assert planning_people_findings(rows, result.since, result.as_of) == truth_of(result), seed


@pytest.mark.parametrize("seed", SEEDS)
def test_near_misses_exist(generated, seed: int) -> None:
    result, rows = generated[seed]
    truth = truth_of(result)
    flagged = {(rule, subject) for rule, subject, _ in truth}

    # Plans: on the deadline day (or exactly at it), and prepared in the previous year, not flagged.
    territory = [p for p in rows["business_plan"] if p["plan_type"] == "territory" and p["period"] == "2026"]
    assert any(p["submitted_at"] >= "2026-01-31" and ts(p["submitted_at"]) <= datetime(2026, 2, 1) for p in territory)
    early = [p for p in rows["business_plan"] if p["period"] in ("2026", "2026-Q1") and p["submitted_at"] < "2026"]
    assert {p["plan_type"] for p in early} >= {"territory", "customer"}
    assert not any(("PLN-001", p["owner_id"], "2026") in truth for p in early if p["plan_type"] == "territory")
    # PLN-002: key accounts won during the year are not judged that year.
    won = [a for a in rows["account"] if a["key_account"] == "true" and a["since"] > "2026-01-01"]
    assert not any(("PLN-002", a["id"]) in flagged for a in won)

    # Objectives set on 15 February (the deadline day) or in November/December are on time.
    objectives = [o for o in rows["objective"] if o["year"] == "2026"]
    on_day = [o for o in objectives if o["set_on"] == "2026-02-15"]
    ahead = [o for o in objectives if o["set_on"] < "2026-01-01"]
    assert on_day and ahead
    assert not any(("PRF-001", o["person_id"], "2026") in truth for o in on_day + ahead)

    # CSFs: defined on the deadline day; without a measure but defined before the window (not judged).
    deadline_days = {"2026-Q1": "2026-01-31", "2026-Q2": "2026-05-01"}
    on_deadline = [c for c in rows["csf"] if deadline_days.get(c["period"]) == c["defined_on"]]
    assert on_deadline and not any(("GOL-001", c["team_id"], c["period"]) in truth for c in on_deadline)
    assert any(not c["measure"] and c["defined_on"] < "2026-01-01" for c in rows["csf"])

    # Quarterly reviews of Q1 in the last hours before the deadline (2 May 00:00) count; December appraisals count.
    reviews = rows["performance_review"]
    last_hours = [
        r for r in reviews if r["period"] == "2026-Q1" and "2026-05-01T20" <= r["at"] <= "2026-05-02T00:00:00"
    ]
    assert last_hours and not any(("PRF-002", r["person_id"], "2026-Q1") in truth for r in last_hours)
    assert any(r["review_type"] == "annual" and r["at"] < "2026-01-01" for r in reviews)

    # PRF-004: a Q4 result closed in January; a PIP exactly 30 days after the second weak result; a rep
    # exactly on target after a weak quarter.
    results = rows["sales_result"]
    assert any(r["period"] == "2025-Q4" and r["closed_on"] >= "2026-01-01" for r in results)
    closed = {r["closed_on"] for r in results if r["period"] == "2026-Q1"}
    deadlines = {(ts(c) + timedelta(days=30)).isoformat(timespec="seconds") for c in closed}
    assert any(r["review_type"] == "pip" and r["at"] in deadlines for r in reviews)
    assert any(float(r["actual"]) == float(r["target"]) for r in results)

    # Hiring: a profile at the moment of the hire; a panel of two named interviewers and an unnamed one; interviews
    # without a question set; a candidate who declined an offer.
    steps: dict[str, list[dict[str, str]]] = defaultdict(list)
    for s in rows["hiring_step"]:
        steps[s["candidate_id"]].append(s)
    hire_at = {c: s["at"] for c, h in steps.items() for s in h if s["step"] == "hire"}
    at_hire = [
        c for c, h in steps.items() if any(s["step"] == "psychometric_profile" and s["at"] == hire_at.get(c) for s in h)
    ]
    assert at_hire and not any(("HIR-003", c) in flagged for c in at_hire)
    panels = [
        c for c, h in steps.items() if len({s["interviewer_id"] for s in h if s["step"].endswith("interview")}) == 3
    ]
    assert panels and not any(("HIR-004", c) in flagged for c in panels)
    assert any(s["step"].endswith("interview") and not s["question_set"] for s in rows["hiring_step"])
    declined = [c for c, h in steps.items() if {"offer", "rejection"} <= {s["step"] for s in h}]
    assert declined
