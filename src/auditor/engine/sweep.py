"""A sweep: load current facts, evaluate the rulebook, store findings and their lifecycle in one transaction."""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Text, func, insert, select, type_coerce
from sqlalchemy.orm import Session

from auditor.engine.carry import carry_over, copy_carried, store_cadence
from auditor.engine.evaluate import Evaluation, evaluate
from auditor.engine.facts import EngineFact
from auditor.engine.incremental import Plan, plan_sweep
from auditor.engine.kpi_job import KpiJob
from auditor.engine.runner import start_fork_server
from auditor.engine.standing import Outside, lean, leave_standing
from auditor.engine.states import Carried, combine, encoding, remember, save_states
from auditor.engine.stored import engine_fact, stored_payload
from auditor.engine.window import SweepWindow
from auditor.findings.accountability import Roster
from auditor.findings.actor import default_actor
from auditor.findings.query import gc_paused
from auditor.findings.tracking import CarryOver, Produced, track
from auditor.kpis import LOADED_KINDS, KpiSettings, kpi_basis, kpi_settings, window_kpis, with_adherence
from auditor.kpis.items import Items, current_items, save_items, stored_usable
from auditor.kpis.items import from_loaded as items_from_loaded
from auditor.kpis.window import KpiWindow
from auditor.rulebook import Policy, Rule, render_message
from auditor.rulebook.templates import check_patterns
from auditor.store.background import in_background
from auditor.store.db import private_database
from auditor.store.lock import exclusive
from auditor.store.models import EngineError, FactRow, RuleCheck, Sweep
from auditor.store.watermark import fact_watermark

LOAD_BATCH = 20_000  # fact rows fetched at a time


@dataclass
class SweepSummary:
    """What a finished sweep stored: its id, window and per-rule counts."""

    sweep_id: int
    window: SweepWindow
    facts: int
    rows: list[dict[str, Any]]  # rule_id, area, severity, title, checked, findings
    errors: list[dict[str, Any]]
    lifecycle: dict[str, int] = field(default_factory=dict)  # new, recurring, reopened, suppressed, resolved, lapsed
    partitions: dict[str, int] = field(default_factory=dict)  # evaluated, carried, rules_in_full (Plan.stats)

    @property
    def findings(self) -> int:
        return sum(r["findings"] for r in self.rows)


def rule_kinds(rules: list[Rule]) -> set[str]:
    """Fact kinds any of the rules reads."""
    return {pattern.kind for rule in rules for pattern in check_patterns(rule.check)}


def load_facts(session: Session, kinds: set[str], window_end: datetime) -> list[EngineFact]:
    """Current versions of facts of the given kinds that happened before the window end.

    Payloads were validated when they were ingested; they are decoded, not validated again (engine/stored.py),
    and read in batches, so that only the decoded facts stay in memory.
    """
    query = (
        select(FactRow.id, FactRow.kind, type_coerce(FactRow.payload, Text))
        .where(FactRow.current.is_(True), FactRow.kind.in_(sorted(kinds)), FactRow.occurred_at < window_end)
        .order_by(FactRow.id)
    )
    rows = session.connection().execute(query.execution_options(yield_per=LOAD_BATCH))  # this statement only
    return [engine_fact(row_id, kind, stored_payload(text)) for row_id, kind, text in rows]


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


