"""The stored form of incremental sweeps: per rule, its partitions' members and outcomes (`rule_states`).

`combine` completes a sweep's fresh evaluation with the outcomes its plan carries over (engine/incremental.py)
and builds the states the sweep stores; docs/engine.md describes the format.
"""

from __future__ import annotations

import bisect
import itertools
import json
import sys
from array import array
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from auditor.engine.evaluate import Evaluation
from auditor.engine.facts import EngineFact, epoch
from auditor.findings import Finding
from auditor.findings.accountability import PERSON_FIELDS
from auditor.rulebook import Rule
from auditor.rulebook.templates import CadenceCheck
from auditor.store.compression import compress_pieces, decompress
from auditor.store.models import RuleState

if TYPE_CHECKING:
    from auditor.engine.incremental import Plan

_ENCODER = msgspec.json.Encoder()  # compact JSON, a fraction of json's time
EVIDENCE_FIELDS = (*PERSON_FIELDS, "branch")
"""The fields of evidence facts that accountability reads (`Roster.resolve`)."""

Entry = list[Any]
"""A stored partition (`Partitions` holds them, decoded when read): [member row ids (`pack_ids`), occurrences
judged, findings, member times (JSON)]; a finding is [occurrence, evidence row ids, message, {row id: evidence
fields}] (the message context is not kept: a carried finding keeps its rendered message, which the fingerprint's
rule and window fix); member times (cadence rules only) are the epoch times of expected facts, None for the
member facts."""


class Partial(NamedTuple):
    """A touched partition judged again for some occurrences only (cadence periods, or the changed facts of a
    match rule judged fact by fact): the occurrences judged again, and as stored for the partition's new
    members: their row ids, its stored entry, and the members' expected times."""

    occurrences: set[str]
    members: str
    stored: Entry
    times: str


def expect_time(check: CadenceCheck, fact: EngineFact) -> int | float | None:
    """The time of a cadence rule's expected fact (None: another kind, or no time: always evaluated)."""
    expect = check.expect
    if fact.kind != expect.kind or check.population.kind == expect.kind:
        return None
    value = fact.values.get(expect.at)
    return None if value is None else epoch(value)


