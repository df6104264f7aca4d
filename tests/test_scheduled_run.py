"""`auditor run` as a scheduler runs it: a subprocess with no terminal, no standard input and no TERM.

Covers every exit status of `run` (0, 1, 2, 3, 4) and checks the report and the digests a real SMTP server got.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditor.ops.period import Period, parse_period
from auditor.rulebook import Policy
from auditor.store import open_database
from auditor.store.models import Sweep

from .conftest import RULES
from .smtp import SmtpServer
from .test_finding_history import PEOPLE, SHOP_HEADER, load

AUDITOR = Path(sys.executable).with_name("auditor")
OWNERS = {"sales-process-quality": "quality@example.com", "sales-operations": "ops@example.com"}


def last_month() -> Period:
    return parse_period("last-month", Policy().today())


def seed_last_month(db_url: str, folder: Path) -> None:
    """The three people of `seed_org`, two low mystery-shop scores and an undelivered kit request, last month."""
    first = last_month().since
    day = (first + timedelta(days=4)).isoformat()
    engine = open_database(db_url)
    load(engine, folder, "person.csv", PEOPLE)
    load(
        engine,
        folder,
        "mystery_shop.csv",
        SHOP_HEADER + f"MS1,P1,{day},60,true,true,true\nMS3,P3,{day},50,true,true,true\n",
    )
    load(
        engine,
        folder,
        "material_request.csv",
        f"id,category,item,requested_by,requested_at,quantity\nR1,sales_kit,starter kit,P1,{first}T10:00:00,1\n",
    )
    engine.dispose()


def write_config(folder: Path, extra: str = "") -> Path:
    rules = ", ".join(f'"{RULES / name}"' for name in ("representation.yml", "sales_material.yml"))
    owners = "\n".join(f'{owner} = "{address}"' for owner, address in OWNERS.items())
    path = folder / "auditor.toml"
    path.write_text(
        f'[paths]\nrules = [{rules}]\nreports = "out/reports"\n[owners]\n{owners}\n'
        f'[digest]\nfrom = "auditor@example.com"\n{extra}',
        encoding="utf-8",
    )
    return path


def scheduled_env(db_url: str, smtp: SmtpServer, **extra: str) -> dict[str, str]:
    """What cron gives: a bare environment without TERM or COLUMNS, plus the auditor's settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("TERM", "COLUMNS", "LINES") and not k.startswith("AUDITOR")}
    return {**env, "AUDITOR_DATABASE_URL": db_url, **smtp.settings(), **extra}


