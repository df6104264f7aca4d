"""From a read record to validated facts, and from a fact to the row that is stored.

A converter turns a record's fields into one or more fact dictionaries: the
plain one adds the fact kind (CSV named after its kind, `--kind`, or a JSONL
record's own `kind`); a mapping file (`mapping.py`) renames, maps values,
parses dates and may make several facts from one row. A record is all or
nothing: when one of its facts is invalid, none of them is stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from auditor.facts import FactModel, UnknownKindError, model_for
from auditor.ingest.readers import RawRow

StagedFact = tuple[str, str, str, str, str, int]
"""What is stored of a fact: kind, natural id, content hash, occurred at (storage text), payload JSON, line."""


class Converter(Protocol):
    """Turns a record's fields into fact dictionaries (each with its `kind`); raises ValueError."""

    def __call__(self, data: dict[str, Any]) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class KindConverter:
    """The record is one fact; `kind` (when given) is its kind unless the record names its own."""

    kind: str | None = None

    def __call__(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        if self.kind is None:
            return [data]
        return [{"kind": self.kind, **data}]


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: `field 'at': Input should be a valid datetime (got '2026-13-01')`."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"] if p != "kind") or "row"
        message = err["msg"]
        if err["type"] == "missing":
            message = "required field is missing"
        elif err["type"] == "extra_forbidden":
            message = "unknown field"
        text = f"field '{loc}': {message}" if loc != "row" else message
        if err["type"] not in ("missing", "extra_forbidden") and "input" in err:
            shown = repr(err["input"])
            text += f" (got {shown if len(shown) <= 200 else shown[:200] + '...'})"
        parts.append(text)
    return "; ".join(parts)


def validate_fact(data: dict[str, Any]) -> FactModel:
    """One fact dictionary validated into its kind's model; ValueError with a readable reason."""
    kind = data.get("kind")
    if not isinstance(kind, str):
        raise ValueError("field 'kind': missing or not a string")
    try:
        model = model_for(kind)
    except UnknownKindError as exc:
        raise ValueError(f"field 'kind': {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc)) from None


def validate_row(row: RawRow, convert: Converter = KindConverter()) -> FactModel:
    """The single fact of a record whose data names its kind; raises ValueError with a readable reason."""
    facts = row_facts(row, convert)
    if len(facts) != 1:
        raise ValueError(f"the record makes {len(facts)} facts, expected one")
    return facts[0]


def row_facts(row: RawRow, convert: Converter) -> list[FactModel]:
    """Every fact of one record; ValueError (naming the fact when there are several) if any is invalid."""
    if row.error:
        raise ValueError(row.error)
    wanted = convert(row.data)
    facts = []
    for number, data in enumerate(wanted, start=1):
        try:
            facts.append(validate_fact(data))
        except ValueError as exc:
            if len(wanted) == 1:
                raise
            raise ValueError(f"fact {number} of {len(wanted)} ({data.get('kind')}): {exc}") from None
    return facts


def stored_form(fact: FactModel, line: int) -> StagedFact:
    """The stored row of a fact; ValueError when its text cannot be stored (NUL, lone surrogates)."""
    encoded = _json(fact)
    if b"\\u0000" in encoded:
        raise ValueError("a field contains a NUL character")
    try:
        payload = encoded.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("a field contains an invalid character (a lone UTF-16 surrogate)") from None
    occurred = fact.occurred_at().isoformat(" ", "microseconds")
    return (fact.kind, fact.natural_id(), hashlib.sha256(encoded).hexdigest(), occurred, payload, line)


COPY_COLUMNS = "kind, natural_id, version, current, occurred_at, content_hash, payload, batch_id"
"""The columns of `copy_text` rows: version 1 of a current fact of a batch (PostgreSQL COPY)."""

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(staged: list[StagedFact], batch_id: int) -> bytes:
    """Stored facts as PostgreSQL COPY text rows (COPY_COLUMNS), ready for `COPY ... FROM STDIN`.

    Made by the worker processes, so that the main process hands a part to the
    server in one write instead of a call per row.
    """
    tail = f"\t{int(batch_id)}\n"
    lines = []
    for kind, natural_id, digest, occurred, payload, _line in staged:
        lines.append(f"{kind}\t{_copy_field(natural_id)}\t1\tt\t{occurred}\t{digest}\t{_copy_field(payload)}{tail}")
    return "".join(lines).encode("utf-8")


def _copy_field(text: str) -> str:
    """A text value in COPY's text format: backslash, tab and line breaks escaped."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


def content_hash(fact: FactModel) -> str:
    """The digest of a fact's content: sha256 of its JSON (field order of the model)."""
    return hashlib.sha256(_json(fact)).hexdigest()


def _json(fact: FactModel) -> bytes:
    """The fact's JSON as stored (what model_dump_json() gives), as UTF-8 bytes."""
    return fact.__pydantic_serializer__.to_json(fact)