@gc_paused()  # resumed after the call returns, once the sweep's objects are freed: little is left to scan
def run_sweep(
    engine: Engine,
    rules: list[Rule],
    as_of: date,
    since: date | None = None,
    jobs: int = 0,
    rules_digest: str = "",
    policy: Policy | None = None,
    actor: str | None = None,
    today: date | None = None,
    scheduler: str | None = None,
    full: bool = False,
) -> SweepSummary:
    """Evaluate the rules as of a day and store the sweep, its findings, their lifecycle events and checks.

    Holds the database's sweep lock throughout (DatabaseBusyError when another
    sweep runs). Everything the sweep stores is written in one transaction; a
    sweep that fails or is killed stays `running`/`failed` and changes nothing
    else. `today` (default: today in the policy's time zone) decides waiver
    expiry; `actor` (default: the OS user) signs the events. With `scheduler`
    (a Dask scheduler's address) the rules are evaluated on that cluster, which
    is reached and checked before anything is stored (ClusterError otherwise).

    Python's cyclic collector is paused throughout (`gc_paused`): a sweep builds millions of long-lived
    objects, which it would otherwise scan again and again.

    Incremental unless `full`: only partitions whose facts changed since the
    last complete sweep are evaluated, the others' outcomes are carried over
    (engine/incremental.py); everything stored is the same either way.
    """
    policy = policy or Policy()
    actor = actor or default_actor()
    today = today or policy.today()
    with exclusive(engine, "start a sweep"), _cluster(scheduler) as cluster, contextlib.ExitStack() as stack:
        if cluster is None:
            start_fork_server()
        settings = kpi_settings(rules, policy)
        basis = kpi_basis(engine, settings.fingerprint())  # before loading: a load meanwhile invalidates it
        since, kpi_window, watermark, reuse = _prepare(engine, as_of, since, full)
        job = stack.enter_context(KpiJob(engine, kpi_window, *watermark, settings)) if reuse else None
        sweep_id, window, plan, roster = _begin(
            engine, rules, as_of, since, policy, actor, rules_digest, full, watermark
        )
        try:
            members: dict[int, dict[str, list[int]]] = {}
            evaluation = evaluate(
                rules,
                plan.facts,
                window,
                jobs=jobs,
                scheduler=cluster,
                groups=plan.groups,
                members=members,
                periods=plan.periods,
            )
            evaluated = plan.facts_evaluated
            partitions = plan.stats(members)
            carry = carry_over(plan, rules, evaluation, roster)
            leaving = lean(plan, rules, carry)  # carried findings stay in the database unless tracked again
            kpi_source = job or _Ready(_window_kpis(engine, rules, plan, kpi_window, settings))
            with Session(engine) as session, session.begin():
                sweep = session.get_one(Sweep, sweep_id)
                outside = Outside.read(session, plan) if leaving else None
                rows, produced, checked, carry, blobs = _judge_while_copying(
                    session, sweep_id, rules, window, plan, evaluation, members, roster, carry, outside
                )
                checks = _checks(rules, evaluation)
                items, kpis = kpi_source.result()  # the KPI process encodes its records from now on
                kpis = with_adherence(sweep_id, kpis, checks)
                kpis["basis"] = basis
                session.execute(insert(RuleCheck), [{**check, "sweep_id": sweep_id} for check in checks])
                errors = _store_errors(session, sweep_id, evaluation)
                store_cadence(session, sweep_id, rules, evaluation, roster, carry)
                sweep.kpis = kpis
                lifecycle = track(
                    session, sweep, produced, checked, today=today, actor=actor, due_days=policy.due_days, carry=carry
                )
                save_states(session, sweep_id, rules, plan, blobs.result())
                save_items(session, sweep_id, kpi_window, items)
                _pause_if_asked()
                sweep.findings_count = sum(row["findings"] for row in rows)  # produced, and carried ones left standing
                sweep.engine_errors_count = len(errors)
                sweep.finished_at = datetime.now()
                sweep.status = "complete"
        except BaseException as exc:
            _mark_failed(engine, sweep_id, exc)
            raise
    return SweepSummary(sweep_id, window, evaluated, rows, errors, dict(lifecycle), partitions)


