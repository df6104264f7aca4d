"""Exit statuses of `auditor sweep` and `auditor run` for schedulers, and the `--fail-on` gate.

0 done; 1 findings at or above the `--fail-on` severity appeared (new, or reopened: found again after
they were resolved or their waiver lapsed); 2 usage or input error (nothing swept); 3 engine errors (some
partitions could not be evaluated; the sweep, report and digests are still written); 4 (`run` only) some
digests could not be sent; 75 another sweep is running (nothing changed). When several apply, the highest
in the order 3, 4, 1 wins.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from auditor.rulebook import SEVERITY_ORDER
from auditor.store.models import SweepFinding

OK = 0
FINDINGS_APPEARED = 1
USAGE = 2
ENGINE_ERRORS = 3
DIGESTS_NOT_SENT = 4
BUSY = 75
APPEARANCES = ("new", "reopened")
"""How a finding appears in a sweep for `--fail-on` to count it."""


def at_or_above(severity: str) -> list[str]:
    """The severities at least as severe as `severity`, most severe first."""
    rank = SEVERITY_ORDER[severity]
    return sorted((s for s, r in SEVERITY_ORDER.items() if r <= rank), key=SEVERITY_ORDER.__getitem__)


def appeared(engine: Engine, sweep_id: int, severity: str) -> list[dict[str, Any]]:
    """The sweep's findings that appeared (new or reopened) at or above a severity: key, rule, severity, how."""
    query = (
        select(SweepFinding.finding_key, SweepFinding.rule_id, SweepFinding.severity, SweepFinding.appearance)
        .where(
            SweepFinding.sweep_id == sweep_id,
            SweepFinding.appearance.in_(APPEARANCES),
            SweepFinding.severity.in_(at_or_above(severity)),
        )
        .order_by(SweepFinding.finding_key)
    )
    with Session(engine) as session:
        return [
            {"key": key, "rule_id": rule_id, "severity": sev, "appearance": how}
            for key, rule_id, sev, how in session.execute(query)
        ]


def exit_status(*, engine_errors: bool, digests_failed: bool = False, findings_appeared: bool = False) -> int:
    """The status a sweep or run exits with (see the module's text for the order)."""
    if engine_errors:
        return ENGINE_ERRORS
    if digests_failed:
        return DIGESTS_NOT_SENT
    if findings_appeared:
        return FINDINGS_APPEARED
    return OK