class Partitions:
    """A rule's partitions as a sweep holds them: the entries as stored, each decoded only when it is read (most
    are carried over as stored, and stored again as they were), and the entries decoded or put in since; the
    number of judgements and findings of all entries, and the keys of the entries with findings, are kept up to
    date beside them.

    As stored (`packed`): a header (JSON: the counts and the keys with findings), every key (JSON, sorted), the
    length of each entry, and the entries (JSON) one after the other; the header and the keys each after their
    own length. Reading a state parses the header and the keys only; a key is found by bisecting the keys, its
    entry by the lengths before it. Storing it again copies the runs of entries left as they were, and the keys
    when they are the same, and writes only the others."""

    def __init__(self) -> None:
        self._keys: list[str] = []  # the stored keys, sorted
        self._lengths = array("I")  # the length of each stored entry
        self._raw: bytes = b""  # what `packed` gave: the entries start at `_origin`
        self._origin = 0
        self._keys_at = (0, 0)  # where the keys are in `_raw`, as JSON
        self._starting: list[int] | None = None  # where each stored entry starts in `_raw` (worked out when needed)
        self._changed: dict[str, Entry] = {}  # entries decoded or put in since: these are current
        self._hidden: dict[str, int] = {}  # stored keys taken out or in `_changed` (stale as stored), by position
        self.checked = self.findings = 0
        self.with_findings: set[str] = set()

    @classmethod
    def of(cls, entries: Mapping[str, Entry]) -> Partitions:
        """Partitions of decoded entries (counted here)."""
        return cls().updated(entries)

    @property
    def changed(self) -> set[str]:
        """The keys of the entries decoded or put in since the state was read."""
        return set(self._changed)

    def __len__(self) -> int:
        return len(self._keys) - len(self._hidden) + len(self._changed)

    def _position(self, key: str) -> int:
        """Where a key is among the stored ones (-1: not stored)."""
        index = bisect.bisect_left(self._keys, key)
        return index if index < len(self._keys) and self._keys[index] == key else -1

    def _starts(self) -> list[int]:
        if self._starting is None:
            self._starting = list(itertools.accumulate(self._lengths, initial=self._origin))
        return self._starting

    def get(self, key: str) -> Entry | None:
        """A partition's entry (decoded now if it was not yet)."""
        entry = self._changed.get(key)
        if entry is not None or key in self._hidden:
            return entry
        index = self._position(key)
        if index < 0:
            return None
        starts = self._starts()
        entry = self._changed[key] = _ENTRY.decode(memoryview(self._raw)[starts[index] : starts[index + 1]])
        self._hidden[key] = index
        return entry

    def __getitem__(self, key: str) -> Entry:
        entry = self.get(key)
        if entry is None:
            raise KeyError(key)
        return entry

    def stored(self, key: str) -> bytes:
        """A partition's entry as stored (JSON): as it was read, or written now when it was decoded or put in."""
        if key in self._changed or key in self._hidden:
            return _ENCODER.encode(self[key])
        index = self._position(key)
        if index < 0:
            raise KeyError(key)
        starts = self._starts()
        return self._raw[starts[index] : starts[index + 1]]

    def pop(self, key: str) -> Entry | None:
        """Take a partition's entry out (None: there is none)."""
        entry = self.get(key)
        if entry is not None:
            del self._changed[key]
            self.checked -= len(entry[1])
            self.findings -= len(entry[2])
            self.with_findings.discard(key)
        return entry

    def __setitem__(self, key: str, entry: Entry) -> None:
        self.pop(key)
        self._put(key, entry)

    def _put(self, key: str, entry: Entry) -> None:
        """Put in an entry whose key is not current."""
        self._changed[key] = entry
        if key not in self._hidden and (index := self._position(key)) >= 0:
            self._hidden[key] = index
        self.checked += len(entry[1])
        self.findings += len(entry[2])
        if entry[2]:
            self.with_findings.add(key)

    def keys(self) -> list[str]:
        """Every partition's key, sorted."""
        hidden = self._hidden
        stored = self._keys if not hidden else [key for key in self._keys if key not in hidden]
        return sorted([*stored, *self._changed])

    def items(self) -> Iterator[tuple[str, Entry]]:
        """Every partition, decoded (by key)."""
        for key in self.keys():
            yield key, self[key]

    def holding(self, needles: Sequence[bytes], among: set[str]) -> set[str]:
        """The keys, of those `among`, whose entry as stored holds one of the needles (searched in the stored
        bytes as they are; the entries decoded or put in since are written first).

        Up to SCAN_ALL needles are searched for in all the stored bytes; more, in a copy of the entries among
        those asked about only (copying them costs about as much as searching everything for a few needles).
        """
        hits = {key for key in self._changed if key in among and any(n in self.stored(key) for n in needles)}
        if not self._keys:
            return hits
        keys, hidden = self._keys, self._hidden
        if len(needles) <= SCAN_ALL:
            text, starts, names = self._raw, self._starts(), keys
        else:
            chosen = [index for index, key in enumerate(keys) if key in among and key not in hidden]
            view, stored = memoryview(self._raw), self._starts()
            pieces = [view[stored[index] : stored[index + 1]] for index in chosen]
            text, names = b"".join(pieces), [keys[index] for index in chosen]
            starts = list(itertools.accumulate(map(len, pieces), initial=0))
        end = starts[-1]
        for needle in needles:
            at = text.find(needle, starts[0], end)
            while at >= 0:
                index = bisect.bisect_right(starts, at) - 1
                key = names[index]
                if key in among and key not in hidden:
                    hits.add(key)
                at = text.find(needle, starts[index + 1], end)  # on to the next entry
        return hits

    def updated(self, entries: Mapping[str, Entry]) -> Partitions:
        """A copy with these entries put in (this one is left as it is; the entries as stored are shared)."""
        copy = Partitions()
        copy._keys, copy._lengths, copy._raw, copy._origin = self._keys, self._lengths, self._raw, self._origin
        copy._starting, copy._keys_at = self._starting, self._keys_at
        copy._changed, copy._hidden = dict(self._changed), dict(self._hidden)
        copy.checked, copy.findings, copy.with_findings = self.checked, self.findings, set(self.with_findings)
        for key, entry in entries.items():
            copy.pop(key)
            copy._put(key, entry)
        return copy

    def decoded(self) -> dict[str, Entry]:
        """Every entry, decoded, by key."""
        return dict(self.items())

    def encoded(self) -> bytes:
        """As stored: `packed`, compressed (store/compression.py)."""
        return compress_pieces(self.pieces())

    def packed(self) -> bytes:
        """What `encoded` compresses (the class docstring)."""
        return b"".join(self.pieces())

    def pieces(self) -> list[bytes | memoryview]:
        """`packed` in pieces, to be joined or compressed one after the other: the runs of entries left as stored
        are views of the stored bytes, the others written (JSON) where their keys sort."""
        stored_keys, stored_lengths, count = self._keys, self._lengths, len(self._keys)
        starts, data = (self._starts(), memoryview(self._raw)) if count else ([self._origin], memoryview(b""))
        keys: list[str] = []
        lengths = array("I")
        pieces: list[bytes | memoryview] = []
        changed, hidden = self._changed, self._hidden
        order = sorted(changed)
        places = [hidden[key] if key in hidden else bisect.bisect_left(stored_keys, key) for key in order]
        skipped = [*sorted(hidden.values()), count]  # stored entries left out (taken out, or written anew)
        cursor = skip = 0  # the next stored entry to copy, and the next one left out
        for key, place in zip([*order, None], [*places, count], strict=True):
            while cursor < place:  # the stored entries up to where this one goes, but those left out
                stop = skipped[skip] if skipped[skip] < place else place
                if stop > cursor:
                    keys += stored_keys[cursor:stop]
                    lengths += stored_lengths[cursor:stop]
                    pieces.append(data[starts[cursor] : starts[stop]])
                if stop == skipped[skip]:
                    stop, skip = stop + 1, skip + 1
                cursor = stop
            if key is not None:
                text = _ENCODER.encode(changed[key])
                keys.append(key)
                lengths.append(len(text))
                pieces.append(text)
        header = _ENCODER.encode(_Header(self.checked, self.findings, sorted(self.with_findings)))
        read = self._keys_at[1] > 0
        if read and len(changed) == len(hidden) and all(key in hidden for key in changed):  # the keys as read
            listed: bytes | memoryview = memoryview(self._raw)[self._keys_at[0] : self._keys_at[1]]
        else:
            listed = _ENCODER.encode(keys)
        if sys.byteorder != "little":
            lengths.byteswap()
        sizes = [len(header).to_bytes(4, "little"), len(listed).to_bytes(4, "little")]
        return [sizes[0], header, sizes[1], listed, lengths.tobytes(), *pieces]

    @classmethod
    def decode(cls, blob: bytes) -> Partitions:
        """What `encoded` stored (only its header is parsed now)."""
        raw = decompress(blob, earlier=_earlier)
        view = memoryview(raw)
        size = int.from_bytes(raw[:4], "little")
        header = _HEADER.decode(view[4 : 4 + size])
        at = 8 + size
        end = at + int.from_bytes(raw[4 + size : at], "little")
        partitions = cls()
        partitions._keys, partitions._keys_at = _KEYS.decode(view[at:end]), (at, end)
        origin = end + 4 * len(partitions._keys)
        partitions._lengths.frombytes(raw[end:origin])
        if sys.byteorder != "little":
            partitions._lengths.byteswap()
        partitions._raw, partitions._origin = raw, origin
        partitions.checked, partitions.findings = header.checked, header.findings
        partitions.with_findings = set(header.with_findings)
        return partitions


