"""Finding the line of a key in TOML text and in a YAML node tree."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from textwrap import dedent
from typing import Any

import yaml

from syncframe.config.locate import Locator, PathKey, toml_locator, yaml_locator

TRICKY_TOML = dedent(
    '''\
    # [not.a.table] in a comment
    title = "x [y] = z"  # a comment with [brackets] and key = value
    quoted = "say \\"hi\\" [q]"
    literal = 'C:\\path\\[x]'
    multi = """
    [looks.like.a.table]
    fake = "key"
    """
    raw = \'\'\'
    also = 'fake'
    \'\'\'

    [flows."a.b"]
    sink.type = "csv"
    sink.path = "out.csv"
    'odd key' = 1

    [[fruits]]
    name = "apple"

    [fruits.physical]
    color = "red"

    [[fruits.varieties]]
    name = "red delicious"

    [[fruits.varieties]]
    name = "granny smith"

    [[fruits]]
    name = "banana"

    [[fruits.varieties]]
    name = "plantain"

    [lists]
    numbers = [
      1,
      2,  # two
      [3, 4],
    ]
    filters = [
      { type = "a", keep = ["x"] },
      { type = "b", nested = { deep = true } },
    ]
    empty = []
    when = 1979-05-27T07:32:00Z
    '''
)


def paths(data: Any, prefix: tuple[PathKey, ...] = ()) -> Iterator[tuple[PathKey, ...]]:
    """Every key and element path of a parsed document."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield (*prefix, index)
            yield from paths(value, (*prefix, index))


class TestToml:
    """The TOML scanner finds every key tomllib parsed, on the line that gives it."""

    def test_every_path_is_found(self) -> None:
        data = tomllib.loads(TRICKY_TOML)
        locator = toml_locator(TRICKY_TOML)
        lines = TRICKY_TOML.splitlines()
        for path in paths(data):
            line = locator.exact(path)
            assert line is not None, path
            last = path[-1]
            if isinstance(last, str) and path[0] != "fruits":
                assert last.split(".")[0] in lines[line - 1], (path, line)

    def test_lines(self) -> None:
        locator = toml_locator(TRICKY_TOML)
        expected: dict[tuple[PathKey, ...], int] = {
            ("title",): 2,
            ("multi",): 5,
            ("raw",): 9,
            ("flows",): 13,
            ("flows", "a.b"): 13,
            ("flows", "a.b", "sink"): 14,
            ("flows", "a.b", "sink", "path"): 15,
            ("flows", "a.b", "odd key"): 16,
            ("fruits", 0): 18,
            ("fruits", 0, "name"): 19,
            ("fruits", 0, "physical", "color"): 22,
            ("fruits", 0, "varieties", 0, "name"): 25,
            ("fruits", 0, "varieties", 1): 27,
            ("fruits", 0, "varieties", 1, "name"): 28,
            ("fruits", 1, "name"): 31,
            ("fruits", 1, "varieties", 0, "name"): 34,
            ("lists", "numbers"): 37,
            ("lists", "numbers", 1): 39,
            ("lists", "numbers", 2, 1): 40,
            ("lists", "filters", 0, "keep", 0): 43,
            ("lists", "filters", 1, "nested", "deep"): 44,
            ("lists", "when"): 47,
        }
        assert {path: locator.exact(path) for path in expected} == expected

    def test_text_inside_strings_is_not_read_as_keys(self) -> None:
        locator = toml_locator(TRICKY_TOML)
        assert locator.exact(("looks",)) is None
        assert locator.exact(("fake",)) is None
        assert locator.exact(("also",)) is None
        assert locator.exact(("not",)) is None

    def test_missing_keys_fall_back_to_their_table(self) -> None:
        locator = toml_locator(TRICKY_TOML)
        assert locator.line(("fruits", 1, "varieties", 0, "colour")) == 33
        assert locator.line(("flows", "a.b", "source", "type")) == 13
        assert locator.line(("nowhere",)) is None
        assert Locator().line(("a",)) is None

    def test_never_fails_on_odd_text(self) -> None:
        # Not valid TOML, so the loader never scans it; the scanner must still not crash.
        for text in ('a = "unterminated', "[", "[[x", "= 1", "a = [1, {b = ", "a = '''x"):
            toml_locator(text)


class TestYaml:
    """The YAML locator reads lines off the composed nodes."""

    TEXT = dedent(
        """\
        defaults: &defaults
          batch_size: 10
          enabled: true
        flows:
          a:
            <<: *defaults
            enabled: false
            filters:
              - type: x
              -
                type: y
          b: {source: {type: csv}, sink: {type: csv}}
        flows2: [1, 2]
        """
    )

    def test_lines(self) -> None:
        locator, duplicates = yaml_locator(yaml.compose(self.TEXT, Loader=yaml.SafeLoader))
        assert duplicates == []
        expected: dict[tuple[PathKey, ...], int] = {
            ("flows",): 4,
            ("flows", "a", "enabled"): 7,
            ("flows", "a", "batch_size"): 2,  # given by the merged anchor
            ("flows", "a", "filters", 0): 9,
            ("flows", "a", "filters", 0, "type"): 9,
            ("flows", "a", "filters", 1, "type"): 11,
            ("flows", "b", "sink", "type"): 12,
            ("flows2", 1): 13,
        }
        assert {path: locator.exact(path) for path in expected} == expected

    def test_every_path_is_found(self) -> None:
        locator, _ = yaml_locator(yaml.compose(self.TEXT, Loader=yaml.SafeLoader))
        for path in paths(yaml.safe_load(self.TEXT)):
            assert locator.exact(path) is not None, path

    def test_duplicates(self) -> None:
        text = "a:\n  b: 1\n  c: 2\n  b: 3\n"
        locator, duplicates = yaml_locator(yaml.compose(text, Loader=yaml.SafeLoader))
        assert [(d.path, d.line, d.first_line) for d in duplicates] == [(("a", "b"), 4, 2)]
        assert locator.exact(("a", "b")) == 4  # the one YAML keeps

    def test_recursive_alias_terminates(self) -> None:
        text = "a: &x [1, *x]\n"
        locator, _ = yaml_locator(yaml.compose(text, Loader=yaml.SafeLoader))
        assert locator.exact(("a", 0)) == 1

    def test_empty_document(self) -> None:
        locator, duplicates = yaml_locator(None)
        assert (locator.line(("a",)), duplicates) == (None, [])