def _judge_while_copying(
    session: Session,
    sweep_id: int,
    rules: list[Rule],
    window: SweepWindow,
    plan: Plan,
    evaluation: Evaluation,
    members: dict[int, dict[str, list[int]]],
    roster: Roster,
    carry: CarryOver | None,
    outside: Outside | None,
) -> tuple[list[dict[str, Any]], list[Produced], dict[str, Any], CarryOver | None, Future[dict[str, bytes]]]:
    """The sweep's judgements in Python while the rows it carries over are copied in the database (a second
    thread, store/background.py): per-rule summary rows, the findings to track, the judgements by rule, the
    carry-over (with the standing findings once picked, `outside` given: a lean sweep) and the states, being
    encoded (a third thread, `encoding`: while the copy ends and the sweep stores its rows).

    Drops the plan's facts once combined: the largest objects of a sweep.
    """
    evidence = _evidence_values(evaluation, plan.facts)
    standing: Future[CarryOver | None] = Future()  # the standing findings, once picked: linked then
    with in_background(session, copy_carried, sweep_id, rules, carry, standing):  # no database in this block
        try:
            by_id = {fact.row_id: fact for fact in plan.facts}
            states, carried, pending = combine(rules, plan, evaluation, members, by_id, expand=outside is None)
            del by_id
            plan.facts = []
            checked = {rule_id: outcome.checked for rule_id, outcome in evaluation.outcomes.items()}
            again: list[Produced] = []
            if outside is not None:  # first: the copy of the standing rows waits for them
                assert carry is not None
                again, carry, checked = leave_standing(outside, rules, carried.kept, checked, roster, plan, carry)
                standing.set_result(carry)
            rows, produced = _findings(window, rules, evaluation, evidence, roster, carried)
            remember(pending, {item.key: item.message for item in produced})
            blobs = encoding(states)  # complete now: nothing changes them after this
            produced += again
        finally:
            if not standing.done():
                standing.set_result(None)  # nothing stands: the copy must not wait in vain
    return rows, produced, checked, carry, blobs


def _prepare(
    engine: Engine, as_of: date, since: date | None, full: bool
) -> tuple[date, KpiWindow, tuple[int, int], bool]:
    """The since day, the KPIs' window, the fact rows the sweep sees (highest id, count) and whether the stored
    KPI records can be brought up to date by a KPI process while the sweep plans (engine/kpi_job.py; not for
    `full`, nor for a database only this process can open)."""
    with Session(engine) as session:
        since = since or default_since(session, as_of)
        window = KpiWindow.of_days(as_of, since)
        watermark = fact_watermark(session)
        reuse = not full and not private_database(engine)  # the KPI process opens the database too
        reuse = reuse and stored_usable(session, window, watermark)
    return since, window, watermark, reuse


def _window_kpis(
    engine: Engine, rules: list[Rule], plan: Plan, window: KpiWindow, settings: KpiSettings
) -> tuple[Items, dict[str, Any]]:
    """The KPI records of the window's facts and their KPIs, worked out here: from the facts the sweep loaded
    when it loaded every fact of the kinds the KPIs read, else from the facts (the stored records, brought up
    to date, when they can be)."""
    if all(group is None for group in plan.groups) and LOADED_KINDS.issubset(rule_kinds(rules)):
        items = items_from_loaded(plan.facts, window, plan.max_fact_id, plan.rows)
    else:
        with Session(engine) as session:
            items = current_items(session, window, plan.max_fact_id, plan.rows)
    return items, window_kpis(engine, window, items=items, **settings.as_kwargs())


@dataclass
class _Ready:
    """KPIs the sweep worked out itself, handed over as the KPI process hands over its own (`KpiJob.result`)."""

    outcome: tuple[Items, dict[str, Any]]

    def result(self) -> tuple[Items, dict[str, Any]]:
        return self.outcome


def _cluster(scheduler: str | None) -> contextlib.AbstractContextManager[Any]:
    """The Dask cluster to evaluate on (connected and checked), or None to evaluate locally."""
    if scheduler is None:
        return contextlib.nullcontext()
    from auditor.engine.cluster import Cluster

    return Cluster(scheduler)


def _begin(
    engine: Engine,
    rules: list[Rule],
    as_of: date,
    since: date,
    policy: Policy,
    actor: str,
    digest: str,
    full: bool,
    watermark: tuple[int, int],
) -> tuple[int, SweepWindow, Plan, Roster]:
    """Mark sweeps left running by a dead process as failed, plan and load the facts, record the new sweep."""
    with Session(engine) as session, session.begin():
        for stale in session.execute(select(Sweep).where(Sweep.status == "running")).scalars():
            stale.status = "failed"
            stale.failure = stale.failure or "interrupted: the sweeping process ended before the sweep was stored"
        window = SweepWindow(as_of=as_of, since=since, holidays=policy.holidays)
        plan = plan_sweep(session, rules, window, load_facts, full, watermark)
        roster = Roster(load_payloads(session, "person"))
        sweep = Sweep(
            as_of=as_of,
            since=since,
            started_at=datetime.now(),
            status="running",
            rules_digest=digest,
            facts_evaluated=plan.facts_evaluated,
            actor=actor,
        )
        session.add(sweep)
        session.flush()
        return sweep.id, window, plan, roster


