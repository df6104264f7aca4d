"""A sweep: load current facts from the database, evaluate the rulebook, store findings in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from auditor.engine.evaluate import Evaluation, evaluate
from auditor.engine.facts import EngineFact
from auditor.engine.window import SweepWindow
from auditor.facts import model_for
from auditor.rulebook import Rule, render_message
from auditor.rulebook.templates import check_patterns
from auditor.store.models import EngineError, FactRow, FindingRow, RuleCheck, Sweep


@dataclass
class SweepSummary:
    """What a finished sweep stored: its id, window and per-rule counts."""

    sweep_id: int
    window: SweepWindow
    facts: int
    rows: list[dict[str, Any]]  # rule_id, area, severity, title, checked, findings
    errors: list[dict[str, Any]]

    @property
    def findings(self) -> int:
        return sum(r["findings"] for r in self.rows)


def rule_kinds(rules: list[Rule]) -> set[str]:
    """Fact kinds any of the rules reads."""
    return {pattern.kind for rule in rules for pattern in check_patterns(rule.check)}


def load_facts(session: Session, kinds: set[str], window_end: datetime) -> list[EngineFact]:
    """Current versions of facts of the given kinds that happened before the window end."""
    rows = session.execute(
        select(FactRow.id, FactRow.kind, FactRow.payload)
        .where(FactRow.current.is_(True), FactRow.kind.in_(sorted(kinds)), FactRow.occurred_at < window_end)
        .order_by(FactRow.id)
    )
    facts = []
    for row_id, kind, payload in rows:
        fact = model_for(kind).model_validate(payload)
        facts.append(EngineFact.from_model(row_id, fact))
    return facts


def default_since(session: Session, as_of: date) -> date:
    """Without --since, a sweep judges from the earliest fact on record (or the as-of day)."""
    earliest = session.execute(select(func.min(FactRow.occurred_at)).where(FactRow.current.is_(True))).scalar()
    if earliest is None or earliest.date() > as_of:
        return as_of
    return earliest.date()


def resolve_window(
    engine: Engine, as_of: date | None, since: date | None, holidays: frozenset[date] = frozenset()
) -> SweepWindow:
    """A window from the given days, falling back to the latest sweep's (NoSweepError if there is none)."""
    from auditor.findings.query import get_sweep

    with Session(engine) as session:
        if as_of is None:
            latest = get_sweep(session)
            as_of, since = latest.as_of, since or latest.since
        since = since or default_since(session, as_of)
    return SweepWindow(as_of=as_of, since=since, holidays=holidays)


def run_sweep(
    engine: Engine,
    rules: list[Rule],
    as_of: date,
    since: date | None = None,
    jobs: int = 0,
    rules_digest: str = "",
    holidays: frozenset[date] = frozenset(),
) -> SweepSummary:
    """Evaluate the rules as of a day and store the sweep, its findings, checks and engine errors."""
    with Session(engine) as session:
        since = since or default_since(session, as_of)
        window = SweepWindow(as_of=as_of, since=since, holidays=holidays)
        facts = load_facts(session, rule_kinds(rules), window.as_of_end)
    started = datetime.now()
    evaluation = evaluate(rules, facts, window, jobs=jobs)
    with Session(engine) as session, session.begin():
        sweep = Sweep(
            as_of=as_of,
            since=since,
            started_at=started,
            finished_at=datetime.now(),
            status="complete",
            rules_digest=rules_digest,
            facts_evaluated=len(facts),
        )
        session.add(sweep)
        session.flush()
        rows, errors = _store(session, sweep, rules, evaluation)
        sweep.findings_count = sum(r["findings"] for r in rows)
        sweep.engine_errors_count = len(errors)
        sweep_id = sweep.id
    return SweepSummary(sweep_id, window, len(facts), rows, errors)


def _store(session: Session, sweep: Sweep, rules: list[Rule], evaluation: Evaluation):  # type: ignore[no-untyped-def]
    rows = []
    for rule in rules:
        outcome = evaluation.outcomes[rule.id]
        for finding in sorted(outcome.findings, key=lambda f: f.key):
            context = dict(finding.context, subject=finding.subject, occurrence=finding.occurrence)
            context.setdefault("sweep", {"as_of": sweep.as_of, "since": sweep.since})
            session.add(
                FindingRow(
                    sweep_id=sweep.id,
                    finding_key=finding.key,
                    rule_id=rule.id,
                    area=rule.area,
                    title=rule.title,
                    severity=rule.severity,
                    owner=rule.owner,
                    subject=finding.subject,
                    occurrence=finding.occurrence,
                    message=render_message(rule, context),
                    remediation=rule.remediation,
                    evidence=list(finding.evidence),
                )
            )
        session.add(
            RuleCheck(
                sweep_id=sweep.id,
                rule_id=rule.id,
                area=rule.area,
                checked=len(outcome.checked),
                violations=len(outcome.findings),
            )
        )
        rows.append(
            {
                "rule_id": rule.id,
                "area": rule.area,
                "severity": rule.severity,
                "title": rule.title,
                "checked": len(outcome.checked),
                "findings": len(outcome.findings),
            }
        )
    errors = []
    for error in evaluation.errors:
        session.add(EngineError(sweep_id=sweep.id, rule_id=error.rule_id, subjects=error.subjects, error=error.error))
        errors.append({"rule_id": error.rule_id, "subjects": error.subjects, "error": error.error})
    return rows, errors
