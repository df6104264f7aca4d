"""The facts the KPIs read, kept between sweeps (`kpi_items`) so that a re-sweep reads only what changed.

The KPIs need a few fields of every current fact of five kinds in the sweep's window (half a million at a
million facts). Reading and decoding them again costs more than everything an incremental sweep evaluates,
so a sweep stores those fields (one small record per fact, by natural id) with the highest fact row id it
saw. The next sweep of the same window reads only the rows added since: a row that is current and in the
window replaces its natural id's record, any other row (superseded, or moved out of the window) removes it.
Rows are never changed after ingest, so this gives exactly the current facts in the window; when fact rows
were deleted (fewer rows up to the stored id than counted then) or the window differs, the records are read
again from the facts.

The records are stored in full once, then as the changes since (by natural id, the new record or none): a
re-sweep writes back the full records as it read them, without encoding them again, and only the changes
anew, until these outgrow a tenth of the records (`DELTA_SHARE`) and the records are stored in full again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import msgspec
from sqlalchemy import Text, delete, select, type_coerce
from sqlalchemy.orm import Session

from auditor.engine.stored import decode_fields, stored_payload
from auditor.facts import model_for
from auditor.kpis.window import KpiWindow
from auditor.store.compression import compress, decompress
from auditor.store.models import FactRow, KpiItems
from auditor.store.watermark import facts_intact

if TYPE_CHECKING:
    from auditor.engine.facts import EngineFact

FORMAT = 3
"""Bump when a record's fields or their encoding change: stored records then count as stale."""
DELTA_SHARE = 0.1
"""The records are stored in full again when the changes stored since are more than this share of them."""


class Visit(msgspec.Struct, array_like=True):
    """A mystery_shop fact as the KPIs read it."""

    row_id: int
    score: float
    badge_worn: bool
    visiting_card_given: bool
    brochure_current: bool
    correct_claims: bool | None


class MaterialRequest(msgspec.Struct, array_like=True):
    row_id: int
    id: str
    category: str
    requested_at: datetime
    quantity: int


class MaterialDelivery(msgspec.Struct, array_like=True):
    row_id: int
    request_id: str
    delivered_at: datetime
    quantity: int


class PresalesRequest(msgspec.Struct, array_like=True):
    row_id: int
    requested_at: datetime
    answered_at: datetime | None


class Stage(msgspec.Struct, array_like=True):
    row_id: int
    opportunity_id: str
    stage: str
    at: datetime
    owner_id: str


RECORDS: dict[str, type[msgspec.Struct]] = {
    "mystery_shop": Visit,
    "material_request": MaterialRequest,
    "material_delivery": MaterialDelivery,
    "presales_request": PresalesRequest,
    "opportunity_stage": Stage,
}
"""The record of each kind the KPIs read (their field names are the facts')."""
_FIELDS = {kind: record.__struct_fields__[1:] for kind, record in RECORDS.items()}
_CODECS = {kind: msgspec.msgpack.Decoder(dict[str, record]) for kind, record in RECORDS.items()}  # type: ignore[valid-type]
_CHANGES = {kind: msgspec.msgpack.Decoder(dict[str, record | None]) for kind, record in RECORDS.items()}  # type: ignore[valid-type]
_STORED = msgspec.msgpack.Decoder(tuple[bytes, bytes])
_ENCODER = msgspec.msgpack.Encoder()


@dataclass
class Items:
    """Per kind, the record of each current fact in the window, by natural id; and the fact rows they cover."""

    records: dict[str, dict[str, Any]]
    max_fact_id: int
    fact_rows: int
    _encoded: bytes | None = field(default=None, repr=False)
    full: bytes | None = field(default=None, repr=False)
    """The records stored in full (as read) that `changes` bring up to these; None: read from the facts."""
    changes: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    """Per kind, by natural id, the record (None: gone) of every fact that changed since `full` was stored."""

    def encoded(self) -> bytes:
        """The records as stored (encoded once, kept: the KPI process hands over only this): the records in full
        as read and the changes since, or, with too many changes (`DELTA_SHARE`) or none read, in full anew."""
        if self._encoded is None:
            changed = sum(map(len, self.changes.values()))
            if self.full is None or changed > DELTA_SHARE * sum(map(len, self.records.values())):
                self._encoded = _ENCODER.encode((_encode(self.records), _encode({})))
            else:
                self._encoded = _ENCODER.encode((self.full, _encode(self.changes)))
        return self._encoded

    def facts(self) -> dict[str, list[Any]]:
        """Per kind, the records: what `window_facts` gives, in another order (no KPI depends on the order)."""
        return {kind: list(by_id.values()) for kind, by_id in self.records.items()}


def record(kind: str, row_id: int, values: Mapping[str, Any]) -> Any:
    """The KPI record of a fact from its field values."""
    return RECORDS[kind](row_id, *(values[name] for name in _FIELDS[kind]))


def fingerprint(window: KpiWindow) -> str:
    """What stored records depend on besides the facts: their format and the window."""
    text = json.dumps([FORMAT, window.as_dict()])
    return hashlib.sha256(text.encode()).hexdigest()


def from_loaded(facts: Iterable[EngineFact], window: KpiWindow, max_fact_id: int, fact_rows: int) -> Items:
    """Records of the facts a full sweep loaded (every current fact of the kinds, before the window end)."""
    records: dict[str, dict[str, Any]] = {kind: {} for kind in RECORDS}
    time_fields = {kind: model_for(kind).time_field for kind in RECORDS}
    start, end = window.start, window.end
    for fact in facts:
        into = records.get(fact.kind)
        if into is None:
            continue
        at = _at(fact.values[time_fields[fact.kind]])
        if at < end and (start is None or at >= start):
            into[fact.natural_id] = record(fact.kind, fact.row_id, fact.values)
    return Items(records, max_fact_id, fact_rows)


