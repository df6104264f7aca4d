"""The synthetic generator: valid, unique, deterministic rows and a ground truth that an
independent plain-Python check of the four rules reproduces exactly."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from auditor.facts import FACT_KINDS, model_for
from auditor.synth import generate
from auditor.synth.generator import COVERED_RULES

from .synth_rows import SEEDS, Rows, given, read_rows, ts

RULES = COVERED_RULES


# ------------------------------------------------------------ independent rule checks


def month_after(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def check_stg(rows: Rows, since_start: datetime) -> set[tuple[str, str, str]]:
    quals: dict[str, list[datetime]] = defaultdict(list)
    for r in rows["opportunity_stage"]:
        if r["stage"] == "qualification":
            quals[r["opportunity_id"]].append(ts(r["at"]))
    found = set()
    for r in rows["opportunity_stage"]:
        at = ts(r["at"])
        judged = r["stage"] in ("proposal", "negotiation", "deal") and at >= since_start
        if judged and not any(q <= at for q in quals[r["opportunity_id"]]):
            found.add(("STG-001", r["opportunity_id"], ""))
    return found


def check_coa(rows: Rows, since: date, as_of: date) -> set[tuple[str, str, str]]:
    sessions: dict[str, list[datetime]] = defaultdict(list)
    for r in rows["coaching_session"]:
        sessions[r["rep_id"]].append(ts(r["at"]))
    found = set()
    month = date(since.year, since.month, 1)
    if month < since:
        month = month_after(month)
    while month_after(month) - timedelta(days=1) <= as_of:
        last = month_after(month) - timedelta(days=1)
        lo, hi = ts(month.isoformat()), ts(month_after(month).isoformat())
        for p in rows["person"]:
            if p["role"] != "sales_person":
                continue
            joined = date.fromisoformat(p["joined_on"])
            left = date.fromisoformat(p["left_on"]) if p["left_on"] else None
            if joined > month or (left is not None and left < last):
                continue
            if not any(lo <= at < hi for at in sessions[p["id"]]):
                found.add(("COA-001", p["id"], month.strftime("%Y-%m")))
        month = month_after(month)
    return found


def check_mat(rows: Rows, since_start: datetime, as_of_end: datetime) -> set[tuple[str, str, str]]:
    deliveries: dict[str, list[datetime]] = defaultdict(list)
    for d in rows["material_delivery"]:
        deliveries[d["request_id"]].append(ts(d["delivered_at"]))
    found = set()
    turnaround = {"sales_kit": ("MAT-001", 14), "promotion": ("MAT-002", 21), "representation": ("MAT-003", 7)}
    for r in rows["material_request"]:
        requested = ts(r["requested_at"])
        if requested < since_start:
            continue
        rule_id, days = turnaround[r["category"]]
        deadline = requested + timedelta(days=days)
        on_time = any(at <= deadline for at in deliveries[r["id"]])
        if not on_time and deadline < as_of_end:
            found.add((rule_id, r["id"], ""))
    return found


def check_rep(rows: Rows, since_start: datetime) -> set[tuple[str, str, str]]:
    found = set()
    for r in rows["mystery_shop"]:
        if ts(r["at"]) < since_start:
            continue
        if float(r["score"]) < 70:
            found.add(("REP-001", r["id"], ""))
        checklist = (r["badge_worn"], r["visiting_card_given"], r["brochure_current"], r["correct_claims"])
        if "false" in checklist:
            found.add(("REP-002", r["id"], ""))
    return found


def check_coa_plans(rows: Rows, since_start: datetime) -> set[tuple[str, str, str]]:
    return {
        ("COA-002", r["id"], "")
        for r in rows["coaching_session"]
        if r["plan_documented"] == "false" and ts(r["at"]) >= since_start
    }


def check_coa_reports(rows: Rows, since_start: datetime, as_of_end: datetime) -> set[tuple[str, str, str]]:
    found = set()
    for r in rows["ride_along"]:
        visit = ts(r["at"])
        due = visit + timedelta(hours=48)
        filed = ts(r["report_filed_at"]) if r["report_filed_at"] else None
        late = filed > due if filed is not None else due < as_of_end
        if visit >= since_start and late:
            found.add(("COA-003", r["id"], ""))
    return found


FUNNEL_ORDER = [
    "contact",
    "information_exchange",
    "lead_generation",
    "identification",
    "qualification",
    "proposal",
    "negotiation",
    "deal",
    "after_sales",
]


def check_stg_more(rows: Rows, since_start: datetime) -> set[tuple[str, str, str]]:
    """STG-002: a deal with no proposal at or before it; STG-003: a later stage dated before an earlier one."""
    by_opp: dict[str, list[tuple[str, datetime]]] = {}
    for r in rows["opportunity_stage"]:
        by_opp.setdefault(r["opportunity_id"], []).append((r["stage"], ts(r["at"])))
    found = set()
    for opp, stages in by_opp.items():
        for stage, at in stages:
            if stage == "deal" and at >= since_start and not any(s == "proposal" and t <= at for s, t in stages):
                found.add(("STG-002", opp, ""))
        ranked = [(FUNNEL_ORDER.index(s), t) for s, t in stages if s in FUNNEL_ORDER]
        if any(ra < rb and tb < ta and ta >= since_start for ra, ta in ranked for rb, tb in ranked):
            found.add(("STG-003", opp, ""))
    return found


def check_presales(rows: Rows, since_start: datetime, as_of_end: datetime) -> set[tuple[str, str, str]]:
    """PRE-001: answered within two weekdays (same time of day; no holidays in the synthetic data)."""
    found = set()
    for r in rows["presales_request"]:
        asked = ts(r["requested_at"])
        if asked < since_start:
            continue
        due, left = asked, 2
        while left:
            due += timedelta(days=1)
            left -= due.weekday() < 5
        answered = ts(r["answered_at"]) if r["answered_at"] else None
        if (answered is None and due < as_of_end) or (answered is not None and answered > due):
            found.add(("PRE-001", r["id"], ""))
    return found


def independent_findings(rows: Rows, since: date, as_of: date) -> list[dict[str, str]]:
    since_start = ts(since.isoformat())
    as_of_end = ts(as_of.isoformat()) + timedelta(days=1)
    found = (
        check_stg(rows, since_start)
        | check_coa(rows, since, as_of)
        | check_mat(rows, since_start, as_of_end)
        | check_rep(rows, since_start)
        | check_coa_plans(rows, since_start)
        | check_coa_reports(rows, since_start, as_of_end)
        | check_stg_more(rows, since_start)
        | check_presales(rows, since_start, as_of_end)
    )
    return [{"rule_id": r, "subject": s, "occurrence": o} for r, s, o in sorted(found)]


# ------------------------------------------------------------ tests


@pytest.mark.parametrize("seed", SEEDS)
def test_rows_validate_and_natural_ids_are_unique(generated, seed: int) -> None:
    result, rows = generated[seed]
    assert [p.name for p in result.files] == [f"{kind}.csv" for kind in FACT_KINDS]
    assert result.facts == sum(len(r) for r in rows.values())
    for kind, kind_rows in rows.items():
        assert kind_rows, f"no {kind} rows"
        model = model_for(kind)
        ids = [model.model_validate(given(row) | {"kind": kind}).natural_id() for row in kind_rows]
        assert len(ids) == len(set(ids)), f"duplicate natural ids in {kind}"


@pytest.mark.parametrize("seed", SEEDS)
def test_no_fact_after_the_as_of_day(generated, seed: int) -> None:
    result, rows = generated[seed]
    as_of_end = ts(result.as_of.isoformat()) + timedelta(days=1)
    for kind, kind_rows in rows.items():
        model = model_for(kind)
        for row in kind_rows:
            assert model.model_validate(given(row) | {"kind": kind}).occurred_at() < as_of_end


@pytest.mark.parametrize("seed", SEEDS)
def test_window_and_truth_file(generated, seed: int) -> None:
    result, _rows = generated[seed]
    assert result.since == date(2026, 1, 1)
    assert result.as_of == date(2026, 7, 10)
    document = json.loads((result.out_dir / "ground_truth.json").read_text(encoding="utf-8"))
    assert document["as_of"] == "2026-07-10" and document["since"] == "2026-01-01"
    assert document["findings"] == result.truth
    keys = [(f["rule_id"], f["subject"], f["occurrence"]) for f in result.truth]
    assert keys == sorted(keys) and len(keys) == len(set(keys))
    counts = {rule: sum(1 for k in keys if k[0] == rule) for rule in RULES}
    headline = ("COA-001", "MAT-001", "REP-001", "STG-001")  # high-volume processes: dozens each
    assert all(counts[rule] >= 12 for rule in headline), counts
    assert all(count >= 5 for count in counts.values()), counts


@pytest.mark.parametrize("seed", SEEDS)
def test_truth_matches_independent_check(generated, seed: int) -> None:
    result, rows = generated[seed]
    assert independent_findings(rows, result.since, result.as_of) == of_checked_rules(result.truth)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", seed=7, reps=8, months=3)
    second = generate(tmp_path / "b", seed=7, reps=8, months=3)
    other = generate(tmp_path / "c", seed=8, reps=8, months=3)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert len(names) == len(FACT_KINDS) + 1
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first.truth == second.truth and first.facts == second.facts
    assert other.truth != first.truth


def test_other_shapes_match_independent_check(tmp_path: Path) -> None:
    for seed, reps, months, start in ((4, 3, 1, date(2025, 12, 1)), (5, 9, 14, date(2025, 11, 1))):
        result = generate(tmp_path / str(seed), seed=seed, reps=reps, months=months, start=start)
        rows = read_rows(result.out_dir)
        assert result.as_of == month_after_n(start, months) + timedelta(days=9)
        assert independent_findings(rows, result.since, result.as_of) == of_checked_rules(result.truth)


CHECKED_HERE = frozenset(
    {"COA-001", "COA-002", "COA-003", "MAT-001", "MAT-002", "MAT-003", "PRE-001", "REP-001", "REP-002"}
    | {"STG-001", "STG-002", "STG-003"}
)
"""Rules whose independent check lives in this file; the other areas' checks are in tests/test_synth_*.py."""


