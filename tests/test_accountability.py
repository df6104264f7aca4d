"""Who a finding belongs to: the subject when it is a person or branch, else the person its evidence names."""

from __future__ import annotations

from auditor.findings.accountability import Accountable, Roster

ROSTER = Roster(
    [
        {"id": "M1", "role": "team_leader", "region": "North", "branch": "Leeds", "manager_id": None},
        {"id": "P1", "role": "sales_person", "region": "North", "branch": "Leeds", "manager_id": "M1"},
        {"id": "P2", "role": "sales_person", "region": "South", "branch": "Bath", "manager_id": "M2"},
    ]
)


def test_a_person_subject_is_accountable_themselves() -> None:
    assert ROSTER.resolve("P1", []) == Accountable("P1", "North", "Leeds", "M1")
    assert ROSTER.resolve("M1", []) == Accountable("M1", "North", "Leeds", "")


def test_other_subjects_take_the_person_the_evidence_names_in_order_of_preference() -> None:
    evidence = [{"id": "R1", "requested_by": "P2"}, {"request_id": "R1", "recipient_id": "P1"}]
    assert ROSTER.resolve("R1", evidence).person_id == "P2"  # requested_by ranks above recipient_id
    assert ROSTER.resolve("O1", [{"owner_id": "P1", "account_id": "A1"}]).person_id == "P1"
    assert ROSTER.resolve("O1", [{"owner_id": "X9"}]) == Accountable()  # not on the roster


def test_a_branch_subject_gets_its_region() -> None:
    assert ROSTER.resolve("Bath", [{"item": "flyer", "branch": "Bath"}]) == Accountable("", "South", "Bath", "")
    assert ROSTER.resolve("S1", [{"branch": "Bath"}]) == Accountable("", "South", "Bath", "")