class _Header(msgspec.Struct, array_like=True):
    """The head of a stored state: the counts of all entries' judgements and findings, and the keys of the
    entries with findings."""

    checked: int
    findings: int
    with_findings: list[str]


_HEADER = msgspec.json.Decoder(_Header)
SCAN_ALL = 6
"""`Partitions.holding` searches all the stored bytes for up to this many needles (about 0.02 s each at
1,000,000 facts), a copy of the entries asked about for more (about 0.07 s to copy, 0.01 s a needle)."""
_KEYS = msgspec.json.Decoder(list[str])
_ENTRY = msgspec.json.Decoder(list[Any])


def _earlier(blob: bytes) -> bytes:
    """States of an earlier format are never read: their fingerprint (`CACHE_FORMAT`) makes a sweep evaluate
    their rules in full."""
    raise ValueError("a rule state of an earlier format (evaluated in full by the next sweep)")


def documents(session: Session, rule_ids: list[str]) -> dict[str, Partitions]:
    """The stored partitions of some rules."""
    query = select(RuleState.rule_id, RuleState.partitions).where(RuleState.rule_id.in_(rule_ids))
    return {rule_id: Partitions.decode(blob) for rule_id, blob in session.execute(query)}


@dataclass
class Carried:
    """What carried findings bring, by finding key: their stored messages and their evidence facts' fields."""

    messages: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    kept: dict[str, Partitions] = field(default_factory=dict)
    """Without expanding (`combine(expand=False)`): per rule, the stored partitions whose outcomes stand, as
    stored; their judgements and findings are counted in the outcome, not listed (engine/standing.py)."""


