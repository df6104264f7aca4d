"""Evaluate a set of rules over a set of facts for one sweep window (no database involved)."""

from __future__ import annotations

import heapq
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from auditor.engine.compiler import Chunk, CompiledRule, compile_rule
from auditor.engine.facts import EngineFact
from auditor.engine.partition import chunks, partition
from auditor.engine.runner import Task, TaskResult, run_pool
from auditor.engine.window import SweepWindow
from auditor.findings import Finding
from auditor.rulebook import Rule

if TYPE_CHECKING:
    from auditor.engine.cluster import Cluster

TASK_FACTS = 4000
TASK_CHUNKS = 25


@dataclass
class RuleOutcome:
    """Per rule: what was judged and what failed."""

    checked: set[tuple[str, str]] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    carried_checked: int = 0  # judgements carried over as stored, not listed in `checked` (engine/standing.py)
    carried_findings: int = 0  # findings carried over as stored, not listed in `findings`

    @property
    def checked_count(self) -> int:
        """Judgements made, listed or carried."""
        return len(self.checked) + self.carried_checked

    @property
    def findings_count(self) -> int:
        """Findings produced, listed or carried."""
        return len(self.findings) + self.carried_findings


@dataclass
class EngineErrorRecord:
    rule_id: str
    subjects: list[str]
    error: str


@dataclass
class Evaluation:
    """Everything a sweep's evaluation produced."""

    outcomes: dict[str, RuleOutcome]
    errors: list[EngineErrorRecord]
    retried_tasks: int = 0

    @property
    def findings(self) -> list[Finding]:
        return sorted((f for o in self.outcomes.values() for f in o.findings), key=lambda f: f.key)


def default_jobs() -> int:
    """Worker processes by default: one per core."""
    return os.cpu_count() or 1


Groups = dict[str, list[EngineFact]]
"""A rule's partitions: facts by partition key."""

Periods = dict[str, frozenset[str]]
"""A cadence rule's partitions judged for some periods only: their labels, by partition key."""

Members = dict[int, dict[str, list[int]]]
"""Per rule index, the row ids of every partition evaluated, by partition key."""


def evaluate(
    rules: Sequence[Rule],
    facts: Sequence[EngineFact],
    window: SweepWindow,
    jobs: int = 1,
    scheduler: str | Cluster | None = None,
    *,
    groups: Sequence[Groups | None] | None = None,
    members: Members | None = None,
    periods: Sequence[Periods] | None = None,
) -> Evaluation:
    """Run every rule over the facts in up to `jobs` worker processes (at least one), or on a Dask cluster.

    `scheduler`: a Dask scheduler's address, or a cluster already connected
    (engine/cluster.py); `jobs` is then unused. Either way the tasks are the
    same and the result is in a fixed order: findings by key, engine errors by
    rule and subjects. `groups[i]`, when given and not None, are the partitions
    rule i evaluates instead of all its facts' (an incremental sweep);
    `periods[i]` the only cadence periods some of those partitions need
    judged; `members`, when given, receives per rule index the row ids of
    every partition evaluated.
    """
    compiled = [compile_rule(rule, window) for rule in rules]
    tasks = _tasks(compiled, facts, groups, members, periods)
    evaluation = Evaluation({rule.id: RuleOutcome() for rule in rules}, [])
    if scheduler is None:
        for result in run_pool(compiled, tasks, jobs):
            _merge(evaluation, rules, result)
    else:
        from auditor.engine.cluster import Cluster

        cluster = scheduler if isinstance(scheduler, Cluster) else Cluster(scheduler)
        try:
            for result in cluster.run(compiled, tasks):
                _merge(evaluation, rules, result)
        finally:
            if cluster is not scheduler:
                cluster.close()
    _settle(evaluation)
    return evaluation


