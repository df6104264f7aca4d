"""A sweep decodes stored payloads without re-validating them: the values must equal full validation's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from auditor.engine.stored import decode, decode_fields
from auditor.facts import FACT_KINDS, FactModel, parse_fact
from auditor.ingest.loader import validate_row
from auditor.ingest.readers import read_rows


def _stored(fact: FactModel) -> dict[str, Any]:
    """The payload as ingest stores it and the database gives it back (JSON text in between)."""
    return json.loads(json.dumps(fact.model_dump(mode="json")))


def _typed(values: dict[str, Any]) -> list[tuple[str, type, Any]]:
    return [(name, type(value), value) for name, value in values.items()]


def _check(fact: FactModel) -> None:
    natural, values = decode(fact.kind, _stored(fact))
    assert natural == fact.natural_id()
    assert _typed(values) == _typed(fact.model_dump())
    fields = decode_fields(fact.kind, _stored(fact))  # the KPIs' reading: same values, by name
    assert sorted(_typed(fields), key=str) == sorted(_typed(fact.model_dump()), key=str)


def test_every_generated_fact_decodes_as_validation_gives_it(generated) -> None:  # type: ignore[no-untyped-def]
    result, _ = generated[1]
    kinds = set()
    for path in result.files:
        for row in read_rows(path):
            fact = validate_row(row)
            kinds.add(fact.kind)
            _check(fact)
    assert kinds == set(FACT_KINDS)


@pytest.mark.parametrize(
    "raw",
    [
        # an instant with an offset is stored in naive UTC
        {
            "kind": "coaching_session",
            "id": "C|1",
            "rep_id": "P1",
            "manager_id": "M1",
            "at": "2026-03-01T10:00:00+02:00",
            "plan_documented": False,
        },
        # a float field given as a whole number
        {
            "kind": "mystery_shop",
            "id": "MS1",
            "subject_id": "P1",
            "at": "2026-02-01",
            "score": 70,
            "badge_worn": True,
            "visiting_card_given": False,
            "brochure_current": True,
        },
        # optional day and instant fields missing, a dict field
        {"kind": "person", "id": "P\\1", "name": "A", "role": "sales_person", "joined_on": "2026-01-05"},
        {"kind": "activity", "case_id": "K1", "activity": "call", "at": "2026-01-01", "attributes": {"x": [1, 2]}},
    ],
)
def test_edge_values_decode_as_validation_gives_them(raw: dict[str, Any]) -> None:
    _check(parse_fact(raw))


def test_a_payload_without_every_field_is_validated_in_full() -> None:
    fact = parse_fact({"kind": "person", "id": "P1", "name": "A", "role": "sales_person", "joined_on": "2026-01-05"})
    payload = {k: v for k, v in _stored(fact).items() if v is not None}  # e.g. written before a field was added
    natural, values = decode("person", payload)
    assert (natural, values) == (fact.natural_id(), fact.model_dump())
    assert values["left_on"] is None
