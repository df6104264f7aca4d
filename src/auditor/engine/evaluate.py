"""Evaluate a set of rules over a set of facts for one sweep window (no database involved)."""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from auditor.engine.compiler import Chunk, CompiledRule, compile_rule
from auditor.engine.facts import EngineFact
from auditor.engine.partition import chunks, partition
from auditor.engine.runner import Task, TaskResult, run_pool
from auditor.engine.window import SweepWindow
from auditor.findings import Finding
from auditor.rulebook import Rule

TASK_FACTS = 4000
TASK_CHUNKS = 25


@dataclass
class RuleOutcome:
    """Per rule: what was judged and what failed."""

    checked: set[tuple[str, str]] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)


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


def evaluate(
    rules: Sequence[Rule],
    facts: Sequence[EngineFact],
    window: SweepWindow,
    jobs: int = 1,
    *,
    groups: Sequence[Groups | None] | None = None,
    members: dict[int, dict[str, list[int]]] | None = None,
) -> Evaluation:
    """Run every rule over the facts in up to `jobs` worker processes (at least one).

    `groups[i]`, when given and not None, are the partitions rule i evaluates instead of all its facts'
    (an incremental sweep); `members`, when given, receives per rule index the row ids of every partition
    evaluated.
    """
    compiled = [compile_rule(rule, window) for rule in rules]
    results = run_pool(compiled, _tasks(compiled, facts, groups, members), jobs)
    evaluation = Evaluation({rule.id: RuleOutcome() for rule in rules}, [])
    for result in results:
        _merge(evaluation, rules, result)
    return evaluation


def _tasks(
    compiled: list[CompiledRule],
    facts: Sequence[EngineFact],
    groups: Sequence[Groups | None] | None = None,
    members: dict[int, dict[str, list[int]]] | None = None,
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
            return sum(len(members) for members in fixed.values())
        return sum(len(by_kind.get(kind, ())) for kind in compiled[index].kinds())

    for index in sorted(range(len(compiled)), key=lambda i: (-size(i), i)):
        partitions = given[index]
        if partitions is None:
            lists = [by_kind.get(kind, []) for kind in sorted(compiled[index].kinds())]
            ordered = (fact for _, fact in heapq.merge(*lists, key=lambda item: item[0]))  # the facts' own order
            partitions = partition(compiled[index], ordered)
        if members is not None:
            members[index] = {key: [fact.row_id for fact in group] for key, group in partitions.items()}
        tasks: list[Task] = []
        batch: list[Chunk] = []
        facts_in_batch = 0
        for chunk in chunks(partitions):
            batch.append(chunk)
            facts_in_batch += len(chunk.facts)
            if facts_in_batch >= TASK_FACTS or len(batch) >= TASK_CHUNKS:
                tasks.append(Task(index, batch))
                batch, facts_in_batch = [], 0
        if batch:
            tasks.append(Task(index, batch))
        yield tasks


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