def _tasks(
    compiled: list[CompiledRule],
    facts: Sequence[EngineFact],
    groups: Sequence[Groups | None] | None = None,
    members: Members | None = None,
    periods: Sequence[Periods] | None = None,
) -> Iterator[list[Task]]:
    """Each rule's tasks, partitioned when the pool asks for more work; rules with the most facts first.

    Partitioning while the workers evaluate keeps them busy from the start, and
    the largest rules going first leaves small tasks for the end.
    """
    by_kind: dict[str, list[tuple[int, EngineFact]]] = {}
    for position, fact in enumerate(facts):
        by_kind.setdefault(fact.kind, []).append((position, fact))

    given = list(groups) if groups is not None else [None] * len(compiled)

    def size(index: int) -> int:
        if (fixed := given[index]) is not None:
            return sum(len(group) for group in fixed.values())
        return sum(len(by_kind.get(kind, ())) for kind in compiled[index].kinds())

    # Rules that read the same kinds with the same partition keys get the same chunks: partitioned (and
    # packed for shipping, Chunk.__reduce__) once, kept until the last such rule took them.
    users = Counter(partitioning(c) for c, fixed in zip(compiled, given, strict=True) if fixed is None)
    shared: dict[tuple[tuple[str, tuple[str, ...]], ...], tuple[dict[str, list[int]], list[list[Chunk]]]] = {}
    # Rules evaluated in part that partition alike often evaluate the same partitions (those the same facts
    # touched): a rule's chunks are kept until the next rule partitioning alike, which takes them if so.
    last_fixed: dict[
        tuple[tuple[str, tuple[str, ...]], ...], tuple[dict[str, list[int]], Periods | None, list[list[Chunk]]]
    ] = {}
    for index in sorted(range(len(compiled)), key=lambda i: (-size(i), i)):
        fixed = given[index]
        if fixed is not None:
            judged = periods[index] if periods else None
            ids, signature = _member_ids(fixed), partitioning(compiled[index])
            alike = last_fixed.get(signature)
            if alike is not None and alike[0] == ids and not judged and not alike[1]:
                batches = alike[2]  # the same partitions as the rule before: the same chunks, packed once
            else:
                batches = _batches(fixed, judged)
            last_fixed[signature] = (ids, judged, batches)
        else:
            signature = partitioning(compiled[index])
            made = shared.get(signature)
            if made is None:
                partitions = _partitions(compiled[index], by_kind)
                made = (_member_ids(partitions) if members is not None else {}), _batches(partitions)
                if users[signature] > 1:
                    shared[signature] = made
            users[signature] -= 1
            if users[signature] == 0:
                shared.pop(signature, None)
            ids, batches = made
        if members is not None:
            members[index] = ids
        yield [Task(index, batch) for batch in batches]


def partitioning(compiled: CompiledRule) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """What a rule's chunks and its facts' partition keys depend on: its kinds and the partition-key fields of
    each."""
    return tuple(sorted(compiled._key_fields_by_kind.items()))


def _partitions(compiled: CompiledRule, by_kind: dict[str, list[tuple[int, EngineFact]]]) -> Groups:
    """A rule's partitions of all its facts, each in the facts' own order."""
    lists = [by_kind.get(kind, []) for kind in sorted(compiled.kinds())]
    ordered = (fact for _, fact in heapq.merge(*lists, key=lambda item: item[0]))  # the facts' own order
    return partition(compiled, ordered)


def _member_ids(partitions: Groups) -> dict[str, list[int]]:
    return {key: [fact.row_id for fact in group] for key, group in partitions.items()}


def _batches(partitions: Groups, periods: Periods | None = None) -> list[list[Chunk]]:
    """Partitions packed into chunks, grouped into tasks of about TASK_FACTS facts."""
    batches: list[list[Chunk]] = []
    batch: list[Chunk] = []
    facts_in_batch = 0
    for chunk in chunks(partitions, periods):
        batch.append(chunk)
        facts_in_batch += len(chunk.facts)
        if facts_in_batch >= TASK_FACTS or len(batch) >= TASK_CHUNKS:
            batches.append(batch)
            batch, facts_in_batch = [], 0
    if batch:
        batches.append(batch)
    return batches


def _settle(evaluation: Evaluation) -> None:
    """Results arrive in whatever order workers finish: put them in a fixed one."""
    for outcome in evaluation.outcomes.values():
        outcome.findings.sort(key=lambda f: (f.key, f.evidence))
    evaluation.errors.sort(key=lambda e: (e.rule_id, e.subjects, e.error))


def _merge(evaluation: Evaluation, rules: Sequence[Rule], result: TaskResult) -> None:
    rule = rules[result.rule_index]
    if result.retried:
        evaluation.retried_tasks += 1
    if result.error is not None:
        evaluation.errors.append(EngineErrorRecord(rule.id, result.subjects, result.error))
        return
    outcome = evaluation.outcomes[rule.id]
    for chunk_outcome in result.outcomes:
        outcome.checked |= chunk_outcome.checked
        outcome.findings.extend(chunk_outcome.findings)
