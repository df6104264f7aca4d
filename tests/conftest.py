"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, the project paths.

PostgreSQL tests use AUDITOR_TEST_PG_URL (set by .ci/run). Without it they are
skipped locally; under CI=true they fail, so CI can never pass without a server.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

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
    url = _configured_url()
    _empty(url)
    return url


def _configured_url() -> str:
    url = os.environ.get("AUDITOR_TEST_PG_URL", "")
    require(bool(url), "AUDITOR_TEST_PG_URL is not set (run .ci/pg-setup)")
    return url


def postgres_twin_url() -> str:
    """A second empty PostgreSQL database on the same server (`<name>_twin`, created when missing), for tests
    that compare two databases."""
    url = make_url(_configured_url())
    twin = url.set(database=f"{url.database}_twin")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            known = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": twin.database})
            if known.scalar() is None:
                conn.execute(text(f'CREATE DATABASE "{twin.database}"'))
    finally:
        admin.dispose()
    text_url = twin.render_as_string(hide_password=False)
    _empty(text_url)
    return text_url


def _empty(url: str) -> None:
    """Drop our tables, migration history and trigger function from a PostgreSQL database."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            conn.execute(text("DROP FUNCTION IF EXISTS auditor_append_only()"))
    except Exception as exc:  # noqa: BLE001 - reported as skip/fail below
        require(False, f"PostgreSQL at {make_url(url).render_as_string()} is not reachable: {exc}")
    finally:
        engine.dispose()


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
