"""Incremental sweeps store exactly what full sweeps store, after random corrections, new facts and window moves.

Two databases get the same history (a synthetic organisation, then rounds of random changes and sweeps); one
sweeps incrementally, the other with `full=True`. Every row the sweeps store must be equal: findings with their
lifecycle, events, rule checks, cadence results, KPIs. On PostgreSQL (one database) the incremental sweep is
compared with a full sweep of the same window that follows it.
"""

from __future__ import annotations

import json
import random
import zlib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from auditor.engine.incremental import plan_sweep
from auditor.engine.states import Partitions
from auditor.engine.sweep import SweepSummary, load_facts, run_sweep
from auditor.engine.window import SweepWindow
from auditor.findings import triage
from auditor.ingest import ingest_file
from auditor.rulebook import Policy, load_rulebook
from auditor.store import open_database
from auditor.store.compression import ZSTD_MAGIC
from auditor.store.models import (
    CadenceResult,
    FactRow,
    FindingEvent,
    FindingLink,
    FindingRow,
    RuleCheck,
    RuleState,
    Sweep,
    SweepFinding,
)
from auditor.synth import generate

from .conftest import RULES, postgres_twin_url, postgres_url

REPS, MONTHS = 5, 4
SKIP_FIELDS = {"kind"}


def _org(tmp: Path, seed: int) -> Any:
    return generate(tmp / f"org{seed}", seed=seed, reps=REPS, months=MONTHS)


def _ingest_org(engine: Engine, org: Any) -> None:
    for path in sorted(org.files):
        with Session(engine) as session:
            ingest_file(session, path, jobs=1)


def _changes(engine: Engine, rng: random.Random, share: float, out: Path) -> Path:
    """A JSONL batch: corrected versions of a random share of the current facts, and a few new facts."""
    with Session(engine) as session:
        rows = session.execute(select(FactRow.kind, FactRow.payload).where(FactRow.current.is_(True))).all()
    by_field: dict[tuple[str, str], list[Any]] = {}
    for kind, payload in rows:
        for name, value in payload.items():
            by_field.setdefault((kind, name), []).append(value)
    records = []
    for kind, payload in rng.sample(rows, max(1, int(len(rows) * share))):
        record = dict(payload)
        names = [n for n in record if n not in SKIP_FIELDS and n != "id"]
        if not names:
            continue
        name = rng.choice(names)
        value = record[name]
        if isinstance(value, bool):
            record[name] = not value
        elif isinstance(value, (int, float)):
            record[name] = value + rng.choice([-30, -5, 1, 7, 40])
        elif isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
            shifted = date.fromisoformat(value[:10]) + timedelta(days=rng.choice([-40, -3, 2, 9, 35]))
            record[name] = shifted.isoformat() + value[10:]
        elif value is not None:
            record[name] = rng.choice(by_field[(kind, name)])
        records.append(record)
    for _kind, payload in rng.sample(rows, max(1, int(len(rows) * share / 4))):
        if "id" in payload:  # a new fact: a copy under a new id
            records.append(dict(payload, id=f"{payload['id']}-n{rng.randrange(10**6)}"))
    path = out / f"changes-{rng.randrange(10**9)}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _ingest_changes(engines: list[Engine], path: Path) -> None:
    for engine in engines:
        with Session(engine) as session:
            ingest_file(session, path, max_reject_rate=1.0, jobs=1)


def _snapshot(engine: Engine, sweep_id: int, lifecycle: bool = True) -> dict[str, Any]:
    """Everything a sweep stored, without row ids and wall-clock times."""

    def rows(model: Any, skip: set[str]) -> list[tuple[Any, ...]]:
        columns = [c for c in model.__table__.columns if c.name not in skip | {"id"}]
        query = select(*columns).where(model.sweep_id == sweep_id)
        return sorted(tuple(json.dumps(v, default=str) for v in row) for row in session.execute(query))

    finding_skip = set() if lifecycle else {"appearance", "status", "age", "due_on", "first_seen_sweep", "sweep_id"}
    with Session(engine) as session:
        sweep = session.get_one(Sweep, sweep_id)
        kpis = dict(sweep.kpis or {})
        kpis.pop("basis", None)
        kpis.pop("sweep_id", None)
        out = {
            "sweep": (sweep.as_of, sweep.since, sweep.facts_evaluated, sweep.findings_count, sweep.status, kpis),
            "findings": rows(SweepFinding, finding_skip),
            "checks": rows(RuleCheck, {"sweep_id"}),
            "cadence": rows(CadenceResult, {"sweep_id"}),
        }
        if lifecycle:
            out["events"] = rows(FindingEvent, {"at"})
    return out