def load_payloads(session: Session, kind: str) -> list[dict[str, Any]]:
    """The current facts of one kind, as stored."""
    rows = session.execute(select(FactRow.payload).where(FactRow.current.is_(True), FactRow.kind == kind))
    return [payload for (payload,) in rows]


def _checks(rules: list[Rule], evaluation: Evaluation) -> list[dict[str, Any]]:
    """Per-rule check counts: stored as the sweep's rule checks, and as `sweep_checks` returns them."""
    return [
        {
            "rule_id": rule.id,
            "area": rule.area,
            "checked": evaluation.outcomes[rule.id].checked_count,
            "violations": evaluation.outcomes[rule.id].findings_count,
        }
        for rule in sorted(rules, key=lambda r: r.id)
    ]


def _evidence_values(evaluation: Evaluation, facts: list[EngineFact]) -> dict[int, dict[str, Any]]:
    """The field values of the facts the findings cite, by row id."""
    cited = {row_id for outcome in evaluation.outcomes.values() for f in outcome.findings for row_id in f.evidence}
    return {fact.row_id: fact.values for fact in facts if fact.row_id in cited}


def _mark_failed(engine: Engine, sweep_id: int, exc: BaseException) -> None:
    try:
        with Session(engine) as session, session.begin():
            sweep = session.get_one(Sweep, sweep_id)
            sweep.status = "failed"
            sweep.finished_at = datetime.now()
            sweep.failure = f"{type(exc).__name__}: {exc}"[:2000]
    except Exception:  # noqa: BLE001 - the next sweep marks a sweep left running as failed
        pass


def _pause_if_asked() -> None:
    """Test hook: with AUDITOR_FAULT_PAUSE_FILE set, write that file and wait before committing (to be killed)."""
    marker = os.environ.get("AUDITOR_FAULT_PAUSE_FILE")
    if marker:
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(600)


def _findings(
    window: SweepWindow,
    rules: list[Rule],
    evaluation: Evaluation,
    values: dict[int, dict[str, Any]],
    roster: Roster,
    carried: Carried,
) -> tuple[list[dict[str, Any]], list[Produced]]:
    """Per-rule summary rows, and the findings ready for tracking (no database needed).

    `values` holds the field values of every evidence fact of the fresh findings, by row id; findings an
    incremental sweep carried over bring their stored message and evidence fields (`carried`).
    """
    rows: list[dict[str, Any]] = []
    produced: list[Produced] = []
    days = {"as_of": window.as_of, "since": window.since}
    for rule in rules:
        outcome = evaluation.outcomes[rule.id]
        for finding in outcome.findings:
            key = finding.key
            if key in carried.messages:
                message, evidence = carried.messages[key], carried.evidence[key]
            else:
                context = dict(finding.context, subject=finding.subject, occurrence=finding.occurrence)
                context.setdefault("sweep", days)
                message = render_message(rule, context)
                evidence = [values[i] for i in finding.evidence if i in values]
            resolved = roster.resolve(finding.subject, evidence)
            produced.append(
                Produced(key, rule, finding.subject, finding.occurrence, message, finding.evidence, resolved)
            )
        rows.append(
            {
                "rule_id": rule.id,
                "area": rule.area,
                "severity": rule.severity,
                "title": rule.title,
                "checked": outcome.checked_count,
                "findings": outcome.findings_count,
            }
        )
    return rows, produced


def _store_errors(session: Session, sweep_id: int, evaluation: Evaluation) -> list[dict[str, Any]]:
    """Store the evaluation's engine errors; returns them as the summary lists them."""
    errors = []
    for error in evaluation.errors:
        session.add(EngineError(sweep_id=sweep_id, rule_id=error.rule_id, subjects=error.subjects, error=error.error))
        errors.append({"rule_id": error.rule_id, "subjects": error.subjects, "error": error.error})
    return errors
