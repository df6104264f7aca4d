"""Passwords (of the database URL and of the SMTP login) never appear in output, reports, digests or status."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from .smtp import SmtpServer
from .test_scheduled_run import run_scheduled, scheduled_env, seed_last_month, write_config

ROLE = "auditor_secret_test"


def url_with_password(db_url: str) -> tuple[str, str | None]:
    """For PostgreSQL, a login role with a fresh random password and its URL; SQLite URLs have no password."""
    if not db_url.startswith("postgresql"):
        return db_url, None
    password = "Pg" + secrets.token_hex(12)
    admin = create_engine(db_url)
    with admin.begin() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": ROLE}).scalar():
            conn.execute(text(f"CREATE ROLE {ROLE} LOGIN"))
        conn.execute(text(f"ALTER ROLE {ROLE} PASSWORD '{password}'"))
        conn.execute(text(f"GRANT ALL ON SCHEMA public TO {ROLE}"))
    admin.dispose()
    url = make_url(db_url).set(username=ROLE, password=password)
    return url.render_as_string(hide_password=False), password


def everything_written(folder: Path) -> str:
    """Every file under a folder (reports, findings.csv, .eml digests, the database excluded), as text."""
    return "\n".join(
        p.read_bytes().decode("utf-8", errors="replace")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix not in (".db", ".db-wal", ".db-shm")
    )


def test_no_password_in_logs_reports_digests_or_status(db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    url, db_password = url_with_password(db_url)
    seed_last_month(url, tmp_path / "data")
    write_config(tmp_path)
    env = scheduled_env(url, smtp_server)
    outputs = []
    for args in (
        ["run", "--period", "last-month", "--jobs", "1"],
        ["run", "--period", "last-month", "--jobs", "1", "--dry-run"],
        ["status"],
        ["status", "--format", "json"],
        ["report", "--format", "md"],
        ["report", "--format", "json"],
        ["findings", "list"],
        ["db", "current"],
    ):
        result = run_scheduled(tmp_path, env, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        outputs.append(result.stdout + result.stderr)
    assert smtp_server.logins and len(smtp_server.received) == 2  # the password was used to log in
    refused = run_scheduled(  # a wrong password: the server refuses it, and the error does not echo it
        tmp_path, {**env, "AUDITOR_SMTP_PASSWORD": "Wrong" + smtp_server.password}, "digest", "--sweep", "1"
    )
    assert refused.returncode == 4 and "535" in refused.stderr
    outputs.append(refused.stdout + refused.stderr)
    if db_password:
        assert "auditor_secret_test:***@" in outputs[2]  # status shows the URL, masked
        down = make_url(url).set(port=1).render_as_string(hide_password=False)  # nothing listens: a connection error
        failed = run_scheduled(tmp_path, {**env, "AUDITOR_DATABASE_URL": down}, "status")
        assert failed.returncode != 0
        outputs.append(failed.stdout + failed.stderr)
    received = "\n".join(r.message.as_string() for r in smtp_server.received)
    written = everything_written(tmp_path / "out")
    assert "index.html" in written or "<html" in written
    for secret in filter(None, (smtp_server.password, db_password)):
        for name, text_ in (("output", "\n".join(outputs)), ("files", written), ("digests", received)):
            assert secret not in text_, f"password found in {name}"
