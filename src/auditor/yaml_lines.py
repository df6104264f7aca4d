"""Line numbers in YAML read by ruamel (round-trip), for errors that name the file, line and field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq


def line_of(node: Any, key: str | None = None) -> int:
    """1-based line of a mapping node, or of one of its keys when given and present."""
    if isinstance(node, CommentedMap):
        if key is not None and key in node:
            try:
                return node.lc.key(key)[0] + 1
            except (KeyError, TypeError):
                pass
        return node.lc.line + 1
    return 1


def line_at(node: Any, path: Iterable[Any]) -> int:
    """Line of the deepest node of `path` found in the document: keys of mappings, int indexes of lists."""
    line = line_of(node)
    for part in path:
        if isinstance(node, CommentedMap) and part in node:
            line = line_of(node, part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def plain(node: Any) -> Any:
    """The document as plain dicts (string keys) and lists, for pydantic."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node