def combine(
    rules: Sequence[Rule],
    plan: Plan,
    evaluation: Evaluation,
    members: dict[int, dict[str, list[int]]],
    facts: Mapping[int, EngineFact],
    expand: bool = True,
) -> tuple[dict[str, Partitions], Carried, dict[str, list[Any]]]:
    """Complete a fresh evaluation with what the plan carries over.

    `members` are the row ids of each evaluated partition, `facts` the evaluated facts by row id. Returns
    the rules' new partition states (a rule with engine errors gets none: evaluated in full next), what
    the carried findings bring, and the stored form of every fresh finding by key (`remember` adds its
    rendered message before the states are saved). Unless `expand`, carried outcomes are only counted in
    the evaluation's outcomes and handed over as stored (`Carried.kept`).
    """
    failed: dict[str, set[str]] = {}
    for error in evaluation.errors:
        failed.setdefault(error.rule_id, set()).update(error.subjects)
    states: dict[str, Partitions] = {}
    carried = Carried()
    pending: dict[str, list[Any]] = {}
    for index, rule in enumerate(rules):
        outcome = evaluation.outcomes[rule.id]
        cadence = rule.check if isinstance(rule.check, CadenceCheck) else None
        partial = {k: v for k, v in plan.partial[index].items() if k not in failed.get(rule.id, ())}
        if partial:  # keep the fresh judgements of the periods judged again only
            outcome.checked = {(s, o) for s, o in outcome.checked if s not in partial or o in partial[s].occurrences}
            outcome.findings = [
                f
                for f in outcome.findings
                if f.subject not in partial or f.occurrence in partial[f.subject].occurrences
            ]
        fresh: dict[str, Entry] = {}
        for key, ids in members.get(index, {}).items():
            times = [expect_time(cadence, facts[i]) for i in ids] if cadence is not None else []
            fresh[key] = [pack_ids(ids), [], [], times_text(times)]
        for subject, occurrence in outcome.checked:
            fresh[subject][1].append(occurrence)
        for finding in outcome.findings:
            fields = {str(i): _evidence_fields(facts[i].values) for i in finding.evidence if i in facts}
            stored = [finding.occurrence, list(finding.evidence), "", fields]
            fresh[finding.subject][2].append(stored)
            pending[finding.key] = stored
        kept = plan.carried[index]  # taken over: the plan's carried partitions are not read after this
        for key, (periods, ids, stored, times) in partial.items():  # a Partial each
            fresh[key][0], fresh[key][3] = ids, times
            kept[key] = [ids, [o for o in stored[1] if o not in periods], [f for f in stored[2] if f[0] not in periods]]
        if expand:
            _add_all(outcome, rule.id, kept, carried)
        else:
            carried.kept[rule.id] = kept
            outcome.carried_checked, outcome.carried_findings = kept.checked, kept.findings
        for key in partial:  # judged again for some periods: the other periods' judgements are kept
            fresh[key][1].extend(kept[key][1])
            fresh[key][2].extend(kept[key][2])
        for entry in fresh.values():
            entry[1].sort()
            entry[2].sort(key=lambda f: f[0])
        if rule.id not in failed:
            states[rule.id] = kept.updated(fresh)
    return states, carried, pending


