"""``POST /api/Contact/Query``: the documented query body, evaluated over the contact store.

Body: ``{"groups": [{"conditions": [{"parameter", "operator", "value", "secondaryValue",
"values"}]}], "sortBy", "descending"}``. Conditions of a group must all hold; a contact matches
when any group holds (no groups: every contact). The supported parameters and operators are in
:data:`PARAMETERS`; anything else is refused with a message naming the condition.

Results are cached per (query, store version), so paging through a large result with
``skip``/``take`` costs one evaluation, and "Last Modified Date" lower bounds bisect the
store's modification index instead of scanning every contact.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from virtuous_simulator._common import BadRequest, dumps, parse_time
from virtuous_simulator.contacts import Contact, ContactStore

__all__ = ["MAX_TAKE", "PARAMETERS", "SORTS", "ContactQuery", "QueryBody"]

#: The API's page size limit ("Take (1-500). API maximum is 500").
MAX_TAKE: Final = 500

_DATE_OPERATORS: Final = ("Is", "Before", "After", "OnOrBefore", "OnOrAfter", "Between")
_TEXT_OPERATORS: Final = ("Is", "IsNot", "IsSet", "IsNotSet")
#: parameter -> its operators (names compare without case and spaces).
PARAMETERS: Final[dict[str, tuple[str, ...]]] = {
    "Last Modified Date": _DATE_OPERATORS,
    "Create Date": _DATE_OPERATORS,
    "Reference Source": _TEXT_OPERATORS,
    "Reference Id": _TEXT_OPERATORS,
    "Contact Type": ("Is", "IsNot"),
    "Email Address": ("Is", "IsSet", "IsNotSet"),
    "Contact Id": ("Is", "GreaterThan", "LessThan"),
}
SORTS: Final[dict[str, Callable[[Contact], Any]]] = {
    "Id": lambda c: c.id,
    "Last Modified Date": lambda c: (c.modified_at, c.version),
    "Create Date": lambda c: (c.created_at, c.id),
    "Name": lambda c: (c.name.casefold(), c.id),
}
_CACHED_QUERIES: Final = 4
_US_DATE: Final = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def _text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Value = Annotated[str | None, BeforeValidator(_text)]


class _In(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Condition(_In):
    parameter: str
    operator: str
    value: Value = None
    secondary_value: Value = None
    values: list[Value] | None = None


class Group(_In):
    conditions: list[Condition] = Field(default_factory=list)


class QueryBody(_In):
    groups: list[Group] = Field(default_factory=list)
    sort_by: str | None = None
    descending: bool = False


def _key(name: str) -> str:
    return name.replace(" ", "").casefold()


_PARAMETER_BY_KEY: Final = {_key(name): name for name in PARAMETERS}
_SORT_BY_KEY: Final = {_key(name): name for name in SORTS}


@dataclass(frozen=True, slots=True)
class _Compiled:
    test: Callable[[Contact], bool]
    #: A timestamp every match was last modified at or after (to bisect the index), or None.
    modified_from: float | None


def _day_or_instant(value: str, where: str) -> tuple[datetime, datetime | None]:
    """(start, end of day) for a date; (instant, None) for a date and time."""
    text = value.strip()
    us = _US_DATE.fullmatch(text)
    try:
        if us is not None:
            day = date(int(us[3]), int(us[1]), int(us[2]))
        elif len(text) == 10:
            day = date.fromisoformat(text)
        else:
            return parse_time(text, where), None
    except ValueError:
        raise BadRequest(f"{where}: {value!r} is not a date") from None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _date_condition(attr: str, operator: str, condition: Condition, where: str) -> _Compiled:
    if condition.value is None:
        raise BadRequest(f"{where}.value: {operator} needs a value")
    start, day_end = _day_or_instant(condition.value, f"{where}.value")

    def of(contact: Contact) -> datetime:
        moment: datetime = getattr(contact, attr)
        return moment

    lower: datetime | None
    if operator == "Between":
        if condition.secondary_value is None:
            raise BadRequest(f"{where}.secondaryValue: Between needs a secondaryValue")
        end, end_day = _day_or_instant(condition.secondary_value, f"{where}.secondaryValue")
        lower = start

        def test(contact: Contact) -> bool:
            moment = of(contact)
            if end_day is not None:  # a date includes its whole day
                return start <= moment < end_day
            return start <= moment <= end
    elif day_end is not None:  # whole days
        after = day_end
        lower = {"Is": start, "After": after, "OnOrAfter": start}.get(operator)
        test = {
            "Is": lambda c: start <= of(c) < after,
            "Before": lambda c: of(c) < start,
            "After": lambda c: of(c) >= after,
            "OnOrBefore": lambda c: of(c) < after,
            "OnOrAfter": lambda c: of(c) >= start,
        }[operator]
    else:
        lower = start if operator in ("Is", "After", "OnOrAfter") else None
        test = {
            "Is": lambda c: of(c) == start,
            "Before": lambda c: of(c) < start,
            "After": lambda c: of(c) > start,
            "OnOrBefore": lambda c: of(c) <= start,
            "OnOrAfter": lambda c: of(c) >= start,
        }[operator]
    bound = lower.timestamp() if lower is not None and attr == "modified_at" else None
    return _Compiled(test, bound)


def _text_condition(
    get: Callable[[Contact], str | None], operator: str, condition: Condition, where: str
) -> _Compiled:
    if operator == "IsSet":
        return _Compiled(lambda c: get(c) is not None, None)
    if operator == "IsNotSet":
        return _Compiled(lambda c: get(c) is None, None)
    if condition.value is None:
        raise BadRequest(f"{where}.value: {operator} needs a value")
    wanted = condition.value.casefold()

    def equal(contact: Contact) -> bool:
        value = get(contact)
        return value is not None and value.casefold() == wanted

    if operator == "Is":
        return _Compiled(equal, None)
    return _Compiled(lambda c: not equal(c), None)


def _compile(condition: Condition, where: str) -> _Compiled:
    parameter = _PARAMETER_BY_KEY.get(_key(condition.parameter))
    if parameter is None:
        raise BadRequest(
            f"{where}.parameter: {condition.parameter!r} is not a query parameter this API "
            f"supports ({', '.join(PARAMETERS)})"
        )
    operators = {_key(op): op for op in PARAMETERS[parameter]}
    operator = operators.get(_key(condition.operator))
    if operator is None:
        raise BadRequest(
            f"{where}.operator: {condition.operator!r} is not an operator of {parameter!r} "
            f"({', '.join(PARAMETERS[parameter])})"
        )
    if parameter == "Last Modified Date":
        return _date_condition("modified_at", operator, condition, where)
    if parameter == "Create Date":
        return _date_condition("created_at", operator, condition, where)
    if parameter == "Reference Source":
        return _text_condition(lambda c: c.reference_source, operator, condition, where)
    if parameter == "Reference Id":
        return _text_condition(lambda c: c.reference_id, operator, condition, where)
    if parameter == "Contact Type":
        return _text_condition(lambda c: c.contact_type, operator, condition, where)
    if parameter == "Email Address":
        if operator == "Is":
            if condition.value is None:
                raise BadRequest(f"{where}.value: Is needs a value")
            wanted = condition.value.casefold()
            return _Compiled(lambda c: any(e.casefold() == wanted for e in c.emails()), None)
        return _text_condition(lambda c: c.primary_value("Email"), operator, condition, where)
    # Contact Id
    try:
        number = int(condition.value or "")
    except ValueError:
        raise BadRequest(f"{where}.value: {condition.value!r} is not a contact id") from None
    tests: dict[str, Callable[[Contact], bool]] = {
        "Is": lambda c: c.id == number,
        "GreaterThan": lambda c: c.id > number,
        "LessThan": lambda c: c.id < number,
    }
    return _Compiled(tests[operator], None)


class ContactQuery:
    """Evaluates query bodies over one :class:`ContactStore`, caching recent results."""

    def __init__(self, store: ContactStore) -> None:
        self.store = store
        self._cache: OrderedDict[tuple[bytes, int], list[int]] = OrderedDict()

    def matching_ids(self, body: QueryBody) -> list[int]:
        """Ids of every matching contact, in the query's order."""
        key = (dumps(body.model_dump()), self.store.version)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        ids = self._evaluate(body)
        self._cache[key] = ids
        while len(self._cache) > _CACHED_QUERIES:
            self._cache.popitem(last=False)
        return ids

    def page(self, body: QueryBody, skip: int, take: int) -> tuple[list[Contact], int]:
        """One page of matches and the number of all matches."""
        ids = self.matching_ids(body)
        contacts = self.store.contacts
        return [contacts[i] for i in ids[skip : skip + take]], len(ids)

    def _evaluate(self, body: QueryBody) -> list[int]:
        sort_name = "Id"
        if body.sort_by is not None:
            found = _SORT_BY_KEY.get(_key(body.sort_by))
            if found is None:
                raise BadRequest(
                    f"sortBy: {body.sort_by!r} is not a sort this API supports ({', '.join(SORTS)})"
                )
            sort_name = found
        groups = [
            [_compile(c, f"groups.{g}.conditions.{n}") for n, c in enumerate(group.conditions)]
            for g, group in enumerate(body.groups)
        ]
        candidates: Iterable[Contact]
        bounds = [
            max((c.modified_from for c in group if c.modified_from is not None), default=None)
            for group in groups
        ]
        if groups and all(bound is not None for bound in bounds):
            candidates = self.store.modified_since(min(b for b in bounds if b is not None))
        else:
            candidates = self.store.contacts.values()
        if groups:
            matches = [
                contact
                for contact in candidates
                if any(all(c.test(contact) for c in group) for group in groups)
            ]
        else:
            matches = list(candidates)
        matches.sort(key=SORTS[sort_name], reverse=body.descending)
        return [contact.id for contact in matches]

    def clear(self) -> None:
        self._cache.clear()
