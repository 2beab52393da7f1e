"""docs/hooks.md against the code: every hook documented with its exact signature and docstring,
no stale sections, and every hook implemented somewhere in the test suite."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syncframe import components, hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS_MD = ROOT / "docs" / "hooks.md"
TESTS = ROOT / "tests"

# Contract sections are titled "Class.method"; "Component" is the private base every component
# class shares (check, aclose), documented once under that name.
_CLASSES: dict[str, type[Any]] = {"Component": components._Component}

_HEADING = re.compile(r"^(#{1,3}) (.+?)\s*$", re.MULTILINE)
_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def hook_specs() -> dict[str, Callable[..., Any]]:
    """The hooks declared in hookspecs.py, by name."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: func
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(func, marker)
    }


def _annotation(value: Any) -> str:
    # hookspecs and components use `from __future__ import annotations`: annotations are the
    # source text, which is what the docs show. Anything else is rendered by inspect.
    return value if isinstance(value, str) else inspect.formatannotation(value)


def render_signature(func: Callable[..., Any]) -> str:
    """A deterministic one-line rendering: ``[async ]def name(a: T, *, b: U = 1) -> R``."""
    signature = inspect.signature(func)
    parts: list[str] = []
    star_written = False
    for param in signature.parameters.values():
        if param.kind is param.KEYWORD_ONLY and not star_written:
            parts.append("*")
            star_written = True
        prefix = {param.VAR_POSITIONAL: "*", param.VAR_KEYWORD: "**"}.get(param.kind, "")
        if param.kind is param.VAR_POSITIONAL:
            star_written = True
        text = prefix + param.name
        if param.annotation is not param.empty:
            text += f": {_annotation(param.annotation)}"
            if param.default is not param.empty:
                text += f" = {param.default!r}"
        elif param.default is not param.empty:
            text += f"={param.default!r}"
        parts.append(text)
    returns = signature.return_annotation
    arrow = "" if returns is signature.empty else f" -> {_annotation(returns)}"
    keyword = "async def" if inspect.iscoroutinefunction(func) else "def"
    return f"{keyword} {func.__name__}({', '.join(parts)}){arrow}"


def normalise(header: str) -> str:
    """A ``def`` header as written in a doc block (maybe over several lines) -> one line."""
    text = re.sub(r"\s+", " ", header).strip()
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r",?\s*\)", ")", text)
    return text.removesuffix(":").strip()


def sections(markdown: str) -> dict[str, str]:
    """Level-3 section title (without backticks) -> its text up to the next heading."""
    found: dict[str, str] = {}
    matches = list(_HEADING.finditer(markdown))
    for index, match in enumerate(matches):
        if len(match.group(1)) != 3:
            continue
        end = matches[index + 1].start() if index + 1 < len(matches) else len(markdown)
        title = match.group(2).strip("` ")
        assert title not in found, f"docs/hooks.md has two sections titled {title!r}"
        found[title] = markdown[match.end() : end]
    return found


def documented_function(section: str, title: str) -> tuple[str, str | None]:
    """The signature (normalised) and docstring of the first python block of a section."""
    block = _PYTHON_BLOCK.search(section)
    assert block is not None, f"docs/hooks.md: section {title!r} has no ```python block"
    code = block.group(1)
    tree = ast.parse(code)
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef), (
        f"docs/hooks.md: section {title!r} must start its python block with the def"
    )
    first_body_line = func.body[0].lineno  # the docstring's line (1-based)
    header = "\n".join(code.splitlines()[: first_body_line - 1])
    return normalise(header), ast.get_docstring(func)


def contract_method(title: str) -> Callable[..., Any] | None:
    """``Sink.write`` -> the method, or None when the class or method does not exist."""
    class_name, _, method = title.partition(".")
    cls = _CLASSES.get(class_name) or getattr(components, class_name, None)
    if not isinstance(cls, type):
        return None
    func = cls.__dict__.get(method)
    return func if callable(func) else None


@pytest.fixture(scope="module")
def doc_sections() -> dict[str, str]:
    return sections(HOOKS_MD.read_text(encoding="utf-8"))


