"""Owner digests: after a sweep, one e-mail per owner with their new, reopened and overdue findings.

A finding's owner is the owner it was assigned (`auditor findings assign`), else its rule's owner. Only
findings that still need work (open or acknowledged now) are listed, each once: new, else reopened, else
overdue (past its due date today). Owners without an address are returned apart, never dropped.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from auditor.findings.lifecycle import ACTIVE
from auditor.findings.query import list_findings
from auditor.ops.settings import Settings

NO_OWNER = "(no owner)"
SECTIONS = ("new", "reopened", "overdue")


@dataclass
class Digest:
    """One owner's findings of a sweep that need their attention."""

    owner: str
    address: str | None
    new: list[dict[str, Any]] = field(default_factory=list)
    reopened: list[dict[str, Any]] = field(default_factory=list)
    overdue: list[dict[str, Any]] = field(default_factory=list)

    @property
    def findings(self) -> list[dict[str, Any]]:
        return [*self.new, *self.reopened, *self.overdue]

    def counts(self) -> str:
        """`2 new, 0 reopened, 1 overdue`."""
        return ", ".join(f"{len(getattr(self, name))} {name}" for name in SECTIONS)


@dataclass(frozen=True)
class SweepInfo:
    """What a digest says about its sweep."""

    id: int
    as_of: date
    since: date | None


def collect_digests(engine: Engine, sweep_id: int, today: date, settings: Settings) -> list[Digest]:
    """The digests of a sweep, by owner name, for owners with at least one finding to report."""
    _, findings = list_findings(engine, sweep_id, today=today)
    by_owner: dict[str, Digest] = {}
    for f in findings:
        if f["status"] not in ACTIVE:
            continue
        section = f["appearance"] if f["appearance"] in ("new", "reopened") else "overdue" if f["overdue"] else None
        if section is None:
            continue
        owner = (f["owner"] or "").strip() or NO_OWNER
        digest = by_owner.get(owner)
        if digest is None:
            digest = by_owner[owner] = Digest(owner, settings.address(owner) if owner != NO_OWNER else None)
        getattr(digest, section).append(f)
    return [by_owner[name] for name in sorted(by_owner)]


def compose(digest: Digest, sweep: SweepInfo, settings: Settings, report: Path | None, sender: str) -> EmailMessage:
    """The e-mail of one digest: plain text, with a link to the report and/or the report attached."""
    assert digest.address is not None, "only digests with an address are sent"
    message = EmailMessage()
    message["Subject"] = (
        f"{settings.digest.subject_prefix} {digest.owner}: {digest.counts()} "
        f"(sweep {sweep.id}, as of {sweep.as_of.isoformat()})"
    ).strip()
    message["From"] = sender
    message["To"] = digest.address
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["X-Auditor-Sweep"] = str(sweep.id)
    message["X-Auditor-Owner"] = digest.owner
    message.set_content(_body(digest, sweep, settings, report))
    if report is not None and settings.digest.attach_report and report.is_file():
        maintype, subtype = (mimetypes.guess_type(report.name)[0] or "application/octet-stream").split("/")
        name = f"audit-sweep-{sweep.id}-{report.name}"
        if maintype == "text":  # the report is UTF-8 text: say so, or mail readers guess
            message.add_attachment(report.read_text(encoding="utf-8"), subtype=subtype, filename=name)
        else:
            message.add_attachment(report.read_bytes(), maintype=maintype, subtype=subtype, filename=name)
    return message


def report_link(settings: Settings, sweep_id: int) -> str | None:
    """`[digest] report_url` with `{sweep}` filled in (None: not configured)."""
    url = settings.digest.report_url
    return url.replace("{sweep}", str(sweep_id)) if url else None


def _body(digest: Digest, sweep: SweepInfo, settings: Settings, report: Path | None) -> str:
    judged = f"{sweep.since.isoformat()} to {sweep.as_of.isoformat()}" if sweep.since else sweep.as_of.isoformat()
    lines = [
        f"Hello {digest.owner},",
        "",
        f"audit sweep {sweep.id} judged {judged}. {len(digest.findings)} finding(s) you own need attention "
        f"({digest.counts()}).",
    ]
    titles = {
        "new": "New in this sweep",
        "reopened": "Reopened (found again after being resolved, or a waiver lapsed)",
        "overdue": "Overdue (past their due date)",
    }
    for name in SECTIONS:
        items = getattr(digest, name)
        if not items:
            continue
        heading = f"{titles[name]} ({len(items)})"
        lines += ["", heading, "-" * len(heading)]
        for f in items:
            due = f"due {f['due_on']}" + (" (OVERDUE)" if f["overdue"] else "") if f["due_on"] else "no due date"
            lines += [
                f"* [{f['severity']}] {f['rule_id']} {f['title']}: {f['subject']}",
                f"  {' '.join(str(f['message']).split())}",
            ]
            if f["remediation"]:
                lines.append(f"  To do: {' '.join(str(f['remediation']).split())}")
            lines.append(f"  {due}; status {f['status']}; key {f['key']}")
    link = report_link(settings, sweep.id)
    lines.append("")
    if link:
        lines.append(f"Report: {link}")
    if report is not None and settings.digest.attach_report and report.is_file():
        lines.append(f"The report is attached ({report.name}).")
    lines += ["", "Details and history: auditor findings show KEY", ""]
    return "\n".join(lines)