def _summary(
    engine: Engine, as_of: date, policy: Policy, full: bool, rules_dir: Path = RULES, today: date | None = None
) -> SweepSummary:
    book = load_rulebook([rules_dir], policy)
    summary = run_sweep(
        engine, book.rules, as_of, jobs=1, policy=book.policy, rules_digest=book.digest, today=today or as_of, full=full
    )
    assert not summary.errors
    return summary


def _sweep(
    engine: Engine, as_of: date, policy: Policy, full: bool, rules_dir: Path = RULES, today: date | None = None
) -> int:
    return _summary(engine, as_of, policy, full, rules_dir, today).sweep_id


def _both(
    inc: Engine, full: Engine, as_of: date, policy: Policy, rules_dir: Path = RULES, today: date | None = None
) -> int:
    """The same sweep, incremental in one database and full in its twin: the same id and lifecycle counts."""
    a = _summary(inc, as_of, policy, False, rules_dir, today)
    b = _summary(full, as_of, policy, True, rules_dir, today)
    assert (a.sweep_id, a.lifecycle) == (b.sweep_id, b.lifecycle)
    return a.sweep_id


def _changed_rules(tmp: Path) -> Path:
    """The catalog with two rules' limits changed (their definitions, hence fingerprints, differ)."""
    target = tmp / "rules-changed"
    target.mkdir()
    for path in RULES.glob("*.yml"):
        text = path.read_text(encoding="utf-8")
        text = text.replace("tat_days: 14", "tat_days: 10").replace("at_least: 1\n", "at_least: 2\n", 1)
        (target / path.name).write_text(text, encoding="utf-8")
    return target


@pytest.mark.parametrize(("seed", "database"), [(3, "sqlite"), (8, "sqlite"), (3, "postgresql")])
def test_incremental_equals_full_through_random_changes(tmp_path: Path, seed: int, database: str) -> None:
    org = _org(tmp_path, seed)
    if database == "postgresql":  # two databases on the server: the copies of rows are made in SQL
        inc, full = open_database(postgres_url()), open_database(postgres_twin_url())
    else:
        inc = open_database(f"sqlite:///{tmp_path / 'inc.db'}")
        full = open_database(f"sqlite:///{tmp_path / 'full.db'}")
    _ingest_org(inc, org)
    _ingest_org(full, org)
    rng = random.Random(seed)
    holiday = Policy(holidays=frozenset({org.as_of - timedelta(days=20)}))
    changed = _changed_rules(tmp_path)
    # (share of facts corrected, as-of shift in days, days from as-of to today, policy, rules); re-sweeps of the
    # same window on a later day lapse the waivers granted between sweeps; the seeds take different paths
    rounds = [(0, 0, 0, Policy(), RULES), (0.02, 0, 0, Policy(), RULES)]
    if seed % 2:
        rounds += [(0.0, 0, 5, Policy(), RULES), (0.01, 7, 0, holiday, RULES), (0.03, 7, 0, holiday, RULES)]
    else:
        rounds += [(0.01, 0, 4, Policy(), RULES), (0.01, 7, 0, Policy(), changed), (0.05, 7, 0, Policy(), changed)]
    carried = lapsed = 0
    for share, shift, later, policy, rules_dir in rounds:
        if share:
            _ingest_changes([inc, full], _changes(inc, rng, share, tmp_path))
        if share and not shift:
            _ingest_changes([inc, full], _move_person(inc, tmp_path))
        as_of = org.as_of + timedelta(days=shift)
        today = as_of + timedelta(days=later)
        a = _both(inc, full, as_of, policy, rules_dir, today)
        assert _snapshot(inc, a) == _snapshot(full, a), (share, shift, rules_dir)
        carried += _states_agree(inc, full)
        lapsed += _lapses(inc, a) if later else 0
        _triage([inc, full], a, today, rng)
    assert carried  # the incremental database did carry partitions over
    assert lapsed  # a waiver lapsed in a re-sweep of the same window
    assert _linked(inc) and not _linked(full)  # the re-sweeps linked rows (also rows linked before), never copied
    inc.dispose()
    full.dispose()


