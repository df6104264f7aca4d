"""Streaming readers: CSV (one kind per file) and JSONL (a `kind` on each line)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from auditor.facts import FACT_KINDS


class SourceError(ValueError):
    """A whole file cannot be read (unknown kind, wrong format, bad encoding)."""


@dataclass(frozen=True)
class RawRow:
    """One record as read from a file, before validation.

    ``error`` is set when the record could not even be parsed (bad JSON,
    ragged CSV row); such rows go straight to the rejects table.
    """

    source: str
    line: int
    raw: str
    data: dict[str, Any]
    error: str | None = None


def _base_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv", ".jsonl", ".ndjson"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def kind_from_path(path: Path) -> str | None:
    """The fact kind a file name announces (`coaching_session.csv`), or None."""
    name = _base_name(path)
    return name if name in FACT_KINDS else None


def file_format(path: Path) -> str:
    """'csv' or 'jsonl' from the file name."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    raise SourceError(f"{path}: unsupported file type (expected .csv, .jsonl or .ndjson)")


def _open_text(path: Path, newline: str = "") -> IO[str]:
    """CSV wants newline="" (the csv module handles line ends); JSONL splits on "\n" only."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline=newline)
    return path.open("r", encoding="utf-8-sig", newline=newline)


def _raw_csv(values: list[str]) -> str:
    """A record as CSV text again, quoting kept where needed."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(values)
    return buffer.getvalue()


def read_rows(path: Path, kind: str | None = None) -> Iterator[RawRow]:
    """Yield the records of a CSV or JSONL file one by one, without loading the whole file."""
    fmt = file_format(path)
    try:
        if fmt == "csv":
            yield from _read_csv(path, kind or kind_from_path(path))
        else:
            yield from _read_jsonl(path, kind)
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc


def _read_csv(path: Path, kind: str | None) -> Iterator[RawRow]:
    if kind is None:
        raise SourceError(
            f"{path}: cannot tell the fact kind; name the file after the kind "
            f"(e.g. coaching_session.csv) or pass --kind"
        )
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            return
        header = [h.strip() for h in header]
        duplicated = sorted({h for h in header if header.count(h) > 1})
        if duplicated:
            raise SourceError(f"{path}: line 1: column(s) {', '.join(duplicated)} appear more than once in the header")
        while True:
            start = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RawRow(str(path), start, "", {}, f"unreadable CSV record: {exc}")
                continue
            raw = _raw_csv(values)
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                yield RawRow(
                    str(path),
                    start,
                    raw,
                    {},
                    f"row has {len(values)} values but the header has {len(header)} columns",
                )
                continue
            data: dict[str, Any] = {"kind": kind}
            for column, value in zip(header, values, strict=True):
                if value.strip() != "":
                    data[column] = value
            yield RawRow(str(path), start, raw, data)


def _read_jsonl(path: Path, kind: str | None) -> Iterator[RawRow]:
    with _open_text(path, newline="\n") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RawRow(str(path), number, text, {}, f"invalid JSON: {exc.msg}")
                continue
            if not isinstance(data, dict):
                yield RawRow(str(path), number, text, {}, "line is not a JSON object")
                continue
            if kind is not None:
                data.setdefault("kind", kind)
            if "kind" not in data:
                yield RawRow(str(path), number, text, {}, "field 'kind': missing")
                continue
            yield RawRow(str(path), number, text, data)
