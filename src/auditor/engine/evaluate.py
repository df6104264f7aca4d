"""Evaluate a set of rules over a set of facts for one sweep window (no database involved)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from auditor.engine.compiler import compile_rule
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


def evaluate(rules: Sequence[Rule], facts: Sequence[EngineFact], window: SweepWindow, jobs: int = 1) -> Evaluation:
    """Run every rule over the facts in up to `jobs` worker processes (at least one)."""
    compiled = [compile_rule(rule, window) for rule in rules]
    tasks: list[Task] = []
    for index, rule in enumerate(compiled):
        batch: list = []
        size = 0
        for chunk in chunks(partition(rule, facts)):
            batch.append(chunk)
            size += len(chunk.facts)
            if size >= TASK_FACTS or len(batch) >= TASK_CHUNKS:
                tasks.append(Task(index, batch))
                batch, size = [], 0
        if batch:
            tasks.append(Task(index, batch))
    results = run_pool(compiled, tasks, jobs)
    evaluation = Evaluation({rule.id: RuleOutcome() for rule in rules}, [])
    for result in results:
        _merge(evaluation, rules, result)
    return evaluation


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
