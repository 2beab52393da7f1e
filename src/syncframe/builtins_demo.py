"""The built-in demo step, registered like any plugin's (entry point ``builtins_demo``)."""

from __future__ import annotations

from syncframe.demo import constituents_demo
from syncframe.hookspecs import hookimpl
from syncframe.registry import DemoRegistrar


@hookimpl
def syncframe_register_demos(register: DemoRegistrar) -> None:
    """Register the CSV -> SQLite / JSONL demo."""
    register(
        "constituents",
        constituents_demo,
        description="a CRM export synced into SQLite and JSONL, twice",
    )
