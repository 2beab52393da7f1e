"""Finding the line of a key in a flow file, so every problem can say where it is.

``tomllib`` keeps no positions, so :func:`toml_locator` scans the (already parsed, hence valid)
text itself: table headers, array-of-tables headers (counting their elements), dotted keys,
inline tables and arrays. For YAML, :func:`yaml_locator` walks the composed node tree, whose
nodes carry their marks. Both produce a :class:`Locator`: path -> 1-based line.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml

__all__ = ["DuplicateKey", "Locator", "PathKey", "toml_locator", "yaml_locator"]

PathKey = str | int
"""One step of a path into a parsed document: a mapping key or a list index."""

_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class Locator:
    """The line of every key (and list element) of one parsed document, by path."""

    def __init__(self, lines: dict[tuple[PathKey, ...], int] | None = None) -> None:
        self._lines = dict(lines or {})

    def exact(self, path: Sequence[PathKey]) -> int | None:
        """The line where ``path`` itself is given, or ``None`` if it is not in the file."""
        return self._lines.get(tuple(path))

    def line(self, path: Sequence[PathKey]) -> int | None:
        """The line of ``path``, else of its nearest ancestor in the file (e.g. its table)."""
        steps = tuple(path)
        while steps:
            found = self._lines.get(steps)
            if found is not None:
                return found
            steps = steps[:-1]
        return None


# --------------------------------------------------------------------------------------------
# TOML


class _TomlScanner:
    """A structure-only walk over valid TOML text that records where each key starts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[tuple[PathKey, ...], int] = {}
        # Resolved path of an array of tables -> index of its latest element, so a later
        # `[a.b]` or `[[a.b]]` under `[[a]]` lands in the right element.
        self.arrays: dict[tuple[PathKey, ...], int] = {}

    # ---- low level -------------------------------------------------------------------------
    def _peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def _move_to(self, index: int) -> None:
        index = min(max(index, self.pos), len(self.text))
        self.line += self.text.count("\n", self.pos, index)
        self.pos = index

    def _skip_comment(self) -> None:
        if self._peek() == "#":
            end = self.text.find("\n", self.pos)
            self._move_to(len(self.text) if end < 0 else end)

    def _skip_space(self, *, newlines: bool) -> None:
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t":
                self.pos += 1
            elif newlines and char in "\r\n":
                self._move_to(self.pos + 1)
            elif newlines and char == "#":
                self._skip_comment()
            else:
                return

    def _skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self._move_to(len(self.text) if end < 0 else end + 1)

    def _record(self, path: tuple[PathKey, ...], line: int) -> None:
        self.lines.setdefault(path, line)

    def _record_all(self, path: tuple[PathKey, ...], line: int) -> None:
        for size in range(1, len(path) + 1):
            self._record(path[:size], line)

    # ---- keys ------------------------------------------------------------------------------
    def _string_end(self, start: int) -> int:
        """Index just past the string literal starting at ``start``."""
        text = self.text
        for quote in ('"""', "'''"):
            if text.startswith(quote, start):
                index = start + 3
                while index < len(text):
                    if quote == '"""' and text[index] == "\\":
                        index += 2
                    elif text.startswith(quote, index):
                        index += 3
                        # Up to two quotes may sit right before the closing delimiter.
                        extra = 0
                        while extra < 2 and index < len(text) and text[index] == quote[0]:
                            index += 1
                            extra += 1
                        return index
                    else:
                        index += 1
                return len(text)
        quote = text[start]
        index = start + 1
        while index < len(text) and text[index] != quote and text[index] != "\n":
            index += 2 if quote == '"' and text[index] == "\\" else 1
        return index + 1

    def _key(self) -> tuple[str, ...]:
        """A possibly dotted key at the current position."""
        parts: list[str] = []
        while True:
            self._skip_space(newlines=False)
            char = self._peek()
            if char in ('"', "'"):
                end = self._string_end(self.pos)
                literal = self.text[self.pos : end]
                try:
                    parts.append(str(tomllib.loads(f"k = {literal}")["k"]))
                except tomllib.TOMLDecodeError:
                    parts.append(literal.strip("\"'"))
                self._move_to(end)
            else:
                start = self.pos
                while self._peek() and self._peek() in _BARE_KEY:
                    self.pos += 1
                if self.pos == start:
                    return tuple(parts)
                parts.append(self.text[start : self.pos])
            self._skip_space(newlines=False)
            if self._peek() != ".":
                return tuple(parts)
            self.pos += 1

    def _resolve(self, keys: Sequence[str]) -> tuple[PathKey, ...]:
        path: tuple[PathKey, ...] = ()
        for key in keys:
            path = (*path, key)
            if path in self.arrays:
                path = (*path, self.arrays[path])
        return path

    # ---- values ----------------------------------------------------------------------------
    def _value(self, path: tuple[PathKey, ...]) -> None:
        char = self._peek()
        if char in ('"', "'"):
            self._move_to(self._string_end(self.pos))
        elif char == "[":
            self.pos += 1
            index = 0
            while self.pos < len(self.text):
                self._skip_space(newlines=True)
                if self._peek() in ("]", ""):
                    self.pos += 1
                    return
                self._record((*path, index), self.line)
                before = self.pos
                self._value((*path, index))
                self._skip_space(newlines=True)
                if self._peek() == ",":
                    self.pos += 1
                    index += 1
                elif self.pos == before:  # never loop on text we do not understand
                    self.pos += 1
        elif char == "{":
            self.pos += 1
            while self.pos < len(self.text):
                self._skip_space(newlines=True)
                if self._peek() in ("}", ""):
                    self.pos += 1
                    return
                line = self.line
                keys = self._key()
                self._skip_space(newlines=False)
                if not keys or self._peek() != "=":
                    self._skip_line()
                    return
                self.pos += 1
                self._skip_space(newlines=False)
                self._record_all((*path, *keys), line)
                self._value((*path, *keys))
                self._skip_space(newlines=True)
                if self._peek() == ",":
                    self.pos += 1
        else:
            while self._peek() and self._peek() not in ",]}\r\n#":
                self.pos += 1

    # ---- document --------------------------------------------------------------------------
    def scan(self) -> dict[tuple[PathKey, ...], int]:
        table: tuple[PathKey, ...] = ()
        while True:
            self._skip_space(newlines=True)
            if self.pos >= len(self.text):
                return self.lines
            line = self.line
            if self._peek() == "[":
                is_array = self._peek(1) == "["
                self.pos += 2 if is_array else 1
                keys = self._key()
                if not keys:
                    self._skip_line()
                    continue
                if is_array:
                    base = (*self._resolve(keys[:-1]), keys[-1])
                    index = self.arrays.get(base, -1) + 1
                    self.arrays[base] = index
                    table = (*base, index)
                else:
                    table = self._resolve(keys)
                self._record_all(table, line)
                self._skip_line()
                continue
            keys = self._key()
            self._skip_space(newlines=False)
            if not keys or self._peek() != "=":
                self._skip_line()
                continue
            self.pos += 1
            self._skip_space(newlines=False)
            path = (*table, *keys)
            self._record_all(path, line)
            self._value(path)
            self._skip_space(newlines=False)
            self._skip_comment()


