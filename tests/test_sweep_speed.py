"""The sweep's shortcuts (issue #9) give what the longer way gives: shared chunks, ids read from what fired,
epoch arithmetic, KPIs from the loaded facts."""

from __future__ import annotations

import json
import pickle
import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from auditor.engine.compiler import compile_rule
from auditor.engine.evaluate import _tasks, evaluate
from auditor.engine.facts import _EPOCH, epoch
from auditor.engine.partition import chunks, partition
from auditor.engine.runner import EngineFailure, _read_action
from auditor.engine.stored import engine_fact
from auditor.engine.sweep import load_facts, rule_kinds
from auditor.engine.window import SweepWindow
from auditor.ingest.loader import validate_row
from auditor.ingest.readers import read_rows
from auditor.kpis import LOADED_KINDS, compute_kpis
from auditor.kpis.items import from_loaded as items_from_loaded
from auditor.kpis.window import KpiWindow
from auditor.rulebook import load_rulebook
from auditor.store import open_database
from auditor.synth import generate

from .conftest import RULES
from .test_kpis import _ingest, _sweep

BOOK = load_rulebook([RULES])


def _epoch_before(value: date | datetime) -> int | float:
    """epoch() as it was written first (timedelta.total_seconds)."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    seconds = (value - _EPOCH).total_seconds()
    return int(seconds) if seconds == int(seconds) else seconds


def test_epoch_equals_total_seconds() -> None:
    rng = random.Random(9)
    values: list[date | datetime] = [date(1, 1, 1), date(9999, 12, 31), datetime(9999, 12, 31, 23, 59, 59, 999999)]
    for _ in range(20_000):
        moment = datetime(1, 1, 1) + timedelta(seconds=rng.randrange(315_537_897_599))
        values += [moment, moment.replace(microsecond=rng.randrange(1_000_000)), moment.date()]
    for value in values:
        assert (epoch(value), type(epoch(value))) == (_epoch_before(value), type(_epoch_before(value))), value


def test_ids_are_read_from_what_fired_as_json_gives_them() -> None:
    sweep = {"id": 0, "_role": "_sweep", "as_of": 1, "since": 0, "sid": "1"}
    fact = {"_id": 'x"}{"id": 9', "stage": "deal", "id": 3, "_role": "fact", "_at": 5, "sid": "1"}
    many = json.dumps({"seen": [{"s": sweep, "fact": fact}, {"s": sweep, "fact": dict(fact, id=4)}]})
    assert _read_action(many) == ("seen", [("seen", {"s": 0, "fact": 3}), ("seen", {"s": 0, "fact": 4})])
    assert _read_action(json.dumps({"hit": {"s": sweep, "fact": fact}})) == ("hit", [("hit", {"s": 0, "fact": 3})])
    assert _read_action(json.dumps({"accept_fact": {"weird": 1}})) == ("accept_fact", [])
    with pytest.raises(EngineFailure):
        _read_action(json.dumps({"seen": [{"s": {"no_id": 1}}]}))


def test_rules_that_partition_alike_share_chunks_packed_once(generated) -> None:  # type: ignore[no-untyped-def]
    result, _ = generated[1]
    window = SweepWindow(as_of=result.as_of, since=result.since)
    rules = [BOOK.by_id(rule_id) for rule_id in ("STG-001", "STG-002", "STG-003", "REP-001")]
    facts = _generated_facts(result)
    compiled = [compile_rule(rule, window) for rule in rules]
    batches = {batch[0].rule_index: batch for batch in _tasks(compiled, facts) if batch}
    stages = [[chunk for task in batches[i] for chunk in task.chunks] for i in range(3)]
    assert stages[0] and all(a is b for other in stages[1:] for a, b in zip(stages[0], other, strict=True))
    chunk = stages[0][0]
    shipped = pickle.loads(pickle.dumps(chunk))
    assert chunk.shipped is not None and pickle.dumps(chunk) == pickle.dumps(chunk)
    assert shipped.keys == chunk.keys and shipped.facts == chunk.facts


def _generated_facts(result) -> list:  # type: ignore[no-untyped-def]
    facts = []
    for path in result.files:
        for row in read_rows(path):
            fact = validate_row(row)
            facts.append(engine_fact(len(facts) + 1, fact.kind, fact.model_dump(mode="json")))
    return facts


@pytest.mark.parametrize("rule_id", ["OPS-001", "COA-001", "MGR-002"])
def test_cadence_chunks_judging_some_periods_judge_them_as_all_periods_do(generated, rule_id: str) -> None:  # type: ignore[no-untyped-def]
    """An incremental sweep re-judges some periods of some partitions (Chunk.periods): their judgements and
    findings equal a judgement of every period, and the other partitions are judged in full as before."""
    result, _ = generated[1]
    window = SweepWindow(as_of=result.as_of, since=result.since)
    rule = BOOK.by_id(rule_id)
    compiled = compile_rule(rule, window)
    facts = _generated_facts(result)
    groups = partition(compiled, facts)
    full = evaluate([rule], facts, window, groups=[groups]).outcomes[rule_id]
    rng = random.Random(4)
    labels = [p.period.label for p in compiled.periods]
    keys = sorted(groups)
    some = {key: frozenset(rng.sample(labels, rng.choice([1, 1, 2, 6]))) for key in rng.sample(keys, len(keys) // 2)}
    chunked = chunks(groups, some)
    assert all(c.periods is None for c in chunked if c.keys - some.keys())
    assert all(
        c.periods is not None and all(some[k] <= c.periods for k in c.keys) for c in chunked if c.keys <= some.keys()
    )
    assert sum(len(c.keys) for c in chunked) == len(keys)
    part = evaluate([rule], facts, window, groups=[groups], periods=[some]).outcomes[rule_id]

    def wanted(subject: str, occurrence: str) -> bool:
        return subject not in some or occurrence in some[subject]

    assert {c for c in part.checked if wanted(*c)} == {c for c in full.checked if wanted(*c)}
    assert all(label in chunk.periods for chunk in chunked if chunk.periods for label in some[min(chunk.keys)])
    if len(labels) > 20:  # weekly: chunks judge a few of the many periods
        assert len(part.checked) < len(full.checked)
    mine = sorted((f.key, f.evidence) for f in part.findings if wanted(f.subject, f.occurrence))
    assert mine == sorted((f.key, f.evidence) for f in full.findings if wanted(f.subject, f.occurrence))


def test_kpis_from_the_loaded_facts_equal_the_kpis_read_again(tmp_path: Path) -> None:
    result = generate(tmp_path / "org", seed=1)
    engine = open_database(f"sqlite:///{tmp_path / 'synth.db'}")
    _ingest(engine, result.files)
    summary = _sweep(engine, result.as_of, result.since)
    assert rule_kinds(BOOK.rules) >= LOADED_KINDS
    window = SweepWindow(as_of=result.as_of, since=result.since)
    with Session(engine) as session:
        facts = load_facts(session, rule_kinds(BOOK.rules), window.as_of_end)
    records = items_from_loaded(facts, KpiWindow.of_days(result.as_of, result.since), 0, 0)
    loaded = compute_kpis(engine, summary.sweep_id, items=records)
    assert loaded == compute_kpis(engine, summary.sweep_id)
    assert loaded["mystery_shopping"]["visits"] > 0 and loaded["conversion"]["total"]["inquiries"] > 0
