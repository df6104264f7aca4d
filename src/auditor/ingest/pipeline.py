"""Read, convert and validate a file block by block, in worker processes when it is large.

Workers get blocks of bytes (or, for XES, lists of parsed records) and send
back the stored form of the valid facts and the rejected records; results
come back in file order, a few blocks at a time, so memory stays flat.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from auditor.facts import FactModel, UnknownKindError, model_for
from auditor.ingest.blocks import BLOCK_BYTES, Block, Oversized
from auditor.ingest.conversion import Converter, KindConverter, StagedFact, copy_text, row_facts, stored_form
from auditor.ingest.readers import RawRow, TextFormat, parse_block, printable

RECORDS_PER_JOB = 20_000
"""Parsed records (XES) sent to a worker at a time."""


@dataclass(frozen=True)
class ReadSpec:
    """What a worker needs to turn blocks of one file into facts."""

    source: str
    text_format: TextFormat
    convert: Converter
    copy_batch: int | None = None  # PostgreSQL: facts come back as COPY text rows of this batch


@dataclass
class PartResult:
    """The outcome of one block: records read, facts to store, rejected records (line, raw, reason).

    The facts are either `staged` rows or, for PostgreSQL, the same rows as COPY text (`copy`).
    """

    read: int = 0
    staged: list[StagedFact] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    size: int = 0
    repeats: bool = False  # some natural id occurs more than once among the facts
    count: int = 0  # facts to store
    kinds: frozenset[str] = frozenset()  # their kinds
    copy: bytes = b""


def convert_rows(
    rows: Iterable[RawRow], convert: Converter, size: int = 0, copy_batch: int | None = None
) -> PartResult:
    """Validate records into stored facts; bad records become rejects with their reason.

    With `copy_batch`, the facts are returned as COPY text rows of that batch instead of `staged` rows.
    """
    result = PartResult(size=size)
    staged = result.staged
    start_part = getattr(convert, "start_part", None)
    if start_part is not None:
        start_part()
    validate = _validator(convert)
    for row in rows:
        result.read += 1
        try:
            if validate is not None and not row.error and "kind" not in row.data:
                try:  # the common case, one fact of a fixed kind: straight to its validator
                    staged.append(stored_form(validate(row.data), row.line))
                    continue
                except ValidationError:
                    pass  # row_facts says why
            staged.extend([stored_form(fact, row.line) for fact in row_facts(row, convert)])
        except (ValueError, PydanticSerializationError) as exc:
            result.rejects.append((row.line, printable(row.raw), str(exc)))
    result.count = len(staged)
    result.kinds = frozenset(row[0] for row in staged)
    result.repeats = len({(kind, natural_id) for kind, natural_id, *_ in staged}) < len(staged)
    if not result.repeats:  # order no longer matters: index order makes the database's inserts cheaper
        staged.sort(key=_identity)
    if copy_batch is not None:
        result.copy = copy_text(staged, copy_batch)
        result.staged = []
    return result


def _validator(convert: Converter) -> Callable[[dict[str, Any]], FactModel] | None:
    """When `convert` makes each record one fact of a fixed kind: that kind's validator, else None."""
    if type(convert) is not KindConverter or convert.kind is None:
        return None
    try:
        return model_for(convert.kind).__pydantic_validator__.validate_python
    except UnknownKindError:
        return None


def _identity(row: StagedFact) -> tuple[str, str]:
    return row[0], row[1]


def process_block(spec: ReadSpec, block: Block | Oversized) -> PartResult:
    """One block of a text file, parsed and validated."""
    size = len(block.data) if isinstance(block, Block) else block.size
    return convert_rows(parse_block(block, spec.source, spec.text_format), spec.convert, size, spec.copy_batch)


def _job(args: tuple[ReadSpec, Any]) -> PartResult:
    spec, part = args
    if isinstance(part, list):
        return convert_rows(part, spec.convert, copy_batch=spec.copy_batch)
    return process_block(spec, part)


def default_jobs() -> int:
    """Worker processes for a large file: the cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_parts(spec: ReadSpec, parts: Iterable[Block | Oversized | list[RawRow]], jobs: int) -> Iterator[PartResult]:
    """Results of every part in order; in `jobs` worker processes once there is more than one part."""
    parts = iter(parts)
    head = list(islice(parts, 2))
    if jobs <= 1 or len(head) < 2:
        for part in head:
            yield _job((spec, part))
        for part in parts:
            yield _job((spec, part))
        return
    pool = _pool(jobs)
    pending: deque[Any] = deque()
    try:
        for part in chain(head, parts):
            pending.append(pool.apply_async(_job, ((spec, part),)))
            if len(pending) >= 2 * jobs:  # a few parts in flight: memory stays flat
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
    except BaseException:
        _close_pool(terminate=True)  # a worker may still hold parts of an abandoned file
        raise


_POOLS: dict[int, Any] = {}


def _pool(jobs: int) -> Any:
    """Worker processes kept for the files of one command (started once: imports cost a second or so)."""
    if jobs not in _POOLS:
        _close_pool()
        _POOLS[jobs] = multiprocessing.get_context("forkserver").Pool(jobs)
    return _POOLS[jobs]


@atexit.register
def _close_pool(terminate: bool = False) -> None:
    for pool in _POOLS.values():
        if terminate:
            pool.terminate()
        else:
            pool.close()
        pool.join()
    _POOLS.clear()


def record_parts(rows: Iterable[RawRow], size: int = RECORDS_PER_JOB) -> Iterator[list[RawRow]]:
    """Parsed records in lists of `size`, for the workers."""
    rows = iter(rows)
    while part := list(islice(rows, size)):
        yield part


__all__ = ["BLOCK_BYTES", "PartResult", "ReadSpec", "convert_rows", "default_jobs", "process_block", "run_parts"]
