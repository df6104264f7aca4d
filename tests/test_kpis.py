"""KPIs from a real ingest and sweep, checked against an independent computation from the CSV files written.

The expectations below never read the database: they parse the CSV text the
test wrote, apply the definitions of docs/kpis.md directly, and a few values
are also spelled out as worked by hand.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from auditor.engine.sweep import SweepSummary, run_sweep
from auditor.ingest import ingest_file
from auditor.kpis import MONITORING_PROSPECTING_AREAS, compute_kpis, median, nearest_rank
from auditor.report import report_data, write_html_report
from auditor.rulebook import load_policy, load_rulebook
from auditor.store import open_database
from auditor.synth.generator import generate

from .conftest import RULES

SINCE, AS_OF = date(2026, 3, 1), date(2026, 3, 31)
START, END = datetime(2026, 3, 1), datetime(2026, 4, 1)
HOLIDAY = date(2026, 3, 12)

FILES = {
    "person.csv": "id,name,role,manager_id,region,branch,joined_on,left_on\n"
    "M1,Mia Park,team_leader,,North,N1,2024-01-01,\n"
    "P1,Ann Lee,sales_person,M1,North,N1,2025-01-01,\n"
    "P2,Bo Chen,sales_person,M1,South,S1,2025-01-01,\n"
    "P3,Cy Dorn,sales_person,M1,,,2025-01-01,\n"
    "P4,Di Egan,sales_person,M1,South,S1,2025-01-01,\n"
    "P5,Ed Fox,partner,M1,<East & Co>,E1,2025-01-01,\n",
    "mystery_shop.csv": "id,subject_id,at,score,badge_worn,visiting_card_given,brochure_current,correct_claims\n"
    "MS1,P1,2026-03-02T10:00:00,60,true,true,true,\n"  # corrected to 75 below
    "MS2,P2,2026-03-05,70,true,true,true,false\n"  # at the threshold; incorrect claims fail the checklist
    "MS3,P3,2026-03-10,85.5,true,false,true,\n"  # no visiting card
    "MS4,P4,2026-03-31T23:30:00,40,true,true,true,true\n"  # last minutes of the as-of day: inside
    "MS5,P1,2026-04-01,90,true,true,true,true\n"  # after the as-of day
    "MS6,P1,2026-02-28T23:59:00,10,true,true,true,true\n",  # before since
    "material_request.csv": "id,category,item,requested_by,requested_at,quantity\n"
    "R1,sales_kit,starter kit,P1,2026-03-02T09:00:00,10\n"  # 4 of 10 after 4 days, the rest after 18
    "R2,sales_kit,starter kit,P2,2026-03-25T10:00:00,1\n"  # open, deadline after the as-of day: undecided
    "R3,sales_kit,starter kit,P3,2026-03-03,1\n"  # open and overdue
    "R4,promotion,banner,P1,2026-03-01,100\n"  # delivered after exactly 21 days: within (inclusive)
    "R5,promotion,poster,P2,2026-03-10,5\n"  # delivered only after the as-of day: open, overdue
    "R6,representation,badge,P4,2026-03-05T12:00:00,2\n"  # first after 3 days, complete after 8
    "R7,representation,cap,P4,2026-02-20,1\n"  # before since: not counted
    "R8,representation,visiting card,P1,2026-03-20T08:00:00,3\n",  # over-delivered after 1 day
    "material_delivery.csv": "request_id,delivered_at,quantity\n"
    "R1,2026-03-06T09:00:00,4\n"
    "R1,2026-03-20T09:00:00,6\n"
    "R4,2026-03-22,100\n"
    "R5,2026-04-02,5\n"
    "R6,2026-03-08T12:00:00,1\n"
    "R6,2026-03-13T12:00:00,1\n"
    "R7,2026-03-01,1\n"
    "R8,2026-03-21T08:00:00,5\n",
    "presales_request.csv": "id,requested_by,opportunity_id,topic,requested_at,answered_at\n"
    "Q0,P1,,demo,2026-02-27T09:00:00,2026-02-27T10:00:00\n"  # before since
    "Q1,P1,O1,demo,2026-03-06T15:00:00,2026-03-10T14:00:00\n"  # Friday; deadline Tue 15:00: within
    "Q2,P2,,pricing,2026-03-02T09:00:00,2026-03-05T10:00:00\n"  # deadline Wed 09:00: late
    "Q3,P3,,demo,2026-03-07T10:00:00,2026-03-10T23:00:00\n"  # Saturday: counts from Monday, deadline Wed 00:00
    "Q4,P4,,demo,2026-03-30T09:00:00,\n"  # open, deadline after the as-of day: undecided
    "Q5,P1,,security,2026-03-16T09:00:00,2026-04-03T09:00:00\n"  # answered after the as-of day: open, overdue
    "Q6,P2,,demo,2026-03-11T09:00:00,2026-03-16T08:00:00\n",  # late, but within with the 12 March holiday
    "opportunity_stage.csv": "opportunity_id,stage,at,owner_id\n"
    "O1,contact,2026-03-02,P1\nO1,proposal,2026-03-10,P1\nO1,deal,2026-03-20,P1\n"
    "O2,contact,2026-02-15,P2\nO2,proposal,2026-03-05,P4\n"  # earliest in the window: P4
    "O3,contact,2026-03-03,X9\nO3,deal,2026-03-25,X9\n"  # owner not in the roster
    "O4,contact,2026-03-04,P3\n"  # owner without a region
    "O5,contact,2026-02-01,P1\nO5,deal,2026-02-20,P1\n"  # wholly before since
    "O6,contact,2026-03-28,P2\nO6,deal,2026-04-02,P2\n"  # deal after the as-of day
    "O7,deal,2026-03-15,P2\n"
    "O8,contact,2026-03-06T10:00:00,P2\nO8,identification,2026-03-06T10:00:00,P1\n"  # tie: smallest owner id
    "O9,contact,2026-03-08,P5\n",  # region with markup, must be escaped
}
CORRECTION = {
    "mystery_shop.csv": "id,subject_id,at,score,badge_worn,visiting_card_given,brochure_current,correct_claims\n"
    "MS1,P1,2026-03-02T10:00:00,75,true,true,true,\n",
}
NATURAL_KEYS = {
    "person": ("id",),
    "mystery_shop": ("id",),
    "material_request": ("id",),
    "material_delivery": ("request_id", "delivered_at"),
    "presales_request": ("id",),
    "opportunity_stage": ("opportunity_id", "stage", "at"),
}
TIME_FIELDS = {
    "mystery_shop": "at",
    "material_request": "requested_at",
    "material_delivery": "delivered_at",
    "presales_request": "requested_at",
    "opportunity_stage": "at",
}
TARGETS = {"sales_kit": 14, "promotion": 21, "representation": 7}


# ------------------------------------------------------------------ set-up through the library the CLI uses


def _write(folder: Path, files: dict[str, str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(folder / name)
    return paths


def _ingest(engine: Engine, paths: Iterable[Path]) -> None:
    for path in paths:
        with Session(engine) as session:
            result = ingest_file(session, path)
        assert result.rejected == 0, result.rejects


def _sweep(engine: Engine, as_of: date, since: date) -> SweepSummary:
    book = load_rulebook([RULES], load_policy(None))
    assert not book.problems
    return run_sweep(engine, book.rules, as_of, since, jobs=1, rules_digest=book.digest)


@pytest.fixture
def hand_made(tmp_path: Path, db_url: str) -> tuple[Engine, SweepSummary, list[Path]]:
    """The hand-made organisation ingested (plus one corrected row) and swept for March 2026."""
    first = _write(tmp_path / "data", FILES)
    fix = _write(tmp_path / "fix", CORRECTION)
    engine = open_database(db_url)
    _ingest(engine, first + fix)
    return engine, _sweep(engine, AS_OF, SINCE), [tmp_path / "data", tmp_path / "fix"]


# ------------------------------------------------------------------ independent expectations from the CSV files


def _value(text: str) -> Any:
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    for parse in (int, float, datetime.fromisoformat):
        try:
            return parse(text)
        except ValueError:
            continue
    return text


def _current(folders: list[Path], kind: str) -> list[dict[str, Any]]:
    """The rows of `<kind>.csv` in the folders; a later row with the same natural key replaces the earlier one."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for folder in folders:
        path = folder / f"{kind}.csv"
        if not path.exists():
            continue
        with path.open(encoding="utf-8", newline="") as handle:
            for raw in csv.DictReader(handle):
                row = {k: _value(v) for k, v in raw.items()}
                rows[tuple(str(raw[k]) for k in NATURAL_KEYS[kind])] = row
    return list(rows.values())


