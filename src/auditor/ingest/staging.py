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

from auditor.ingest.conversion import StagedFact

_COLUMNS = "seq, kind, natural_id, content_hash, occurred_at, payload"

_CHANGES = """
INSERT INTO ingest_changes (seq, kind, natural_id, content_hash, occurred_at, payload, prev_id, base_version, is_new)
SELECT s.seq, s.kind, s.natural_id, s.content_hash, s.occurred_at, s.payload, f.id, COALESCE(f.version, 0),
       CASE WHEN f.id IS NULL AND s.prev_hash IS NULL THEN 1 ELSE 0 END
FROM (SELECT st.*, LAG(st.content_hash) OVER (PARTITION BY st.kind, st.natural_id ORDER BY st.seq) AS prev_hash
      FROM ingest_stage st) s
LEFT JOIN facts f ON f.kind = s.kind AND f.natural_id = s.natural_id AND {current}
WHERE (s.prev_hash IS NULL AND (f.id IS NULL OR f.content_hash <> s.content_hash))
   OR (s.prev_hash IS NOT NULL AND s.prev_hash <> s.content_hash)
"""

_CHANGES_UNIQUE = """
INSERT INTO ingest_changes (seq, kind, natural_id, content_hash, occurred_at, payload, prev_id, base_version, is_new)
SELECT s.seq, s.kind, s.natural_id, s.content_hash, s.occurred_at, s.payload, f.id, COALESCE(f.version, 0),
       CASE WHEN f.id IS NULL THEN 1 ELSE 0 END
FROM ingest_stage s
LEFT JOIN facts f ON f.kind = s.kind AND f.natural_id = s.natural_id AND {current}
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
            types = "seq bigint, kind text, natural_id text, content_hash text, occurred_at timestamp, payload json"
            suffix = " ON COMMIT DROP"
        else:
            types = "seq integer, kind text, natural_id text, content_hash text, occurred_at text, payload text"
            suffix = ""
        for table, extra in (
            ("ingest_stage", ""),
            ("ingest_changes", ", prev_id integer, base_version integer, is_new integer"),
        ):
            self._run(f"DROP TABLE IF EXISTS {table}")
            self._run(f"CREATE TEMPORARY TABLE {table} ({types}{extra}){suffix}")

    def _run(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        return self.session.execute(text(sql), params or {})

    def merge(self, staged: list[StagedFact], repeats: bool = True) -> MergeCounts:
        """Stage `staged` (in file order) and merge it into `facts`.

        `repeats=False` promises that no natural id occurs twice in `staged`: a simpler merge then does,
        and when no fact of these kinds was stored before this batch, the rows go straight into `facts`.
        """
        if not staged:
            return MergeCounts()
        if not repeats and all(self._first_of_kind(kind) for kind in {row[0] for row in staged}):
            try:
                with self.session.begin_nested():
                    self._insert_new(staged)
                return MergeCounts(loaded=len(staged))
            except self.session.get_bind().dialect.loaded_dbapi.IntegrityError:
                pass  # a natural id this batch stored already (a later row of the file): merge it properly
        self._stage(staged)
        current = "f.current" if self.dialect == "postgresql" else "+f.current = 1"  # +: not the (current, kind) index
        self._run((_CHANGES if repeats else _CHANGES_UNIQUE).format(current=current))
        changed, loaded, retired = self._run(
            "SELECT COUNT(*), COALESCE(SUM(is_new), 0), COUNT(prev_id) FROM ingest_changes"
        ).one()
        if retired:
            self._run(_RETIRE)
        if changed:
            self._run(_INSERT if repeats else _INSERT_UNIQUE, {"batch": self.batch_id})
        empty = "TRUNCATE {}" if self.dialect == "postgresql" else "DELETE FROM {}"
        self._run(empty.format("ingest_stage"))
        self._run(empty.format("ingest_changes"))
        return MergeCounts(loaded=int(loaded), updated=int(changed - loaded), unchanged=len(staged) - int(changed))

    def _first_of_kind(self, kind: str) -> bool:
        """No fact of `kind` was stored before this batch (asked once per kind and batch)."""
        if kind not in self._fresh:
            earlier = self._run(
                "SELECT 1 FROM facts WHERE kind = :kind AND batch_id <> :batch LIMIT 1",
                {"kind": kind, "batch": self.batch_id},
            ).first()
            self._fresh[kind] = earlier is None
        return self._fresh[kind]

    def _insert_new(self, staged: list[StagedFact]) -> None:
        """Version 1 of facts never seen, straight into `facts` (the unique index refuses a repeated natural id)."""
        rows = staged  # in index order (convert_rows sorts parts without repeats): the B-tree fills left to right
        dbapi = self.session.connection().connection
        columns = "kind, natural_id, version, current, occurred_at, content_hash, payload, batch_id"
        if self.dialect == "postgresql":
            with dbapi.cursor() as cursor, cursor.copy(f"COPY facts ({columns}) FROM STDIN") as copy:
                for kind, natural_id, digest, occurred, payload, _line in rows:
                    copy.write_row((kind, natural_id, 1, True, occurred, digest, payload, self.batch_id))
            return
        cursor = dbapi.cursor()
        try:
            cursor.executemany(
                f"INSERT INTO facts ({columns}) VALUES (?, ?, 1, 1, ?, ?, ?, {int(self.batch_id)})",
                [(k, n, o, h, p) for k, n, h, o, p, _line in rows],
            )
        finally:
            cursor.close()

    def _stage(self, staged: list[StagedFact]) -> None:
        start = self._seq
        self._seq += len(staged)
        dbapi = self.session.connection().connection
        if self.dialect == "postgresql":
            with dbapi.cursor() as cursor:
                with cursor.copy(f"COPY ingest_stage ({_COLUMNS}) FROM STDIN") as copy:
                    for seq, (kind, natural_id, digest, occurred, payload, _line) in enumerate(staged, start):
                        copy.write_row((seq, kind, natural_id, digest, occurred, payload))
                cursor.execute("ANALYZE ingest_stage")  # a temporary table has no statistics: plan the join well
            return
        cursor = dbapi.cursor()
        try:
            cursor.executemany(
                f"INSERT INTO ingest_stage ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                [(seq, k, n, h, o, p) for seq, (k, n, h, o, p, _line) in enumerate(staged, start)],
            )
        finally:
            cursor.close()

    def undo(self) -> None:
        """Take back every fact this batch merged and make the versions before them current again."""
        for sql in _UNDO:
            self._run(sql, {"batch": self.batch_id})

    def drop(self) -> None:
        """Remove the staging tables (PostgreSQL drops them at commit anyway)."""
        for table in ("ingest_stage", "ingest_changes"):
            self._run(f"DROP TABLE IF EXISTS {table}")
