"""Filters: keep or drop changes by a field's value or by their operation."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncframe.components import ComponentContext, Filter
from syncframe.records import Change, Operation

__all__ = [
    "FieldEqualsFilter",
    "FieldEqualsOptions",
    "FieldPresentFilter",
    "FieldPresentOptions",
    "OperationInFilter",
    "OperationInOptions",
]


def _text(value: Any) -> str:
    # None and "" are the same here: both mean "no value".
    return "" if value is None else value if isinstance(value, str) else str(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldEqualsOptions(_Strict):
    """Options of the ``field_equals`` filter."""

    field: str = Field(description="The field to test.")
    value: list[str] = Field(
        min_length=1, description="The value, or a list of values, that keeps a change."
    )
    negate: bool = Field(False, description="Drop the changes that match instead of keeping them.")

    @field_validator("value", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_text(v) for v in value]
        return [_text(value)]


class FieldEqualsFilter(Filter[FieldEqualsOptions]):
    """Keeps the changes whose field equals the value (or one of the values), compared as text.

    With ``negate`` it drops them instead and keeps the rest. A missing field equals "".
    """

    Options: ClassVar[type[BaseModel]] = FieldEqualsOptions

    def __init__(self, context: ComponentContext, options: FieldEqualsOptions) -> None:
        super().__init__(context, options)
        self._values = frozenset(self.options.value)
        shown = self.options.value
        self._wanted = (
            repr(shown[0]) if len(shown) == 1 else "one of " + ", ".join(map(repr, shown))
        )

    def reason_to_drop(self, change: Change) -> str | None:
        name = self.options.field
        value = _text(change.fields.get(name))
        if (value in self._values) != self.options.negate:
            return None
        if self.options.negate:
            return f"field {name!r} is {value!r}, which is excluded"
        return f"field {name!r} is {value!r}, not {self._wanted}"


class FieldPresentOptions(_Strict):
    """Options of the ``field_present`` filter."""

    field: str = Field(description="The field that must have a value.")


class FieldPresentFilter(Filter[FieldPresentOptions]):
    """Drops the changes in which the field is missing, empty or only blanks."""

    Options: ClassVar[type[BaseModel]] = FieldPresentOptions

    def reason_to_drop(self, change: Change) -> str | None:
        name = self.options.field
        if name not in change.fields:
            return f"field {name!r} is missing"
        if not _text(change.fields[name]).strip():
            return f"field {name!r} is empty"
        return None


class OperationInOptions(_Strict):
    """Options of the ``operation_in`` filter."""

    operations: list[Operation] = Field(
        min_length=1, description="The operations kept: insert, update and/or delete."
    )


class OperationInFilter(Filter[OperationInOptions]):
    """Keeps the changes whose operation is one of those listed (e.g. no deletes)."""

    Options: ClassVar[type[BaseModel]] = OperationInOptions

    def reason_to_drop(self, change: Change) -> str | None:
        if change.operation in self.options.operations:
            return None
        kept = ", ".join(op.value for op in self.options.operations)
        return f"operation {change.operation.value!r} is not one of {kept}"
