"""`auditor ingest` and `auditor rejects`: load files of facts, and read back what was refused."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from auditor.cli_options import console, db_option, err_console
from auditor.store import open_database

_COUNTS = ("read", "loaded", "unchanged", "updated", "rejected")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", help="Fact kind of CSV files (default: from the file name, e.g. coaching_session.csv).")
@click.option(
    "--mapping",
    "mapping_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML column mapping that turns a foreign export into facts (see docs/mappings.md, fixtures/mappings/).",
)
@click.option(
    "--max-reject-rate",
    "max_reject_rate",
    type=click.FloatRange(0, 100),
    default=10.0,
    show_default=True,
    metavar="PERCENT",
    help="Refuse a file as a whole (load nothing of it) when more than this share of its rows is rejected.",
)
@click.option("--jobs", type=click.IntRange(1), help="Worker processes that validate large files (default: cores).")
@db_option
def ingest(
    paths: tuple[Path, ...],
    kind: str | None,
    mapping_path: Path | None,
    max_reject_rate: float,
    jobs: int | None,
    db_url: str | None,
) -> None:
    """Load CSV, JSONL or XES files (optionally .gz) of facts; bad rows are rejected with file, line and reason.

    CSV files are named after their fact kind (coaching_session.csv) or given --kind or a --mapping; JSONL
    lines carry their own `kind`; XES event logs load as `activity` facts (case id, activity, time,
    lifecycle, resource, attributes). Each file is one all-or-nothing batch; loading the same file again
    adds nothing, a known row with new content becomes a new version (the old one is kept). A progress bar
    shows on a terminal; a summary follows (read, loaded, unchanged, updated, rejected). Exit status 2 when a
    file could not be read or was refused for too many bad rows (the other files still load); see
    `auditor rejects list`.
    """
    from auditor.ingest import RejectRateError, SourceError, ingest_file
    from auditor.ingest.mapping import MappingError, load_mapping

    try:
        mapping = load_mapping(mapping_path) if mapping_path else None
    except MappingError as exc:
        raise click.UsageError(str(exc)) from None
    engine = open_database(db_url)
    table = Table(title="Ingest")
    table.add_column("file")
    for name in (*_COUNTS, "batch", "rows/s"):
        table.add_column(name, justify="right")
    totals = dict.fromkeys(_COUNTS, 0)
    failed = False
    for path in paths:
        started = time.perf_counter()
        with Session(engine) as session, _progress(path) as advance:
            try:
                text_format = mapping.text_format(path) if mapping else None
                result = ingest_file(
                    session,
                    path,
                    kind,
                    max_reject_rate / 100,
                    convert=mapping,
                    text_format=text_format,
                    jobs=jobs,
                    progress=advance,
                )
            except SourceError as exc:
                err_console.print(f"[red]error:[/red] {exc}", highlight=False)
                failed = True
                continue
            except RejectRateError as exc:
                result = exc.result
                _print_rejects(result)
                err_console.print(f"[red]refused:[/red] {exc}", highlight=False)
                failed = True
            else:
                _print_rejects(result)
        seconds = max(time.perf_counter() - started, 1e-6)
        counts = [getattr(result, name) for name in _COUNTS]
        for name, value in zip(_COUNTS, counts, strict=True):
            totals[name] += value
        table.add_row(str(path), *(f"{n:,}" for n in counts), str(result.batch_id), f"{result.read / seconds:,.0f}")
    if len(paths) > 1:
        table.add_row("total", *(f"{totals[name]:,}" for name in _COUNTS), "", "")
    console.print(table)
    if failed:
        sys.exit(2)


class _progress:
    """A progress bar of one file on a terminal (bytes read; records for XES); nothing otherwise."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bar: Progress | None = None

    def __enter__(self) -> Any:
        if not err_console.is_terminal:
            return None
        compressed = self.path.name.endswith(".gz") or self.path.name.endswith(".xes")
        total = None if compressed else self.path.stat().st_size
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn() if total else TextColumn("{task.completed:,.0f}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        )
        self.bar.start()
        task = self.bar.add_task(self.path.name, total=total)
        return lambda amount: self.bar.advance(task, amount) if self.bar else None

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_rejects(result: Any, limit: int = 20) -> None:
    for reject in result.rejects[:limit]:
        err_console.print(f"[yellow]rejected[/yellow] {reject.source}:{reject.line}: {reject.reason}", highlight=False)
    if result.rejected > limit:
        err_console.print(
            f"... and {result.rejected - limit:,} more rejected rows in {result.source} "
            f"(`auditor rejects list --batch {result.batch_id}`)"
        )


@click.group()
def rejects() -> None:
    """Rows that ingest refused: file, line, raw content and reason."""


@rejects.command("list")
@click.option("--batch", "batch_id", type=int, help="Only this ingest batch (default: every batch).")
@click.option("--source", help="Only files whose path contains this text.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@db_option
def rejects_list(batch_id: int | None, source: str | None, fmt: str, db_url: str | None) -> None:
    """List rejected rows, oldest batch first (all of them, no paging)."""
    import csv
    import json

    from auditor.ingest.quarantine import list_rejects

    rows = list_rejects(open_database(db_url), batch_id, source)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=["batch", "batch_status", "source", "line", "reason", "raw"])
        writer.writeheader()
        writer.writerows(rows)
        return
    table = Table(title=f"{len(rows)} rejected row(s)")
    for name in ("batch", "batch_status", "source", "line", "reason", "raw"):
        table.add_column(name.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*(str(row[k]) for k in ("batch", "batch_status", "source", "line", "reason", "raw")))
    console.print(table)