def remember(pending: dict[str, list[Any]], messages: Mapping[str, str]) -> None:
    """Put the rendered messages of fresh findings into their stored form."""
    for key, stored in pending.items():
        stored[2] = messages[key]


def _add_all(outcome: Any, rule_id: str, kept: Partitions, carried: Carried) -> None:
    """Add stored partitions' outcomes to a rule's outcome; their findings' messages and evidence fields go
    into `carried` (one loop over hundreds of thousands of partitions: kept flat)."""
    checked, findings = outcome.checked, outcome.findings
    messages, evidence = carried.messages, carried.evidence
    for key, entry in kept.items():
        if entry[1]:
            checked.update([(key, occurrence) for occurrence in entry[1]])
        for occurrence, cited, message, fields in entry[2]:
            finding = Finding(rule_id, key, occurrence, tuple(cited))
            findings.append(finding)
            messages[finding.key] = message
            evidence[finding.key] = [fields[str(i)] for i in cited if str(i) in fields]


def _evidence_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The fields accountability reads, as JSON keeps them (ids are strings; anything else as its text)."""
    return {
        name: value if value is None or isinstance(value, str) else str(value)
        for name in EVIDENCE_FIELDS
        if name in values
        for value in [values[name]]
    }


def pack_ids(ids: Sequence[int]) -> str:
    """Member row ids as stored: comma-separated (parsed only for the partitions a sweep touches)."""
    return ",".join(map(str, ids))


def unpack_ids(text: str) -> list[int]:
    """The row ids `pack_ids` stored."""
    return [int(part) for part in text.split(",")] if text else []


def times_text(times: list[Any]) -> str:
    return json.dumps(times, separators=(",", ":")) if times else "[]"


def encoding(states: Mapping[str, Partitions]) -> Future[dict[str, bytes]]:
    """Each rule's new partition states as stored (`Partitions.encoded`), compressed in a thread of its own: the
    states are packed here (`Partitions.pieces`, holding the interpreter lock), and Zstandard, which releases
    the lock, compresses them on the other core while the sweep stores its rows."""
    written = {rule_id: partitions.pieces() for rule_id, partitions in states.items()}
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode-states")
    try:
        return pool.submit(lambda: {rule_id: compress_pieces(pieces) for rule_id, pieces in written.items()})
    finally:
        pool.shutdown(wait=False)  # the thread ends once it compressed them


def save_states(session: Session, sweep_id: int, rules: Sequence[Rule], plan: Plan, blobs: Mapping[str, bytes]) -> None:
    """Replace the stored states of the sweep's rules with their encoded partitions (`encoding`; a rule with
    engine errors has none and keeps none: evaluated in full next)."""
    ids = [rule.id for rule in rules]
    session.execute(delete(RuleState).where(RuleState.rule_id.in_(ids)))
    counts = {**plan.counts, "_rows": plan.rows}
    for index, rule in enumerate(rules):
        if rule.id in blobs:
            session.add(
                RuleState(
                    rule_id=rule.id,
                    fingerprint=plan.fingerprints[index],
                    sweep_id=sweep_id,
                    max_fact_id=plan.max_fact_id,
                    fact_counts=counts,
                    partitions=blobs[rule.id],
                )
            )
