"""Streaming readers: CSV (one kind per file, or a mapping) and JSONL (a `kind` on each line).

A file is cut into blocks of whole records (`blocks.py`); each block is
parsed on its own, so blocks can go to worker processes. Records keep their
physical line number and raw text, for the rejects table.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from auditor.facts import FACT_KINDS
from auditor.ingest.blocks import Block, Oversized, open_binary, split_blocks

RAW_LIMIT = 10_000
"""Characters of a rejected record kept in the rejects table (the rest is summarised)."""


class SourceError(ValueError):
    """A whole file cannot be read (unknown kind, wrong format, malformed XML, bad header)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


class RawRow(NamedTuple):
    """One record as read from a file, before validation (a tuple: a million of them are made per file).

    ``data`` is the record's fields (column -> text for CSV, the object for
    JSONL). ``error`` is set when the record could not even be parsed (bad
    JSON, ragged CSV row, bad encoding); such rows go straight to the rejects.
    """

    source: str
    line: int
    raw: str
    data: dict[str, Any]
    error: str | None = None


@dataclass(frozen=True)
class TextFormat:
    """How to read a text file: format, encoding, CSV delimiter and header."""

    fmt: str  # "csv" or "jsonl"
    encoding: str = "utf-8"
    delimiter: str = ","
    header: tuple[str, ...] = field(default=())


def printable(text: str) -> str:
    """Raw text safe to store anywhere: NUL and lone surrogates escaped, long text cut."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > RAW_LIMIT:
        text = f"{text[:RAW_LIMIT]}... ({len(text):,} characters in all)"
    return text


def _base_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv", ".jsonl", ".ndjson", ".xes"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def kind_from_path(path: Path) -> str | None:
    """The fact kind a file name announces (`coaching_session.csv`), or None."""
    name = _base_name(path)
    return name if name in FACT_KINDS else None


def file_format(path: Path) -> str:
    """'csv', 'jsonl' or 'xes' from the file name."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".xes"):
        return "xes"
    raise SourceError(f"{path}: unsupported file type (expected .csv, .jsonl, .ndjson or .xes, optionally .gz)")


def _decode(block: Block, source: str, encoding: str) -> tuple[str, list[RawRow]]:
    """The block as text; lines that do not decode become rejects (and blank lines in the text)."""
    try:
        text = block.data.decode(encoding)
    except UnicodeDecodeError:
        pass
    else:
        return (text[1:] if text.startswith("\ufeff") and block.first_line == 1 else text), []
    lines = block.data.split(b"\n")
    bad: list[RawRow] = []
    for number, line in enumerate(lines):
        try:
            lines[number] = line.decode(encoding).encode()
        except UnicodeDecodeError as exc:
            raw = printable(line.decode(encoding, "backslashreplace").rstrip("\r"))
            reason = f"not valid {encoding}: {exc.reason} at byte {exc.start + 1} of the line"
            bad.append(RawRow(source, block.first_line + number, raw, {}, reason))
            lines[number] = b""
    text = b"\n".join(lines).decode("utf-8")
    return (text[1:] if text.startswith("\ufeff") and block.first_line == 1 else text), bad


def parse_block(block: Block | Oversized, source: str, text_format: TextFormat) -> Iterator[RawRow]:
    """The records of one block, in file order (undecodable lines first)."""
    if isinstance(block, Oversized):
        sample = block.sample.decode(text_format.encoding, "backslashreplace")
        yield RawRow(
            source, block.first_line, printable(sample) + "...", {}, f"record longer than {block.size:,} bytes"
        )
        return
    text, bad = _decode(block, source, text_format.encoding)
    yield from bad
    if text_format.fmt == "csv":
        yield from _csv_records(text, block.first_line, source, text_format)
    else:
        yield from _jsonl_records(text, block.first_line, source)


