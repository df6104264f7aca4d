"""Decode stored fact payloads into engine facts without re-validating them.

Ingest validated every stored payload with its kind's pydantic model and
stored `model_dump(mode="json")`. Re-validating 1,000,000 of them per sweep
cost more than the evaluation, so a sweep only converts what JSON cannot
hold: ISO days and instants back to `date` / `datetime`, integers in float
fields back to floats. The result equals `model_validate(payload).model_dump()`
(tests/test_stored_facts.py checks every kind); a payload that does not have
exactly the model's fields falls back to full validation.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from typing import Any

import msgspec

from auditor.engine.facts import EngineFact
from auditor.facts import FactModel, model_for
from auditor.facts.base import natural_id_of

Converter = Callable[[Any], Any]
_intern = sys.intern
_decode_json = msgspec.json.Decoder().decode


def _converter(annotation: Any) -> Converter | None:
    """How to turn the JSON form of a field back into its Python value (None: unchanged)."""
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ()
    inner = [o for o in options if o is not type(None)] if options else [annotation]
    inner = [typing.get_args(o)[0] if typing.get_origin(o) is typing.Annotated else o for o in inner]
    if len(inner) != 1:
        return None
    kind = inner[0]
    if kind is datetime:
        return datetime.fromisoformat
    if kind is date:
        return date.fromisoformat
    if kind is float:
        return float
    return None


@cache
def _plan(kind: str) -> tuple[type[FactModel], tuple[str, ...], dict[str, Converter]]:
    """Per kind: the model, its field names in order and the converters by field."""
    model = model_for(kind)
    converters = {}
    for name, info in model.model_fields.items():
        converter = _converter(info.annotation)
        if converter is not None:
            converters[name] = converter
    return model, tuple(model.model_fields), converters


def decode(kind: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(natural id, field values) of a stored payload, as `model_validate(payload)` would give them."""
    values = decode_values(kind, payload)
    return natural_id_of(_plan(kind)[0].natural_key, values), values


def decode_values(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The field values of a stored payload, as `model_validate(payload).model_dump()` would give them."""
    model, names, converters = _plan(kind)
    if len(payload) != len(names) or any(name not in payload for name in names):
        return model.model_validate(payload).model_dump()
    values: dict[str, Any] = {}
    for name in names:
        value = payload[name]
        converter = converters.get(name)
        if converter is not None:
            if value is not None:
                value = converter(value)
        elif value.__class__ is str:
            value = _intern(value)  # ids, stages, roles repeat across facts: one copy each
        values[name] = value
    return values


@cache
def _names(kind: str) -> frozenset[str]:
    return frozenset(_plan(kind)[1])


def decode_fields(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """`decode_values` for readers that only look fields up by name: the payload's own dict, converted in place
    (no copy in model order, no shared strings; the KPIs read half a million payloads this way)."""
    if payload.keys() != _names(kind):
        return _plan(kind)[0].model_validate(payload).model_dump()
    for name, converter in _plan(kind)[2].items():
        value = payload[name]
        if value is not None:
            payload[name] = converter(value)
    return payload


def stored_payload(stored: str | dict[str, Any]) -> dict[str, Any]:
    """A payload as read from `facts`: JSON text (SQLite, or cast to text) or already decoded (PostgreSQL's json)."""
    if isinstance(stored, dict):
        return stored
    try:
        return _decode_json(stored)  # msgspec: a third of json.loads' time
    except msgspec.DecodeError:
        return json.loads(stored)  # what msgspec refuses and json reads (NaN, Infinity)


def engine_fact(row_id: int, kind: str, payload: dict[str, Any]) -> EngineFact:
    """The engine's view of one stored fact."""
    natural, values = decode(kind, payload)
    return EngineFact(row_id, kind, natural, values)
