"""A rule's stored partitions, decoded only when read, with their counts kept up to date (engine/states.py)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.engine import states
from auditor.engine.states import Entry, Partitions

KEYS = st.sampled_from([f"SP-{n}" for n in range(12)])


def _entry(occurrences: list[str], findings: list[str]) -> Entry:
    return ["1,2", occurrences, [[o, [1], f"message {o}", {"1": {"owner_id": "SP-1"}}] for o in findings], "[]"]


ENTRIES = st.builds(
    _entry,
    st.lists(st.sampled_from(["W1", "W2", "W3"]), unique=True),
    st.lists(st.sampled_from(["W1", "W2"]), unique=True),
)


def _recounted(partitions: Partitions) -> tuple[int, int, set[str]]:
    entries = partitions.decoded()
    return (
        sum(len(e[1]) for e in entries.values()),
        sum(len(e[2]) for e in entries.values()),
        {key for key, e in entries.items() if e[2]},
    )


def _raw(blob: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompress(blob)


def test_a_stored_state_reads_back_with_its_counts() -> None:
    doc = {"SP-1": _entry(["W1", "W2"], ["W2"]), "SP-2": _entry(["W1"], [])}
    stored = Partitions.decode(Partitions.of(doc).encoded())
    assert (stored.checked, stored.findings, stored.with_findings) == (3, 1, {"SP-1"})
    assert stored.changed == set()  # nothing decoded yet
    assert stored.decoded() == doc


def test_only_the_entries_read_are_decoded_and_the_rest_are_written_back_as_read() -> None:
    doc = {"SP-1": _entry(["W1", "W2"], ["W2"]), "SP-2": _entry(["W1"], []), "SP-3": _entry(["W3"], ["W1"])}
    blob = Partitions.of(doc).encoded()
    stored = Partitions.decode(blob)
    assert stored.get("SP-2") == doc["SP-2"]
    assert stored.changed == {"SP-2"}
    assert stored.stored("SP-1") == msgspec.json.encode(doc["SP-1"])
    assert sorted(stored.with_findings) == ["SP-1", "SP-3"]
    assert _raw(stored.encoded()) == _raw(blob)


def test_an_updated_copy_leaves_the_carried_partitions_as_they_are() -> None:
    carried = Partitions.of({"SP-1": _entry(["W1"], ["W1"]), "SP-2": _entry(["W1", "W2"], [])})
    saved = carried.updated({"SP-1": _entry(["W1", "W2"], []), "SP-4": _entry(["W3"], ["W3"])})
    assert (carried.checked, carried.findings, carried.with_findings) == (3, 1, {"SP-1"})
    assert (saved.checked, saved.findings, saved.with_findings) == (5, 1, {"SP-4"})
    assert saved.keys() == ["SP-1", "SP-2", "SP-4"] and carried.keys() == ["SP-1", "SP-2"]


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(KEYS, ENTRIES),
    st.lists(st.tuples(st.sampled_from(["pop", "put", "get"]), KEYS, ENTRIES), max_size=20),
)
def test_the_counts_follow_every_entry_taken_out_and_put_in(doc: dict[str, Entry], steps: list[Any]) -> None:
    partitions = Partitions.decode(Partitions.of(doc).encoded())
    expected = dict(doc)
    for action, key, entry in steps:
        if action == "pop":
            assert partitions.pop(key) == expected.pop(key, None)
        elif action == "put":
            partitions[key] = entry
            expected[key] = entry
        else:
            assert partitions.get(key) == expected.get(key)
        assert (partitions.checked, partitions.findings, partitions.with_findings) == _recounted(partitions)
        assert len(partitions) == len(expected) and partitions.keys() == sorted(expected)
    assert partitions.decoded() == expected
    assert Partitions.decode(partitions.encoded()).decoded() == expected
    assert partitions.packed() == Partitions.of(expected).packed()  # the runs copied as stored fit in between


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(KEYS, ENTRIES), st.dictionaries(KEYS, ENTRIES), st.sets(KEYS))
def test_an_updated_state_packs_as_one_built_afresh(
    doc: dict[str, Entry], put: dict[str, Entry], read: set[str]
) -> None:
    """Entries as stored, decoded, replaced and added pack into the same bytes as the same entries packed anew."""
    stored = Partitions.decode(Partitions.of(doc).encoded())
    for key in read:
        stored.get(key)
    assert stored.updated(put).packed() == Partitions.of({**doc, **put}).packed()
    assert stored.decoded() == doc  # the copy left it as it was


@pytest.mark.parametrize("scan_all", [0, 99])  # the entries asked about copied first, or all the bytes searched
@settings(max_examples=100, deadline=None)
@given(st.dictionaries(KEYS, ENTRIES), st.sets(KEYS), st.sets(st.sampled_from(["SP-1", "SP-7", "W2", "message W1"])))
def test_the_entries_holding_a_name_are_found_in_the_stored_bytes(
    scan_all: int, doc: dict[str, Entry], read: set[str], names: set[str]
) -> None:
    stored = Partitions.decode(Partitions.of(doc).encoded())
    for key in read:
        stored.get(key)
    needles = [msgspec.json.encode(name) for name in names]
    among = set(list(doc)[::2])
    expected = {key for key in among if any(n in msgspec.json.encode(doc[key]) for n in needles)}
    kept, states.SCAN_ALL = states.SCAN_ALL, scan_all
    try:
        assert stored.holding(needles, among) == expected
    finally:
        states.SCAN_ALL = kept
