"""Pairing and comparing the records of two systems for ``syncframe align`` (no I/O here).

Side A is what a flow A -> B reads, already mapped to B's field names by that flow's mapping;
side B is what the flow B -> A reads, as read. Records are paired key by key, in the order of
the flow's ``key_cascade`` keys (the constituent id, then the email, say), each key only among
the records no earlier key paired. A key value that several records of one side share is
ambiguous: those records are reported and never paired or written ("refusing to guess", as the
matcher does). Paired records are compared field by field as text (``None`` == ``""``; an email
without case; a pairing key with its ``normalize``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from syncframe.records import Change

__all__ = [
    "NORMALIZERS",
    "Ambiguity",
    "Comparison",
    "FieldDifference",
    "Pair",
    "PairingKey",
    "ReportRow",
    "RowKind",
    "SideRecord",
    "Unpaired",
    "compare_sides",
    "comparison_rows",
    "field_universe",
    "same_value",
    "text_of",
]

_NOT_DIGIT: Final = re.compile(r"\D+")

#: The ``normalize`` choices of the core ``key_cascade`` matcher, with the same meaning.
NORMALIZERS: Final[dict[str, Callable[[str], str]]] = {
    "none": lambda value: value,
    "strip": lambda value: value.strip(),
    "lower": lambda value: value.strip().lower(),
    "digits": lambda value: _NOT_DIGIT.sub("", value),
}


def text_of(value: Any) -> str:
    """A value as the report shows and compares it: ``None`` is ``""``, a list its items joined
    with ``", "`` (Mailchimp tags), anything else its ``str``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(text_of(item) for item in value)
    return str(value)


def _is_email(name: str) -> bool:
    return name.lower().endswith("email")


def same_value(name: str, a: Any, b: Any, normalize: str = "none") -> bool:
    """Whether field ``name`` holds the same value on both sides: as text, ``None`` equal to
    ``""``, an email field (``email``, ``...email``) without case, and ``normalize`` (a
    pairing key's) applied to both."""
    left, right = text_of(a), text_of(b)
    if _is_email(name):
        left, right = left.casefold(), right.casefold()
    normal = NORMALIZERS[normalize]
    return normal(left) == normal(right)


@dataclass(frozen=True, slots=True)
class PairingKey:
    """One key of the cascade: the mapped A record's ``a_field`` equals the B record's
    ``b_field`` after ``normalize`` (the ``source`` / ``target`` of a ``key_cascade`` key)."""

    a_field: str
    b_field: str
    normalize: str = "none"

    @property
    def label(self) -> str:
        """How the report names the key: ``email``, or ``a -> b`` when the names differ."""
        return self.a_field if self.a_field == self.b_field else f"{self.a_field} -> {self.b_field}"


@dataclass(slots=True)
class SideRecord:
    """One record of one side: its key in its system (what a sink takes as the target), the
    change as the source read it, and its fields in B's names (A: mapped by the flow)."""

    key: str
    change: Change
    fields: dict[str, Any]

    def value(self, name: str) -> Any:
        """The field's value, else the record key of that name (a Salesforce ``id``), else
        ``None``."""
        if name in self.fields:
            return self.fields[name]
        return self.change.keys.get(name)


@dataclass(frozen=True, slots=True)
class FieldDifference:
    """A field whose values differ within a pair (values as text)."""

    field: str
    a_value: str
    b_value: str


@dataclass(slots=True)
class Pair:
    """An A record and the B record it is, found by ``matched_on`` (``email ann@x.org``)."""

    a: SideRecord
    b: SideRecord
    matched_on: str
    differences: list[FieldDifference] = field(default_factory=list)


@dataclass(slots=True)
class Unpaired:
    """A record with no counterpart on the other side, and what was searched for."""

    record: SideRecord
    reason: str


@dataclass(slots=True)
class Ambiguity:
    """Records sharing one key value where one record per side was wanted."""

    key: PairingKey
    value: str
    a: list[SideRecord]
    b: list[SideRecord]

    @property
    def reason(self) -> str:
        return (
            f"{len(self.a)} record{'s' if len(self.a) != 1 else ''} in A and {len(self.b)} in B "
            f"share {self.key.label} {self.value}; refusing to guess"
        )


@dataclass(slots=True)
class Comparison:
    """The outcome of comparing two sides."""

    fields: list[str]
    pairs: list[Pair] = field(default_factory=list)
    only_in_a: list[Unpaired] = field(default_factory=list)
    only_in_b: list[Unpaired] = field(default_factory=list)
    ambiguous: list[Ambiguity] = field(default_factory=list)

    @property
    def identical(self) -> list[Pair]:
        return [p for p in self.pairs if not p.differences]

    @property
    def differing(self) -> list[Pair]:
        return [p for p in self.pairs if p.differences]

    @property
    def ambiguous_records(self) -> int:
        return sum(len(a.a) + len(a.b) for a in self.ambiguous)


def field_universe(records: Iterable[SideRecord]) -> list[str]:
    """Every field name some record of a side holds, in order of first appearance.

    A side's fields, not a record's: a Mailchimp member without a last name leaves ``LNAME``
    out of its change, and must still be compared on ``last_name``.
    """
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record.fields))
    return list(names)


