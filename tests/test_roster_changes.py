"""`standing.roster_changes`: every resolution that a roster correction changes names a person or branch it
returns (a lean re-sweep keeps the stored accountability of every other carried finding)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.engine.standing import roster_changes
from auditor.findings.accountability import Roster

IDS = ["P1", "P2", "P3", "P4", "P5"]
BRANCHES = ["Bath", "Leeds", "York"]
REGIONS = ["North", "South", None]

person = st.fixed_dictionaries(
    {
        "region": st.sampled_from(REGIONS),
        "branch": st.sampled_from([*BRANCHES, None]),
        "manager_id": st.sampled_from([*IDS, None]),
        "email": st.sampled_from(["a", "b"]),  # a field accountability does not read
    }
)


@settings(max_examples=400, deadline=None)
@given(before=st.dictionaries(st.sampled_from(IDS), person, min_size=1), data=st.data())
def test_every_changed_resolution_names_a_returned_person_or_branch(
    before: dict[str, dict[str, Any]], data: st.DataObject
) -> None:
    # Per touched person: gone (None), new fields, or one field of the old ones changed (often only the email).
    def changed(pid: str) -> st.SearchStrategy[dict[str, Any] | None]:
        choices = [st.none(), person]
        if pid in before:
            name = st.sampled_from(["region", "branch", "manager_id", "email", "email", "email"])
            choices.append(name.flatmap(lambda n: person.map(lambda p: {**before[pid], n: p[n]})))
        return st.one_of(*choices)

    touched_ids = data.draw(st.sets(st.sampled_from(IDS), min_size=1))
    after = {pid: data.draw(changed(pid)) for pid in sorted(touched_ids)}
    old = [{"id": pid, **fields} for pid, fields in before.items()]
    # Corrected or new people come last, as their new rows do; None: a person no longer on the roster.
    kept = [p for p in old if p["id"] not in after]
    new = kept + [{"id": pid, **fields} for pid, fields in after.items() if fields is not None]
    touched = set(after)
    versions = {p["id"]: p for p in old if p["id"] in touched}
    people, branches = roster_changes(Roster(new), touched, versions)
    was, now = Roster(old), Roster(new)
    for subject in [*IDS, *BRANCHES, "OPP-1"]:
        for evidence in (
            [],
            *([{"owner_id": pid}] for pid in IDS),
            *([{"branch": branch}] for branch in BRANCHES),
            [{"owner_id": "P9", "branch": "Leeds"}],
            [{"recipient_id": "P2"}, {"requested_by": "P3"}],
        ):
            if was.resolve(subject, evidence) != now.resolve(subject, evidence):
                named = {subject} | {value for values in evidence for value in values.values()}
                assert named & (people | branches), (subject, evidence)


def test_a_correction_accountability_does_not_read_changes_nothing() -> None:
    old = [{"id": "P1", "region": "North", "branch": "Leeds", "manager_id": None, "email": "a"}]
    new = [{**old[0], "email": "b"}]
    assert roster_changes(Roster(new), {"P1"}, {"P1": old[0]}) == (set(), set())


def test_a_branch_whose_region_vote_flips_is_returned() -> None:
    old = [
        {"id": "P1", "region": "North", "branch": "Leeds"},
        {"id": "P2", "region": "North", "branch": "Leeds"},
        {"id": "P3", "region": "South", "branch": "Leeds"},
    ]
    new = [old[0], {**old[1], "region": "South"}, old[2]]
    people, branches = roster_changes(Roster(new), {"P2"}, {"P2": old[1]})
    assert people == {"P2"} and branches == {"Leeds"}
    assert Roster(old).branch_region["Leeds"] == "North" and Roster(new).branch_region["Leeds"] == "South"


def test_a_tied_branch_is_returned_when_a_correction_reorders_its_people() -> None:
    """A tie in a branch's vote goes to the region counted first; a corrected person's new row comes last."""
    old = [
        {"id": "P1", "region": "North", "branch": "Leeds", "email": "a"},
        {"id": "P2", "region": "South", "branch": "Leeds", "email": "a"},
    ]
    new = [old[1], {**old[0], "email": "b"}]
    assert Roster(old).branch_region["Leeds"] != Roster(new).branch_region["Leeds"]
    assert roster_changes(Roster(new), {"P1"}, {"P1": old[0]}) == (set(), {"Leeds"})