def current_items(session: Session, window: KpiWindow, max_fact_id: int, fact_rows: int) -> Items:
    """The records of the current facts in the window, for facts up to row `max_fact_id` (`fact_rows` rows: what
    the sweep's plan saw): the stored ones brought up to date, or read anew."""
    stored = _usable(session, window, (max_fact_id, fact_rows))
    if stored is not None:
        full, records, changes = _decoded(stored.records)
        items = Items(_changed(records, changes), max_fact_id, fact_rows, full=full, changes=changes)
        _apply(session, items, FactRow.id.between(stored.max_fact_id + 1, max_fact_id), window)
        return items
    return read_items(session, window, max_fact_id, fact_rows)


def stored_usable(session: Session, window: KpiWindow, watermark: tuple[int, int]) -> bool:
    """Whether the stored records are of this window and no fact row they cover was deleted since (`watermark`:
    the fact rows seen now, `fact_watermark`)."""
    return _usable(session, window, watermark, load=False) is not None


def _usable(session: Session, window: KpiWindow, watermark: tuple[int, int], load: bool = True) -> Any:
    """The stored records' row (`load`: with the records) when they can be brought up to date, else None."""
    query = select(KpiItems) if load else select(KpiItems.max_fact_id, KpiItems.fact_rows, KpiItems.fingerprint)
    stored = session.execute(query.where(KpiItems.id == 1)).first()
    stored = stored[0] if stored is not None and load else stored
    if stored is None or stored.fingerprint != fingerprint(window):
        return None
    return stored if facts_intact(session, stored.max_fact_id, stored.fact_rows, watermark) else None


def read_items(session: Session, window: KpiWindow, max_fact_id: int, fact_rows: int) -> Items:
    """The records of the current facts in the window, read from the facts (as the sweep's `load_facts` reads
    them; `max_fact_id` and `fact_rows` describe those facts)."""
    items = Items({kind: {} for kind in RECORDS}, max_fact_id, fact_rows)
    _apply(session, items, FactRow.current.is_(True), window)
    return items


def save_items(session: Session, sweep_id: int, window: KpiWindow, items: Items) -> None:
    """Replace the stored records with these (in the sweep's transaction)."""
    session.execute(delete(KpiItems))
    session.add(
        KpiItems(
            id=1,
            fingerprint=fingerprint(window),
            sweep_id=sweep_id,
            max_fact_id=items.max_fact_id,
            fact_rows=items.fact_rows,
            records=items.encoded(),
        )
    )


def _apply(session: Session, items: Items, condition: Any, window: KpiWindow) -> None:
    """Fold fact rows (in id order) into the records: a current row in the window sets its natural id's record,
    any other row removes it (and into the changes, for records stored in full before)."""
    query = (
        select(
            FactRow.id,
            FactRow.kind,
            FactRow.natural_id,
            FactRow.current,
            FactRow.occurred_at,
            type_coerce(FactRow.payload, Text),
        )
        .where(condition, FactRow.kind.in_(sorted(RECORDS)))
        .order_by(FactRow.id)
    )
    start, end = window.start, window.end
    changes = items.changes if items.full is not None else None
    for row_id, kind, natural_id, current, at, payload in session.execute(query):
        into = items.records[kind]
        if current and at < end and (start is None or at >= start):
            into[natural_id] = now = record(kind, row_id, decode_fields(kind, stored_payload(payload)))
        elif into.pop(natural_id, None) is not None:
            now = None
        else:
            continue
        if changes is not None:
            changes.setdefault(kind, {})[natural_id] = now


def _encode(records: dict[str, dict[str, Any]]) -> bytes:
    """Records as stored: per kind a MessagePack map of natural id to record, compressed (store/compression.py: a
    fifth of the size to write). Maps decode straight into dicts (in C), which lists of pairs did not."""
    return compress(_ENCODER.encode({kind: _ENCODER.encode(by_id) for kind, by_id in records.items()}))


def decode_records(blob: bytes) -> dict[str, dict[str, Any]]:
    """The records `Items.encoded` gave, by kind and natural id (records of an earlier format, some of them
    uncompressed, are never decoded: their fingerprint names their format)."""
    _, records, changes = _decoded(blob)
    return _changed(records, changes)


def _decoded(blob: bytes) -> tuple[bytes, dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The records stored in full, as stored and decoded, and the changes stored since, decoded."""
    if blob[:1] != b"\x92":  # a MessagePack array of two: earlier formats were compressed maps or plain maps
        _earlier_format(blob)
    full, changes = _STORED.decode(blob)
    return full, _parts(full, _CODECS), _parts(changes, _CHANGES)


def _parts(blob: bytes, codecs: Mapping[str, msgspec.msgpack.Decoder[Any]]) -> dict[str, dict[str, Any]]:
    """What `_encode` gave, by kind."""
    parts = msgspec.msgpack.decode(decompress(blob, earlier=_earlier_format), type=dict[str, bytes])
    return {kind: codecs[kind].decode(parts[kind]) for kind in RECORDS if kind in parts}


def _changed(records: dict[str, dict[str, Any]], changes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The records with the changes put in (in place)."""
    for kind in RECORDS:
        into = records.setdefault(kind, {})
        for natural_id, now in changes.get(kind, {}).items():
            if now is None:
                into.pop(natural_id, None)
            else:
                into[natural_id] = now
    return records


def _at(value: Any) -> datetime:
    return value if value.__class__ is datetime else datetime(value.year, value.month, value.day)


def _earlier_format(blob: bytes) -> NoReturn:
    raise ValueError("KPI records of an earlier format: read them again from the facts")
