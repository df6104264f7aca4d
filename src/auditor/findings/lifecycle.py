"""Finding lifecycle: statuses, triage transitions and what a sweep does to a tracked finding.

Pure functions over plain values; the store keeps the append-only events they
produce. A finding's current status is the `to` of its latest event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

Status = Literal["open", "acknowledged", "resolved", "waived", "false_positive"]
Appearance = Literal["new", "recurring", "reopened", "suppressed"]

ACTIVE: frozenset[str] = frozenset({"open", "acknowledged"})
"""Statuses of a finding that still needs work."""

TRIAGE: dict[str, frozenset[str]] = {
    "acknowledge": frozenset({"open"}),
    "resolve": frozenset({"open", "acknowledged"}),
    "reopen": frozenset({"resolved", "waived", "false_positive"}),
    "waive": frozenset({"open", "acknowledged"}),
    "false_positive": frozenset({"open", "acknowledged"}),
}
"""Which statuses each triage action may start from."""

TARGET: dict[str, Status] = {
    "acknowledge": "acknowledged",
    "resolve": "resolved",
    "reopen": "open",
    "waive": "waived",
    "false_positive": "false_positive",
}


class TransitionError(ValueError):
    """A triage action that is not allowed; nothing changes."""


@dataclass(frozen=True)
class Event:
    """One change of a finding's status (append-only)."""

    action: str
    from_status: Status | None
    to_status: Status
    note: str = ""

    def row(
        self, key: str, *, at: datetime, actor: str, sweep_id: int | None = None, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """This event as a row of the finding_events table (`sweep_id` for changes a sweep made)."""
        return {
            "finding_key": key,
            "sweep_id": sweep_id,
            "at": at,
            "actor": actor,
            "action": self.action,
            "from_status": self.from_status,
            "to_status": self.to_status,
            "note": self.note,
            "details": details or {},
        }


def triage(
    status: Status,
    action: str,
    *,
    today: date,
    reason: str = "",
    approver: str = "",
    until: date | None = None,
) -> Event:
    """The event of a triage action on a finding in `status`, or TransitionError with the reason.

    `approver` is the waiver's approver, or the reviewer of a false positive.
    """
    if action not in TRIAGE:
        raise TransitionError(f"unknown action {action!r} (known: {', '.join(TRIAGE)})")
    if status not in TRIAGE[action]:
        allowed = ", ".join(sorted(TRIAGE[action]))
        raise TransitionError(f"cannot {action.replace('_', ' ')} a finding that is {status} (only: {allowed})")
    if action == "waive":
        until = check_waiver(reason, approver, until, today)
        return Event(action, status, "waived", f"until {until.isoformat()}: {reason} (approved by {approver})")
    if action == "false_positive":
        if not reason.strip():
            raise TransitionError("marking a false positive needs a reason")
        if approver.strip():
            return Event(action, status, "false_positive", f"{reason} (reviewed by {approver})")
    return Event(action, status, TARGET[action], reason)


def check_waiver(reason: str, approver: str, until: date | None, today: date) -> date:
    """The waiver's expiry day, or TransitionError when the waiver is incomplete or already expired."""
    if not reason.strip() or not approver.strip():
        raise TransitionError("a waiver needs a reason and an approver")
    if until is None:
        raise TransitionError("a waiver needs an expiry date (--until YYYY-MM-DD)")
    if until < today:
        raise TransitionError(f"the waiver's expiry {until} is in the past (today is {today})")
    return until


def overdue(status: str, due_on: date | None, today: date) -> bool:
    """Still needs work and its due day has passed (the due day itself is not overdue)."""
    return status in ACTIVE and due_on is not None and due_on < today


def waiver_active(until: date | None, today: date) -> bool:
    """A waiver covers its expiry day (inclusive, in the organisation's time zone)."""
    return until is not None and today <= until


def on_sweep(
    previous: Status | None, produced: bool, evaluated: bool, waived_until: date | None, today: date
) -> tuple[Appearance | None, Event | None]:
    """What a sweep does to one tracked finding.

    `previous` is its status before the sweep (None: never seen), `produced`
    whether the sweep found it again, `evaluated` whether the sweep judged its
    subject and occurrence. Returns how it appears in the sweep (or None when
    it does not) and the event to record (or None).
    """
    if produced:
        if previous is None:
            return "new", Event("sweep", None, "open", "found")
        if previous in ACTIVE:
            return "recurring", None
        if previous == "resolved":
            return "reopened", Event("sweep", "resolved", "open", "found again after it was resolved")
        if previous == "waived" and not waiver_active(waived_until, today):
            return "reopened", Event("waiver_expired", "waived", "open", _lapsed(waived_until))
        return "suppressed", None  # waived (still covered) or false positive
    if evaluated and (previous in ACTIVE or previous == "waived"):
        return None, Event("sweep", previous, "resolved", "not found again: resolved by data")
    if previous == "waived" and not waiver_active(waived_until, today):
        return None, Event("waiver_expired", "waived", "open", f"{_lapsed(waived_until)}; not judged in this sweep")
    return None, None


def _lapsed(until: date | None) -> str:
    return f"waiver expired on {until.isoformat()}" if until else "waiver without expiry"
