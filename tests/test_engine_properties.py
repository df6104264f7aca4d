"""Property tests: on random fact sets the durable_rules engine and the reference evaluator agree exactly.

Times are drawn from a small grid around the boundaries that matter (equal
timestamps, exactly-at-deadline, one second past, month edges), partitions
vary in size, facts go missing, and the same key appears many times.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.engine.evaluate import evaluate
from auditor.engine.facts import EngineFact
from auditor.engine.reference import reference_evaluate
from auditor.engine.window import SweepWindow
from auditor.facts import parse_fact
from auditor.rulebook import load_rulebook

from .conftest import RULES

EXAMPLES = int(os.environ.get("AUDITOR_PROPERTY_EXAMPLES", "200"))
PROFILE = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BOOK = load_rulebook([RULES])
BASE = datetime(2026, 1, 1)

# Moments near interesting boundaries: midnight, month ends, +14 days, +/- 1 second.
offsets = st.sampled_from(
    [0, 1, 3600, 86399, 86400, 14 * 86400, 14 * 86400 + 1, 30 * 86400, 31 * 86400 - 60, 59 * 86400]
)
moments = st.builds(lambda d, o: BASE + timedelta(days=d, seconds=o), st.integers(0, 80), offsets)
days = st.builds(lambda d: (BASE + timedelta(days=d)).date(), st.integers(-40, 90))


def _facts(raw: list[dict[str, Any]]) -> list[EngineFact]:
    """Validate and keep the first fact per natural id (as ingest would)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for index, item in enumerate(raw, start=1):
        fact = parse_fact(item)
        key = (fact.kind, fact.natural_id())
        if key not in seen:
            seen.add(key)
            out.append(EngineFact.from_model(index, fact))
    return out


def _agree(rule_id: str, facts: list[EngineFact], as_of: date, since: date) -> None:
    rule = BOOK.by_id(rule_id)
    since = min(since, as_of)
    window = SweepWindow(as_of=as_of, since=since)
    engine = evaluate([rule], facts, window)
    assert engine.errors == []
    reference = reference_evaluate([rule], facts, as_of, since)
    assert [(f.key, f.evidence) for f in engine.findings] == [(f.key, f.evidence) for f in reference.findings]
    assert engine.outcomes[rule_id].checked == reference.checked[rule_id]


def _agree_inline(tmp_path_factory, rule_text: str, raw: list[dict[str, Any]], as_of: date, since: date) -> None:  # type: ignore[no-untyped-def]
    """Engine and reference agree (findings, evidence, judged sets) for rules given as YAML text."""
    path = tmp_path_factory.mktemp("rules") / "rules.yml"
    path.write_text(rule_text, encoding="utf-8")
    book = load_rulebook([path])
    assert book.problems == []
    facts = _facts(raw)
    since = min(since, as_of)
    engine = evaluate(book.rules, facts, SweepWindow(as_of=as_of, since=since))
    assert engine.errors == []
    reference = reference_evaluate(book.rules, facts, as_of, since)
    assert [(f.key, f.evidence) for f in engine.findings] == [(f.key, f.evidence) for f in reference.findings]
    for rule in book.rules:
        assert engine.outcomes[rule.id].checked == reference.checked[rule.id]


request_ids = st.sampled_from([f"R{i}" for i in range(12)])


@PROFILE
@given(
    requests=st.lists(st.tuples(request_ids, st.sampled_from(["sales_kit", "promotion"]), moments), max_size=30),
    deliveries=st.lists(st.tuples(request_ids, moments, st.sampled_from([None, 0, 1, -1, 3600])), max_size=30),
    as_of=days,
    since=days,
)
def test_within_agrees(requests, deliveries, as_of, since) -> None:  # type: ignore[no-untyped-def]
    raw = []
    times = {}
    for rid, category, at in requests:
        times.setdefault(rid, at)
        raw.append(
            {
                "kind": "material_request",
                "id": rid,
                "category": category,
                "item": "kit",
                "requested_by": "P",
                "requested_at": at,
                "quantity": 1,
            }
        )
    for rid, at, relative in deliveries:
        # Many deliveries land exactly on, just before or just after the 14-day deadline.
        when = at if relative is None or rid not in times else times[rid] + timedelta(days=14, seconds=relative)
        raw.append({"kind": "material_delivery", "request_id": rid, "delivered_at": when, "quantity": 1})
    _agree("MAT-001", _facts(raw), as_of, since)