def run_scheduled(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`auditor ARGS` in `folder` with no terminal (own session), no standard input and output to pipes."""
    return subprocess.run(
        [str(AUDITOR), *args],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=240,
        check=False,
    )


def sweep_count(db_url: str) -> int:
    engine = open_database(db_url)
    with Session(engine) as session:
        count = session.execute(select(func.count()).select_from(Sweep)).scalar_one()
    engine.dispose()
    return count


@pytest.fixture
def workdir(db_url: str, tmp_path: Path) -> Path:
    seed_last_month(db_url, tmp_path / "data")
    write_config(tmp_path)
    return tmp_path


def test_run_last_month_fail_on_high_unattended(workdir: Path, db_url: str, smtp_server: SmtpServer) -> None:
    env = scheduled_env(db_url, smtp_server)
    first = run_scheduled(workdir, env, "run", "--period", "last-month", "--fail-on", "high", "--jobs", "1")
    assert first.returncode == 1, first.stdout + first.stderr  # new high findings appeared
    period = last_month()
    assert f"as of {period.as_of}, judged from {period.since}" in first.stdout
    assert "--fail-on high: 5 new or reopened finding(s) at or above high" in first.stderr
    report = workdir / "out" / "reports" / "1" / "index.html"
    assert report.is_file() and f"Report: {Path('out/reports/1/index.html')}" in first.stdout
    assert "\x1b[" not in first.stdout + first.stderr  # no terminal: no colour codes in the log
    recipients = sorted(address for r in smtp_server.received for address in r.rcpt_tos)
    assert recipients == ["ops@example.com", "quality@example.com"]  # one message per owner
    by_owner = {
        r.message["X-Auditor-Owner"]: r.message.get_body(("plain",)).get_content() for r in smtp_server.received
    }
    assert "MAT-001|R1|" in by_owner["sales-operations"] and "REP-001" not in by_owner["sales-operations"]
    assert "REP-001|MS1|" in by_owner["sales-process-quality"] and "MAT-001" not in by_owner["sales-process-quality"]
    assert "Digests: 2 sent" in first.stdout

    again = run_scheduled(workdir, env, "run", "--period", "last-month", "--fail-on", "high", "--jobs", "1")
    assert again.returncode == 0, again.stdout + again.stderr  # the same findings recur: nothing new appeared
    assert "0 new, 5 recurring" in again.stdout and (workdir / "out" / "reports" / "2" / "index.html").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "last-month", "--as-of", "2026-01-31"], "give either --period or --as-of/--since, not both"),
        (["--period", "2999-01"], "which is not over yet"),
        (["--period", "next-month"], "unknown period 'next-month'"),
        ([], "give --as-of DAY"),
        (["--period", "last-month", "--fail-on", "urgent"], "Invalid value for '--fail-on'"),
    ],
)
def test_usage_errors_exit_2_and_sweep_nothing(
    workdir: Path, db_url: str, smtp_server: SmtpServer, args: list[str], message: str
) -> None:
    result = run_scheduled(workdir, scheduled_env(db_url, smtp_server), "run", *args)
    assert result.returncode == 2 and message in result.stderr, result.stdout + result.stderr
    assert sweep_count(db_url) == 0 and smtp_server.received == []


def test_settings_errors_exit_2(workdir: Path, db_url: str, smtp_server: SmtpServer) -> None:
    write_config(workdir, 'password = "hunter2"\n')
    refused = run_scheduled(workdir, scheduled_env(db_url, smtp_server), "run", "--period", "last-month")
    assert refused.returncode == 2 and "digest.password: passwords are never read from the file" in refused.stderr
    assert "hunter2" not in refused.stdout + refused.stderr
    write_config(workdir)
    no_sender = scheduled_env(db_url, smtp_server)
    (workdir / "auditor.toml").write_text(
        (workdir / "auditor.toml").read_text(encoding="utf-8").replace('from = "auditor@example.com"', ""),
        encoding="utf-8",
    )
    result = run_scheduled(workdir, no_sender, "run", "--period", "last-month")
    assert result.returncode == 2 and "digests need a sender" in result.stderr
    assert sweep_count(db_url) == 0


def test_engine_errors_exit_3_with_report_and_digests(workdir: Path, db_url: str, smtp_server: SmtpServer) -> None:
    env = scheduled_env(db_url, smtp_server, AUDITOR_FAULT_RULE="MAT-001", AUDITOR_FAULT_SUBJECT="R1")
    result = run_scheduled(workdir, env, "run", "--period", "last-month", "--fail-on", "high", "--jobs", "1")
    assert result.returncode == 3, result.stdout + result.stderr  # wins over --fail-on's 1
    assert "engine error" in result.stderr and "MAT-001" in result.stderr
    html = (workdir / "out" / "reports" / "1" / "index.html").read_text(encoding="utf-8")
    assert 'id="engine-errors"' in html
    assert [r.rcpt_tos for r in smtp_server.received] == [["quality@example.com"]]  # REP findings still go out


def test_unreachable_smtp_exits_4_and_digest_resends(workdir: Path, db_url: str, smtp_server: SmtpServer) -> None:
    closed = scheduled_env(db_url, smtp_server, AUDITOR_SMTP_PORT="1")  # nothing listens on port 1
    result = run_scheduled(workdir, closed, "run", "--period", "last-month", "--jobs", "1")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "digests not sent: cannot send through 127.0.0.1:1" in result.stderr
    assert (workdir / "out" / "reports" / "1" / "index.html").is_file()
    resent = run_scheduled(workdir, scheduled_env(db_url, smtp_server), "digest", "--sweep", "1")
    assert resent.returncode == 0 and "Digests: 2 sent" in resent.stdout, resent.stdout + resent.stderr
    assert len(smtp_server.received) == 2


def test_dry_run_writes_eml_files_and_sends_nothing(workdir: Path, db_url: str, smtp_server: SmtpServer) -> None:
    env = scheduled_env(db_url, smtp_server)
    result = run_scheduled(workdir, env, "run", "--period", "last-month", "--dry-run", "--jobs", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    outbox = workdir / "out" / "reports" / "1" / "digests"
    assert sorted(p.name for p in outbox.iterdir()) == [
        "sweep-1-sales-operations.eml",
        "sweep-1-sales-process-quality.eml",
    ]
    assert smtp_server.received == [] and smtp_server.logins == []
    assert "2 written (dry run, nothing sent)" in result.stdout


def test_owners_without_address_are_listed_in_the_summary(workdir: Path, db_url: str, smtp_server: SmtpServer) -> None:
    config = workdir / "auditor.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('sales-operations = "ops@example.com"\n', ""))
    result = run_scheduled(workdir, scheduled_env(db_url, smtp_server), "run", "--period", "last-month", "--jobs", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no address for owner 'sales-operations': 1 new, 0 reopened, 0 overdue not sent" in result.stderr
    assert [r.rcpt_tos for r in smtp_server.received] == [["quality@example.com"]]


def test_sweep_command_fail_on_and_period(workdir: Path, db_url: str, smtp_server: SmtpServer) -> None:
    env = scheduled_env(db_url, smtp_server)
    critical = run_scheduled(workdir, env, "sweep", "--period", "last-month", "--fail-on", "critical", "--jobs", "1")
    assert critical.returncode == 0, critical.stdout + critical.stderr  # only high findings: none critical
    assert "no new or reopened finding at or above critical" in critical.stderr
    assert sweep_count(db_url) == 1 and smtp_server.received == []  # sweep sends no digests
    engine = open_database(db_url)
    day = (last_month().since + timedelta(days=9)).isoformat()
    load(engine, workdir / "more", "mystery_shop.csv", SHOP_HEADER + f"MS9,P2,{day},30,true,true,true\n")
    engine.dispose()
    high = run_scheduled(workdir, env, "sweep", "--period", "last-month", "--fail-on", "high", "--jobs", "1")
    assert high.returncode == 1, high.stdout + high.stderr  # the new low score is a new high finding
    assert "2 new or reopened finding(s) at or above high" in high.stderr  # the score and the uncertified rep
    assert "new high REP-001|MS9|" in high.stderr and "new high REP-003|P2|MS9" in high.stderr
    both = run_scheduled(workdir, env, "sweep", "--period", "last-month", "--since", "2026-01-01")
    assert both.returncode == 2 and sweep_count(db_url) == 2
    period = last_month()
    later = [f"--as-of={period.as_of + timedelta(days=1)}", f"--since={period.since}"]
    again = run_scheduled(workdir, env, "sweep", *later, "--fail-on", "low", "--jobs", "1")
    assert again.returncode == 0, again.stdout + again.stderr  # recurring findings do not trip --fail-on
    assert " 0 new, " in again.stdout and " 0 reopened" in again.stdout
