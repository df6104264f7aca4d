"""Group a rule's facts by partition key and pack partitions into chunks for one session each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from auditor.engine.compiler import Chunk, CompiledRule
from auditor.engine.facts import EngineFact

MAX_CHUNK_FACTS = 400
MAX_CHUNK_KEYS = 100
MAX_CHUNK_PERIODS = 4  # cadence periods judged per chunk when only some are (incremental sweeps)


def partition(compiled: CompiledRule, facts: Iterable[EngineFact]) -> dict[str, list[EngineFact]]:
    """Facts of the rule's kinds, grouped by partition key (a fact may join several partitions)."""
    kinds = compiled.kinds()
    groups: dict[str, list[EngineFact]] = {}
    for fact in facts:
        if fact.kind not in kinds:
            continue
        for key in compiled.keys_of(fact):
            groups.setdefault(key, []).append(fact)
    return groups


def chunks(groups: dict[str, list[EngineFact]], periods: Mapping[str, frozenset[str]] | None = None) -> list[Chunk]:
    """Pack partitions into chunks of bounded size; each partition stays whole in one chunk.

    `periods` (cadence rules in an incremental sweep): the only periods some partitions need judged. Those
    partitions get chunks of their own, grouped by period, each judging the periods its partitions need.
    """
    periods = periods or {}
    whole = sorted(key for key in groups if key not in periods)
    some = sorted((key for key in groups if key in periods), key=lambda key: (sorted(periods[key]), key))
    return _pack(groups, whole, None) + _pack(groups, some, periods)


def _pack(
    groups: dict[str, list[EngineFact]], keys: list[str], periods: Mapping[str, frozenset[str]] | None
) -> list[Chunk]:
    """Partitions in the given order, packed into chunks (each judging the union of its partitions' periods)."""
    out: list[Chunk] = []
    current = Chunk(set())
    seen: set[int] = set()
    for key in keys:
        members = groups[key]
        wanted = periods[key] if periods is not None else None
        if current.keys and _full(current, len(members), wanted):
            out.append(current)
            current = Chunk(set())
            seen = set()
        current.keys.add(key)
        if wanted is not None:
            current.periods = wanted | (current.periods or frozenset())
        for fact in members:
            if fact.row_id not in seen:
                seen.add(fact.row_id)
                current.facts.append(fact)
    if current.keys:
        out.append(current)
    return out


def _full(chunk: Chunk, adding: int, periods: frozenset[str] | None) -> bool:
    """Whether a chunk takes no partition of `adding` facts that needs `periods` judged (None: all)."""
    if len(chunk.keys) >= MAX_CHUNK_KEYS or len(chunk.facts) + adding > MAX_CHUNK_FACTS:
        return True
    judged = chunk.periods or frozenset()
    return periods is not None and len(judged) >= MAX_CHUNK_PERIODS and not periods <= judged