stages = st.sampled_from(["contact", "identification", "qualification", "proposal", "negotiation", "deal", "lost"])


@PROFILE
@given(
    rows=st.lists(st.tuples(st.sampled_from([f"O{i}" for i in range(10)]), stages, moments), max_size=50),
    as_of=days,
    since=days,
)
def test_requires_before_agrees(rows, as_of, since) -> None:  # type: ignore[no-untyped-def]
    raw = [
        {"kind": "opportunity_stage", "opportunity_id": o, "stage": s, "at": at, "owner_id": "P"} for o, s, at in rows
    ]
    _agree("STG-001", _facts(raw), as_of, since)


people = st.sampled_from([f"P{i}" for i in range(8)])


@PROFILE
@given(
    members=st.lists(
        st.tuples(
            people, st.sampled_from(["sales_person", "team_leader", "partner"]), days, st.one_of(st.none(), days)
        ),
        max_size=8,
    ),
    sessions=st.lists(st.tuples(st.sampled_from([f"C{i}" for i in range(40)]), people, moments), max_size=40),
    as_of=days,
    since=days,
)
def test_cadence_agrees(members, sessions, as_of, since) -> None:  # type: ignore[no-untyped-def]
    raw: list[dict[str, Any]] = []
    for pid, role, joined, left in members:
        if left is not None and left < joined:
            left = None
        raw.append({"kind": "person", "id": pid, "name": pid, "role": role, "joined_on": joined, "left_on": left})
    for cid, pid, at in sessions:
        raw.append(
            {"kind": "coaching_session", "id": cid, "manager_id": "M", "rep_id": pid, "at": at, "plan_documented": True}
        )
    _agree("COA-001", _facts(raw), as_of, since)


@PROFILE
@given(
    shops=st.lists(
        st.tuples(
            st.sampled_from([f"S{i}" for i in range(20)]),
            moments,
            st.sampled_from([0, 50, 69, 69.99, 70, 70.01, 100]),
            st.booleans(),
            st.booleans(),
            st.booleans(),
        ),
        max_size=30,
    ),
    as_of=days,
    since=days,
)
def test_threshold_agrees(shops, as_of, since) -> None:  # type: ignore[no-untyped-def]
    raw = [
        {
            "kind": "mystery_shop",
            "id": sid,
            "subject_id": "P",
            "at": at,
            "score": score,
            "badge_worn": badge,
            "visiting_card_given": card,
            "brochure_current": brochure,
        }
        for sid, at, score, badge, card, brochure in shops
    ]
    _agree("REP-001", _facts(raw), as_of, since)


REPORT_RULE = """\
area: coaching
rules:
  - id: T-RIDE
    title: Field visit report not filed within 48 hours
    severity: medium
    owner: sales-management
    rationale: A ride-along is only useful when its observations are written down while fresh.
    check:
      within:
        trigger: {fact: ride_along}
        expect: {fact: ride_along, match: {id: id}, at: report_filed_at, where: "report_filed_at != null"}
        limit: hours(48)
    message: "{{ trigger.id }}"
"""


@PROFILE
@given(
    visits=st.lists(
        st.tuples(
            st.sampled_from([f"V{i}" for i in range(15)]),
            moments,
            st.one_of(st.none(), st.sampled_from([0, 3600, 48 * 3600 - 1, 48 * 3600, 48 * 3600 + 1, 5 * 86400])),
        ),
        max_size=25,
    ),
    as_of=days,
    since=days,
)
def test_within_on_one_fact_in_two_roles_agrees(tmp_path_factory, visits, as_of, since) -> None:  # type: ignore[no-untyped-def]
    raw = [
        {
            "kind": "ride_along",
            "id": vid,
            "manager_id": "M",
            "rep_id": "P",
            "at": at,
            "report_filed_at": None if delay is None else at + timedelta(seconds=delay),
        }
        for vid, at, delay in visits
    ]
    _agree_inline(tmp_path_factory, REPORT_RULE, raw, as_of, since)


