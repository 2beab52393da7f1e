"""Partial responses: the ``fields`` and ``exclude_fields`` query parameters.

Both are comma-separated paths with dot notation for sub-objects (``members.email_address``,
``merge_fields.FNAME``). A path through a list applies to every element, as in
``members.id``. ``fields`` keeps only what it names; ``exclude_fields`` then drops what it names.
"""

from __future__ import annotations

from typing import Any

__all__ = ["field_tree", "select_fields"]

#: A parsed set of paths: each key maps to the paths below it; an empty dict means "all of it".
FieldTree = dict[str, "FieldTree"]


def field_tree(paths: str | None) -> FieldTree | None:
    """``"members.id,total_items"`` as ``{"members": {"id": {}}, "total_items": {}}``."""
    if paths is None:
        return None
    tree: FieldTree = {}
    for path in paths.split(","):
        path = path.strip()
        if not path:
            continue
        node = tree
        parts = path.split(".")
        for depth, part in enumerate(parts):
            if part in node and not node[part]:
                break  # a shorter path already asks for all of it
            child = node.setdefault(part, {})
            if depth == len(parts) - 1:
                child.clear()
            node = child
    return tree


def _keep(data: Any, tree: FieldTree) -> Any:
    if isinstance(data, list):
        return [_keep(item, tree) for item in data]
    if not isinstance(data, dict):
        return data
    return {
        key: (_keep(value, tree[key]) if tree[key] else value)
        for key, value in data.items()
        if key in tree
    }


def _drop(data: Any, tree: FieldTree) -> Any:
    if isinstance(data, list):
        return [_drop(item, tree) for item in data]
    if not isinstance(data, dict):
        return data
    kept = {}
    for key, value in data.items():
        if key not in tree:
            kept[key] = value
        elif tree[key]:
            kept[key] = _drop(value, tree[key])
    return kept


def select_fields(data: Any, fields: str | None, exclude_fields: str | None) -> Any:
    """``data`` with only ``fields`` and without ``exclude_fields`` (either may be ``None``)."""
    keep = field_tree(fields)
    if keep:
        data = _keep(data, keep)
    drop = field_tree(exclude_fields)
    if drop:
        data = _drop(data, drop)
    return data
