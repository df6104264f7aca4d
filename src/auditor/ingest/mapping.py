"""Column mappings: a YAML file that turns a foreign export (a CRM's opportunity list, a stage
history, a process event log) into fact kinds.

    kind: opportunity_stage          # or `facts:`, a list of several outputs per row
    timezone: Europe/Amsterdam       # zone of timestamps without an offset (default UTC)
    fields:
      opportunity_id: opportunity_id                      # a column
      stage: {column: deal_stage, values: {Won: deal}}    # a value map (other values pass unchanged)
      at: {column: close_date, format: "%m/%d/%Y"}        # a date format (strptime)
      owner_id: {column: sales_agent, default: unknown}   # a default when the column is empty
      source: {value: crm}                                # a constant
    when: [close_date]               # make this fact only when these columns have a value
    attributes: rest                 # event logs: the other columns go into `attributes`

See docs/mappings.md for the whole language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML, CommentedMap
from ruamel.yaml.error import YAMLError

from auditor.facts import FACT_KINDS
from auditor.ingest.readers import TextFormat, file_format
from auditor.rulebook.policy import known_zone
from auditor.yaml_lines import line_at, plain


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file, line and field."""


class FieldSpec(BaseModel):
    """Where one fact field comes from: a column (optionally value-mapped, date-parsed) or a constant."""

    model_config = ConfigDict(extra="forbid")
    column: str | None = None
    value: Any = None
    values: dict[str, Any] = Field(default_factory=dict)
    format: str | None = None
    default: Any = None

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        if (self.column is None) == (self.value is None):
            raise ValueError("give exactly one of `column` and `value`")
        return self


class OutputSpec(BaseModel):
    """One fact made from each row."""

    model_config = ConfigDict(extra="forbid")
    kind: str
    fields: dict[str, FieldSpec]
    when: list[str] = Field(default_factory=list)
    attributes: Literal["rest"] | list[str] | None = None

    @field_validator("fields", mode="before")
    @classmethod
    def _column_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"column": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("when", mode="before")
    @classmethod
    def _one_column(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class MappingSpec(BaseModel):
    """A whole mapping file."""

    model_config = ConfigDict(extra="forbid")
    description: str = ""
    format: Literal["csv", "jsonl"] | None = None
    encoding: str = "utf-8"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    timezone: str = "UTC"
    facts: list[OutputSpec] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _single_output(cls, data: Any) -> Any:
        if isinstance(data, dict) and "kind" in data and "facts" not in data:
            single = {k: data.pop(k) for k in ("kind", "fields", "when", "attributes") if k in data}
            data["facts"] = [single]
        return data

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)


def _time_fields(kind: str) -> dict[str, str]:
    """The kind's fields that hold an instant ('datetime') or a day ('date')."""
    out = {}
    for name, info in FACT_KINDS[kind].model_fields.items():
        annotation = info.annotation
        if annotation is dt.datetime or annotation == dt.datetime | None:
            out[name] = "datetime"
        elif annotation is dt.date or annotation == dt.date | None:
            out[name] = "date"
    return out


class Mapping:
    """A loaded mapping: converts one record's columns into its facts (a picklable converter)."""

    def __init__(self, spec: MappingSpec, source: str = "") -> None:
        self.spec = spec
        self.source = source
        self._zone = ZoneInfo(spec.timezone)
        self._times = {output.kind: _time_fields(output.kind) for output in spec.facts}
        self._seen: dict[tuple[str, str, str], int] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "source": self.source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"], state["source"])  # type: ignore[misc]

    def text_format(self, path: Path) -> TextFormat:
        """How to read `path` with this mapping (the mapping's `format`, else the file name's)."""
        return TextFormat(self.spec.format or file_format(path), self.spec.encoding, self.spec.delimiter)

    def start_part(self) -> None:
        """Forget the event positions counted so far (they are counted within one part of a file)."""
        self._seen.clear()

    def __call__(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        facts = []
        for output in self.spec.facts:
            if any(_blank(data.get(column)) for column in output.when):
                continue
            facts.append(self._fact(output, data))
        return facts

    def _fact(self, output: OutputSpec, data: dict[str, Any]) -> dict[str, Any]:
        fact: dict[str, Any] = {"kind": output.kind}
        times = self._times[output.kind]
        for name, spec in output.fields.items():
            if spec.column is None:
                value = spec.value
            else:
                value = data.get(spec.column)
                if _blank(value):
                    value = spec.default
                elif spec.values and isinstance(value, str | int | float | bool):
                    value = spec.values.get(str(value).strip(), value)
            if value is None:
                continue
            if name in times and isinstance(value, str):
                value = self._time(name, value, spec.format, times[name])
            fact[name] = value
        if output.attributes is not None:
            used = {spec.column for spec in output.fields.values() if spec.column}
            names = [c for c in data if c not in used] if output.attributes == "rest" else output.attributes
            fact["attributes"] = {c: data[c] for c in names if not _blank(data.get(c))}
        if output.kind == "activity" and "seq" not in fact:
            key = (str(fact.get("case_id")), str(fact.get("activity")), str(fact.get("at")))
            fact["seq"] = self._seen.get(key, 0)
            self._seen[key] = fact["seq"] + 1
        return fact

    def _time(self, name: str, text: str, fmt: str | None, kind: str) -> str:
        text = text.strip()
        try:
            value = dt.datetime.strptime(text, fmt) if fmt else dt.datetime.fromisoformat(text)
        except ValueError:
            if fmt:
                raise ValueError(f"field '{name}': {text!r} does not match the date format {fmt!r}") from None
            return text  # not ISO either: the fact model says why
        if kind == "date":
            return value.date().isoformat()
        if value.tzinfo is None:
            value = value.replace(tzinfo=self._zone)
        return value.isoformat()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def load_mapping(path: Path) -> Mapping:
    """Read a mapping file; MappingError names the file, line and field of every problem."""
    try:
        data = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the mapping: {exc.strerror}") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise MappingError(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, CommentedMap):
        raise MappingError(f"{path}:1: a mapping file is a YAML mapping (kind, fields, ...)")
    try:
        spec = MappingSpec.model_validate(plain(data))
    except ValidationError as exc:
        found = [(err["loc"], err["msg"]) for err in exc.errors(include_url=False)]
    else:
        found = list(_unknown_names(spec))
    problems = []
    for loc, message in found:
        where = _located(data, loc)
        problems.append(f"{path}:{line_at(data, where)}: {'.'.join(map(str, where)) or 'mapping'}: {message}")
    if problems:
        raise MappingError("\n".join(problems))
    return Mapping(spec, str(path))


def _unknown_names(spec: MappingSpec) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Fact kinds and fields the mapping names that do not exist."""
    for number, output in enumerate(spec.facts):
        model = FACT_KINDS.get(output.kind)
        if model is None:
            known = ", ".join(sorted(FACT_KINDS))
            yield ("facts", number, "kind"), f"unknown fact kind {output.kind!r} (known: {known})"
            continue
        for name in output.fields:
            if name not in model.model_fields:
                fields = ", ".join(n for n in model.model_fields if n != "kind")
                yield ("facts", number, "fields", name), f"{output.kind} has no field {name!r} (fields: {fields})"
        if output.attributes is not None and "attributes" not in model.model_fields:
            yield ("facts", number, "attributes"), f"{output.kind} has no `attributes` field"


def _located(data: CommentedMap, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The error location in the file's own terms (a single `kind:` file has no `facts` list)."""
    path = tuple(p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "literal["))))
    if path[:1] == ("facts",) and "facts" not in data:
        return path[2:]
    return path
