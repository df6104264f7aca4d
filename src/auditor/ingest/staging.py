"""Store validated facts in bulk: stage a part, then merge it into `facts` with set-based SQL.

Facts are first written to a temporary staging table (executemany on SQLite,
COPY on PostgreSQL), then one merge per part decides, in the database, what
each staged row is, exactly as loading the rows one by one would:

- unchanged: same content as the current version of its natural id (or as
  the row just before it with that id in the same file): nothing is written;
- loaded: a natural id never seen: version 1;
- updated: new content for a known id: the next version becomes current and
  the previous one is kept (evidence of earlier findings stays reproducible).

Everything runs in the caller's transaction, so a batch is all or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from auditor.ingest.conversion import COPY_COLUMNS, copy_text
from auditor.ingest.pipeline import PartResult

_COLUMNS = "seq, kind, natural_id, content_hash, occurred_at, payload"
_COPY_WRITE = 4 << 20  # bytes per COPY write

_CHANGES = """
INSERT INTO ingest_changes (seq, kind, natural_id, content_hash, occurred_at, payload, prev_id, base_version, is_new)
SELECT s.seq, s.kind, s.natural_id, s.content_hash, s.occurred_at, s.payload, f.id, COALESCE(f.version, 0),
       CASE WHEN f.id IS NULL AND s.prev_hash IS NULL THEN 1 ELSE 0 END
FROM (SELECT st.*, LAG(st.content_hash) OVER (PARTITION BY st.kind, st.natural_id ORDER BY st.seq) AS prev_hash
      FROM ingest_stage st) s
LEFT JOIN facts f ON f.kind = s.kind AND f.natural_id = s.natural_id AND f.current
WHERE (s.prev_hash IS NULL AND (f.id IS NULL OR f.content_hash <> s.content_hash))
   OR (s.prev_hash IS NOT NULL AND s.prev_hash <> s.content_hash)
"""

_CHANGES_UNIQUE = """
INSERT INTO ingest_changes (seq, kind, natural_id, content_hash, occurred_at, payload, prev_id, base_version, is_new)
SELECT s.seq, s.kind, s.natural_id, s.content_hash, s.occurred_at, s.payload, f.id, COALESCE(f.version, 0),
       CASE WHEN f.id IS NULL THEN 1 ELSE 0 END
FROM ingest_stage s
LEFT JOIN facts f ON f.kind = s.kind AND f.natural_id = s.natural_id AND f.current
WHERE f.id IS NULL OR f.content_hash <> s.content_hash
"""

_INSERT_UNIQUE = """
INSERT INTO facts (kind, natural_id, version, current, occurred_at, content_hash, payload, batch_id)
SELECT kind, natural_id, base_version + 1, true, occurred_at, content_hash, payload, :batch FROM ingest_changes
ORDER BY kind, natural_id
"""

_RETIRE = "UPDATE facts SET current = false WHERE id IN (SELECT prev_id FROM ingest_changes WHERE prev_id IS NOT NULL)"

_INSERT = """
INSERT INTO facts (kind, natural_id, version, current, occurred_at, content_hash, payload, batch_id)
SELECT kind, natural_id, base_version + ROW_NUMBER() OVER w,
       ROW_NUMBER() OVER w = COUNT(*) OVER (PARTITION BY kind, natural_id),
       occurred_at, content_hash, payload, :batch