def of_checked_rules(truth: list[dict[str, str]]) -> list[dict[str, str]]:
    """The truth entries of the rules checked in this file."""
    return [f for f in truth if f["rule_id"] in CHECKED_HERE]


def month_after_n(day: date, months: int) -> date:
    for _ in range(months):
        day = month_after(day)
    return day


def test_start_must_be_first_of_month(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, start=date(2026, 1, 2))


# ------------------------------------------------------------ near-misses exist


@pytest.mark.parametrize("seed", SEEDS)
def test_near_misses_exist(generated, seed: int) -> None:
    result, rows = generated[seed]
    truth = {(f["rule_id"], f["subject"]) for f in result.truth}
    as_of_end = ts(result.as_of.isoformat()) + timedelta(days=1)

    # STG-001: qualification at exactly the proposal time; early stops; late qualification.
    by_opp: dict[str, dict[str, datetime]] = defaultdict(dict)
    for r in rows["opportunity_stage"]:
        by_opp[r["opportunity_id"]][r["stage"]] = ts(r["at"])
    proposed = {o: s for o, s in by_opp.items() if "proposal" in s}
    same = [o for o, s in proposed.items() if s["proposal"] == s.get("qualification")]
    late = [o for o, s in proposed.items() if s.get("qualification", as_of_end) > s["proposal"]]
    early = [o for o, s in by_opp.items() if not {"proposal", "negotiation", "deal"} & set(s)]
    assert same and not any(("STG-001", o) in truth for o in same)
    assert any("qualification" in by_opp[o] for o in late)
    assert any("qualification" not in by_opp[o] for o in late)
    assert early and not any(("STG-001", o) in truth for o in early)

    # COA-001: sessions on the 1st at 00:00 and on the last day at 23:59; partial month empty.
    times = [ts(r["at"]) for r in rows["coaching_session"]]
    assert any(t.day == 1 and t.hour == 0 and t.minute == 0 for t in times)
    assert any((t + timedelta(days=1)).day == 1 and (t.hour, t.minute) == (23, 59) for t in times)
    assert all(t < datetime(2026, 7, 1) for t in times)
    people = {p["id"]: p for p in rows["person"]}
    joined_2nd = [p for p in people.values() if p["joined_on"].endswith("-02")]
    assert joined_2nd
    for p in joined_2nd:
        month = p["joined_on"][:7]
        assert not any(
            ts(r["at"]).strftime("%Y-%m") == month for r in rows["coaching_session"] if r["rep_id"] == p["id"]
        )
        assert ("COA-001", p["id"], month) not in {tuple(f.values()) for f in result.truth}
    assert any(p["left_on"] and p["left_on"] >= "2026-01-01" for p in people.values())

    # MAT-001: on time exactly at the deadline; undelivered but not yet due; late other categories.
    requests = {r["id"]: r for r in rows["material_request"]}
    delivered: dict[str, list[datetime]] = defaultdict(list)
    for d in rows["material_delivery"]:
        delivered[d["request_id"]].append(ts(d["delivered_at"]))
    kits = [r for r in requests.values() if r["category"] == "sales_kit"]
    deadline = {r["id"]: ts(r["requested_at"]) + timedelta(days=14) for r in requests.values()}
    assert any(deadline[r["id"]] in delivered[r["id"]] for r in kits)
    assert any(not delivered[r["id"]] and deadline[r["id"]] == as_of_end for r in kits)
    assert any(not delivered[r["id"]] and deadline[r["id"]] > as_of_end for r in kits)
    assert any(
        r["category"] != "sales_kit" and any(t > deadline[r["id"]] for t in delivered[r["id"]])
        for r in requests.values()
    )

    # REP-001: a score of exactly 70 with every check passed is not a lapse.
    checks = ("badge_worn", "visiting_card_given", "brochure_current")
    at_70 = [r for r in rows["mystery_shop"] if float(r["score"]) == 70 and all(r[c] == "true" for c in checks)]
    assert at_70 and not any(("REP-001", r["id"]) in truth for r in at_70)
    roles = {people[r["subject_id"]]["role"] for r in rows["mystery_shop"]}
    assert roles == {"sales_person", "partner"}


def test_every_shipped_rule_is_covered_by_the_generator() -> None:
    from auditor.rulebook import load_rulebook

    from .conftest import RULES as RULES_DIR

    book = load_rulebook([RULES_DIR])
    assert book.problems == []
    assert sorted(rule.id for rule in book.rules) == sorted(COVERED_RULES)


def test_demo_organisation_has_deviations_in_every_process_area(tmp_path: Path) -> None:
    from auditor.demo import DEMO_MONTHS, DEMO_REPS, DEMO_SEED
    from auditor.rulebook import load_rulebook

    from .conftest import RULES as RULES_DIR

    book = load_rulebook([RULES_DIR])
    result = generate(tmp_path, seed=DEMO_SEED, reps=DEMO_REPS, months=DEMO_MONTHS)
    area_of = {rule.id: rule.area for rule in book.rules}
    with_findings = {area_of[f["rule_id"]] for f in result.truth}
    assert with_findings == set(area_of.values())
    assert {f["rule_id"] for f in result.truth} == set(area_of)  # every rule, not only every area
