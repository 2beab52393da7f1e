"""The Raiser's Edge database: constituents, gifts and pledges, code tables and RE users, with
the indexes the query interface and the import need.

Every change goes through a method here, so the indexes (Import ID, Constituent ID, alias
"Luminate ID", gift attribute "Luminate Online Gift ID") and the change order stay right, and
every change moves the record's ``date_changed`` to the simulator clock's time.

Lists ordered by ``(date_changed, import_id)`` are built on the first query after a change and
kept until the next change: a connector paging through 100,000 constituents sorts them once. The
database is not thread-safe; the simulator holds its lock around every call.
"""

from __future__ import annotations

import bisect
import hmac
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, Final, TypeVar

from pydantic import SecretStr

from raisers_edge_simulator.records import (
    CODE_TABLES,
    CONSTITUENT_IMPORT_ID,
    FIRST_CONSTITUENT_ID,
    GIFT_IMPORT_ID,
    LUMINATE_GIFT_ID,
    PAYMENT_TYPES,
    Address,
    CodeEntry,
    Constituent,
    Gift,
    Phone,
    iso,
)
from syncframe.clock import Clock

__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_USER",
    "ChangePage",
    "DatabaseError",
    "NotFound",
    "RaisersEdgeDatabase",
]

#: The RE user a fresh database has (RE's own default supervisor account).
DEFAULT_USER: Final = "supervisor"
DEFAULT_PASSWORD: Final = "admin"

_Record = TypeVar("_Record", Constituent, Gift)


class DatabaseError(ValueError):
    """A change the database refuses (a duplicate id, an unknown code...): the message names the
    field and the value."""


class NotFound(DatabaseError):
    """No record with the id asked for."""


@dataclass(frozen=True, slots=True)
class ChangePage:
    """One page of a list ordered by ``(date_changed, import_id)`` and the list's total."""

    records: Sequence[Any]
    total: int


def _change_key(record: Constituent | Gift) -> tuple[datetime, str]:
    return (record.date_changed, record.import_id)


def _in_change_order(records: Iterable[_Record]) -> list[_Record]:
    """``records`` ordered by ``(date_changed, import_id)``: two stable sorts on one attribute
    each, which build no key tuples (at 500,000 gifts, twice as fast and no garbage)."""
    by_id = sorted(records, key=attrgetter("import_id"))
    by_id.sort(key=attrgetter("date_changed"))
    return by_id


def _changed_date(record: Constituent | Gift) -> datetime:
    return record.date_changed


def _page(
    order: list[_Record],
    changed_since: datetime | None,
    after_import_id: str | None,
    offset: int,
    limit: int,
    keep: Callable[[_Record], bool] | None,
) -> ChangePage:
    """The records after ``changed_since`` (exclusive; with ``after_import_id``, after the key
    ``(changed_since, after_import_id)``), filtered by ``keep``, from ``offset``."""
    start = 0
    if changed_since is not None:
        if after_import_id is not None:
            start = bisect.bisect_right(order, (changed_since, after_import_id), key=_change_key)
        else:
            start = bisect.bisect_right(order, changed_since, key=_changed_date)
    if keep is None:
        return ChangePage(order[start + offset : start + offset + limit], len(order) - start)
    matching = [record for record in order[start:] if keep(record)]
    return ChangePage(matching[offset : offset + limit], len(matching))