class TestHookSections:
    """Every hook has a section with its exact signature and docstring, and no more."""

    def test_the_spec_module_declares_hooks(self) -> None:
        # Guards the checks below against passing vacuously.
        assert "syncframe_register_sources" in hook_specs()
        assert len(hook_specs()) >= 10

    def test_every_hook_has_a_section(self, doc_sections: dict[str, str]) -> None:
        missing = sorted(set(hook_specs()) - set(doc_sections))
        assert not missing, f"hooks without a section in docs/hooks.md: {missing}"

    def test_no_section_for_a_hook_that_does_not_exist(self, doc_sections: dict[str, str]) -> None:
        stale = sorted(
            title
            for title in doc_sections
            if title.startswith(f"{hookspecs.PROJECT_NAME}_") and title not in hook_specs()
        )
        assert not stale, f"docs/hooks.md documents hooks that do not exist: {stale}"

    @pytest.mark.parametrize("name", sorted(hook_specs()))
    def test_signature_and_docstring_match(self, name: str, doc_sections: dict[str, str]) -> None:
        if name not in doc_sections:
            pytest.fail(f"{name} has no section in docs/hooks.md")
        func = hook_specs()[name]
        signature, docstring = documented_function(doc_sections[name], name)
        assert signature == render_signature(func)
        assert docstring == inspect.getdoc(func)


class TestContractSections:
    """Documented base-class methods exist, with the documented signature and docstring."""

    def test_the_main_contracts_are_documented(self, doc_sections: dict[str, str]) -> None:
        expected = {
            "Source.read",
            "Sink.open",
            "Sink.was_applied",
            "Sink.write",
            "Sink.lookup",
            "Matcher.decide",
            "LoopGuard.screen",
            "LoopGuard.learn",
            "Filter.reason_to_drop",
        }
        assert expected <= set(doc_sections)

    def test_every_contract_section_names_a_real_method(self, doc_sections: dict[str, str]) -> None:
        unknown = sorted(
            title for title in doc_sections if "." in title and contract_method(title) is None
        )
        assert not unknown, f"docs/hooks.md documents methods that do not exist: {unknown}"

    def test_contract_signatures_and_docstrings_match(self, doc_sections: dict[str, str]) -> None:
        checked = 0
        for title, text in doc_sections.items():
            func = contract_method(title) if "." in title else None
            if func is None:
                continue
            signature, docstring = documented_function(text, title)
            assert signature == render_signature(func), title
            assert docstring == inspect.getdoc(func), title
            checked += 1
        assert checked >= 9


class TestRendering:
    """The signature rendering the checks rely on."""

    def test_async_keyword_only_defaults_and_string_annotations(self) -> None:
        async def sample(self: Any, a: int, *, b: str | None = None, c=3) -> list[int]:
            return []

        # This module has `from __future__ import annotations`, like hookspecs.py.
        assert render_signature(sample) == (
            "async def sample(self: Any, a: int, *, b: str | None = None, c=3) -> list[int]"
        )

    def test_a_multi_line_header_normalises_to_one_line(self) -> None:
        header = "def f(\n    run: RunInfo,\n    changes: Sequence[Change],\n) -> None:"
        assert normalise(header) == "def f(run: RunInfo, changes: Sequence[Change]) -> None"

    def test_a_changed_signature_is_noticed(self) -> None:
        text = (
            "\n```python\ndef syncframe_run_started(run: RunInfo, extra: int) -> None:\n"
            '    """Doc."""\n```\n'
        )
        signature, _ = documented_function(text, "syncframe_run_started")
        assert signature != render_signature(hookspecs.syncframe_run_started)


class TestHooksAreExercised:
    """Every hook is implemented by at least one plugin in the test suite."""

    @pytest.mark.parametrize("name", sorted(hook_specs()))
    def test_hook_is_implemented_in_tests(self, name: str) -> None:
        pattern = re.compile(rf"\bdef {name}\(")
        this_file = Path(__file__).resolve()
        users = [
            path.relative_to(ROOT).as_posix()
            for path in TESTS.rglob("*.py")
            if path.resolve() != this_file and pattern.search(path.read_text(encoding="utf-8"))
        ]
        assert users, f"no plugin in tests/ implements {name}: write a test that does"