def _csv_records(text: str, first_line: int, source: str, text_format: TextFormat) -> Iterator[RawRow]:
    header = text_format.header
    columns = len(header)
    lines = text.split("\n")
    reader = csv.reader(io.StringIO(text), delimiter=text_format.delimiter)
    end = 0
    while True:
        start = end
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            raw = printable("\n".join(lines[start:end]).rstrip("\r"))
            yield RawRow(source, first_line + start, raw, {}, f"unreadable CSV record: {exc}")
            continue
        end = reader.line_num
        raw = lines[start] if end == start + 1 else "\n".join(lines[start:end])
        if len(values) != columns:
            if not any(v.strip() for v in values):
                continue  # a blank line
            yield RawRow(
                source,
                first_line + start,
                printable(raw.rstrip("\r")),
                {},
                f"row has {len(values)} values but the header has {columns} columns",
            )
            continue
        data = {column: value for column, value in zip(header, values, strict=True) if value and not value.isspace()}
        if data:
            yield RawRow(source, first_line + start, raw.rstrip("\r"), data)


def _jsonl_records(text: str, first_line: int, source: str) -> Iterator[RawRow]:
    for number, line in enumerate(text.split("\n"), start=first_line):
        line = line.strip()
        if not line:
            continue
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = f"invalid JSON: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else "JSON nested too deeply"
            yield RawRow(source, number, printable(line), {}, reason)
            continue
        if not isinstance(data, dict):
            yield RawRow(source, number, printable(line), {}, "line is not a JSON object")
            continue
        yield RawRow(source, number, line, data)


def text_blocks(path: Path, text_format: TextFormat) -> tuple[TextFormat, Iterator[Block | Oversized]]:
    """The file's format with its CSV header filled in, and its data blocks (header excluded)."""
    handle = open_binary(path)
    blocks = split_blocks(handle, quoted=text_format.fmt == "csv")
    if text_format.fmt != "csv":
        return text_format, _closing(blocks, handle)
    first = next(blocks, None)
    if first is None or isinstance(first, Oversized):
        handle.close()
        if first is None:
            return text_format, iter(())
        raise SourceError(f"{path}: line 1: the header is longer than {first.size:,} bytes", 1)
    try:
        text, bad = _decode(first, str(path), text_format.encoding)
    except LookupError as exc:
        handle.close()
        raise SourceError(f"{path}: unknown encoding {text_format.encoding!r}") from exc
    reader = csv.reader(io.StringIO(text), delimiter=text_format.delimiter)
    try:
        header = tuple(h.strip() for h in next(reader))
    except (StopIteration, csv.Error) as exc:
        handle.close()
        if isinstance(exc, StopIteration):
            return text_format, iter(())
        raise SourceError(f"{path}: line 1: unreadable header: {exc}", 1) from None
    if bad and bad[0].line <= reader.line_num:
        handle.close()
        raise SourceError(f"{path}: line 1: header {bad[0].error}", 1)
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        handle.close()
        raise SourceError(f"{path}: line 1: column(s) {', '.join(duplicated)} appear more than once in the header", 1)
    consumed = reader.line_num
    offset = 0
    for _ in range(consumed):
        end = first.data.find(b"\n", offset)
        offset = len(first.data) if end < 0 else end + 1
    rest = Block(first.first_line + consumed, first.data[offset:])
    described = TextFormat(text_format.fmt, text_format.encoding, text_format.delimiter, header)
    return described, _closing(_chain(rest, blocks), handle)


def _chain(first: Block, rest: Iterator[Block | Oversized]) -> Iterator[Block | Oversized]:
    if first.data:
        yield first
    yield from rest


def _closing(blocks: Iterator[Block | Oversized], handle: Any) -> Iterator[Block | Oversized]:
    with handle:
        yield from blocks


def read_rows(path: Path, kind: str | None = None) -> Iterator[RawRow]:
    """Yield the records of a CSV or JSONL file one by one, without loading the whole file.

    Each record's data carries its fact kind: `kind`, else the file name's kind (CSV), else the
    record's own `kind` field (JSONL).
    """
    fmt = file_format(path)
    kind = kind or (kind_from_path(path) if fmt == "csv" else None)
    described, blocks = text_blocks(path, TextFormat(fmt))
    for block in blocks:
        for row in parse_block(block, str(path), described):
            if kind and row.error is None:
                row = RawRow(row.source, row.line, row.raw, {"kind": kind, **row.data})
            yield row
