"""Triage by the audit team: acknowledge, resolve, reopen, waive, mark false positive, assign; pattern waivers.

Every action appends events (and waivers) in one transaction under the sweep
lock; when any named finding refuses the action, nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from auditor.findings.lifecycle import Event, TransitionError, check_waiver, triage
from auditor.findings.state import current_states, latest_rows
from auditor.findings.waivers import Waiver
from auditor.store.lock import exclusive
from auditor.store.models import FindingEvent, WaiverRow


class UnknownFindingError(LookupError):
    """No tracked finding has (or uniquely starts with) the given key."""


@dataclass(frozen=True)
class Change:
    """One finding's status change made by a triage action."""

    key: str
    from_status: str | None
    to_status: str
    note: str


def resolve_keys(session: Session, given: Sequence[str]) -> list[str]:
    """Full finding keys for the given keys or unique key prefixes."""
    known = sorted(k for (k,) in session.execute(select(FindingEvent.finding_key).distinct()))
    out = []
    for text in given:
        if text in known:
            out.append(text)
            continue
        matches = [k for k in known if k.startswith(text)]
        if not matches:
            raise UnknownFindingError(f"no finding with key {text!r} (see `auditor findings list`)")
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (" ..." if len(matches) > 5 else "")
            raise UnknownFindingError(f"{text!r} matches {len(matches)} findings ({shown}); give the whole key")
        out.append(matches[0])
    return list(dict.fromkeys(out))


def apply_action(
    engine: Engine,
    keys: Sequence[str],
    action: str,
    *,
    actor: str,
    today: date,
    reason: str = "",
    approver: str = "",
    until: date | None = None,
) -> list[Change]:
    """Apply a triage action to findings; TransitionError or UnknownFindingError and nothing changes."""
    with exclusive(engine, f"{action.replace('_', ' ')} findings"), Session(engine) as session, session.begin():
        resolved = resolve_keys(session, keys)
        states = current_states(session, resolved)
        events = [
            (key, triage(states[key].status, action, today=today, reason=reason, approver=approver, until=until))
            for key in resolved
        ]
        at = _now()
        waiver_ids: dict[str, int] = {}
        if action == "waive":
            assert until is not None
            for key, _ in events:
                waiver_ids[key] = _add_waiver(session, at, actor, until, reason, approver, finding_key=key)
        rows = [
            event.row(key, at=at, actor=actor, details={"waiver_id": waiver_ids[key]} if key in waiver_ids else None)
            for key, event in events
        ]
        session.execute(insert(FindingEvent), rows)
        return _changes(events)


def assign(
    engine: Engine, keys: Sequence[str], *, actor: str, owner: str | None = None, due_on: date | None = None
) -> list[Change]:
    """Give findings a new owner and/or due date (an event each; the status does not change)."""
    if owner is None and due_on is None:
        raise TransitionError("give a new owner (--owner) or due date (--due), or both")
    if owner is not None and not owner.strip():
        raise TransitionError("the owner cannot be empty")
    details: dict[str, Any] = {}
    notes = []
    if owner is not None:
        details["owner"] = owner.strip()
        notes.append(f"owner {owner.strip()}")
    if due_on is not None:
        details["due_on"] = due_on.isoformat()
        notes.append(f"due {due_on.isoformat()}")
    with exclusive(engine, "assign findings"), Session(engine) as session, session.begin():
        resolved = resolve_keys(session, keys)
        states = current_states(session, resolved)
        at = _now()
        note = "assigned: " + ", ".join(notes)
        events = [(k, Event("assign", states[k].status, states[k].status, note)) for k in resolved]
        session.execute(insert(FindingEvent), [e.row(k, at=at, actor=actor, details=details) for k, e in events])
        return _changes(events)


def waive_pattern(
    engine: Engine,
    *,
    rule: str = "*",
    subject: str = "*",
    branch: str | None = None,
    until: date | None,
    reason: str,
    approver: str,
    actor: str,
    today: date,
) -> tuple[Waiver, list[Change]]:
    """Waive every finding matching a rule and subject pattern (and branch) until a day, now and in later sweeps."""
    until = check_waiver(reason, approver, until, today)
    if rule.strip() in ("", "*") and subject.strip() in ("", "*") and not branch:
        raise TransitionError("a pattern waiver needs a rule, subject or branch to match (it would waive everything)")
    with exclusive(engine, "waive findings"), Session(engine) as session, session.begin():
        at = _now()
        waiver_id = _add_waiver(session, at, actor, until, reason, approver, rule=rule, subject=subject, branch=branch)
        waiver = Waiver(waiver_id, None, rule, subject, branch, until, reason, approver)
        states = current_states(session)
        active = [k for k, s in states.items() if s.active]
        note = f"covered by {waiver.describe()}"
        events = [
            (key, Event("waive", states[key].status, "waived", note))
            for key, row in latest_rows(session, active).items()
            if waiver.covers(key, row.rule_id, row.subject, row.branch)
        ]
        if events:
            details = {"waiver_id": waiver_id}
            session.execute(insert(FindingEvent), [e.row(k, at=at, actor=actor, details=details) for k, e in events])
        return waiver, _changes(events)


def _add_waiver(
    session: Session,
    at: datetime,
    actor: str,
    until: date,
    reason: str,
    approver: str,
    *,
    finding_key: str | None = None,
    rule: str = "*",
    subject: str = "*",
    branch: str | None = None,
) -> int:
    row = WaiverRow(
        finding_key=finding_key,
        rule_pattern=rule,
        subject_pattern=subject,
        branch=branch,
        until=until,
        reason=reason.strip(),
        approver=approver.strip(),
        actor=actor,
        created_at=at,
    )
    session.add(row)
    session.flush()
    return row.id


def _changes(events: list[tuple[str, Event]]) -> list[Change]:
    return [Change(key, e.from_status, e.to_status, e.note) for key, e in events]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