def _move_person(engine: Engine, out: Path) -> Path:
    """A correction moving the first sales person under another sales person, who becomes a manager: the team
    manager that the new manager's carried cadence rows name changes (roster.team_manager)."""
    with Session(engine) as session:
        query = select(FactRow.payload).where(FactRow.current.is_(True), FactRow.kind == "person")
        people = sorted((payload for (payload,) in session.execute(query)), key=lambda p: p["id"])
    person = next(p for p in people if p["role"] == "sales_person")
    lead = next(p for p in people if p["role"] == "sales_person" and p["id"] != person["id"])
    path = out / f"move-{person['id']}-{lead['id']}.jsonl"
    path.write_text(json.dumps(dict(person, manager_id=lead["id"])) + "\n", encoding="utf-8")
    return path


def _linked(engine: Engine) -> int:
    """How many finding rows sweeps hold by link (`FindingLink`)."""
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(FindingLink)).scalar_one()


def _triage(engines: list[Engine], sweep_id: int, today: date, rng: random.Random) -> None:
    """The same triage in each database between sweeps: actions, new owners and due dates, a waiver that lapses
    before the next sweep's day and one by pattern (the lifecycle a carried finding's row depends on)."""
    with Session(engines[0]) as session:
        rows = session.execute(
            select(SweepFinding.finding_key, SweepFinding.status, SweepFinding.rule_id, SweepFinding.subject)
            .where(SweepFinding.sweep_id == sweep_id)
            .order_by(SweepFinding.finding_key)
        ).all()
    active = [row for row in rows if row.status in ("open", "acknowledged")]
    if len(active) < 12:
        return
    picked = rng.sample(active, 12)
    for engine in engines:
        triage.apply_action(engine, [r.finding_key for r in picked[:3]], "resolve", actor="t", today=today)
        triage.apply_action(
            engine, [r.finding_key for r in picked[3:5]], "false_positive", actor="t", today=today, reason="r"
        )
        triage.apply_action(
            engine, [picked[5].finding_key], "waive", actor="t", today=today, reason="r", approver="a", until=today
        )
        triage.apply_action(
            engine,
            [picked[6].finding_key],
            "waive",
            actor="t",
            today=today,
            reason="r",
            approver="a",
            until=today + timedelta(days=60),
        )
        open_ones = [r.finding_key for r in picked[7:9] if r.status == "open"]
        if open_ones:
            triage.apply_action(engine, open_ones, "acknowledge", actor="t", today=today)
        triage.assign(engine, [picked[9].finding_key], actor="t", owner="someone else", due_on=today)
        triage.waive_pattern(
            engine,
            rule=picked[10].rule_id,
            subject=picked[10].subject,
            until=today + timedelta(days=3),
            reason="r",
            approver="a",
            actor="t",
            today=today,
        )


def _swept_twins(tmp: Path, seed: int) -> tuple[Any, Engine, Engine]:
    """An organisation loaded into two SQLite databases (incremental, full), each swept in full once."""
    org = _org(tmp, seed)
    inc = open_database(f"sqlite:///{tmp / 'inc.db'}")
    full = open_database(f"sqlite:///{tmp / 'full.db'}")
    for engine in (inc, full):
        _ingest_org(engine, org)
        _sweep(engine, org.as_of, Policy(), full=True)
    return org, inc, full


def _lapses(engine: Engine, sweep_id: int) -> int:
    """How many waivers lapsed in a sweep (its waiver_expired events)."""
    with Session(engine) as session:
        query = select(FindingEvent.id).where(
            FindingEvent.sweep_id == sweep_id, FindingEvent.action == "waiver_expired"
        )
        return len(session.execute(query).all())