def compare_sides(
    a: Sequence[SideRecord],
    b: Sequence[SideRecord],
    keys: Sequence[PairingKey],
    fields: Sequence[str] | None = None,
) -> Comparison:
    """Pair ``a`` with ``b`` by ``keys`` and compare the pairs on ``fields`` (default: the
    fields both sides hold, in A's order, and the pairing keys named alike on both sides even
    when no B record holds one yet: an audience without any ``CONSID`` must still get them)."""
    if fields is None:
        b_names = set(field_universe(b)) | {k.b_field for k in keys if k.a_field == k.b_field}
        fields = [name for name in field_universe(a) if name in b_names]
    comparison = Comparison(fields=list(fields))
    normalize_of = {k.a_field: k.normalize for k in keys if k.a_field == k.b_field}
    open_a: dict[int, SideRecord] = dict(enumerate(a))
    open_b: dict[int, SideRecord] = dict(enumerate(b))
    searched_a: dict[int, list[str]] = {}
    searched_b: dict[int, list[str]] = {}
    for key in keys:
        normal = NORMALIZERS[key.normalize]
        by_value_a = _index(open_a, key.a_field, normal, searched_a, key.b_field)
        by_value_b = _index(open_b, key.b_field, normal, searched_b, key.a_field)
        for value in dict.fromkeys([*by_value_a, *by_value_b]):
            found_a, found_b = by_value_a.get(value, []), by_value_b.get(value, [])
            if len(found_a) > 1 or len(found_b) > 1:
                comparison.ambiguous.append(
                    Ambiguity(
                        key, value, [open_a[i] for i in found_a], [open_b[i] for i in found_b]
                    )
                )
            elif found_a and found_b:
                pair = Pair(open_a[found_a[0]], open_b[found_b[0]], f"{key.label} {value}")
                pair.differences = _differences(pair, comparison.fields, normalize_of)
                comparison.pairs.append(pair)
            else:
                continue
            for i in found_a:
                del open_a[i]
            for i in found_b:
                del open_b[i]
    for i, record in open_a.items():
        comparison.only_in_a.append(Unpaired(record, _not_found("B", searched_a.get(i), keys)))
    for i, record in open_b.items():
        comparison.only_in_b.append(Unpaired(record, _not_found("A", searched_b.get(i), keys)))
    return comparison


def _index(
    records: Mapping[int, SideRecord],
    name: str,
    normal: Callable[[str], str],
    searched: dict[int, list[str]],
    other_name: str,
) -> dict[str, list[int]]:
    """The records by their normalised value of ``name`` (records without one are left out);
    notes on each what was searched for, for the "only in" reason."""
    by_value: dict[str, list[int]] = {}
    for i, record in records.items():
        value = normal(text_of(record.value(name)))
        if value:
            by_value.setdefault(value, []).append(i)
            searched.setdefault(i, []).append(f"{other_name} {value}")
    return by_value


def _not_found(other: str, searched: list[str] | None, keys: Sequence[PairingKey]) -> str:
    if searched:
        return f"no record in {other} with {' or '.join(searched)}"
    return f"no value for any pairing key ({', '.join(k.label for k in keys)})"


def _differences(
    pair: Pair, fields: Sequence[str], normalize_of: Mapping[str, str]
) -> list[FieldDifference]:
    found = []
    for name in fields:
        a_value, b_value = pair.a.fields.get(name), pair.b.fields.get(name)
        if not same_value(name, a_value, b_value, normalize_of.get(name, "none")):
            found.append(FieldDifference(name, text_of(a_value), text_of(b_value)))
    return found


class RowKind(StrEnum):
    """The ``kind`` column of the report."""

    DIFFERS = "differs"
    ONLY_IN_A = "only_in_a"
    ONLY_IN_B = "only_in_b"
    AMBIGUOUS = "ambiguous"
    REJECTED = "rejected"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One row of the report (console table and CSV)."""

    kind: RowKind
    a_key: str = ""
    b_key: str = ""
    field: str = ""
    a_value: str = ""
    b_value: str = ""
    reason: str = ""

    #: The CSV columns, in order.
    COLUMNS = ("kind", "a_key", "b_key", "field", "a_value", "b_value", "reason")

    def as_csv(self) -> dict[str, str]:
        return {
            "kind": self.kind.value,
            "a_key": self.a_key,
            "b_key": self.b_key,
            "field": self.field,
            "a_value": self.a_value,
            "b_value": self.b_value,
            "reason": self.reason,
        }


def comparison_rows(comparison: Comparison) -> list[ReportRow]:
    """The report's rows: one per difference of each differing pair, one per record only on
    one side, one per record involved in an ambiguity."""
    rows: list[ReportRow] = []
    for pair in comparison.differing:
        for difference in pair.differences:
            rows.append(
                ReportRow(
                    RowKind.DIFFERS,
                    pair.a.key,
                    pair.b.key,
                    difference.field,
                    difference.a_value,
                    difference.b_value,
                    f"paired on {pair.matched_on}",
                )
            )
    for unpaired in comparison.only_in_a:
        rows.append(ReportRow(RowKind.ONLY_IN_A, a_key=unpaired.record.key, reason=unpaired.reason))
    for unpaired in comparison.only_in_b:
        rows.append(ReportRow(RowKind.ONLY_IN_B, b_key=unpaired.record.key, reason=unpaired.reason))
    for ambiguity in comparison.ambiguous:
        for record in ambiguity.a:
            rows.append(
                ReportRow(
                    RowKind.AMBIGUOUS,
                    a_key=record.key,
                    field=ambiguity.key.a_field,
                    a_value=text_of(record.value(ambiguity.key.a_field)),
                    reason=ambiguity.reason,
                )
            )
        for record in ambiguity.b:
            rows.append(
                ReportRow(
                    RowKind.AMBIGUOUS,
                    b_key=record.key,
                    field=ambiguity.key.b_field,
                    b_value=text_of(record.value(ambiguity.key.b_field)),
                    reason=ambiguity.reason,
                )
            )
    return rows
