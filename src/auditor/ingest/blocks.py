"""Cut a file into blocks of whole records, a few MiB each, without reading it all into memory.

A block ends at a line end that is also a record end: for CSV, where the
number of quote characters since the block's start is even (a quoted field
may span lines); for JSONL, at any line end. Blocks can be parsed apart
from each other (in worker processes) and still give the records and line
numbers of one sequential read.

A record longer than `MAX_RECORD_BYTES` is not kept: the block that would
hold it comes as an `Oversized` marker with the record's first bytes, and the
rest of the record is skipped, so memory stays bounded whatever the input.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

BLOCK_BYTES = 1 << 20
"""How much is read at a time; blocks are about this size."""

MAX_RECORD_BYTES = 8 << 20
"""A record (a CSV row with its quoted line breaks, a JSON line) longer than this is rejected unread."""


@dataclass(frozen=True)
class Block:
    """Whole records: the bytes and the number of the first physical line (1-based)."""

    first_line: int
    data: bytes


@dataclass(frozen=True)
class Oversized:
    """One record that was too long to read: where it started, its first bytes, and its size."""

    first_line: int
    sample: bytes
    size: int


def open_binary(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when the name ends in .gz."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _record_end(buf: bytes, quoted: bool) -> int:
    """Index of the last line end in `buf` that ends a record, or -1."""
    pos = buf.rfind(b"\n")
    if not quoted or pos < 0:
        return pos
    odd = buf.count(b'"', 0, pos) % 2
    while odd and pos >= 0:  # walk back line by line; each stretch is counted once
        earlier = buf.rfind(b"\n", 0, pos)
        odd ^= buf.count(b'"', earlier + 1, pos) % 2
        pos = earlier
    return pos


def _csv_record_end(buf: bytes) -> int:
    """Index of the line end closing the last-but-one record as the csv module reads `buf`, or -1.

    The last record may run past the buffer's end, so it is left for the next block.
    """
    lines = buf.split(b"\n")
    reader = csv.reader(line.decode("utf-8", "replace") + "\n" for line in lines[:-1])
    ends = []
    try:
        for _ in reader:
            ends.append(reader.line_num)
    except csv.Error:
        pass
    if len(ends) < 2:
        return -1
    return sum(len(line) + 1 for line in lines[: ends[-2]]) - 1


def split_blocks(
    stream: BinaryIO, quoted: bool, first_line: int = 1, block_bytes: int = BLOCK_BYTES
) -> Iterator[Block | Oversized]:
    """Blocks of whole records from `stream`; `quoted` for CSV (quotes may hold line breaks)."""
    carry = b""
    line = first_line
    while True:
        chunk = stream.read(block_bytes)
        buf = carry + chunk if carry else chunk
        if not chunk:
            if buf:
                yield Block(line, buf)
            return
        cut = _record_end(buf, quoted)
        if cut < 0 and quoted and len(buf) > block_bytes:
            cut = _csv_record_end(buf)  # a stray quote (`27" screen`) can fool the quote count
        if cut < 0:
            if len(buf) > MAX_RECORD_BYTES:
                skipped, size, newlines = _skip_record(stream, buf, quoted, block_bytes)
                yield Oversized(line, buf[:1024], size)
                line += newlines
                carry = skipped
            else:
                carry = buf
            continue
        block = buf[: cut + 1]
        carry = buf[cut + 1 :]
        yield Block(line, block)
        line += block.count(b"\n")


def _skip_record(stream: BinaryIO, buf: bytes, quoted: bool, block_bytes: int) -> tuple[bytes, int, int]:
    """Read past the end of an oversized record; return what follows it, its size and its line breaks."""
    size = 0
    newlines = 0
    odd = 0
    while True:
        start = 0
        while True:  # look for a record end in this piece: a line end with an even quote count so far
            pos = buf.find(b"\n", start)
            if pos < 0:
                break
            if quoted:
                odd ^= buf.count(b'"', start, pos) % 2
            if not odd:
                tail = buf[pos + 1 :]
                return tail, size + pos + 1, newlines + buf.count(b"\n", 0, pos + 1)
            start = pos + 1
        if quoted:
            odd ^= buf.count(b'"', start) % 2
        size += len(buf)
        newlines += buf.count(b"\n")
        buf = stream.read(block_bytes)
        if not buf:
            return b"", size, newlines
