"""docs/plugin-guide.md shows the real code: every code block that names a file is in that file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugin-guide.md"
PLUGIN = Path(__file__).resolve().parent / "example_plugin"

_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
_FILE_MARKER = re.compile(r"^# file: (\S+)$")


def guide_blocks() -> list[tuple[str, str, str | None, str]]:
    """(language, first line, named file or None, the rest) of every fenced block."""
    blocks = []
    for match in _BLOCK.finditer(GUIDE.read_text(encoding="utf-8")):
        language, code = match.group(1), match.group(2)
        first, _, rest = code.partition("\n")
        marker = _FILE_MARKER.match(first)
        blocks.append((language, first, marker.group(1) if marker else None, rest))
    return blocks


def _named_blocks() -> list[tuple[str, str]]:
    return [(path, rest) for _, _, path, rest in guide_blocks() if path is not None]


class TestGuideShowsRealCode:
    """Code in the guide is copied from the example plugin, not retyped."""

    def test_every_python_block_names_its_file(self) -> None:
        # Other blocks (a layout, a distribution's pyproject.toml) may name one, and are then
        # checked the same way, but need not.
        unnamed = [
            first
            for language, first, path, _ in guide_blocks()
            if language == "python" and not path
        ]
        assert not unnamed, (
            "python blocks of docs/plugin-guide.md must start with '# file: <path>'; "
            f"these do not: {unnamed}"
        )

    def test_the_flow_file_is_shown(self) -> None:
        assert "tests/docs/example_plugin/pledges.toml" in {path for path, _ in _named_blocks()}

    @pytest.mark.parametrize(("path", "code"), _named_blocks(), ids=[p for p, _ in _named_blocks()])
    def test_block_appears_verbatim_in_its_file(self, path: str, code: str) -> None:
        source = ROOT / path
        assert source.is_file(), f"docs/plugin-guide.md names {path}, which does not exist"
        assert code.strip(), f"an empty block names {path}"
        assert code in source.read_text(encoding="utf-8"), (
            f"a block of docs/plugin-guide.md is not (or no longer) in {path}:\n{code}"
        )

    def test_the_guide_walks_through_every_module_of_the_plugin(self) -> None:
        shown = {path for path, _ in _named_blocks()}
        modules = {path.relative_to(ROOT).as_posix() for path in PLUGIN.glob("*.py")}
        assert modules <= shown, f"modules the guide never shows: {sorted(modules - shown)}"

    def test_a_changed_line_would_be_noticed(self) -> None:
        path, code = _named_blocks()[0]
        altered = code.replace("def ", "def  ", 1) if "def " in code else code + "# changed\n"
        assert altered not in (ROOT / path).read_text(encoding="utf-8")
