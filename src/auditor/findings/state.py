"""A tracked finding's current state, derived from its append-only events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import msgspec
from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from auditor.findings.lifecycle import ACTIVE, Status
from auditor.store.models import FindingEvent, FindingRow, SweepFinding

KEY_BATCH = 500  # finding keys per IN (...) query
KEYS_LOOKED_UP = 50_000  # more keys than this are read in one pass over every event
# An event's details, decoded from the column's JSON text: a fraction of json.loads's time.
_DETAILS = msgspec.json.Decoder(dict[str, Any] | None)


@dataclass
class FindingState:
    """Status, owner and due date as the events leave them; first sweep that found it."""

    key: str
    status: Status
    owner: str = ""
    due_on: date | None = None
    first_sweep: int | None = None
    events: int = 0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def fold(
    state: FindingState | None, key: str, sweep_id: int | None, to_status: str, details: dict[str, Any] | None
) -> FindingState:
    """Apply one event (its sweep, new status and details) to a state (None before the first event)."""
    if state is None:
        state = FindingState(key, to_status, first_sweep=sweep_id)  # type: ignore[arg-type]
    state.status = to_status  # type: ignore[assignment]
    if details:
        if "owner" in details:
            state.owner = details["owner"]
        if "due_on" in details:
            state.due_on = date.fromisoformat(details["due_on"]) if details["due_on"] else None
    state.events += 1
    return state


def current_states(
    session: Session, keys: Iterable[str] | None = None, *, sweep_id: int | None = None
) -> dict[str, FindingState]:
    """The current state of every tracked finding, of the given keys, or (`sweep_id`) of one sweep's findings.

    Reads only the event columns folding needs, oldest first: of up to KEYS_LOOKED_UP keys, by key (in batches);
    of more, or all, in one pass.
    """
    e = FindingEvent
    query = select(e.finding_key, e.sweep_id, e.to_status, cast(e.details, Text)).order_by(e.id)
    wanted = None if keys is None else set(keys)
    queries = [query]
    if wanted is not None and len(wanted) <= KEYS_LOOKED_UP:
        ordered = sorted(wanted)
        queries = [
            query.where(e.finding_key.in_(ordered[i : i + KEY_BATCH])) for i in range(0, len(ordered), KEY_BATCH)
        ]
    if sweep_id is not None:
        queries = [
            q.where(e.finding_key.in_(select(SweepFinding.finding_key).where(SweepFinding.sweep_id == sweep_id)))
            for q in queries
        ]
    states: dict[str, FindingState] = {}
    for batch in queries:
        for key, event_sweep, to_status, details in session.execute(batch):
            if wanted is not None and key not in wanted:
                continue
            states[key] = fold(states.get(key), key, event_sweep, to_status, _DETAILS.decode(details or "null"))
    return states


def latest_rows(session: Session, keys: Iterable[str] | None = None) -> dict[str, SweepFinding]:
    """Each finding's most recent snapshot (from the last sweep that produced it), of the given keys or all.

    Up to KEYS_LOOKED_UP keys are looked up by key (indexed, in batches); more of them, or all, in one pass. A
    finding's last stored row is the one its last sweep holds: a sweep links only the rows of the sweep before it,
    the latest complete one (tracking.py), so the rows a sweep links are the latest stored of their keys.
    """
    chosen = None if keys is None else set(keys)
    if chosen is None or len(chosen) > KEYS_LOOKED_UP:
        latest = select(func.max(FindingRow.id)).group_by(FindingRow.finding_key)
        return _last_sweeps(session, latest, chosen)
    wanted = sorted(chosen)
    out: dict[str, SweepFinding] = {}
    for start in range(0, len(wanted), KEY_BATCH):
        batch = wanted[start : start + KEY_BATCH]
        latest = select(func.max(FindingRow.id)).where(FindingRow.finding_key.in_(batch))
        out.update(_last_sweeps(session, latest.group_by(FindingRow.finding_key), None))
    return out


def _last_sweeps(session: Session, ids: Any, chosen: set[str] | None) -> dict[str, SweepFinding]:
    """The stored rows of these ids as the last sweep holding each (its own, or linked by later sweeps) holds it."""
    out: dict[str, SweepFinding] = {}
    for row in session.execute(select(SweepFinding).where(SweepFinding.id.in_(ids))).scalars():
        if chosen is not None and row.finding_key not in chosen:
            continue
        held = out.get(row.finding_key)
        if held is None or held.sweep_id < row.sweep_id:
            out[row.finding_key] = row
    return out
