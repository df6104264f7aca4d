"""Owner digests against a real SMTP server on loopback: one message per owner with exactly their findings."""

from __future__ import annotations

import re
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import Engine

from auditor.findings.triage import apply_action, assign
from auditor.kpis import settings_from_rules
from auditor.ops.digests import collect_digests
from auditor.ops.scheduled_run import DigestConfigError, deliver_digests
from auditor.ops.settings import Settings, load_settings
from auditor.report import ReportOptions, write_report
from auditor.store import open_database

from .smtp import SmtpServer
from .test_finding_history import BOOK, MS1, MS3, R1, seed_org, shops, sweep

MS4 = "REP-001|MS4|"
TODAY = date(2026, 2, 28)
ADDRESSES = {"sales-process-quality": "quality@example.com", "bath-manager": "bath@example.com"}


@pytest.fixture
def two_sweeps(db_url: str, tmp_path: Path) -> tuple[Engine, int]:
    """Sweep 1 finds MS1, MS3 (REP-001) and R1 (MAT-001); MS1 is resolved by hand, MS3 assigned to bath-manager;
    sweep 2 finds MS1 again (reopened), MS4 new, MS3 and R1 recurring and past their due day (2026-02-10)."""
    engine = open_database(db_url)
    seed_org(engine, tmp_path)
    sweep(engine, date(2026, 1, 31))
    apply_action(engine, [MS1], "resolve", actor="tester", today=date(2026, 2, 1), reason="coached")
    assign(engine, [MS3], actor="tester", owner="bath-manager")
    shops(engine, tmp_path, "later", MS4=40)
    second = sweep(engine, TODAY)
    yield engine, second.sweep_id
    engine.dispose()


def settings(tmp_path: Path, server: SmtpServer | None = None, **digest: str) -> Settings:
    """auditor.toml naming two owners' addresses (sales-operations has none), SMTP from the server's environment."""
    lines = ["[owners]", *(f'{owner} = "{address}"' for owner, address in ADDRESSES.items()), "[digest]"]
    lines += [f'{key} = "{value}"' for key, value in {"from": "auditor@example.com", **digest}.items()]
    path = tmp_path / "auditor.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_settings(path)


def keys_in(text: str) -> list[str]:
    return sorted(re.findall(r"key (\S+\|\S*)", text))


def test_collect_groups_by_current_owner_and_section(two_sweeps: tuple[Engine, int], tmp_path: Path) -> None:
    engine, sweep_id = two_sweeps
    digests = {d.owner: d for d in collect_digests(engine, sweep_id, TODAY, settings(tmp_path))}
    assert sorted(digests) == ["bath-manager", "sales-operations", "sales-process-quality"]
    quality = digests["sales-process-quality"]
    assert ([f["key"] for f in quality.new], [f["key"] for f in quality.reopened], quality.overdue) == (
        [MS4],
        [MS1],
        [],
    )
    assert [f["key"] for f in digests["bath-manager"].overdue] == [MS3]  # assigned: no longer the rule owner's
    assert [f["key"] for f in digests["sales-operations"].overdue] == [R1]
    assert digests["sales-operations"].address is None  # reported apart, not dropped
    assert collect_digests(engine, sweep_id, date(2026, 2, 9), settings(tmp_path))[0].overdue == []  # not yet due


def test_smtp_delivers_one_message_per_owner_with_their_findings(
    two_sweeps: tuple[Engine, int], tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, sweep_id = two_sweeps
    for name, value in smtp_server.settings().items():
        monkeypatch.setenv(name, value)
    report = write_report(
        engine, tmp_path / "reports", sweep_id, ReportOptions(settings_from_rules(BOOK), BOOK.rules, TODAY)
    )
    run = deliver_digests(
        engine, sweep_id, settings(tmp_path), today=TODAY, report=report, dry_run=False, outbox=tmp_path / "out"
    )
    assert smtp_server.logins  # logged in with the password from the environment
    assert sorted(run.delivery.sent) == ["bath-manager", "sales-process-quality"] and not run.failed
    assert [d.owner for d in run.unaddressed] == ["sales-operations"]
    got = {tuple(r.rcpt_tos): r for r in smtp_server.received}
    assert sorted(got) == [("bath@example.com",), ("quality@example.com",)]  # exactly one message each
    quality = got[("quality@example.com",)].message
    assert got[("quality@example.com",)].mail_from == "auditor@example.com" and quality["To"] == "quality@example.com"
    assert quality["Subject"] == (
        f"[auditor] sales-process-quality: 1 new, 1 reopened, 0 overdue (sweep {sweep_id}, as of 2026-02-28)"
    )
    text = quality.get_body(("plain",)).get_content()
    assert keys_in(text) == sorted([MS1, MS4])
    assert text.index(MS4) < text.index("Reopened") < text.index(MS1)  # each in its section
    assert f"[high] REP-001 {BOOK.by_id('REP-001').title}: MS4" in text
    attachment = next(quality.iter_attachments())
    assert attachment.get_filename() == f"audit-sweep-{sweep_id}-index.html"
    sent = attachment.get_content().replace("\r\n", "\n")  # SMTP carries lines ending in CRLF
    assert sent.rstrip("\n") == report.read_text(encoding="utf-8").rstrip("\n")
    bath = got[("bath@example.com",)].message.get_body(("plain",)).get_content()
    assert keys_in(bath) == [MS3] and "due 2026-02-10 (OVERDUE)" in bath
    bodies = "".join(r.message.get_body(("plain",)).get_content() for r in smtp_server.received)
    assert R1 not in bodies  # its owner has no address: in no one else's digest either


def test_dry_run_writes_the_messages_and_sends_nothing(
    two_sweeps: tuple[Engine, int], tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, sweep_id = two_sweeps
    for name, value in smtp_server.settings().items():
        monkeypatch.setenv(name, value)  # a server is there and configured: the dry run must still not use it
    link = "https://audit.example.com/{sweep}/index.html"
    conf = settings(tmp_path, report_url=link)
    run = deliver_digests(engine, sweep_id, conf, today=TODAY, report=None, dry_run=True, outbox=tmp_path / "out")
    assert smtp_server.received == [] and smtp_server.logins == [] and run.delivery.sent == []
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == [f"sweep-{sweep_id}-bath-manager.eml", f"sweep-{sweep_id}-sales-process-quality.eml"]
    quality = message_from_bytes((tmp_path / "out" / files[1]).read_bytes(), policy=policy.default)
    text = quality.get_body(("plain",)).get_content()
    assert quality["To"] == "quality@example.com" and keys_in(text) == sorted([MS1, MS4])
    assert f"Report: https://audit.example.com/{sweep_id}/index.html" in text


def test_sending_needs_a_sender(two_sweeps: tuple[Engine, int], tmp_path: Path) -> None:
    engine, sweep_id = two_sweeps
    conf = Settings(owners=ADDRESSES)
    with pytest.raises(DigestConfigError, match="digests need a sender"):
        deliver_digests(engine, sweep_id, conf, today=TODAY, report=None, dry_run=False, outbox=tmp_path)
