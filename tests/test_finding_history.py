"""Findings across sweeps on a real database: new, recurring, resolved, reopened; waivers; triage; the audit trail."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from auditor.engine.sweep import SweepSummary, run_sweep
from auditor.findings.history import diff_sweeps, list_sweeps, show_finding
from auditor.findings.lifecycle import TransitionError
from auditor.findings.query import FindingFilter, list_findings
from auditor.findings.state import current_states
from auditor.findings.triage import UnknownFindingError, apply_action, assign, waive_pattern
from auditor.ingest import ingest_file
from auditor.rulebook import Policy, load_rulebook
from auditor.store import open_database
from auditor.store.lock import DatabaseBusyError, exclusive
from auditor.store.models import FindingEvent, SweepFinding

from .conftest import RULES

BOOK = load_rulebook([RULES])
SWEPT = [BOOK.by_id("REP-001"), BOOK.by_id("MAT-001")]
POLICY = Policy(due_days={"critical": 7, "high": 10, "medium": 30, "low": 90})
SINCE = date(2026, 1, 1)
PEOPLE = (
    "id,name,role,manager_id,region,branch,joined_on,left_on\n"
    "M1,Mia Park,team_leader,,North,Leeds,2024-01-01,\n"
    "M2,Max Roe,team_leader,,South,Bath,2024-01-01,\n"
    "P1,Ann Lee,sales_person,M1,North,Leeds,2025-01-01,\n"
    "P2,Bo Chen,sales_person,M1,North,Leeds,2025-01-01,\n"
    "P3,Cy Diaz,sales_person,M2,South,Bath,2025-01-01,\n"
)
SHOP_HEADER = "id,subject_id,at,score,badge_worn,visiting_card_given,brochure_current\n"
MS1, MS3, R1 = "REP-001|MS1|", "REP-001|MS3|", "MAT-001|R1|"


def load(engine: Engine, folder: Path, name: str, content: str) -> None:
    """Ingest one CSV file (the file name gives the fact kind)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(content, encoding="utf-8")
    with Session(engine) as session:
        result = ingest_file(session, path)
    assert result.rejected == 0


def shops(engine: Engine, tmp_path: Path, tag: str, **scores: int) -> None:
    lines = [f"{shop},{person},2026-01-20,{score},true,true,true" for shop, (person, score) in _shops(scores).items()]
    load(engine, tmp_path / tag, "mystery_shop.csv", SHOP_HEADER + "\n".join(lines) + "\n")


def _shops(scores: dict[str, int]) -> dict[str, tuple[str, int]]:
    people = {"MS1": "P1", "MS2": "P2", "MS3": "P3", "MS4": "P3"}
    return {shop: (people[shop], score) for shop, score in scores.items()}


def seed_org(engine: Engine, tmp_path: Path, people: str = PEOPLE) -> None:
    """Three people in two branches; MS1 (P1) and MS3 (P3) score below 70; kit request R1 never delivered."""
    load(engine, tmp_path / "base", "person.csv", people)
    shops(engine, tmp_path, "base", MS1=60, MS2=90, MS3=50)
    load(
        engine,
        tmp_path / "base",
        "material_request.csv",
        "id,category,item,requested_by,requested_at,quantity\nR1,sales_kit,starter kit,P1,2026-01-05T10:00:00,1\n",
    )


@pytest.fixture
def org(db_url: str, tmp_path: Path) -> Engine:
    """The organisation of `seed_org`, loaded and not yet swept."""
    engine = open_database(db_url)
    seed_org(engine, tmp_path)
    yield engine
    engine.dispose()


def sweep(engine: Engine, as_of: date, today: date | None = None) -> SweepSummary:
    return run_sweep(engine, SWEPT, as_of, SINCE, jobs=1, policy=POLICY, actor="tester", today=today or as_of)


def events(engine: Engine, key: str) -> list[tuple[str, str | None, str, int | None]]:
    with Session(engine) as session:
        rows = session.execute(
            select(FindingEvent).where(FindingEvent.finding_key == key).order_by(FindingEvent.id)
        ).scalars()
        return [(e.action, e.from_status, e.to_status, e.sweep_id) for e in rows]


def event_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(FindingEvent)).scalar_one()


