"""Field lists, projection and value conversion shared by the web-service operations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from luminate_simulator._faults import LuminateFault
from luminate_simulator.schema import FieldDef, RecordType, field_paths

__all__ = [
    "Record",
    "Selection",
    "coerce_value",
    "parse_selection",
    "project",
    "render_json",
    "value_at",
]

Record = dict[str, Any]
# field name -> the selected part of it: None = the whole field, else the selected children.
Selection = dict[str, "Selection | None"]

MIN_PAGE = 1


@cache
def _positions(record_type: RecordType) -> dict[str, int]:
    return {path: index for index, path in enumerate(field_paths(record_type))}


def parse_selection(
    record_type: RecordType, fields: Sequence[str], *, ordered: bool, wildcard: bool = False
) -> Selection:
    """Check a requested field list and turn it into a :data:`Selection`.

    ``ordered``: the fields must follow the WSDL order (``GetIncremental*``, ``Find``), as the
    real service demands; ``wildcard``: ``*`` and ``Complex.*`` are allowed (``Query``).
    Raises ``InvalidMessageFault`` naming the offending field.
    """
    if not fields:
        raise LuminateFault(
            "InvalidMessageFault",
            f"At least one Field is required for record type {record_type.name}.",
        )
    positions = _positions(record_type)
    selection: Selection = {}
    previous: tuple[int, str] | None = None
    for raw in fields:
        path = raw.strip()
        if wildcard and path == "*":
            return {f.name: None for f in record_type.fields}
        if wildcard and path.endswith(".*"):
            path = path[:-2]
        position = positions.get(path)
        if position is None:
            raise LuminateFault(
                "InvalidMessageFault",
                f"Invalid field '{raw}' for record type {record_type.name}.",
            )
        if ordered and previous is not None and position <= previous[0]:
            raise LuminateFault(
                "InvalidMessageFault",
                f"Field '{path}' is out of order for record type {record_type.name}: fields must "
                f"be listed once each in WSDL order, and '{path}' comes before '{previous[1]}'.",
            )
        previous = (position, path)
        _add_path(selection, path.split("."))
    return selection


def _add_path(selection: Selection, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head in selection and selection[head] is None:
        return  # the whole field is already selected
    if not rest:
        selection[head] = None
        return
    child = selection.get(head)
    if child is None:
        child = {}
        selection[head] = child
    _add_path(child, rest)


def project(
    fields: tuple[FieldDef, ...], record: Mapping[str, Any], selection: Selection
) -> Record:
    """The selected fields of ``record``, in schema order; absent values are ``None``."""
    out: Record = {}
    for definition in fields:
        if definition.name not in selection:
            continue
        sub = selection[definition.name]
        value = record.get(definition.name)
        # dict first: the abstract Mapping check is slow and this runs for every field served.
        if definition.children is not None and (type(value) is dict or isinstance(value, Mapping)):
            out[definition.name] = project(
                definition.children, value, sub if sub is not None else _everything(definition)
            )
        else:
            out[definition.name] = value
    return out


def _everything(definition: FieldDef) -> Selection:
    assert definition.children is not None
    return {child.name: None for child in definition.children}


def value_at(record: Mapping[str, Any], path: str) -> Any:
    """The value at a dot-notation path of a nested record (None when absent)."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def coerce_value(definition: FieldDef, raw: object, where: str) -> Any:
    """Convert ``raw`` (text from a request or JSON from the admin API) to the field's type.

    Raises ``ValueError`` with a message starting with ``where`` (the field and record).
    """
    if raw is None:
        return None
    kind = definition.xsd_type
    if kind in ("long", "int"):
        if isinstance(raw, bool):
            raise ValueError(f"{where} must be a whole number, not {raw!r}")
        if isinstance(raw, int):
            return raw
        text = str(raw).strip()
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{where} must be a whole number, not {raw!r}") from None
    if kind == "decimal":
        if isinstance(raw, bool | float):
            # floats lose cents: money comes as text or Decimal
            raise ValueError(f'{where} must be a decimal given as text (e.g. "25.00"), not {raw!r}')
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ValueError(f"{where} must be a decimal number, not {raw!r}") from None
        if not number.is_finite():
            raise ValueError(f"{where} must be a finite decimal number, not {raw!r}")
        return number
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{where} must be true or false, not {raw!r}")
    if kind == "dateTime":
        if isinstance(raw, datetime):
            when = raw
        else:
            text = str(raw).strip()
            try:
                when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"{where} must be an ISO 8601 date-time, not {raw!r}") from None
        if when.tzinfo is None:
            raise ValueError(f"{where} must carry a timezone (e.g. 2026-01-01T09:00:00Z)")
        return when.astimezone(UTC)
    if kind == "string":
        if not isinstance(raw, str):
            raise ValueError(f"{where} must be text, not {type(raw).__name__}")
        if definition.max_length is not None and len(raw) > definition.max_length:
            raise ValueError(f"{where} is longer than {definition.max_length} characters")
        return raw
    raise ValueError(f"{where} is a {kind} element, not a single value")


def render_json(value: Any) -> Any:
    """A record or value as JSON-able data (Decimal -> str, datetime -> ISO 8601)."""
    if isinstance(value, Mapping):
        return {key: render_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_json(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value