class RaisersEdgeDatabase:
    """One RE 7 database in memory."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """Back to a fresh database: no records, empty code tables, only the default user."""
        self.constituents: dict[str, Constituent] = {}
        self.by_constituent_id: dict[str, Constituent] = {}
        self.by_luminate_id: dict[str, Constituent] = {}
        self.gifts: dict[str, Gift] = {}
        self.gifts_by_luminate_id: dict[str, Gift] = {}
        self.code_tables: dict[str, dict[str, CodeEntry]] = {table: {} for table in CODE_TABLES}
        self.users: dict[str, SecretStr] = {}
        self._next_constituent = 1
        self._next_constituent_id = FIRST_CONSTITUENT_ID
        self._next_gift = 1
        self._constituent_order: list[Constituent] | None = None
        self._gift_order: list[Gift] | None = None
        self.add_user(DEFAULT_USER, DEFAULT_PASSWORD)

    # ---- ids -----------------------------------------------------------------------------------

    def new_constituent_import_id(self) -> str:
        while True:
            import_id = f"00001-079-{self._next_constituent:07d}"
            self._next_constituent += 1
            if import_id not in self.constituents:
                return import_id

    def new_constituent_id(self) -> str:
        while True:
            constituent_id = str(self._next_constituent_id)
            self._next_constituent_id += 1
            if constituent_id not in self.by_constituent_id:
                return constituent_id

    def new_gift_import_id(self) -> str:
        while True:
            import_id = f"00001-145-{self._next_gift:07d}"
            self._next_gift += 1
            if import_id not in self.gifts:
                return import_id

    # ---- users ---------------------------------------------------------------------------------

    def add_user(self, name: str, password: str | SecretStr) -> None:
        """Add an RE user (or give an existing one a new password)."""
        if not name:
            raise DatabaseError("name: an RE user needs a name")
        secret = password if isinstance(password, SecretStr) else SecretStr(password)
        self.users[name] = secret

    def check_login(self, name: str, password: str) -> bool:
        secret = self.users.get(name)
        if secret is None:
            # Compare anyway, so an unknown name takes as long as a wrong password.
            hmac.compare_digest(password.encode(), b"-")
            return False
        return hmac.compare_digest(password.encode(), secret.get_secret_value().encode())

    # ---- code tables ---------------------------------------------------------------------------

    def set_code(self, table: str, code: str, description: str, active: bool = True) -> CodeEntry:
        """Add an entry to a code table, or change the description or active flag of one."""
        entries = self._table(table)
        if not code.strip():
            raise DatabaseError(f"{table}: a code table entry needs a code")
        entry = CodeEntry(sys.intern(code), description, active)
        entries[entry.code] = entry
        return entry

    def code_entries(self, table: str) -> list[CodeEntry]:
        """A table's entries, ordered by code."""
        entries = self._table(table)
        return [entries[code] for code in sorted(entries)]

    def code(self, table: str, code: str) -> CodeEntry | None:
        return self._table(table).get(code)

    def _table(self, table: str) -> dict[str, CodeEntry]:
        entries = self.code_tables.get(table)
        if entries is None:
            raise NotFound(
                f"table: {table!r} is not a code table (known: {', '.join(CODE_TABLES)})"
            )
        return entries

    def table_name(self, name: str) -> str:
        """The table's own spelling of ``name`` (compared without case)."""
        for table in CODE_TABLES:
            if table.casefold() == name.casefold():
                return table
        raise NotFound(f"table: {name!r} is not a code table (known: {', '.join(CODE_TABLES)})")

    # ---- constituents --------------------------------------------------------------------------

    def constituent(self, import_id: str) -> Constituent:
        found = self.constituents.get(import_id)
        if found is None:
            raise NotFound(f"import_id: there is no constituent with Import ID {import_id!r}")
        return found

    def add_constituent(
        self,
        *,
        import_id: str | None = None,
        constituent_id: str | None = None,
        luminate_id: str | None = None,
        first_name: str | None = None,
        middle_name: str | None = None,
        last_name: str | None = None,
        addresses: Sequence[Address] = (),
        phones: Sequence[Phone] = (),
        constituent_codes: Sequence[str] = (),
        is_solicitor: bool = False,
        inactive: bool = False,
        requests_no_email: bool = False,
        date_added: datetime | None = None,
        date_changed: datetime | None = None,
    ) -> Constituent:
        """Add a constituent; ids not given are the next of their sequence."""
        if import_id is not None:
            if import_id in self.constituents:
                raise DatabaseError(f"import_id: Import ID {import_id!r} is already used")
            match = CONSTITUENT_IMPORT_ID.fullmatch(import_id)
            if match is not None:
                self._next_constituent = max(self._next_constituent, int(match[1]) + 1)
        if constituent_id is not None:
            if constituent_id in self.by_constituent_id:
                raise DatabaseError(
                    f"constituent_id: Constituent ID {constituent_id!r} is already used"
                )
            if constituent_id.isdigit():
                self._next_constituent_id = max(self._next_constituent_id, int(constituent_id) + 1)
        if luminate_id is not None and luminate_id in self.by_luminate_id:
            raise DatabaseError(
                f"luminate_id: the alias Luminate ID {luminate_id!r} already belongs to "
                f"constituent {self.by_luminate_id[luminate_id].import_id}"
            )
        now = self.clock.now()
        added = date_added or (date_changed if date_changed is not None else now)
        changed = date_changed or added
        if changed < added:
            raise DatabaseError("date_changed: a constituent cannot change before it was added")
        made = Constituent(
            import_id=import_id or self.new_constituent_import_id(),
            constituent_id=constituent_id or self.new_constituent_id(),
            date_added=added,
            date_changed=changed,
            first_name=first_name,
            middle_name=middle_name,
            last_name=last_name,
            luminate_id=luminate_id,
            addresses=_preferred_checked(addresses),
            phones=tuple(phones),
            constituent_codes=tuple(constituent_codes),
            is_solicitor=is_solicitor,
            inactive=inactive,
            requests_no_email=requests_no_email,
        )
        self.constituents[made.import_id] = made
        self.by_constituent_id[made.constituent_id] = made
        if luminate_id is not None:
            self.by_luminate_id[luminate_id] = made
        self._constituent_order = None
        return made

    def stamp(self, constituent: Constituent) -> None:
        """Record that ``constituent`` changed now."""
        constituent.date_changed = self.clock.now()
        self._constituent_order = None

    def edit_constituent(self, constituent: Constituent, changes: dict[str, Any]) -> Constituent:
        """Change fields of a constituent (the keys of ``changes``, each one of the
        constituent's fields) and stamp it. Ids keep their indexes."""
        unknown = set(changes) - _EDITABLE
        if unknown:
            raise DatabaseError(f"{sorted(unknown)[0]}: not a field that can be changed")
        # Every check before the first change: a refused edit changes nothing.
        if "constituent_id" in changes:
            new_id = changes["constituent_id"]
            holder = self.by_constituent_id.get(new_id)
            if holder is not None and holder is not constituent:
                raise DatabaseError(f"constituent_id: Constituent ID {new_id!r} is already used")
        if changes.get("luminate_id") is not None:
            self._check_alias_free(constituent, changes["luminate_id"])
        addresses = _preferred_checked(changes["addresses"]) if "addresses" in changes else None
        if "luminate_id" in changes:
            self.set_luminate_id(constituent, changes["luminate_id"])
        if "constituent_id" in changes:
            del self.by_constituent_id[constituent.constituent_id]
            constituent.constituent_id = changes["constituent_id"]
            self.by_constituent_id[constituent.constituent_id] = constituent
        for name in ("first_name", "middle_name", "last_name"):
            if name in changes:
                setattr(constituent, name, changes[name])
        if addresses is not None:
            constituent.addresses = addresses
        if "phones" in changes:
            constituent.phones = tuple(changes["phones"])
        if "constituent_codes" in changes:
            constituent.constituent_codes = tuple(changes["constituent_codes"])
        for name in ("is_solicitor", "inactive", "requests_no_email"):
            if name in changes:
                setattr(constituent, name, bool(changes[name]))
        self.stamp(constituent)
        return constituent

    def set_luminate_id(self, constituent: Constituent, luminate_id: str | None) -> None:
        """Give ``constituent`` the alias "Luminate ID" (``None`` removes it); not stamped."""
        if luminate_id is not None:
            self._check_alias_free(constituent, luminate_id)
        if constituent.luminate_id is not None:
            self.by_luminate_id.pop(constituent.luminate_id, None)
        constituent.luminate_id = luminate_id
        if luminate_id is not None:
            self.by_luminate_id[luminate_id] = constituent

    def _check_alias_free(self, constituent: Constituent, luminate_id: str) -> None:
        holder = self.by_luminate_id.get(luminate_id)
        if holder is not None and holder is not constituent:
            raise DatabaseError(
                f"luminate_id: the alias Luminate ID {luminate_id!r} already belongs to "
                f"constituent {holder.import_id}"
            )

    def changed_constituents(
        self,
        changed_since: datetime | None = None,
        *,
        after_import_id: str | None = None,
        offset: int = 0,
        limit: int = 500,
    ) -> ChangePage:
        """Constituents ordered by ``(date_changed, import_id)``, after ``changed_since``."""
        if self._constituent_order is None:
            self._constituent_order = _in_change_order(self.constituents.values())
        return _page(self._constituent_order, changed_since, after_import_id, offset, limit, None)

    # ---- gifts ---------------------------------------------------------------------------------

    def gift(self, import_id: str) -> Gift:
        found = self.gifts.get(import_id)
        if found is None:
            raise NotFound(f"import_id: there is no gift with Import ID {import_id!r}")
        return found

    def _referenced(self, field: str, import_id: str) -> Constituent:
        found = self.constituents.get(import_id)
        if found is None:
            raise DatabaseError(f"{field}: there is no constituent with Import ID {import_id!r}")
        return found

    def check_code(self, table: str, code: str | None, *, active_only: bool) -> str | None:
        """``code`` as stored (shared string), or :class:`DatabaseError` when the table does
        not have it (or has it inactive, with ``active_only``)."""
        if code is None:
            return None
        entry = self._table(table).get(code)
        if entry is None:
            raise DatabaseError(f"{table.lower()}: {code!r} is not in the {table} table")
        if active_only and not entry.active:
            raise DatabaseError(f"{table.lower()}: {code!r} is inactive in the {table} table")
        return entry.code

    def add_gift(
        self,
        *,
        constituent_import_id: str,
        type: str,
        amount: Decimal,
        date: date,
        fund: str,
        import_id: str | None = None,
        subtype: str | None = None,
        campaign: str | None = None,
        appeal: str | None = None,
        attributes: Iterable[tuple[str, str]] = (),
        tribute_name: str | None = None,
        solicitor_import_id: str | None = None,
        pledge_import_id: str | None = None,
        balance: Decimal | None = None,
        date_added: datetime | None = None,
        date_changed: datetime | None = None,
        active_codes_only: bool = False,
    ) -> Gift:
        """Add a gift. A ``Pledge`` starts with ``balance`` (default: its amount); a payment
        (``Pay-Cash``, ``Recurring Gift Pay-Cash``) must name the gift it pays, of the same
        constituent, and a ``Pay-Cash`` reduces that pledge's balance."""
        donor = self._referenced("constituent_import_id", constituent_import_id)
        if import_id is not None:
            if import_id in self.gifts:
                raise DatabaseError(f"import_id: Import ID {import_id!r} is already used")
            match = GIFT_IMPORT_ID.fullmatch(import_id)
            if match is not None:
                self._next_gift = max(self._next_gift, int(match[1]) + 1)
        if amount <= 0:
            raise DatabaseError(f"amount: a gift amount must be more than 0, not {amount}")
        pairs = tuple(attributes)
        luminate_gift_id = next((v for k, v in pairs if k == LUMINATE_GIFT_ID), None)
        if luminate_gift_id is not None and luminate_gift_id in self.gifts_by_luminate_id:
            holder = self.gifts_by_luminate_id[luminate_gift_id]
            raise DatabaseError(
                f"attributes: {LUMINATE_GIFT_ID} {luminate_gift_id!r} is already on gift "
                f"{holder.import_id}"
            )
        solicitor = None
        if solicitor_import_id is not None:
            solicitor = self._referenced("solicitor_import_id", solicitor_import_id).import_id
        paid: Gift | None = None
        if type in PAYMENT_TYPES:
            if pledge_import_id is None:
                raise DatabaseError(f"pledge_import_id: a {type} gift must name the gift it pays")
            paid = self.gifts.get(pledge_import_id)
            if paid is None:
                raise DatabaseError(
                    f"pledge_import_id: there is no gift with Import ID {pledge_import_id!r}"
                )
            if paid.type != PAYMENT_TYPES[type]:
                raise DatabaseError(
                    f"pledge_import_id: gift {pledge_import_id} is a {paid.type}, and a {type} "
                    f"pays a {PAYMENT_TYPES[type]}"
                )
            if paid.constituent_import_id != donor.import_id:
                raise DatabaseError(
                    f"pledge_import_id: gift {pledge_import_id} belongs to constituent "
                    f"{paid.constituent_import_id}, not {donor.import_id}"
                )
            if paid.balance is not None and amount > paid.balance:
                raise DatabaseError(
                    f"amount: the payment of {amount} is more than the balance {paid.balance} "
                    f"of pledge {pledge_import_id}"
                )
        elif pledge_import_id is not None:
            raise DatabaseError(f"pledge_import_id: a {type} gift pays no other gift")
        if type == "Pledge":
            balance = amount if balance is None else balance
            if not 0 <= balance <= amount:
                raise DatabaseError(f"balance: {balance} is not between 0 and the amount {amount}")
        elif balance is not None:
            raise DatabaseError(f"balance: only a Pledge has a balance, not a {type}")
        checked_fund = self.check_code("Fund", fund, active_only=active_codes_only)
        assert checked_fund is not None
        now = self.clock.now()
        added = date_added or (date_changed if date_changed is not None else now)
        if date_changed is not None and date_changed < added:
            raise DatabaseError("date_changed: a gift cannot change before it was added")
        made = Gift(
            import_id=import_id or self.new_gift_import_id(),
            constituent_import_id=donor.import_id,
            type=type,
            amount=amount,
            date=date,
            date_added=added,
            date_changed=date_changed or added,
            subtype=subtype,
            campaign=self.check_code("Campaign", campaign, active_only=active_codes_only),
            fund=checked_fund,
            appeal=self.check_code("Appeal", appeal, active_only=active_codes_only),
            attributes=pairs,
            tribute_name=tribute_name,
            solicitor_import_id=solicitor,
            pledge_import_id=paid.import_id if paid is not None else None,
            balance=balance,
        )
        self.gifts[made.import_id] = made
        if luminate_gift_id is not None:
            self.gifts_by_luminate_id[luminate_gift_id] = made
        if paid is not None and paid.balance is not None:
            paid.balance -= amount
            paid.date_changed = max(paid.date_changed, made.date_changed)
        self._gift_order = None
        return made

    def insert_gift(
        self, gift: Gift, *, luminate_gift_id: str | None, paid: Gift | None = None
    ) -> Gift:
        """Insert a gift the import has checked (ids new, codes active, ``luminate_gift_id``
        its attribute, ``paid`` the pledge or recurring gift it pays, with balance enough);
        keeps the indexes and reduces a pledge's balance. :meth:`add_gift` is the checking way
        in."""
        self.gifts[gift.import_id] = gift
        if luminate_gift_id is not None:
            self.gifts_by_luminate_id[luminate_gift_id] = gift
        if paid is not None and paid.balance is not None:
            paid.balance -= gift.amount
            paid.date_changed = gift.date_changed
        self._gift_order = None
        return gift

    def changed_gifts(
        self,
        changed_since: datetime | None = None,
        *,
        after_import_id: str | None = None,
        offset: int = 0,
        limit: int = 500,
        constituent_import_id: str | None = None,
        types: frozenset[str] | None = None,
    ) -> ChangePage:
        """Gifts ordered by ``(date_changed, import_id)``, after ``changed_since``, optionally of
        one constituent and of some types."""
        if self._gift_order is None:
            self._gift_order = _in_change_order(self.gifts.values())
        keep: Callable[[Gift], bool] | None = None
        if constituent_import_id is not None or types is not None:

            def keep(gift: Gift) -> bool:
                return (
                    constituent_import_id is None
                    or gift.constituent_import_id == constituent_import_id
                ) and (types is None or gift.type in types)

        return _page(self._gift_order, changed_since, after_import_id, offset, limit, keep)

    # ---- bulk ----------------------------------------------------------------------------------

    def insert_generated(
        self, constituents: Iterable[Constituent], gifts: Iterable[Gift]
    ) -> tuple[int, int]:
        """Insert records a generator made consistent (``sample.py``): ids new and unique,
        codes in the tables, payments matching their pledges. Only the indexes are kept, no
        rule is checked: this is how 500,000 gifts load in seconds. Returns the counts."""
        added_constituents = added_gifts = 0
        for constituent in constituents:
            self.constituents[constituent.import_id] = constituent
            self.by_constituent_id[constituent.constituent_id] = constituent
            if constituent.luminate_id is not None:
                self.by_luminate_id[constituent.luminate_id] = constituent
            added_constituents += 1
        for gift in gifts:
            self.gifts[gift.import_id] = gift
            if gift.attributes:
                luminate_gift_id = gift.luminate_gift_id
                if luminate_gift_id is not None:
                    self.gifts_by_luminate_id[luminate_gift_id] = gift
            added_gifts += 1
        self._constituent_order = None
        self._gift_order = None
        return added_constituents, added_gifts

    # ---- state ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "constituents": [c.render_full() for c in self.constituents.values()],
            "gifts": [gift.render() for gift in self.gifts.values()],
            "code_tables": {
                table: [entry.render() for entry in self.code_entries(table)]
                for table in CODE_TABLES
            },
            "users": sorted(self.users),
            "now": iso(self.clock.now().astimezone(UTC)),
        }


_EDITABLE: Final = frozenset(
    {
        "constituent_id",
        "luminate_id",
        "first_name",
        "middle_name",
        "last_name",
        "addresses",
        "phones",
        "constituent_codes",
        "is_solicitor",
        "inactive",
        "requests_no_email",
    }
)


def _preferred_checked(addresses: Sequence[Address]) -> tuple[Address, ...]:
    """The addresses with exactly one preferred (the first, when none is marked)."""
    checked = tuple(addresses)
    preferred = [address for address in checked if address.preferred]
    if len(preferred) > 1:
        raise DatabaseError("addresses: only one address can be the preferred address")
    if checked and not preferred:
        checked[0].preferred = True
    return checked
