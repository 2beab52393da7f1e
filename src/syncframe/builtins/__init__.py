"""The built-in plugin: file and SQL sources and sinks, matchers, loop guards, filters and
converters, registered through the same hooks as any third-party plugin.

This module is the plugin object (entry point ``builtins`` in the ``syncframe`` group); the
components live in its submodules.
"""

from __future__ import annotations

from syncframe.builtins.converters import CONVERTERS
from syncframe.builtins.files import CsvSink, CsvSource, JsonlSink, JsonlSource
from syncframe.builtins.filters import FieldEqualsFilter, FieldPresentFilter, OperationInFilter
from syncframe.builtins.guards import EchoGuard, OneWayWindowGuard
from syncframe.builtins.matchers import IdentityMapMatcher, KeyCascadeMatcher
from syncframe.builtins.sql import SqlTableSink
from syncframe.hookspecs import hookimpl
from syncframe.registry import ComponentRegistrar, ConverterRegistrar

__all__ = [
    "syncframe_register_converters",
    "syncframe_register_filters",
    "syncframe_register_loop_guards",
    "syncframe_register_matchers",
    "syncframe_register_sinks",
    "syncframe_register_sources",
]


@hookimpl
def syncframe_register_sources(register: ComponentRegistrar) -> None:
    """CSV and JSON Lines files."""
    register("csv", CsvSource)
    register("jsonl", JsonlSource)


@hookimpl
def syncframe_register_sinks(register: ComponentRegistrar) -> None:
    """CSV and JSON Lines files, and a SQL table."""
    register("csv", CsvSink)
    register("jsonl", JsonlSink)
    register("sql_table", SqlTableSink)


@hookimpl
def syncframe_register_matchers(register: ComponentRegistrar) -> None:
    """A cascade of keys looked up in the target, and the identity map."""
    register("key_cascade", KeyCascadeMatcher)
    register("identity_map", IdentityMapMatcher)


@hookimpl
def syncframe_register_loop_guards(register: ComponentRegistrar) -> None:
    """Echo detection and a one-way window."""
    register("echo", EchoGuard)
    register("one_way_window", OneWayWindowGuard)


@hookimpl
def syncframe_register_filters(register: ComponentRegistrar) -> None:
    """Filters by field value, field presence and operation."""
    register("field_equals", FieldEqualsFilter)
    register("field_present", FieldPresentFilter)
    register("operation_in", OperationInFilter)


@hookimpl
def syncframe_register_converters(register: ConverterRegistrar) -> None:
    """Text, number, yes/no, date and phone converters."""
    for name, function in CONVERTERS.items():
        register(name, function)
