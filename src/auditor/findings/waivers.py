"""Waivers: of one finding (by key) or of every finding matching a rule, subject and branch pattern."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.findings.lifecycle import waiver_active
from auditor.store.models import WaiverRow


@dataclass(frozen=True)
class Waiver:
    """A waiver as the lifecycle sees it; patterns are shell-style (`*`, `?`, `[...]`)."""

    id: int
    finding_key: str | None
    rule_pattern: str
    subject_pattern: str
    branch: str | None
    until: date
    reason: str
    approver: str

    def covers(self, key: str, rule_id: str, subject: str, branch: str) -> bool:
        """Whether this waiver applies to the finding (whatever its expiry)."""
        if self.finding_key is not None:
            return key == self.finding_key
        return (
            fnmatchcase(rule_id, self.rule_pattern)
            and fnmatchcase(subject, self.subject_pattern)
            and (self.branch is None or self.branch == branch)
        )

    @classmethod
    def from_row(cls, r: WaiverRow) -> Waiver:
        """The waiver a stored row grants."""
        return cls(r.id, r.finding_key, r.rule_pattern, r.subject_pattern, r.branch, r.until, r.reason, r.approver)

    @property
    def scope(self) -> str:
        """What it covers: the finding's key, or the pattern's parts (`rule MAT-*, branch Bath`)."""
        if self.finding_key is not None:
            return self.finding_key
        parts = [f"rule {self.rule_pattern}"] if self.rule_pattern != "*" else []
        parts += [f"subject {self.subject_pattern}"] if self.subject_pattern != "*" else []
        parts += [f"branch {self.branch}"] if self.branch is not None else []
        return ", ".join(parts) or "every finding"

    def describe(self) -> str:
        """One line for events and listings."""
        scope = f"finding {self.scope}" if self.finding_key is not None else self.scope
        return (
            f"waiver #{self.id} ({scope}) until {self.until.isoformat()}: {self.reason} (approved by {self.approver})"
        )


def load_waivers(session: Session) -> list[Waiver]:
    """Every waiver ever granted, oldest first."""
    return [Waiver.from_row(r) for r in session.execute(select(WaiverRow).order_by(WaiverRow.id)).scalars()]


def governing(
    waivers: Iterable[Waiver], key: str, rule_id: str, subject: str, branch: str, today: date
) -> Waiver | None:
    """The waiver that decides the finding today: the active one lasting longest, else the last to expire."""
    covering = [w for w in waivers if w.covers(key, rule_id, subject, branch)]
    if not covering:
        return None
    active = [w for w in covering if waiver_active(w.until, today)]
    return max(active or covering, key=lambda w: (w.until, w.id))
