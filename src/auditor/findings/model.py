"""A finding: one deviation of one rule for one subject and occurrence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    """Identity is (rule_id, subject, occurrence); evidence holds fact row ids.

    ``context`` carries the values a message template may use; it does not
    take part in equality.
    """

    rule_id: str
    subject: str
    occurrence: str
    evidence: tuple[int, ...]
    context: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        """The stable key that identifies this finding across sweeps."""
        return finding_key(self.rule_id, self.subject, self.occurrence)


def finding_key(rule_id: str, subject: str, occurrence: str) -> str:
    """The key of a rule's finding for a subject and occurrence."""
    return f"{rule_id}|{subject}|{occurrence}"