SEQUENCE_RULE = """\
area: sales_stages
rules:
  - id: T-SEQ
    title: Sales stages out of order or skipped
    severity: medium
    owner: sales-operations
    rationale: Opportunities move through the stages in order.
    check:
      sequence:
        fact: {fact: opportunity_stage}
        subject: opportunity_id
        field: stage
        steps: [contact, identification, qualification, proposal, negotiation, deal]
        mandatory: [qualification, proposal]
    message: "{{ subject }}: {{ problems | join('; ') }}"
"""


@PROFILE
@given(
    rows=st.lists(st.tuples(st.sampled_from([f"O{i}" for i in range(8)]), stages, moments), max_size=50),
    as_of=days,
    since=days,
)
def test_sequence_agrees(tmp_path_factory, rows, as_of, since) -> None:  # type: ignore[no-untyped-def]
    raw = [
        {"kind": "opportunity_stage", "opportunity_id": o, "stage": s, "at": at, "owner_id": "P"} for o, s, at in rows
    ]
    _agree_inline(tmp_path_factory, SEQUENCE_RULE, raw, as_of, since)


MATCH_RULES = """\
area: hiring
rules:
  - id: T-ONE-INTERVIEWER
    title: Hire with fewer than two different interviewers
    severity: medium
    owner: sales-management
    rationale: Several interviewers make hiring decisions less personal.
    check:
      match:
        facts:
          hire: {fact: hiring_step, where: "step in ['offer', 'hire']"}
          first: {fact: hiring_step, where: "interviewer_id != null"}
        none:
          other: {fact: hiring_step, where: "interviewer_id != null and interviewer_id != first.interviewer_id"}
        key: candidate_id
        subject: hire.candidate_id
    message: "{{ subject }}"
  - id: T-QUESTIONS
    title: Candidates of one requisition asked different question sets
    severity: low
    owner: sales-management
    rationale: The same questions for every candidate make answers comparable.
    check:
      match:
        facts:
          one: {fact: hiring_step, where: "question_set != null"}
          two: {fact: hiring_step, where: "question_set != null and question_set != one.question_set"}
        key: requisition_id
        subject: one.requisition_id
        occurrence: two.question_set
    message: "{{ subject }}"
"""

steps = st.sampled_from(["application", "fit_interview", "behavioural_interview", "offer", "hire", "rejection"])


@PROFILE
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from([f"H{i}" for i in range(30)]),
            st.sampled_from(["C1", "C2", "C3", "C4"]),
            st.sampled_from(["REQ1", "REQ2"]),
            steps,
            moments,
            st.one_of(st.none(), st.sampled_from(["M1", "M2", "M3"])),
            st.one_of(st.none(), st.sampled_from(["QA", "QB"])),
        ),
        max_size=30,
    ),
    as_of=days,
    since=days,
)
def test_match_agrees(tmp_path_factory, rows, as_of, since) -> None:  # type: ignore[no-untyped-def]
    raw = [
        {
            "kind": "hiring_step",
            "id": hid,
            "candidate_id": cand,
            "requisition_id": req,
            "step": step,
            "at": at,
            "interviewer_id": who,
            "question_set": questions,
        }
        for hid, cand, req, step, at, who, questions in rows
    ]
    _agree_inline(tmp_path_factory, MATCH_RULES, raw, as_of, since)