def _states_agree(inc: Engine, full: Engine) -> int:
    """The stored rule states of both databases are equal (entries, counts and keys with findings); returns how
    many partitions they hold."""
    with Session(inc) as a, Session(full) as b:
        mine = {s.rule_id: _state(s.partitions) for s in a.execute(select(RuleState)).scalars()}
        theirs = {s.rule_id: _state(s.partitions) for s in b.execute(select(RuleState)).scalars()}
    assert mine == theirs
    return sum(len(doc[0]) for doc in mine.values())


def _state(blob: bytes) -> tuple[dict[str, Any], int, int, set[str]]:
    stored = Partitions.decode(blob)
    return stored.decoded(), stored.checked, stored.findings, stored.with_findings


def test_incremental_equals_full_on_each_database(db_url: str, tmp_path: Path) -> None:
    org = _org(tmp_path, 5)
    engine = open_database(db_url)
    _ingest_org(engine, org)
    rng = random.Random(5)
    _sweep(engine, org.as_of, Policy(), full=True)
    for share in (0.03,):
        _ingest_changes([engine], _changes(engine, rng, share, tmp_path))
        a = _sweep(engine, org.as_of, Policy(), full=False)
        b = _sweep(engine, org.as_of, Policy(), full=True)
        assert _snapshot(engine, a, lifecycle=False) == _snapshot(engine, b, lifecycle=False)
    engine.dispose()


def test_a_waiver_of_a_finding_no_longer_judged_lapses_in_a_re_sweep(tmp_path: Path) -> None:
    """A waived finding whose facts moved out of the window is neither produced nor judged; once its waiver
    lapses, a re-sweep of the same window (which carries every other finding over) records the lapse as a full
    sweep does."""
    org, inc, full = _swept_twins(tmp_path, 4)
    with Session(inc) as session:
        row = session.execute(
            select(FindingRow).where(FindingRow.rule_id == "MAT-001").order_by(FindingRow.finding_key).limit(1)
        ).scalar_one()
        fact = session.get_one(FactRow, row.evidence[0])  # the request, by its id
        other = (
            session.execute(
                select(FindingRow.finding_key).where(FindingRow.rule_id == "STG-003").order_by(FindingRow.finding_key)
            )
            .scalars()
            .first()
        )
    moved = dict(fact.payload, requested_at=(org.as_of + timedelta(days=30)).isoformat() + "T10:00:00")
    path = tmp_path / "moved.jsonl"
    path.write_text(json.dumps(moved) + "\n", encoding="utf-8")
    for engine in (inc, full):
        triage.apply_action(
            engine, [row.finding_key], "waive", actor="t", today=org.as_of, reason="r", approver="a", until=org.as_of
        )
        triage.apply_action(engine, [other], "resolve", actor="t", today=org.as_of)  # the next sweep reopens it
    _ingest_changes([inc, full], path)
    for today in (org.as_of, org.as_of + timedelta(days=3)):
        a = _both(inc, full, org.as_of, Policy(), today=today)
        assert _snapshot(inc, a) == _snapshot(full, a), today
    with Session(inc) as session:
        kept = session.execute(select(FindingRow.id).where(FindingRow.finding_key == row.finding_key)).all()
        events = session.execute(select(FindingEvent.action).where(FindingEvent.finding_key == row.finding_key))
        assert len(kept) == 1  # produced by the first sweep only
        assert [action for (action,) in events][-1] == "waiver_expired"
    assert _lapses(inc, a) == 1


def test_states_are_zstandard_frames_and_states_of_an_earlier_format_are_refused() -> None:
    """New states are Zstandard frames; a state stored before (zlib-compressed JSON) is never decoded (its
    fingerprint names an earlier CACHE_FORMAT: the rule is evaluated in full), and refused if it were."""
    doc = {"OPP-1": ["4,9", ["2026-W01"], [["2026-W01", [4], "message", {"4": {"owner_id": "SP-1"}}]], "[]"]}
    blob = Partitions.of(doc).encoded()
    assert blob[:4] == ZSTD_MAGIC
    assert Partitions.decode(blob).decoded() == doc
    with pytest.raises(ValueError, match="earlier format"):
        Partitions.decode(zlib.compress(b'{"checked":1,"findings":1,"with_findings":["OPP-1"],"partitions":{}}'))