def toml_locator(text: str) -> Locator:
    """A locator for TOML text that ``tomllib`` parsed without error."""
    scanner = _TomlScanner(text)
    try:
        lines = scanner.scan()
    except (IndexError, ValueError):  # a locator must never turn a problem into a crash
        lines = scanner.lines
    return Locator(lines)


# --------------------------------------------------------------------------------------------
# YAML


@dataclass(frozen=True, slots=True)
class DuplicateKey:
    """A key given twice in one YAML mapping (YAML silently keeps the last)."""

    path: tuple[PathKey, ...]
    line: int
    first_line: int


@dataclass(slots=True)
class _YamlWalk:
    lines: dict[tuple[PathKey, ...], int] = field(default_factory=dict)
    duplicates: list[DuplicateKey] = field(default_factory=list)
    _active: set[int] = field(default_factory=set)

    def walk(self, node: yaml.Node, path: tuple[PathKey, ...]) -> None:
        if id(node) in self._active:  # a recursive alias
            return
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                self._mapping(node, path)
            elif isinstance(node, yaml.SequenceNode):
                for index, item in enumerate(node.value):
                    self.lines.setdefault((*path, index), item.start_mark.line + 1)
                    self.walk(item, (*path, index))
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: tuple[PathKey, ...]) -> None:
        seen: dict[str, int] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in seen:
                self.duplicates.append(DuplicateKey((*path, key), line, seen[key]))
            seen[key] = line
            # The last occurrence is the one YAML keeps.
            self.lines[(*path, key)] = line
            self.walk(value_node, (*path, key))
        # `<<: *defaults` keys are located where the anchored mapping gives them.
        for merged in merges:
            items = merged.value if isinstance(merged, yaml.SequenceNode) else [merged]
            for item in items:
                if isinstance(item, yaml.MappingNode):
                    for key_node, value_node in item.value:
                        if isinstance(key_node, yaml.ScalarNode):
                            key_path = (*path, str(key_node.value))
                            if key_path not in self.lines:
                                self.lines[key_path] = key_node.start_mark.line + 1
                                self.walk(value_node, key_path)


def yaml_locator(node: yaml.Node | None) -> tuple[Locator, list[DuplicateKey]]:
    """A locator for a composed YAML document, and the keys it gives twice."""
    walk = _YamlWalk()
    if node is not None:
        walk.walk(node, ())
    return Locator(walk.lines), walk.duplicates
