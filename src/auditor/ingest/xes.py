"""XES event logs (IEEE 1849, `.xes` or `.xes.gz`) read as a stream of `activity` records.

Each event becomes one record: case_id (the trace's concept:name), activity
(concept:name), at (time:timestamp), lifecycle (lifecycle:transition),
resource (org:resource), and every other attribute in `attributes` (trace
attributes as `case:<key>`). `seq` numbers events of one case with the same
activity and time, so each keeps its own identity.

Parsed safely and with flat memory: a document type declaration (and with
it any entity definition) is refused before parsing, lxml never resolves
entities or touches the network, nesting deeper than libxml2's limit is an
error, and every element is dropped once read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from auditor.ingest.blocks import open_binary
from auditor.ingest.readers import RawRow, SourceError, printable

_ATTRIBUTE_TAGS = {"string", "date", "int", "float", "boolean", "id"}
_KNOWN = {
    "concept:name": "activity",
    "time:timestamp": "at",
    "lifecycle:transition": "lifecycle",
    "org:resource": "resource",
}
_PROLOGUE_BYTES = 1 << 16


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _refuse_dtd(path: Path) -> None:
    with open_binary(path) as handle:
        prologue = handle.read(_PROLOGUE_BYTES).upper()
    if b"<!DOCTYPE" in prologue or b"<!ENTITY" in prologue:
        line = prologue[: max(prologue.find(b"<!DOCTYPE"), prologue.find(b"<!ENTITY"))].count(b"\n") + 1
        raise SourceError(
            f"{path}: line {line}: XES with a document type declaration is refused "
            "(entity definitions could expand without bound); remove the <!DOCTYPE>",
            line,
        )


def read_xes(path: Path) -> Iterator[RawRow]:
    """The events of an XES file as records for the `activity` kind, in file order."""
    _refuse_dtd(path)
    source = str(path)
    case: dict[str, Any] = {}
    seen: dict[tuple[str, str, str], int] = {}
    with open_binary(path) as handle:
        events = etree.iterparse(
            handle,
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        try:
            for action, elem in events:
                name = _local(elem.tag)
                if action == "start":
                    if name == "trace":
                        case = {}
                        seen = {}
                    continue
                parent = elem.getparent()
                if name in _ATTRIBUTE_TAGS and parent is not None and _local(parent.tag) == "trace":
                    key = elem.get("key")
                    if key:
                        case[key] = elem.get("value")
                elif name == "event":
                    yield _event_row(source, elem, case, seen)
                    _drop(elem)
                elif name == "trace":
                    _drop(elem)
        except etree.XMLSyntaxError as exc:
            line = exc.lineno or 0
            raise SourceError(f"{path}: line {line}: malformed XML: {exc.msg}", line) from None


def _event_row(source: str, elem: Any, case: dict[str, Any], seen: dict[tuple[str, str, str], int]) -> RawRow:
    data: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for child in elem:
        if _local(child.tag) not in _ATTRIBUTE_TAGS or not child.get("key"):
            continue
        key, value = child.get("key"), child.get("value")
        if key in _KNOWN:
            data[_KNOWN[key]] = value
        else:
            attributes[key] = value
    for key, value in case.items():
        if key != "concept:name":
            attributes[f"case:{key}"] = value
    if case.get("concept:name") is not None:
        data["case_id"] = case["concept:name"]
    data["attributes"] = attributes
    ident = (str(data.get("case_id")), str(data.get("activity")), str(data.get("at")))
    data["seq"] = seen.get(ident, 0)
    seen[ident] = data["seq"] + 1
    raw = printable(json.dumps(data, ensure_ascii=False))
    return RawRow(source, elem.sourceline or 0, raw, data)


def _drop(elem: Any) -> None:
    """Free a read element and the siblings before it."""
    elem.clear(keep_tail=False)
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]