FROM ingest_changes
WINDOW w AS (PARTITION BY kind, natural_id ORDER BY seq)
"""

_UNDO = [
    """UPDATE facts SET current = true WHERE id IN (
         SELECT f.id FROM facts f JOIN (
           SELECT kind, natural_id, MIN(version) AS first FROM facts WHERE batch_id = :batch GROUP BY kind, natural_id
         ) b ON f.kind = b.kind AND f.natural_id = b.natural_id AND f.version = b.first - 1)""",
    "DELETE FROM facts WHERE batch_id = :batch",
]


@dataclass
class MergeCounts:
    """What one merge did with its staged rows."""

    loaded: int = 0
    updated: int = 0
    unchanged: int = 0


class Stager:
    """Staging tables of one batch in the session's transaction; `merge` moves a part into `facts`."""

    def __init__(self, session: Session, batch_id: int) -> None:
        self.session = session
        self.batch_id = batch_id
        self.dialect = session.get_bind().dialect.name
        self._seq = 0
        self._fresh: dict[str, bool] = {}
        self._create()

    def _create(self) -> None:
        if self.dialect == "postgresql":
            # The stage takes COPY_COLUMNS rows as the workers made them; seq numbers them in file order.
            key = 'kind text COLLATE "C", natural_id text COLLATE "C"'  # as in facts: the join uses its index
            stage = (
                f"seq bigserial, {key}, version integer, current boolean,"
                " occurred_at timestamp, content_hash text, payload json, batch_id integer"
            )
            types = f"seq bigint, {key}, content_hash text, occurred_at timestamp, payload json"
            suffix = " ON COMMIT DROP"
        else:
            types = "seq integer, kind text, natural_id text, content_hash text, occurred_at text, payload text"
            stage, suffix = types, ""
        for table, columns in (
            ("ingest_stage", stage),
            ("ingest_changes", f"{types}, prev_id integer, base_version integer, is_new integer"),
        ):
            self._run(f"DROP TABLE IF EXISTS {table}")
            self._run(f"CREATE TEMPORARY TABLE {table} ({columns}){suffix}")

    def _run(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        return self.session.execute(text(sql), params or {})

    def merge(self, part: PartResult) -> MergeCounts:
        """Stage the part's facts (in file order) and merge them into `facts`.

        When no natural id occurs twice in the part (`repeats` is false), a simpler merge does, and when no
        fact of these kinds was stored before this batch, the rows go straight into `facts`.
        """
        staged = part.count
        if not staged:
            return MergeCounts()
        if self.dialect == "postgresql" and not part.copy:
            part.copy = copy_text(part.staged, self.batch_id)
        if not part.repeats and all(self._first_of_kind(kind) for kind in part.kinds):
            try:
                with self.session.begin_nested():
                    self._insert_new(part)
                return MergeCounts(loaded=staged)
            except self.session.get_bind().dialect.loaded_dbapi.IntegrityError:
                pass  # a natural id this batch stored already (a later row of the file): merge it properly
        self._stage(part)
        self._run(_CHANGES if part.repeats else _CHANGES_UNIQUE)
        changed, loaded, retired = self._run(
            "SELECT COUNT(*), COALESCE(SUM(is_new), 0), COUNT(prev_id) FROM ingest_changes"
        ).one()
        if retired:
            self._run(_RETIRE)
        if changed:
            self._run(_INSERT if part.repeats else _INSERT_UNIQUE, {"batch": self.batch_id})
        empty = "TRUNCATE {}" if self.dialect == "postgresql" else "DELETE FROM {}"
        self._run(empty.format("ingest_stage"))
        self._run(empty.format("ingest_changes"))
        return MergeCounts(loaded=int(loaded), updated=int(changed - loaded), unchanged=staged - int(changed))

    def _first_of_kind(self, kind: str) -> bool:
        """No fact of `kind` was stored before this batch (asked once per kind and batch)."""
        if kind not in self._fresh:
            earlier = self._run(
                "SELECT 1 FROM facts WHERE kind = :kind AND batch_id <> :batch LIMIT 1",
                {"kind": kind, "batch": self.batch_id},
            ).first()
            self._fresh[kind] = earlier is None
        return self._fresh[kind]

    def _insert_new(self, part: PartResult) -> None:
        """Version 1 of facts never seen, straight into `facts` (the unique index refuses a repeated natural id).

        The rows come in index order (convert_rows sorts parts without repeats): the B-tree fills left to right.
        """
        dbapi = self.session.connection().connection
        if self.dialect == "postgresql":
            self._copy(dbapi, f"facts ({COPY_COLUMNS})", part.copy)
            return
        cursor = dbapi.cursor()
        try:
            cursor.executemany(
                f"INSERT INTO facts ({COPY_COLUMNS}) VALUES (?, ?, 1, 1, ?, ?, ?, {int(self.batch_id)})",
                [(k, n, o, h, p) for k, n, h, o, p, _line in part.staged],
            )
        finally:
            cursor.close()

    def _stage(self, part: PartResult) -> None:
        dbapi = self.session.connection().connection
        if self.dialect == "postgresql":
            self._copy(dbapi, f"ingest_stage ({COPY_COLUMNS})", part.copy)  # seq: the next numbers, in order
            with dbapi.cursor() as cursor:
                cursor.execute("ANALYZE ingest_stage")  # a temporary table has no statistics: plan the join well
            return
        start = self._seq
        self._seq += len(part.staged)
        cursor = dbapi.cursor()
        try:
            cursor.executemany(
                f"INSERT INTO ingest_stage ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                [(seq, k, n, h, o, p) for seq, (k, n, h, o, p, _line) in enumerate(part.staged, start)],
            )
        finally:
            cursor.close()

    @staticmethod
    def _copy(dbapi: Any, target: str, data: bytes) -> None:
        """COPY text rows into a table, in writes of a few MiB."""
        with dbapi.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN") as copy:
            view = memoryview(data)
            for start in range(0, len(view), _COPY_WRITE):
                copy.write(view[start : start + _COPY_WRITE])

    def undo(self) -> None:
        """Take back every fact this batch merged and make the versions before them current again."""
        for sql in _UNDO:
            self._run(sql, {"batch": self.batch_id})

    def drop(self) -> None:
        """Remove the staging tables (PostgreSQL drops them at commit anyway)."""
        for table in ("ingest_stage", "ingest_changes"):
            self._run(f"DROP TABLE IF EXISTS {table}")
