"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, the project paths.

PostgreSQL tests use AUDITOR_TEST_PG_URL (set by .ci/run). Without it they are
skipped locally; under CI=true they fail, so CI can never pass without a server.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from auditor.store.models import Base

pytest_plugins = ["tests.browser", "tests.smtp"]  # a headless Chromium (page, page_log, screenshot); smtp_server

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
SHARED = ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI, when something a test needs is missing."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def postgres_url() -> str:
    """URL of the PostgreSQL test database, emptied of our tables, migration history and trigger function."""
    url = os.environ.get("AUDITOR_TEST_PG_URL", "")
    require(bool(url), "AUDITOR_TEST_PG_URL is not set (run .ci/pg-setup)")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            conn.execute(text("DROP FUNCTION IF EXISTS auditor_append_only()"))
    except Exception as exc:  # noqa: BLE001 - reported as skip/fail below
        require(False, f"PostgreSQL at AUDITOR_TEST_PG_URL is not reachable: {exc}")
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return postgres_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database (for tests about the embedded default)."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One synthetic organisation per seed of `synth_rows.SEEDS` (default shape), with its CSV rows read back.

    Generated once per test run and shared by every independent ground-truth check.
    """
    from auditor.synth import generate

    from .synth_rows import SEEDS, read_rows

    out = {}
    for seed in SEEDS:
        result = generate(tmp_path_factory.mktemp(f"seed{seed}"), seed=seed)
        out[seed] = (result, read_rows(result.out_dir))
    return out
