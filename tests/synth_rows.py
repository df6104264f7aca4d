"""Reading the synthetic generator's CSVs back for the independent ground-truth checks (tests/test_synth_*.py)."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

from auditor.facts import FACT_KINDS

SEEDS = (1, 2, 3)
"""The generator seeds whose ground truth every independent check reproduces."""
Rows = dict[str, list[dict[str, str]]]


def read_rows(folder: Path) -> Rows:
    """Every `<kind>.csv` as a list of dicts (empty cells kept as '')."""
    rows: Rows = {}
    for kind in FACT_KINDS:
        with (folder / f"{kind}.csv").open(encoding="utf-8", newline="") as handle:
            rows[kind] = list(csv.DictReader(handle))
    return rows


def given(row: dict[str, str]) -> dict[str, str]:
    """A row without its empty (not given) cells."""
    return {k: v for k, v in row.items() if v != ""}


def ts(text: str) -> datetime:
    """An ISO instant or day as a naive datetime (a day means midnight)."""
    return datetime.fromisoformat(text)


def midnight(day: date) -> datetime:
    """The start of a day."""
    return datetime(day.year, day.month, day.day)
