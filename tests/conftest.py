"""Shared fixtures: a fresh SQLite database per test, the project paths."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """URL of an empty SQLite database in the test's temporary folder."""
    return f"sqlite:///{tmp_path / 'test.db'}"