def _in_window(folders: list[Path], kind: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    return [r for r in _current(folders, kind) if start <= r[TIME_FIELDS[kind]] < end]


def _pct(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 1) if whole else None


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    s, n = sorted(values), len(values)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _p90(values: list[float]) -> float | None:
    return sorted(values)[max(math.ceil(len(values) * 0.9), 1) - 1] if values else None


def _r2(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def expected_mystery(visits: list[dict[str, Any]], threshold: float = 70) -> dict[str, Any]:
    n = len(visits)
    ok = [
        v
        for v in visits
        if v["badge_worn"]
        and v["visiting_card_given"]
        and v["brochure_current"]
        and v["correct_claims"] in (True, None)
    ]
    return {
        "visits": n,
        "average_score": round(sum(v["score"] for v in visits) / n, 1) if n else None,
        "at_or_above_threshold_pct": _pct(len([v for v in visits if v["score"] >= threshold]), n),
        "checklist_passed_pct": _pct(len(ok), n),
    }


def _step_time(step: str, request: dict[str, Any], deliveries: list[dict[str, Any]]) -> datetime | None:
    mine = sorted((d for d in deliveries if d["request_id"] == request["id"]), key=lambda d: d["delivered_at"])
    if not mine:
        return None
    if step == "first_delivery":
        return mine[0]["delivered_at"]
    total = 0
    for d in mine:
        total += d["quantity"]
        if total >= request["quantity"]:
            return d["delivered_at"]
    return None


def _tat(items: list[tuple[datetime, datetime | None, datetime]], end: datetime, unit: float) -> dict[str, Any]:
    """items: (requested, reached or None, deadline)."""
    durations = [(done - asked).total_seconds() / unit for asked, done, _ in items if done is not None]
    within = len([1 for _, done, deadline in items if done is not None and done <= deadline])
    late_or_open_overdue = len(
        [1 for _, done, deadline in items if not (done is not None and done <= deadline) and deadline < end]
    )
    return {
        "count": len(durations),
        "median": _r2(_median(durations)),
        "p90": _r2(_p90(durations)),
        "within_target_pct": _pct(within, within + late_or_open_overdue),
        "open": len(items) - len(durations),
    }


def expected_material(folders: list[Path], targets: dict[str, float] = TARGETS) -> dict[tuple[str, str], Any]:
    requests = _in_window(folders, "material_request", START, END)
    deliveries = _in_window(folders, "material_delivery", START, END)
    out = {}
    for step in ("first_delivery", "complete_delivery"):
        everything = []
        for category in TARGETS:
            items = [
                (
                    r["requested_at"],
                    _step_time(step, r, deliveries),
                    r["requested_at"] + timedelta(days=targets[category]),
                )
                for r in requests
                if r["category"] == category
            ]
            everything += items
            out[(category, step)] = _tat(items, END, 86400)
        out[("all", step)] = _tat(everything, END, 86400)
    return out


def _working(day: date, holidays: set[date]) -> bool:
    return day.weekday() not in (5, 6) and day not in holidays


def _two_business_days_after(moment: datetime, holidays: set[date]) -> datetime:
    while not _working(moment.date(), holidays):
        moment = datetime.combine(moment.date() + timedelta(days=1), time())
    counted = 0
    while counted < 2:
        moment += timedelta(days=1)
        counted += _working(moment.date(), holidays)
    return moment


def expected_presales(folders: list[Path], holidays: set[date] = frozenset()) -> dict[str, Any]:
    items = [
        (
            r["requested_at"],
            r["answered_at"] if r["answered_at"] is not None and r["answered_at"] < END else None,
            _two_business_days_after(r["requested_at"], set(holidays)),
        )
        for r in _in_window(folders, "presales_request", START, END)
    ]
    return _tat(items, END, 3600)


def expected_conversion(folders: list[Path], start: datetime, end: datetime) -> dict[str, tuple[int, int, Any]]:
    """region -> (inquiries, deals, rate), plus 'total'."""
    region = {p["id"]: p["region"] or "unknown" for p in _current(folders, "person") if p["joined_on"] < end}
    stages = sorted(_in_window(folders, "opportunity_stage", start, end), key=lambda s: (s["at"], s["owner_id"]))
    first_owner: dict[str, str] = {}
    for s in stages:
        first_owner.setdefault(s["opportunity_id"], s["owner_id"])
    won = {s["opportunity_id"] for s in stages if s["stage"] == "deal"}
    out: dict[str, tuple[int, int, Any]] = {}
    for opp, owner in first_owner.items():
        name = region.get(owner, "unknown")
        inquiries, deals, _ = out.get(name, (0, 0, None))
        out[name] = (inquiries + 1, deals + (opp in won), None)
    out = {k: (i, d, _pct(d, i)) for k, (i, d, _) in out.items()}
    total_i, total_d = len(first_owner), len(won & first_owner.keys())
    out["total"] = (total_i, total_d, _pct(total_d, total_i))
    return out


def _conversion_of(kpis: dict[str, Any]) -> dict[str, tuple[int, int, Any]]:
    rows = kpis["conversion"]["regions"] + [kpis["conversion"]["total"]]
    return {r["region"]: (r["inquiries"], r["deals"], r["rate"]) for r in rows}


def _adherence(rows: list[dict[str, Any]]) -> float | None:
    checked = sum(r["checked"] for r in rows)
    return None if checked == 0 else round(100 * (checked - sum(r["findings"] for r in rows)) / checked, 1)


# ------------------------------------------------------------------ tests


def test_kpis_equal_an_independent_computation(hand_made: tuple[Engine, SweepSummary, list[Path]]) -> None:
    engine, summary, folders = hand_made
    kpis = compute_kpis(engine, summary.sweep_id)

    visits = _in_window(folders, "mystery_shop", START, END)
    assert {k: kpis["mystery_shopping"][k] for k in expected_mystery(visits)} == expected_mystery(visits)
    assert kpis["mystery_shopping"]["visits"] == 4  # MS1 (corrected to 75), MS2, MS3, MS4
    assert kpis["mystery_shopping"]["average_score"] == 67.6  # (75 + 70 + 85.5 + 40) / 4 = 67.625
    assert kpis["mystery_shopping"]["at_or_above_threshold_pct"] == 75.0
    assert kpis["mystery_shopping"]["checklist_passed_pct"] == 50.0

    material = {(r["category"], r["step"]): r for r in kpis["material_tat"]["rows"]}
    for key, expected in expected_material(folders).items():
        assert {k: material[key][k] for k in expected} == expected, key
    assert material[("all", "first_delivery")]["median"] == 3.5  # 1, 3, 4, 21 days
    assert material[("all", "first_delivery")]["p90"] == 21.0
    assert material[("all", "first_delivery")]["within_target_pct"] == 66.7  # R1 R4 R6 R8 of R1 R3 R4 R5 R6 R8
    assert material[("representation", "complete_delivery")]["within_target_pct"] == 50.0  # R6 took 8 days
    assert material[("promotion", "first_delivery")]["open"] == 1  # R5 arrives after the as-of day

    assert {k: kpis["presales_tat"][k] for k in expected_presales(folders)} == expected_presales(folders)
    assert kpis["presales_tat"]["median"] == 90.0 and kpis["presales_tat"]["p90"] == 119.0  # 73, 85, 95, 119 h
    assert kpis["presales_tat"]["within_target_pct"] == 40.0  # Q1, Q3 of Q1 Q2 Q3 Q5 Q6
    assert kpis["presales_tat"]["open"] == 2

    assert _conversion_of(kpis) == expected_conversion(folders, START, END)
    assert _conversion_of(kpis) == {
        "<East & Co>": (1, 0, 0.0),
        "North": (2, 1, 50.0),
        "South": (3, 1, 33.3),
        "unknown": (2, 1, 50.0),
        "total": (8, 3, 37.5),
    }

    by_area: dict[str, list[dict[str, Any]]] = {}
    for row in summary.rows:
        by_area.setdefault(row["area"], []).append(row)
    assert {a["area"]: a["adherence"] for a in kpis["adherence"]["areas"]} == {
        area: _adherence(rows) for area, rows in by_area.items()
    }
    monitoring = [r for r in summary.rows if r["area"] in MONITORING_PROSPECTING_AREAS]
    assert kpis["adherence"]["monitoring_prospecting"]["adherence"] == _adherence(monitoring)
    assert kpis["adherence"]["monitoring_prospecting"]["checked"] == sum(r["checked"] for r in monitoring) > 0
    # the rules judge the same requests the same way
    turnaround = [r for r in summary.rows if r["rule_id"] in ("MAT-001", "MAT-002", "MAT-003")]
    assert material[("all", "first_delivery")]["decided"] == sum(r["checked"] for r in turnaround)
    assert material[("all", "first_delivery")]["within_target_pct"] == _adherence(turnaround)
    assert kpis["presales_tat"]["within_target_pct"] == _adherence(by_area["presales"])

    assert kpis["headline"] == {
        "mystery_score": 67.6,
        "monitoring_prospecting_adherence": _adherence(monitoring),
        "material_within_target_pct": 66.7,
        "presales_within_target_pct": 40.0,
        "conversion_rate": 37.5,
    }


def test_kpi_arguments_threshold_targets_holidays(hand_made: tuple[Engine, SweepSummary, list[Path]]) -> None:
    engine, summary, folders = hand_made
    kpis = compute_kpis(
        engine,
        summary.sweep_id,
        mystery_threshold=80,
        material_targets={"sales_kit": 20},
        holidays=frozenset({HOLIDAY}),
    )
    assert kpis["mystery_shopping"]["at_or_above_threshold_pct"] == 25.0  # only MS3 (85.5)
    material = {(r["category"], r["step"]): r for r in kpis["material_tat"]["rows"]}
    for key, expected in expected_material(folders, {**TARGETS, "sales_kit": 20}).items():
        assert {k: material[key][k] for k in expected} == expected, key
    assert material[("sales_kit", "complete_delivery")]["within_target_pct"] == 50.0  # R1 in 18 of 20 days
    assert {k: kpis["presales_tat"][k] for k in expected_presales(folders, {HOLIDAY})} == expected_presales(
        folders, {HOLIDAY}
    )
    assert kpis["presales_tat"]["within_target_pct"] == 60.0  # Q6 is now within


def test_report_shows_the_kpi_tiles_and_tables(
    hand_made: tuple[Engine, SweepSummary, list[Path]], tmp_path: Path
) -> None:
    engine, summary, _ = hand_made
    data = report_data(engine, summary.sweep_id)
    assert data["kpis"] == compute_kpis(engine, summary.sweep_id)
    assert data["areas"] == data["kpis"]["adherence"]["areas"]
    html = write_html_report(engine, tmp_path / "reports", summary.sweep_id).read_text(encoding="utf-8")
    for tile, value in [
        ("tile-mystery-score", "67.6 %"),
        ("tile-monitoring-prospecting", f"{data['kpis']['headline']['monitoring_prospecting_adherence']} %"),
        ("tile-material-tat", "66.7 %"),
        ("tile-presales-tat", "40.0 %"),
        ("tile-conversion", "37.5 %"),
    ]:
        start = html.index(f'id="{tile}"')
        assert f'<div class="value">{value}</div>' in html[start : start + 400], tile
    assert 'id="kpi-material"' in html and 'id="kpi-conversion"' in html
    assert "&lt;East &amp; Co&gt;" in html and "<East & Co>" not in html


def test_every_kpi_is_none_without_a_denominator(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_database(sqlite_url)
    summary = _sweep(engine, AS_OF, SINCE)
    kpis = compute_kpis(engine, summary.sweep_id)
    assert set(kpis["headline"].values()) == {None}
    assert kpis["mystery_shopping"]["visits"] == 0
    assert kpis["mystery_shopping"]["checklist_passed_pct"] is None
    assert all(a["adherence"] is None for a in kpis["adherence"]["areas"])
    for row in kpis["material_tat"]["rows"]:
        assert (row["count"], row["median"], row["p90"], row["within_target_pct"]) == (0, None, None, None)
    assert kpis["presales_tat"]["median"] is None
    assert kpis["conversion"] == {
        "regions": [],
        "total": {"region": "total", "inquiries": 0, "deals": 0, "rate": None},
    }
    html = write_html_report(engine, tmp_path / "reports", summary.sweep_id).read_text(encoding="utf-8")
    start = html.index('id="kpi-tiles"')
    assert html[start : html.index("</section>", start)].count('<div class="value">n/a</div>') == 5


def test_percentiles_on_odd_and_even_lists() -> None:
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    assert median([]) is None
    assert nearest_rank(list(range(1, 11)), 90) == 9  # k = ceil(9.0) = 9
    assert nearest_rank([5, 1, 4, 2, 3], 90) == 5  # k = ceil(4.5) = 5
    assert nearest_rank(list(range(1, 16)), 90) == 14  # k = ceil(13.5) = 14
    assert nearest_rank([4, 1, 3, 2], 50) == 2  # k = 2: nearest rank is always an observed value
    assert nearest_rank([7], 90) == 7
    assert nearest_rank([], 90) is None
    with pytest.raises(ValueError):
        nearest_rank([1], 0)


def test_synthetic_organisation_mystery_score_and_conversion(tmp_path: Path) -> None:
    result = generate(tmp_path / "org", seed=1)
    engine = open_database(f"sqlite:///{tmp_path / 'synth.db'}")
    _ingest(engine, result.files)
    summary = _sweep(engine, result.as_of, result.since)
    kpis = compute_kpis(engine, summary.sweep_id)
    start = datetime.combine(result.since, time())
    end = datetime.combine(result.as_of + timedelta(days=1), time())
    folders = [tmp_path / "org"]
    scores = [v["score"] for v in _in_window(folders, "mystery_shop", start, end)]
    assert scores and kpis["mystery_shopping"]["visits"] == len(scores)
    assert kpis["mystery_shopping"]["average_score"] == round(sum(scores) / len(scores), 1)
    expected = expected_conversion(folders, start, end)
    assert len(expected) > 2 and expected["total"][1] > 0
    assert _conversion_of(kpis) == expected


def test_kpi_targets_follow_the_rules_and_the_policy(
    hand_made: tuple[Engine, SweepSummary, list[Path]], tmp_path: Path
) -> None:
    from auditor.kpis import settings_from_rules

    policy = tmp_path / "policy.yml"
    policy.write_text(
        "params:\n  REP-001: {min_score: 80}\n  MAT-001: {tat_days: 20}\nholidays: [" + HOLIDAY.isoformat() + "]\n",
        encoding="utf-8",
    )
    settings = settings_from_rules(load_rulebook([RULES], load_policy(policy)))
    assert settings.mystery_threshold == 80
    assert settings.material_targets == {"sales_kit": 20.0, "promotion": 21.0, "representation": 7.0}
    assert settings.holidays == frozenset({HOLIDAY})
    engine, summary, _ = hand_made
    kpis = report_data(engine, summary.sweep_id, settings)["kpis"]
    assert kpis["mystery_shopping"]["at_or_above_threshold_pct"] == 25.0  # as with mystery_threshold=80
    assert kpis["presales_tat"]["within_target_pct"] == 60.0  # the policy's holiday counts
