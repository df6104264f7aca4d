"""Generate a synthetic sales organisation: one CSV per fact kind plus the exact ground truth.

Each process-area module injects the deviations of the rules it lists in
its `COVERED` tuple at known rates, with near-misses that must not be
flagged; every injection is recorded with `GroundTruth.add`, so
`ground_truth.json` lists exactly what a correct sweep must find as of
`as_of` since `since`. The same seed always gives byte-identical files.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.facts import FACT_KINDS, model_for
from auditor.synth import cadence, coaching, material, people, planning, representation, sales
from auditor.synth.context import Context, add_months
from auditor.synth.org import build_org

TRUTH_FILE = "ground_truth.json"
COVERED_RULES = tuple(
    sorted(
        sales.COVERED
        + coaching.COVERED
        + cadence.COVERED
        + material.COVERED
        + representation.COVERED
        + planning.COVERED
        + people.COVERED
    )
)
"""Rules whose every deviation the generator injects and records (the ground truth is exact for these)."""
ROSTER_KINDS = frozenset({"person"})
"""Kinds written in generation order (the hierarchy, top down) rather than by time."""


@dataclass
class SynthResult:
    """What `generate` wrote: the fact CSVs (`files`), their row count and the injected truth."""

    out_dir: Path
    as_of: date
    since: date
    files: list[Path]
    facts: int
    truth: list[dict[str, str]]


def generate(
    out_dir: Path, seed: int = 1, reps: int = 20, months: int = 6, start: date = date(2026, 1, 1)
) -> SynthResult:
    """Write `<kind>.csv` for every fact kind and `ground_truth.json` into `out_dir`.

    The data covers `months` whole months from `start` (a month's first day)
    plus the partial month up to `as_of`, the 10th of the following month.
    """
    if start.day != 1:
        raise ValueError(f"start must be the first day of a month, not {start}")
    if reps < 1 or months < 1:
        raise ValueError("reps and months must be at least 1")
    month_starts = [add_months(start, i) for i in range(months)]
    as_of = add_months(start, months) + timedelta(days=9)
    ctx = Context(rng=random.Random(seed), since=start, as_of=as_of, months=month_starts)
    _populate(ctx, reps)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    facts = 0
    for kind in FACT_KINDS:
        rows = ctx.rows.get(kind, [])
        files.append(_write_csv(out_dir / f"{kind}.csv", kind, rows))
        facts += len(rows)
    truth = ctx.truth.findings()
    document = {"as_of": as_of.isoformat(), "since": start.isoformat(), "rules": list(COVERED_RULES), "findings": truth}
    (out_dir / TRUTH_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return SynthResult(out_dir, as_of, start, files, facts, truth)


def _populate(ctx: Context, reps: int) -> None:
    """Run every process area in a fixed order (the order is part of the seed's output)."""
    org = build_org(ctx, reps)
    owned = sales.accounts(ctx, org)
    opportunities = sales.opportunities(ctx, org, owned)
    sales.presales(ctx, opportunities)
    coaching.coaching(ctx, org)
    coaching.ride_alongs(ctx, org)
    cadence.pipeline_reviews(ctx, org)
    cadence.team_meetings(ctx, org)
    material.material(ctx, org)
    representation.mystery_shops(ctx, org)
    representation.trainings(ctx, org)
    planning.objectives(ctx, org)
    planning.csfs(ctx, org)
    planning.business_plans(ctx, org)
    cadence.business_reviews(ctx, org)
    people.hiring(ctx, org)
    ratios = people.sales_results(ctx, org)
    people.performance_reviews(ctx, org, ratios)
    cadence.sales_reports(ctx, org)


def _cell(value: Any) -> str:
    """A CSV cell: empty for not given, true/false, ISO dates and times, plain numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True) if value else ""
    return str(value)


def _write_csv(path: Path, kind: str, rows: list[dict[str, Any]]) -> Path:
    """Write one kind's rows, ordered by time and natural key, header = the model's fields."""
    model = model_for(kind)
    fields = [name for name in model.model_fields if name != "kind"]
    unknown = {name for row in rows for name in row} - set(fields)
    if unknown:
        raise RuntimeError(f"{kind}: unknown fields {sorted(unknown)}")

    def order(row: dict[str, Any]) -> tuple[str, ...]:
        keys = (model.time_field, *model.natural_key)
        return tuple(_cell(row.get(name)) for name in keys)

    if kind not in ROSTER_KINDS:
        rows = sorted(rows, key=order)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(fields)
        for row in rows:
            writer.writerow([_cell(row.get(name)) for name in fields])
    return path