def test_a_deleted_fact_row_makes_the_next_sweep_evaluate_every_rule_in_full(tmp_path: Path) -> None:
    """Rows are never deleted; if one is anyway (by hand), no stored state can be trusted."""
    org = _org(tmp_path, 2)
    engine = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    _ingest_org(engine, org)
    swept = _sweep(engine, org.as_of, Policy(), full=True)
    _ingest_changes([engine], _changes(engine, random.Random(2), 0.01, tmp_path))
    book = load_rulebook([RULES], Policy())
    with Session(engine) as session:
        sweep = session.get_one(Sweep, swept)
        window = SweepWindow(as_of=sweep.as_of, since=sweep.since)

    def reasons() -> set[str]:
        with Session(engine) as session:
            return set(plan_sweep(session, book.rules, window, load_facts, False).reasons.values())

    assert reasons() == set()  # new rows only: every rule incrementally
    with Session(engine) as session, session.begin():
        session.execute(delete(FactRow).where(FactRow.id == session.execute(select(func.min(FactRow.id))).scalar()))
    assert reasons() == {"facts were deleted since the last sweep"}
    engine.dispose()


def _current(engine: Engine, kind: str, where: Any) -> dict[str, Any]:
    """The payload of the first current fact of a kind that matches `where`."""
    with Session(engine) as session:
        query = select(FactRow.payload).where(FactRow.kind == kind, FactRow.current.is_(True), where)
        return session.execute(query.order_by(FactRow.id).limit(1)).scalar_one()


def _correction(out: Path, payload: dict[str, Any]) -> Path:
    path = out / f"correction-{len(list(out.glob('correction-*')))}.jsonl"
    path.write_text(json.dumps(payload) + "\n", encoding="utf-8")
    return path


def test_a_corrected_mystery_shop_is_judged_again_alone(tmp_path: Path) -> None:
    """REP-003 finds one finding per mystery shop: a corrected shop is judged again alone, with the person's
    trainings and none of their other shops; a corrected certification has the person's whole partition judged
    again. Either way the sweep stores what a full sweep stores."""
    org, inc, full = _swept_twins(tmp_path, 5)
    book = load_rulebook([RULES], Policy())
    index = next(i for i, rule in enumerate(book.rules) if rule.id == "REP-003")

    def plan() -> Any:
        with Session(inc) as session:
            sweep = session.execute(select(Sweep).order_by(Sweep.id.desc()).limit(1)).scalar_one()
            window = SweepWindow(as_of=sweep.as_of, since=sweep.since, holidays=book.policy.holidays)
            return plan_sweep(session, book.rules, window, load_facts, False)

    shop = _current(inc, "mystery_shop", FactRow.payload["badge_worn"].as_boolean().is_(True))
    _ingest_changes([inc, full], _correction(tmp_path, {**shop, "badge_worn": False}))
    person = shop["subject_id"]
    planned = plan()
    assert planned.touched[index] == {person: frozenset({shop["id"]})}
    evaluated = planned.groups[index][person]
    assert [f.natural_id for f in evaluated if f.kind == "mystery_shop"] == [shop["id"]]
    with Session(inc) as session:
        query = select(func.count()).where(FactRow.kind == "training", FactRow.current.is_(True))
        trainings = session.execute(query.where(FactRow.payload["person_id"].as_string() == person)).scalar_one()
    assert trainings and sum(f.kind == "training" for f in evaluated) == trainings  # all the person's
    a = _both(inc, full, org.as_of, Policy())
    assert _snapshot(inc, a) == _snapshot(full, a)

    cert = _current(
        inc,
        "training",
        (FactRow.payload["training_type"].as_string() == "certification")
        & (FactRow.payload["person_id"].as_string() == person),
    )
    later = date.fromisoformat(cert["completed_on"][:10]) + timedelta(days=400)
    _ingest_changes([inc, full], _correction(tmp_path, {**cert, "completed_on": later.isoformat()}))
    assert plan().touched[index] == {person: None}  # the whole partition
    b = _both(inc, full, org.as_of, Policy())
    assert _snapshot(inc, b) == _snapshot(full, b)
