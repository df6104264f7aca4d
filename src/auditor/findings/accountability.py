"""Who is accountable for a finding: the person, their branch, region and line manager, from the roster."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PERSON_FIELDS = (
    "owner_id",
    "rep_id",
    "person_id",
    "requested_by",
    "subject_id",
    "recipient_id",
    "manager_id",
    "team_id",
    "interviewer_id",
)
"""Fields of evidence facts that name the person who acted (or should have), in order of preference."""


@dataclass(frozen=True)
class Accountable:
    """Where a finding sits in the organisation; empty strings when unknown."""

    person_id: str = ""
    region: str = ""
    branch: str = ""
    manager_id: str = ""


class Roster:
    """People by id (from `person` facts) and the region of each branch."""

    def __init__(self, people: Iterable[Mapping[str, Any]]) -> None:
        self.people: dict[str, Mapping[str, Any]] = {str(p["id"]): p for p in people}
        regions: dict[str, Counter[str]] = {}
        for person in self.people.values():
            if person.get("branch") and person.get("region"):
                regions.setdefault(person["branch"], Counter())[person["region"]] += 1
        self.branch_region = {branch: counts.most_common(1)[0][0] for branch, counts in regions.items()}
        self.managers = {str(p["manager_id"]) for p in self.people.values() if p.get("manager_id")}

    def team_manager(self, person_id: str) -> str:
        """The manager whose team a person's cadence counts for: themselves when they manage people, else theirs."""
        if person_id in self.managers:
            return person_id
        person = self.people.get(person_id)
        return str(person.get("manager_id") or "") if person else ""

    def resolve(self, subject: str, evidence: Iterable[Mapping[str, Any]]) -> Accountable:
        """The subject when it is a person or a branch, else the first person named by the evidence."""
        evidence = list(evidence)
        person_id = subject if subject in self.people else self._named_person(evidence)
        if person_id:
            person = self.people[person_id]
            return Accountable(
                person_id, person.get("region") or "", person.get("branch") or "", person.get("manager_id") or ""
            )
        branch = (
            subject
            if subject in self.branch_region
            else next((str(v["branch"]) for v in evidence if v.get("branch")), "")
        )
        return Accountable("", self.branch_region.get(branch, ""), branch, "")

    def _named_person(self, evidence: list[Mapping[str, Any]]) -> str:
        for field in PERSON_FIELDS:
            for values in evidence:
                value = values.get(field)
                if value is not None and str(value) in self.people:
                    return str(value)
        return ""
