"""Facts that fail every pattern of a role on their own fields are not asserted in that role (compiler.may_match).

The property tests show the answers stay exact; these pin down what is filtered and that the test is conservative.
"""

from __future__ import annotations

import pickle
from datetime import date

from auditor.engine.compiler import Chunk, compile_rule, may_match
from auditor.engine.facts import EngineFact
from auditor.engine.window import SweepWindow
from auditor.facts import parse_fact
from auditor.rulebook import load_rulebook

from .conftest import RULES

BOOK = load_rulebook([RULES])
WINDOW = SweepWindow(as_of=date(2026, 6, 30), since=date(2026, 1, 1))


def test_only_facts_that_can_match_a_role_are_encoded_in_it() -> None:
    compiled = compile_rule(BOOK.by_id("STG-005"), WINDOW)  # trigger: a deal; expect: after sales
    stages = ["contact", "deal", "after_sales"]
    raw = [
        {
            "kind": "opportunity_stage",
            "opportunity_id": "O1",
            "stage": s,
            "at": f"2026-02-0{i + 1}T10:00",
            "owner_id": "P1",
        }
        for i, s in enumerate(stages)
    ]
    chunk = Chunk({"O1"}, [EngineFact.from_model(i, parse_fact(r)) for i, r in enumerate(raw, start=1)])
    encoded = compiled.encode_chunk(chunk)
    assert [(e["_role"], e["stage"]) for e in encoded] == [("trigger", "deal"), ("expect", "after_sales")]
    assert [chunk.by_seq[e["id"]].values["stage"] for e in encoded] == ["deal", "after_sales"]


def test_constant_comparisons_are_decided() -> None:
    test = may_match({"$and": [{"stage": "deal"}, {"$lt": {"score": 70}}]})
    assert test is not None
    assert test({"stage": "deal", "score": 69})
    assert not test({"stage": "deal", "score": 70})
    assert not test({"stage": "lost", "score": 1})
    assert not test({"stage": "deal"})  # a comparison with a missing field is false


def test_what_cannot_be_decided_alone_counts_as_possible() -> None:
    assert may_match({"$gte": {"at": {"trigger": "at"}}}) is None  # another fact
    assert may_match({"$gte": {"_at": {"s": "since"}}}) is None  # the sweep
    assert may_match({"$ex": {"_deadline": 1}}) is None  # a field the engine adds per role
    test = may_match({"$lt": {"score": 70}})
    assert test is not None and test({"score": "high"})  # types differ: durable_rules decides
    either = may_match({"$or": [{"stage": "deal"}, {"$gte": {"at": {"trigger": "at"}}}]})
    assert either is None
    assert may_match({"$or": [{"stage": "deal"}, {"stage": "lost"}]})({"stage": "lost"})  # type: ignore[misc]


def test_a_compiled_rule_that_encoded_a_chunk_still_pickles_for_a_worker() -> None:
    compiled = compile_rule(BOOK.by_id("STG-005"), WINDOW)
    compiled.encode_chunk(Chunk(set()))  # builds the role tests (closures)
    copy = pickle.loads(pickle.dumps(compiled))
    assert copy.rules() == compiled.rules() and set(copy.role_tests) == set(compiled.role_tests)