EARLY_COACHING_RULE = """\
area: coaching
rules:
  - id: T-EARLY
    title: Rep not coached in the first half of a month
    severity: low
    owner: sales-management
    rationale: Coaching early in the month leaves time to act on it.
    params: {days_in: 15}
    check:
      cadence:
        population: {fact: person, where: "role == 'sales_person'"}
        expect: {fact: coaching_session, match: {rep_id: id}, where: "at < period.start + days(days_in)"}
        every: month
    message: "{{ subject }}"
"""


@PROFILE
@given(
    members=st.lists(st.tuples(people, days), max_size=6),
    sessions=st.lists(st.tuples(st.sampled_from([f"C{i}" for i in range(40)]), people, moments), max_size=40),
    as_of=days,
    since=days,
)
def test_cadence_with_period_bounds_agrees(tmp_path_factory, members, sessions, as_of, since) -> None:  # type: ignore[no-untyped-def]
    raw: list[dict[str, Any]] = [
        {"kind": "person", "id": pid, "name": pid, "role": "sales_person", "joined_on": joined}
        for pid, joined in members
    ]
    raw += [
        {"kind": "coaching_session", "id": cid, "manager_id": "M", "rep_id": pid, "at": at, "plan_documented": True}
        for cid, pid, at in sessions
    ]
    _agree_inline(tmp_path_factory, EARLY_COACHING_RULE, raw, as_of, since)


DEADLINE_RULES = """\
area: business_planning
rules:
  - id: T-QDUE
    title: Quarterly review not submitted by its deadline
    severity: low
    owner: sales-management
    rationale: A deadline after the period start, reviews may come early.
    params: {review_every: quarter}
    check:
      cadence:
        population: {fact: person, where: "role == 'sales_person'"}
        expect:
          fact: business_plan
          match: {owner_id: id}
          where: "plan_type == 'quarterly_review' and period == period.label"
        every: review_every
        due: days(20)
        lead: days(15)
    message: "{{ subject }}"
  - id: T-YDUE
    title: Territory plan not submitted by the deadline of the year
    severity: low
    owner: sales-management
    rationale: Yearly deadline; labels are years.
    check:
      cadence:
        population: {fact: person}
        expect:
          fact: business_plan
          match: {owner_id: id}
          where: "plan_type == 'territory' and period == period.label"
        every: year
        due: hours(750)
        lead: days(40)
    message: "{{ subject }}"
  - id: T-WDUE
    title: Weekly item missing by Monday noon
    severity: low
    owner: sales-management
    rationale: Week periods with a deadline in the next week.
    check:
      cadence:
        population: {fact: person}
        expect: {fact: business_plan, match: {owner_id: id}, where: "submitted_at >= period.start - days(1)"}
        every: week
        due: hours(180)
    message: "{{ subject }}"
"""

plan_moments = st.builds(lambda d, o: BASE + timedelta(days=d, seconds=o), st.integers(-50, 100), offsets)


@PROFILE
@given(
    members=st.lists(st.tuples(people, days, st.one_of(st.none(), days)), max_size=5),
    plans=st.lists(
        st.tuples(
            st.sampled_from([f"P{i}" for i in range(30)]),
            people,
            st.sampled_from(["quarterly_review", "territory"]),
            st.sampled_from(["2026", "2025", "2026-Q1", "2026-Q2", "2025-Q4"]),
            plan_moments,
        ),
        max_size=30,
    ),
    as_of=days,
    since=days,
)
def test_cadence_with_deadline_lead_and_labels_agrees(tmp_path_factory, members, plans, as_of, since) -> None:  # type: ignore[no-untyped-def]
    raw: list[dict[str, Any]] = [
        {
            "kind": "person",
            "id": pid,
            "name": pid,
            "role": "sales_person",
            "joined_on": joined,
            "left_on": left if left is not None and left >= joined else None,
        }
        for pid, joined, left in members
    ]
    raw += [
        {"kind": "business_plan", "id": bid, "plan_type": kind, "owner_id": pid, "period": period, "submitted_at": at}
        for bid, pid, kind, period, at in plans
    ]
    _agree_inline(tmp_path_factory, DEADLINE_RULES, raw, as_of, since)
