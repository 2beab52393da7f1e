"""Filters and converters."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from syncframe.builtins.converters import CONVERTERS
from syncframe.builtins.filters import FieldEqualsFilter, FieldPresentFilter, OperationInFilter
from syncframe.records import Change, Operation

from .conftest import Build


def change(op: Operation = Operation.UPDATE, **fields: Any) -> Change:
    return Change("crm", "contact", {"id": "1"}, op, fields)


def test_field_equals(build: Build) -> None:
    one = build(FieldEqualsFilter, field="status", value="active")
    assert one.reason_to_drop(change(status="active")) is None
    assert one.reason_to_drop(change(status="lapsed")) == "field 'status' is 'lapsed', not 'active'"
    assert one.reason_to_drop(change()) == "field 'status' is '', not 'active'"

    many = build(FieldEqualsFilter, field="level", value=[1, "2"])
    assert many.reason_to_drop(change(level=1)) is None
    assert many.reason_to_drop(change(level="2")) is None
    assert many.reason_to_drop(change(level=3)) == "field 'level' is '3', not one of '1', '2'"

    negated = build(FieldEqualsFilter, field="status", value="test", negate=True)
    assert negated.reason_to_drop(change(status="active")) is None
    assert (
        negated.reason_to_drop(change(status="test"))
        == "field 'status' is 'test', which is excluded"
    )


def test_field_present(build: Build) -> None:
    present = build(FieldPresentFilter, field="email")
    assert present.reason_to_drop(change(email="a@x.org")) is None
    assert present.reason_to_drop(change()) == "field 'email' is missing"
    assert present.reason_to_drop(change(email=None)) == "field 'email' is empty"
    assert present.reason_to_drop(change(email="  ")) == "field 'email' is empty"


def test_operation_in(build: Build) -> None:
    no_deletes = build(OperationInFilter, operations=["insert", "update"])
    assert no_deletes.reason_to_drop(change(Operation.INSERT)) is None
    assert no_deletes.reason_to_drop(change(Operation.DELETE)) == (
        "operation 'delete' is not one of insert, update"
    )
    with pytest.raises(ValueError, match="operations"):
        build(OperationInFilter, operations=["erase"])


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("strip", "  a b  ", "a b"),
        ("lower", "ADA@X.org", "ada@x.org"),
        ("upper", "ab", "AB"),
        ("title", "ada lovelace", "Ada Lovelace"),
        ("digits", "AB-123 45", "12345"),
        ("int", " 42 ", 42),
        ("int", "42.0", 42),
        ("int", 7.0, 7),
        ("int", Decimal("8"), 8),
        ("float", "3.5", 3.5),
        ("float", 2, 2.0),
        ("bool", "Yes", True),
        ("bool", "off", False),
        ("bool", 0, False),
        ("date", "2026-03-05", "2026-03-05"),
        ("date", "2026-03-05T10:00:00Z", "2026-03-05"),
        ("date", datetime(2026, 3, 5, 23, tzinfo=UTC), "2026-03-05"),
        ("date", date(2026, 3, 5), "2026-03-05"),
        ("empty_to_none", "   ", None),
        ("empty_to_none", "x", "x"),
        ("empty_to_none", 0, 0),
        ("phone_digits", "+1 (555) 010-9999", "15550109999"),
    ],
)
def test_converters(name: str, value: Any, expected: Any) -> None:
    result = CONVERTERS[name](value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("strip", ["a"], "strip needs text, not list ['a']"),
        ("lower", None, "lower needs text, not NoneType None"),
        ("digits", "abc", "'abc' has no digits"),
        ("int", "4.5", "'4.5' is not a whole number"),
        ("int", "forty", "'forty' is not a whole number"),
        ("int", 4.5, "4.5 is not a whole number"),
        ("int", True, "True is a yes/no value, not a number"),
        ("int", "nan", "'nan' is not a whole number"),
        ("float", "3,5", "'3,5' is not a number"),
        ("float", "inf", "'inf' is not a finite number"),
        ("bool", "maybe", "'maybe' is not yes or no"),
        ("bool", 2, "2 is not yes or no"),
        ("date", "03/05/2026", "'03/05/2026' is not an ISO date (YYYY-MM-DD)"),
        ("date", "2026-02-30", "'2026-02-30' is not an ISO date"),
        ("phone_digits", "12-34", "'12-34' does not look like a phone number (4 digits"),
    ],
)
def test_converters_reject_bad_input_clearly(name: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        CONVERTERS[name](value)