def statuses(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {k: s.status for k, s in current_states(session).items()}


def snapshot(engine: Engine, sweep_id: int) -> dict[str, tuple[str, str, int]]:
    with Session(engine) as session:
        rows = session.execute(select(SweepFinding).where(SweepFinding.sweep_id == sweep_id)).scalars()
        return {r.finding_key: (r.appearance, r.status, r.age) for r in rows}


def test_new_recurring_resolved_by_data_reopened_by_data(org: Engine, tmp_path: Path) -> None:
    first = sweep(org, date(2026, 1, 31))
    assert first.lifecycle == {"new": 3}
    assert snapshot(org, first.sweep_id) == {MS1: ("new", "open", 1), MS3: ("new", "open", 1), R1: ("new", "open", 1)}

    second = sweep(org, date(2026, 2, 28))
    assert second.lifecycle == {"recurring": 3}
    assert set(snapshot(org, second.sweep_id).values()) == {("recurring", "open", 2)}
    assert event_count(org) == 3  # a finding that persists adds no event

    shops(org, tmp_path, "fixed", MS1=85)  # a corrected score: a new version of the fact
    third = sweep(org, date(2026, 3, 31))
    assert third.lifecycle == {"recurring": 2, "resolved": 1}
    assert MS1 not in snapshot(org, third.sweep_id)
    assert statuses(org)[MS1] == "resolved"

    shops(org, tmp_path, "broken", MS1=55)
    fourth = sweep(org, date(2026, 4, 30))
    assert fourth.lifecycle == {"recurring": 2, "reopened": 1}
    assert snapshot(org, fourth.sweep_id)[MS1] == ("reopened", "open", 1)
    assert snapshot(org, fourth.sweep_id)[MS3] == ("recurring", "open", 4)
    assert events(org, MS1) == [
        ("sweep", None, "open", first.sweep_id),
        ("sweep", "open", "resolved", third.sweep_id),
        ("sweep", "resolved", "open", fourth.sweep_id),
    ]
    listed = {s["id"]: s for s in list_sweeps(org)}
    assert [
        (listed[i]["new"], listed[i]["recurring"], listed[i]["resolved"], listed[i]["reopened"]) for i in (1, 2, 3, 4)
    ] == [
        (3, 0, 0, 0),
        (0, 3, 0, 0),
        (0, 2, 1, 0),
        (0, 2, 0, 1),
    ]
    diff = diff_sweeps(org, second.sweep_id, third.sweep_id)
    assert [f["key"] for f in diff["removed"]] == [MS1] and "resolved in sweep 3" in diff["removed"][0]["change"]
    assert diff["kept"] == 2 and diff["added"] == []
    shown = show_finding(org, MS1, today=date(2026, 4, 30))
    assert shown["first_seen_sweep"] == first.sweep_id and shown["last_seen_sweep"] == fourth.sweep_id
    assert [e["to"] for e in shown["history"]] == ["open", "resolved", "open"]
    assert [f["kind"] for f in shown["evidence_facts"]] == ["mystery_shop"]
    assert shown["evidence_facts"][0]["payload"]["score"] == 55


def test_manual_resolve_is_reopened_when_found_again(org: Engine) -> None:
    sweep(org, date(2026, 1, 31))
    apply_action(org, [MS3], "acknowledge", actor="alice", today=date(2026, 2, 1))
    apply_action(org, [MS3], "resolve", actor="alice", today=date(2026, 2, 2), reason="coached")
    again = sweep(org, date(2026, 2, 28))
    assert snapshot(org, again.sweep_id)[MS3] == ("reopened", "open", 1)
    assert [(a, f, t) for a, f, t, _ in events(org, MS3)] == [
        ("sweep", None, "open"),
        ("acknowledge", "open", "acknowledged"),
        ("resolve", "acknowledged", "resolved"),
        ("sweep", "resolved", "open"),
    ]
    with Session(org) as session:
        actors = session.execute(select(FindingEvent.actor).where(FindingEvent.finding_key == MS3)).scalars().all()
    assert actors == ["tester", "alice", "alice", "tester"]


def test_waiver_covers_its_last_day_and_its_lapse_reopens_the_finding(org: Engine) -> None:
    sweep(org, date(2026, 1, 31))
    (change,) = apply_action(
        org,
        [R1],
        "waive",
        actor="alice",
        today=date(2026, 2, 1),
        reason="supplier strike",
        approver="hos",
        until=date(2026, 2, 15),
    )
    assert change.to_status == "waived"
    covered = sweep(org, date(2026, 2, 14), today=date(2026, 2, 15))
    assert snapshot(org, covered.sweep_id)[R1] == ("suppressed", "waived", 2)
    assert covered.lifecycle["suppressed"] == 1
    lapsed = sweep(org, date(2026, 2, 28), today=date(2026, 2, 16))
    assert snapshot(org, lapsed.sweep_id)[R1] == ("reopened", "open", 1)
    action, from_status, to_status, sweep_id = events(org, R1)[-1]
    assert (action, from_status, to_status, sweep_id) == ("waiver_expired", "waived", "open", lapsed.sweep_id)
    shown = show_finding(org, R1, today=date(2026, 2, 16))
    assert "waiver expired on 2026-02-15" in shown["history"][-1]["note"]
    assert shown["due_on"] == "2026-03-10"  # reopened: a fresh due date from the sweep's day (high: 10 days)
    assert shown["waivers"][0]["active"] is False


def test_false_positive_stays_suppressed_until_reopened(org: Engine) -> None:
    sweep(org, date(2026, 1, 31))
    apply_action(
        org, [MS3], "false_positive", actor="bob", today=date(2026, 2, 1), reason="shopper error", approver="qa"
    )
    before = event_count(org)
    later = sweep(org, date(2026, 2, 28))
    assert snapshot(org, later.sweep_id)[MS3] == ("suppressed", "false_positive", 2)
    assert event_count(org) == before
    assert events(org, MS3)[-1][:3] == ("false_positive", "open", "false_positive")
    apply_action(org, [MS3], "reopen", actor="bob", today=date(2026, 3, 1), reason="shopper was right")
    assert snapshot(org, sweep(org, date(2026, 3, 31)).sweep_id)[MS3] == ("recurring", "open", 3)


def test_same_data_same_day_is_idempotent(org: Engine) -> None:
    first = sweep(org, date(2026, 1, 31))
    apply_action(org, [MS1], "acknowledge", actor="alice", today=date(2026, 2, 1))
    before = (event_count(org), statuses(org))
    again = sweep(org, date(2026, 1, 31))
    assert (event_count(org), statuses(org)) == before
    assert {k: v[2] for k, v in snapshot(org, again.sweep_id).items()} == {MS1: 1, MS3: 1, R1: 1}
    _, listed_first = list_findings(org, first.sweep_id)
    _, listed_again = list_findings(org, again.sweep_id)
    strip = {"appearance", "status_at_sweep", "last_seen_sweep"}
    assert [{k: v for k, v in f.items() if k not in strip} for f in listed_first] == [
        {k: v for k, v in f.items() if k not in strip} for f in listed_again
    ]


def test_pattern_waiver_covers_a_branch_now_and_in_later_sweeps(org: Engine, tmp_path: Path) -> None:
    sweep(org, date(2026, 1, 31))
    waiver, changes = waive_pattern(
        org,
        branch="Bath",
        until=date(2026, 6, 30),
        reason="relocation",
        approver="hos",
        actor="alice",
        today=date(2026, 2, 1),
    )
    assert [c.key for c in changes] == [MS3]
    shops(org, tmp_path, "more", MS4=40)  # a new finding in Bath
    later = sweep(org, date(2026, 2, 28), today=date(2026, 3, 1))
    assert snapshot(org, later.sweep_id)["REP-001|MS4|"] == ("new", "waived", 1)
    assert snapshot(org, later.sweep_id)[MS1] == ("recurring", "open", 2)  # Leeds is not covered
    assert events(org, "REP-001|MS4|")[-1][:3] == ("waive", "open", "waived")
    assert f"waiver #{waiver.id}" in show_finding(org, "REP-001|MS4|")["history"][-1]["note"]
    with pytest.raises(TransitionError, match="would waive everything"):
        waive_pattern(org, until=date(2026, 6, 30), reason="x", approver="y", actor="a", today=date(2026, 2, 1))


@pytest.mark.parametrize(
    ("keys", "action", "kwargs", "message"),
    [
        ([R1], "acknowledge", {}, "cannot acknowledge a finding that is resolved"),
        ([MS1], "waive", {"approver": "hos", "until": date(2026, 3, 1)}, "needs a reason and an approver"),
        ([MS1], "waive", {"reason": "r", "approver": "hos"}, "needs an expiry date"),
        ([MS1], "waive", {"reason": "r", "approver": "hos", "until": date(2026, 1, 31)}, "in the past"),
        ([MS1], "false_positive", {}, "needs a reason"),
        ([MS1, R1], "acknowledge", {}, "cannot acknowledge a finding that is resolved"),  # all or nothing
        (["REP-001|nope|"], "acknowledge", {}, "no finding with key"),
        (["REP-001|MS"], "acknowledge", {}, "matches 2 findings"),
    ],
)
def test_illegal_transitions_change_nothing(org: Engine, keys, action, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    sweep(org, date(2026, 1, 31))
    apply_action(org, [R1], "resolve", actor="alice", today=date(2026, 2, 1), reason="delivered by hand")
    before = (event_count(org), statuses(org))
    with pytest.raises((TransitionError, UnknownFindingError), match=message):
        apply_action(org, keys, action, actor="alice", today=date(2026, 2, 1), **kwargs)
    assert (event_count(org), statuses(org)) == before


def test_owner_and_due_date_default_from_rule_and_severity_and_can_be_reassigned(org: Engine) -> None:
    first = sweep(org, date(2026, 1, 31))
    _, rows = list_findings(org, first.sweep_id, today=date(2026, 2, 10))
    assert {(f["key"], f["owner"], f["due_on"], f["overdue"]) for f in rows} == {
        (MS1, "sales-process-quality", "2026-02-10", False),
        (MS3, "sales-process-quality", "2026-02-10", False),
        (R1, "sales-operations", "2026-02-10", False),
    }
    _, overdue = list_findings(org, first.sweep_id, FindingFilter(overdue_only=True), today=date(2026, 2, 11))
    assert len(overdue) == 3
    assign(org, [R1], actor="alice", owner="logistics", due_on=date(2026, 3, 1))
    _, overdue = list_findings(org, first.sweep_id, FindingFilter(overdue_only=True), today=date(2026, 2, 11))
    assert [f["key"] for f in overdue] == [MS1, MS3]
    assert show_finding(org, R1)["owner"] == "logistics"
    second = sweep(org, date(2026, 2, 28))
    row = next(f for f in list_findings(org, second.sweep_id)[1] if f["key"] == R1)
    assert (row["owner"], row["due_on"]) == ("logistics", "2026-03-01")  # a recurring finding keeps its assignment


def test_filters_by_region_branch_manager_and_new(org: Engine, tmp_path: Path) -> None:
    sweep(org, date(2026, 1, 31))
    shops(org, tmp_path, "more", MS4=40)
    latest = sweep(org, date(2026, 2, 28))

    def keys(**filters: object) -> list[str]:
        return [f["key"] for f in list_findings(org, latest.sweep_id, FindingFilter(**filters))[1]]  # type: ignore[arg-type]

    assert keys(regions=("South",)) == [MS3, "REP-001|MS4|"]
    assert keys(branches=("Leeds",)) == [R1, MS1]  # MAT-001 sorts before REP-001
    assert keys(managers=("M1",)) == [R1, MS1]
    assert keys(new_only=True) == ["REP-001|MS4|"]
    assert keys(rules=("MAT-*",)) == [R1]
    assert keys(statuses=("resolved",)) == []


def test_findings_and_events_are_append_only_in_the_database(org: Engine) -> None:
    sweep(org, date(2026, 1, 31))
    for statement in (
        "UPDATE findings SET status = 'resolved'",
        "DELETE FROM findings",
        "UPDATE finding_events SET to_status = 'resolved'",
        "DELETE FROM finding_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"), org.begin() as conn:
            conn.execute(text(statement))
    assert event_count(org) == 3


def test_a_second_sweep_or_triage_is_refused_while_one_runs(org: Engine) -> None:
    sweep(org, date(2026, 1, 31))
    before = (event_count(org), len(list_sweeps(org)))
    with exclusive(org, "run the first sweep"):
        with pytest.raises(DatabaseBusyError, match="another sweep is running on this database"):
            sweep(org, date(2026, 2, 28))
        with pytest.raises(DatabaseBusyError, match="cannot acknowledge findings"):
            apply_action(org, [MS1], "acknowledge", actor="a", today=date(2026, 2, 1))
    assert (event_count(org), len(list_sweeps(org))) == before
    assert sweep(org, date(2026, 2, 28)).lifecycle == {"recurring": 3}  # the lock is free again


def test_due_days_come_from_the_policy(org: Engine) -> None:
    run_sweep(org, SWEPT, date(2026, 1, 31), SINCE, jobs=1, policy=Policy(due_days={"high": 3}), actor="t")
    _, rows = list_findings(org)
    assert {f["due_on"] for f in rows} == {(date(2026, 1, 31) + timedelta(days=3)).isoformat()}
