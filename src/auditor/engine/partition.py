"""Group a rule's facts by partition key and pack partitions into chunks for one session each."""

from __future__ import annotations

from collections.abc import Iterable

from auditor.engine.compiler import Chunk, CompiledRule
from auditor.engine.facts import EngineFact

MAX_CHUNK_FACTS = 400
MAX_CHUNK_KEYS = 100


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


def chunks(groups: dict[str, list[EngineFact]]) -> list[Chunk]:
    """Pack partitions into chunks of bounded size; each partition stays whole in one chunk."""
    out: list[Chunk] = []
    current = Chunk(set())
    seen: set[int] = set()
    for key in sorted(groups):
        members = groups[key]
        if current.keys and (
            len(current.keys) >= MAX_CHUNK_KEYS or len(current.facts) + len(members) > MAX_CHUNK_FACTS
        ):
            out.append(current)
            current = Chunk(set())
            seen = set()
        current.keys.add(key)
        for fact in members:
            if fact.row_id not in seen:
                seen.add(fact.row_id)
                current.facts.append(fact)
    if current.keys:
        out.append(current)
    return out
