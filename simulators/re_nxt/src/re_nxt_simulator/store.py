"""The Raiser's Edge NXT database behind the simulated SKY API.

:class:`RecordStore` holds constituents with their email addresses, addresses, phones, consents
and solicit codes, the code tables their values are checked against, and static constituent
lists. Every change stamps ``date_modified`` from the clock, on the record and on its
constituent, so polling by ``last_modified`` finds it. The API routes and the admin routes ("a
change made in RE") both change records through this class; ``actor`` says who did it (the
OAuth user for API writes, ``re.user`` for admin edits) where the API shows it.

Domain refusals raise :class:`~re_nxt_simulator.errors.SkyError` (the API's error array). The
store is not thread-safe: callers hold the simulator's lock.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal, TypeVar

from re_nxt_simulator.errors import DUPLICATE, SkyError
from re_nxt_simulator.inputs import (
    INDIVIDUAL_ONLY,
    AddressAdd,
    AddressEdit,
    ConsentAdd,
    ConstituentAdd,
    ConstituentAddressAdd,
    ConstituentEdit,
    ConstituentEmailAdd,
    ConstituentPhoneAdd,
    EmailAddressEdit,
    PhoneEdit,
    SolicitCodeAdd,
    SolicitCodeEdit,
    edits,
)
from re_nxt_simulator.paging import Listed, ListFilters, ListReplica, Page, PageRequest, page_of
from re_nxt_simulator.records import (
    Address,
    CodeTables,
    Consent,
    Constituent,
    ConstituentList,
    EmailAddress,
    Phone,
    SolicitCodeAssignment,
    iso,
)
from syncframe.clock import Clock

__all__ = ["API_USER", "CHILD_LISTS", "RE_USER", "RecordStore", "soundex"]

#: Who API writes are made by (the OAuth user's name) and who admin edits are made by.
API_USER: Final = "api.user"
RE_USER: Final = "re.user"
#: Search answers at most this many constituents, as the real search does.
SEARCH_LIMIT: Final = 500
#: Lists of child records across all constituents, by path name.
CHILD_LISTS: Final = ("emailaddresses", "addresses", "phones")

ChildKind = Literal["emailaddresses", "addresses", "phones"]
_Child = TypeVar("_Child", EmailAddress, Address, Phone)

_FIRST_IDS: Final = {
    "constituent": 1001,
    "email": 20001,
    "address": 30001,
    "phone": 40001,
    "consent": 50001,
    "solicit_code": 60001,
    "lookup_id": 100001,
}


def soundex(word: str) -> str:
    """American Soundex of a word (``Smith`` and ``Smyth`` -> ``S530``); ``""`` for no letters."""
    letters = [char for char in word.upper() if "A" <= char <= "Z"]
    if not letters:
        return ""
    codes = {
        **dict.fromkeys("BFPV", "1"),
        **dict.fromkeys("CGJKQSXZ", "2"),
        **dict.fromkeys("DT", "3"),
        "L": "4",
        **dict.fromkeys("MN", "5"),
        "R": "6",
    }
    result = letters[0]
    previous = codes.get(letters[0], "")
    for char in letters[1:]:
        code = codes.get(char, "")
        if code and code != previous:
            result += code
        if char not in "HW":
            previous = code
    return (result + "000")[:4]


@dataclass(slots=True)
class _Data:
    """Everything the store holds: one object, so a failed seed can be rolled back whole."""

    constituents: dict[str, Constituent] = field(default_factory=dict)
    emails: dict[str, EmailAddress] = field(default_factory=dict)
    addresses: dict[str, Address] = field(default_factory=dict)
    phones: dict[str, Phone] = field(default_factory=dict)
    consents: dict[str, Consent] = field(default_factory=dict)
    solicit_codes: dict[str, SolicitCodeAssignment] = field(default_factory=dict)
    lists: dict[str, ConstituentList] = field(default_factory=dict)
    deleted: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_lookup: dict[str, str] = field(default_factory=dict)
    children: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=lambda: dict(_FIRST_IDS))
    code_tables: CodeTables = field(default_factory=CodeTables)
    replicas: dict[str, ListReplica] | None = None


class RecordStore:
    """One Raiser's Edge NXT database, on ``clock``.

    ``list_latency`` (seconds) is how far the list endpoints lag behind: a change shows in
    ``GET /constituents`` (and the other all-constituent lists) only once it is that old. Reads
    by id, per-constituent lists and search are immediate.
    """

    def __init__(self, clock: Clock, *, list_latency: float = 0.0, seed: int = 0) -> None:
        self.clock = clock
        self._rng = random.Random(seed)
        self._data = _Data()
        # Each live constituent's list row, dropped whenever the constituent changes: a poll of
        # a large database then sorts rows instead of rebuilding them on every page.
        self._rows: dict[str, Listed] = {}
        self._stamp: datetime | None = None
        self._latency = 0.0
        self.list_latency = list_latency

    # ---- settings, state ------------------------------------------------------------------

    @property
    def list_latency(self) -> float:
        """Seconds the list endpoints lag behind the database (0: they do not)."""
        return self._latency

    @list_latency.setter
    def list_latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"list_latency must be 0 or more seconds, not {seconds}")
        self._latency = float(seconds)
        if seconds == 0:
            self._data.replicas = None
        elif self._data.replicas is None:
            # Start the read copy from the records as they are now, each visible once its last
            # change is old enough (their earlier versions are not known any more).
            self._data.replicas = {name: ListReplica() for name in ("constituents", *CHILD_LISTS)}
            for constituent in self._data.constituents.values():
                self._replicate_constituent(constituent, at=constituent.date_modified)
            for kind in CHILD_LISTS:
                for child in self._children_of_kind(kind).values():
                    self._replicate_child(kind, child, at=child.date_modified)

    @property
    def code_tables(self) -> CodeTables:
        return self._data.code_tables

    @property
    def constituents(self) -> dict[str, Constituent]:
        """The live constituents by id (read them under the simulator's lock)."""
        return self._data.constituents

    @property
    def deleted_constituents(self) -> dict[str, dict[str, Any]]:
        """Constituents deleted in RE: ``{id: {"id", "lookup_id", "deleted_at"}}``. The SKY API
        lists no deletes; this is for tests and the admin state."""
        return self._data.deleted

    def reset(self) -> None:
        """Forget every record, list and code-table change (the latency setting stays)."""
        latency = self._latency
        self._data = _Data()
        self._rows.clear()
        self._latency = 0.0
        self.list_latency = latency

    def checkpoint(self) -> _Data:
        """A copy of everything, for :meth:`restore` when a batch of changes must be undone."""
        return copy.deepcopy(self._data)

    def restore(self, saved: _Data) -> None:
        self._data = saved
        self._rows.clear()

    def now(self) -> datetime:
        """The time changes are stamped with: the clock's, or the one :meth:`stamping_at` set."""
        return self._stamp if self._stamp is not None else self.clock.now()

    @contextlib.contextmanager
    def stamping_at(self, moment: datetime) -> Iterator[None]:
        """Stamp the changes made inside at ``moment`` (seeding records changed in the past)."""
        if moment > self.clock.now():
            raise SkyError.field("date_modified", "{0} is in the future.", iso(moment))
        self._stamp = moment
        try:
            yield
        finally:
            self._stamp = None

    def _next_id(self, kind: str) -> str:
        value = self._data.next_ids[kind]
        self._data.next_ids[kind] = value + 1
        return str(value)

    def _claim_id(self, kind: str, wanted: str | None, taken: dict[str, Any]) -> str:
        """``wanted`` (a seeded id, which moves the sequence past it) or the next free id."""
        if wanted is None:
            record_id = self._next_id(kind)
            while record_id in taken:
                record_id = self._next_id(kind)
            return record_id
        if not wanted.isdigit():
            raise SkyError.field("id", "{0} is not a numeric id", wanted)
        if wanted in taken or (kind == "constituent" and wanted in self._data.deleted):
            raise SkyError(400, "id: {0} is already taken.", wanted, error_name=DUPLICATE)
        self._data.next_ids[kind] = max(self._data.next_ids[kind], int(wanted) + 1)
        return wanted

    def _code(self, table: str, value: str, field_name: str) -> str:
        entry = self._data.code_tables.entry(table, value)
        if entry is None:
            known = ", ".join(self._data.code_tables.tables[table])
            raise SkyError.field(
                field_name,
                "{0} is not an entry of the {1} table (known: {2}).",
                value,
                table,
                known,
            )
        return entry

    # ---- constituents ---------------------------------------------------------------------

    def constituent(self, constituent_id: str) -> Constituent:
        """The live constituent, or the API's 404."""
        found = self._data.constituents.get(constituent_id)
        if found is None:
            raise SkyError.not_found("constituent", constituent_id)
        return found

    def by_lookup_id(self, lookup_id: str) -> Constituent | None:
        found = self._data.by_lookup.get(lookup_id.casefold())
        return self._data.constituents.get(found) if found is not None else None

    def _free_lookup_id(self, wanted: str | None, owner: str | None = None) -> str:
        if wanted is not None:
            holder = self._data.by_lookup.get(wanted.casefold())
            if holder is not None and holder != owner:
                raise SkyError(
                    400,
                    "lookup_id: {0} is already the Constituent ID of constituent {1}.",
                    wanted,
                    holder,
                    error_name=DUPLICATE,
                )
            return wanted
        while True:
            candidate = self._next_id("lookup_id")
            if candidate.casefold() not in self._data.by_lookup:
                return candidate

    def create_constituent(
        self, body: ConstituentAdd, *, record_id: str | None = None
    ) -> Constituent:
        """``POST /constituents``: the constituent and the ``email``, ``phone`` and ``address``
        it came with (each becomes the primary/preferred one). ``record_id``: a seeded id."""
        now = self.now()
        profile = {
            key: value
            for key, value in edits(body).items()
            if key in _PROFILE and value is not None
        }
        if body.type == "Individual":
            profile.setdefault("gender", "Unknown")
            profile.setdefault("deceased", False)
        if "gender" in profile:
            profile["gender"] = self._code("genders", profile["gender"], "gender")
        profile.setdefault("inactive", False)
        profile.setdefault("gives_anonymously", False)
        # Check every value before anything is stored: a refused create leaves nothing behind.
        if body.email is not None:
            self._code("email_types", body.email.type, "email.type")
        if body.phone is not None:
            self._code("phone_types", body.phone.type, "phone.type")
        if body.address is not None:
            self._code("address_types", body.address.type, "address.type")
        lookup_id = self._free_lookup_id(body.lookup_id)
        constituent_id = self._claim_id("constituent", record_id, self._data.constituents)
        added = body.date_added or now
        constituent = Constituent(
            id=constituent_id,
            type=body.type,
            lookup_id=lookup_id,
            date_added=added,
            date_modified=max(added, now),
            profile=profile,
        )
        self._data.constituents[constituent_id] = constituent
        self._data.by_lookup[lookup_id.casefold()] = constituent_id
        self._data.children[constituent_id] = {
            "emails": [],
            "addresses": [],
            "phones": [],
            "consents": [],
            "solicit_codes": [],
        }
        stamp = constituent.date_modified
        if body.email is not None:
            self._add_email(constituent, body.email, stamp)
        if body.phone is not None:
            self._add_phone(constituent, body.phone, stamp)
        if body.address is not None:
            self._add_address(constituent, body.address, None, stamp)
        self._replicate_constituent(constituent)
        return constituent

    def edit_constituent(self, constituent_id: str, body: ConstituentEdit) -> Constituent:
        """``PATCH /constituents/{id}``: the properties sent; ``null`` clears one."""
        constituent = self.constituent(constituent_id)
        changes = edits(body)
        if not changes:
            return constituent
        if constituent.type == "Organization":
            wrong = [key for key in changes if key in INDIVIDUAL_ONLY]
            if wrong:
                raise SkyError.field(", ".join(wrong), "for an Individual only")
            if "name" in changes and not changes["name"]:
                raise SkyError.field("name", "cannot be null for an Organization")
        else:
            if "name" in changes:
                raise SkyError.field("name", "is computed for an Individual (edit first/last)")
            if "last" in changes and not changes["last"]:
                raise SkyError.field("last", "cannot be null for an Individual")
        if "gender" in changes and changes["gender"] is not None:
            changes["gender"] = self._code("genders", changes["gender"], "gender")
        if "lookup_id" in changes:
            wanted = changes.pop("lookup_id")
            if not wanted:
                raise SkyError.field("lookup_id", "cannot be null")
            self._free_lookup_id(wanted, owner=constituent.id)
            del self._data.by_lookup[constituent.lookup_id.casefold()]
            constituent.lookup_id = wanted
            self._data.by_lookup[wanted.casefold()] = constituent.id
        for key, value in changes.items():
            if value is None:
                if key in ("inactive", "deceased", "gives_anonymously"):
                    constituent.profile[key] = False
                elif key == "gender":
                    constituent.profile[key] = "Unknown"
                else:
                    constituent.profile.pop(key, None)
            else:
                constituent.profile[key] = value
        # Stamped as a database update is, even when the values were the same.
        self._touch(constituent)
        return constituent

    def delete_constituent(self, constituent_id: str) -> None:
        """Delete a constituent and everything it has (the RE web view can; the API cannot)."""
        constituent = self.constituent(constituent_id)
        now = self.now()
        owned = self._data.children.pop(constituent_id)
        for kind, key in (
            ("emailaddresses", "emails"),
            ("addresses", "addresses"),
            ("phones", "phones"),
        ):
            store = self._children_of_kind(kind)
            for child_id in owned[key]:
                del store[child_id]
                self._replicate_gone(kind, child_id, now)
        for consent_id in owned["consents"]:
            del self._data.consents[consent_id]
        for code_id in owned["solicit_codes"]:
            del self._data.solicit_codes[code_id]
        del self._data.constituents[constituent_id]
        del self._data.by_lookup[constituent.lookup_id.casefold()]
        for members in self._data.lists.values():
            if constituent_id in members.constituent_ids:
                members.constituent_ids.remove(constituent_id)
        self._data.deleted[constituent_id] = {
            "id": constituent_id,
            "lookup_id": constituent.lookup_id,
            "deleted_at": iso(now),
        }
        self._replicate_gone("constituents", constituent_id, now)

    def _touch(self, constituent: Constituent, now: datetime | None = None) -> None:
        constituent.date_modified = now or self.now()
        self._replicate_constituent(constituent)

    def render_constituent(
        self, constituent: Constituent, fields: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """The constituent as ``GET /constituents/{id}`` shows it, with its primary email and
        phone and its preferred address; ``fields`` keeps only those (``id`` always)."""
        now = self.now()
        body: dict[str, Any] = {
            "id": constituent.id,
            "type": constituent.type,
            "lookup_id": constituent.lookup_id,
            "name": constituent.display_name(),
            "date_added": iso(constituent.date_added),
            "date_modified": iso(constituent.date_modified),
        }
        for key, value in constituent.profile.items():
            body[key] = value
        birthdate = constituent.profile.get("birthdate")
        if isinstance(birthdate, dict) and birthdate.get("y"):
            body["age"] = _age(birthdate, now)
        if constituent.type == "Individual":
            body["fundraiser_status"] = "None"
        email = self._primary(constituent.id, "emails", self._data.emails)
        if email is not None:
            body["email"] = email.render()
        phone = self._primary(constituent.id, "phones", self._data.phones)
        if phone is not None:
            body["phone"] = phone.render()
        address = self.preferred_address(constituent.id)
        if address is not None:
            body["address"] = address.render(now)
        ordered = {"id": body.pop("id"), **dict(sorted(body.items()))}
        if fields is None:
            return ordered
        wanted = {"id", *fields}
        return {key: value for key, value in ordered.items() if key in wanted}

    def _primary(self, constituent_id: str, key: str, store: dict[str, _Child]) -> _Child | None:
        for child_id in self._data.children.get(constituent_id, {}).get(key, []):
            child = store[child_id]
            if getattr(child, "primary", False):
                return child
        return None

    def preferred_address(self, constituent_id: str) -> Address | None:
        for address_id in self._data.children.get(constituent_id, {}).get("addresses", []):
            if self._data.addresses[address_id].preferred:
                return self._data.addresses[address_id]
        return None

    # ---- email addresses ------------------------------------------------------------------

    def email(self, email_id: str) -> EmailAddress:
        found = self._data.emails.get(email_id)
        if found is None:
            raise SkyError.not_found("email address", email_id)
        return found

    def emails_of(
        self, constituent_id: str, *, include_inactive: bool = True
    ) -> list[EmailAddress]:
        self.constituent(constituent_id)
        emails = [self._data.emails[i] for i in self._data.children[constituent_id]["emails"]]
        return [email for email in emails if include_inactive or not email.inactive]

    def add_email(self, constituent_id: str, body: ConstituentEmailAdd) -> EmailAddress:
        """``POST /emailaddresses``. The first email a constituent gets is primary unless
        ``primary: false`` is sent; ``primary: true`` takes it from the current primary one."""
        constituent = self.constituent(constituent_id)
        now = self.now()
        email = self._add_email(constituent, body, now)
        self._touch(constituent, now)
        return email

    def _add_email(
        self, constituent: Constituent, body: ConstituentEmailAdd, now: datetime
    ) -> EmailAddress:
        kind = self._code("email_types", body.type, "type")
        siblings = self._siblings(constituent.id, "emails", self._data.emails)
        primary = body.primary if body.primary is not None else not any(s.primary for s in siblings)
        email = EmailAddress(
            id=self._claim_id("email", None, self._data.emails),
            constituent_id=constituent.id,
            address=body.address,
            type=kind,
            primary=primary,
            do_not_email=body.do_not_email,
            inactive=body.inactive,
            date_added=now,
            date_modified=now,
        )
        if primary:
            self._demote(siblings, "primary", "emailaddresses", now)
        self._data.emails[email.id] = email
        self._data.children[constituent.id]["emails"].append(email.id)
        self._replicate_child("emailaddresses", email)
        return email

    def edit_email(self, email_id: str, body: EmailAddressEdit) -> EmailAddress:
        """``PATCH /emailaddresses/{id}``."""
        email = self.email(email_id)
        changes = edits(body)
        if not changes:
            return email
        for key in ("address", "type"):
            if key in changes and changes[key] is None:
                raise SkyError.field(key, "cannot be set to null")
        now = self.now()
        if "type" in changes:
            changes["type"] = self._code("email_types", changes["type"], "type")
        if changes.get("primary"):
            siblings = self._siblings(email.constituent_id, "emails", self._data.emails)
            self._demote([s for s in siblings if s is not email], "primary", "emailaddresses", now)
        for key, value in changes.items():
            setattr(email, key, bool(value) if key in _FLAGS else value)
        self._changed_child("emailaddresses", email, now)
        return email

    def delete_email(self, email_id: str) -> None:
        """``DELETE /emailaddresses/{id}`` (deleting the primary leaves the constituent with
        none until another is made primary)."""
        email = self.email(email_id)
        self._delete_child("emailaddresses", "emails", self._data.emails, email)

    # ---- addresses ------------------------------------------------------------------------

    def address(self, address_id: str) -> Address:
        found = self._data.addresses.get(address_id)
        if found is None:
            raise SkyError.not_found("address", address_id)
        return found

    def addresses_of(self, constituent_id: str, *, include_inactive: bool = True) -> list[Address]:
        self.constituent(constituent_id)
        now = self.now()
        found = [self._data.addresses[i] for i in self._data.children[constituent_id]["addresses"]]
        return [address for address in found if include_inactive or not address.inactive_at(now)]

    def add_address(self, body: AddressAdd) -> Address:
        """``POST /addresses``. The first address is preferred unless ``preferred: false``."""
        constituent = self.constituent(body.constituent_id)
        now = self.now()
        address = self._add_address(constituent, body, body.preferred, now)
        self._touch(constituent, now)
        return address

    def _add_address(
        self,
        constituent: Constituent,
        body: ConstituentAddressAdd,
        preferred: bool | None,
        now: datetime,
    ) -> Address:
        kind = self._code("address_types", body.type, "type")
        values = {
            key: value
            for key, value in edits(body).items()
            if key not in ("type", "do_not_mail", "constituent_id", "preferred")
            and value is not None
        }
        _check_dates(values.get("start"), values.get("end"), "start", "end")
        siblings = self._siblings(constituent.id, "addresses", self._data.addresses)
        chosen = preferred if preferred is not None else not any(s.preferred for s in siblings)
        address = Address(
            id=self._claim_id("address", None, self._data.addresses),
            constituent_id=constituent.id,
            type=kind,
            preferred=chosen,
            do_not_mail=body.do_not_mail,
            date_added=now,
            date_modified=now,
            values=values,
        )
        if chosen:
            self._demote(siblings, "preferred", "addresses", now)
        self._data.addresses[address.id] = address
        self._data.children[constituent.id]["addresses"].append(address.id)
        self._replicate_child("addresses", address)
        return address

    def edit_address(self, address_id: str, body: AddressEdit) -> Address:
        """``PATCH /addresses/{id}``."""
        address = self.address(address_id)
        changes = edits(body)
        if not changes:
            return address
        if "type" in changes:
            if changes["type"] is None:
                raise SkyError.field("type", "cannot be set to null")
            address.type = self._code("address_types", changes.pop("type"), "type")
        now = self.now()
        start = changes.get("start", address.values.get("start"))
        end = changes.get("end", address.values.get("end"))
        _check_dates(start, end, "start", "end")
        if changes.get("preferred"):
            siblings = self._siblings(address.constituent_id, "addresses", self._data.addresses)
            self._demote([s for s in siblings if s is not address], "preferred", "addresses", now)
        for key, value in changes.items():
            if key in ("preferred", "do_not_mail"):
                setattr(address, key, bool(value))
            elif value is None:
                address.values.pop(key, None)
            else:
                address.values[key] = value
        self._changed_child("addresses", address, now)
        return address

    def delete_address(self, address_id: str) -> None:
        address = self.address(address_id)
        self._delete_child("addresses", "addresses", self._data.addresses, address)

    # ---- phones ---------------------------------------------------------------------------

    def phone(self, phone_id: str) -> Phone:
        found = self._data.phones.get(phone_id)
        if found is None:
            raise SkyError.not_found("phone", phone_id)
        return found

    def phones_of(self, constituent_id: str, *, include_inactive: bool = True) -> list[Phone]:
        self.constituent(constituent_id)
        phones = [self._data.phones[i] for i in self._data.children[constituent_id]["phones"]]
        return [phone for phone in phones if include_inactive or not phone.inactive]

    def add_phone(self, constituent_id: str, body: ConstituentPhoneAdd) -> Phone:
        """``POST /phones`` (primary as for email addresses)."""
        constituent = self.constituent(constituent_id)
        now = self.now()
        phone = self._add_phone(constituent, body, now)
        self._touch(constituent, now)
        return phone

    def _add_phone(
        self, constituent: Constituent, body: ConstituentPhoneAdd, now: datetime
    ) -> Phone:
        kind = self._code("phone_types", body.type, "type")
        siblings = self._siblings(constituent.id, "phones", self._data.phones)
        primary = body.primary if body.primary is not None else not any(s.primary for s in siblings)
        phone = Phone(
            id=self._claim_id("phone", None, self._data.phones),
            constituent_id=constituent.id,
            number=body.number,
            type=kind,
            primary=primary,
            do_not_call=body.do_not_call,
            inactive=body.inactive,
            date_added=now,
            date_modified=now,
        )
        if primary:
            self._demote(siblings, "primary", "phones", now)
        self._data.phones[phone.id] = phone
        self._data.children[constituent.id]["phones"].append(phone.id)
        self._replicate_child("phones", phone)
        return phone

    def edit_phone(self, phone_id: str, body: PhoneEdit) -> Phone:
        """``PATCH /phones/{id}``."""
        phone = self.phone(phone_id)
        changes = edits(body)
        if not changes:
            return phone
        for key in ("number", "type"):
            if key in changes and changes[key] is None:
                raise SkyError.field(key, "cannot be set to null")
        now = self.now()
        if "type" in changes:
            changes["type"] = self._code("phone_types", changes["type"], "type")
        if changes.get("primary"):
            siblings = self._siblings(phone.constituent_id, "phones", self._data.phones)
            self._demote([s for s in siblings if s is not phone], "primary", "phones", now)
        for key, value in changes.items():
            setattr(phone, key, bool(value) if key in _FLAGS else value)
        self._changed_child("phones", phone, now)
        return phone

    def delete_phone(self, phone_id: str) -> None:
        phone = self.phone(phone_id)
        self._delete_child("phones", "phones", self._data.phones, phone)

    # ---- child helpers ----------------------------------------------------------------------

    def _siblings(self, constituent_id: str, key: str, store: dict[str, _Child]) -> list[_Child]:
        return [store[child_id] for child_id in self._data.children[constituent_id][key]]

    def _demote(
        self, siblings: Iterable[_Child], flag: str, kind: ChildKind, now: datetime
    ) -> None:
        for sibling in siblings:
            if getattr(sibling, flag):
                setattr(sibling, flag, False)
                sibling.date_modified = now
                self._replicate_child(kind, sibling)

    def _changed_child(self, kind: ChildKind, child: _Child, now: datetime) -> None:
        child.date_modified = now
        self._replicate_child(kind, child)
        self._touch(self._data.constituents[child.constituent_id], now)

    def _delete_child(
        self, kind: ChildKind, key: str, store: dict[str, _Child], child: _Child
    ) -> None:
        now = self.now()
        del store[child.id]
        self._data.children[child.constituent_id][key].remove(child.id)
        self._replicate_gone(kind, child.id, now)
        self._touch(self._data.constituents[child.constituent_id], now)

    def _children_of_kind(self, kind: str) -> dict[str, Any]:
        stores: dict[str, dict[str, Any]] = {
            "emailaddresses": self._data.emails,
            "addresses": self._data.addresses,
            "phones": self._data.phones,
        }
        return stores[kind]

    # ---- consents and solicit codes ---------------------------------------------------------

    def add_consent(self, body: ConsentAdd, *, actor: str = API_USER) -> Consent:
        """``POST /commpref/v1/consent/consents``: one more response in the history."""
        constituent = self.constituent(body.constituent_id)
        now = self.now()
        consent = Consent(
            id=self._claim_id("consent", None, self._data.consents),
            constituent_id=constituent.id,
            channel=self._code("consent_channels", body.channel, "channel"),
            category=(
                self._code("consent_categories", body.category, "category")
                if body.category is not None
                else None
            ),
            source=(
                self._code("consent_sources", body.source, "source")
                if body.source is not None
                else None
            ),
            response=body.constituent_consent_response,
            consent_date=body.consent_date,
            consent_statement=body.consent_statement,
            privacy_notice=body.privacy_notice,
            date_added=now,
            user_name=actor,
        )
        self._data.consents[consent.id] = consent
        self._data.children[constituent.id]["consents"].append(consent.id)
        self._touch(constituent, now)
        return consent

    def consents_of(self, constituent_id: str, *, most_recent_only: bool = False) -> list[Consent]:
        """A constituent's consents, newest ``consent_date`` first; ``most_recent_only``: the
        newest per channel and category."""
        self.constituent(constituent_id)
        found = [self._data.consents[i] for i in self._data.children[constituent_id]["consents"]]
        found.sort(key=lambda c: (c.consent_date, c.date_added, int(c.id)), reverse=True)
        if not most_recent_only:
            return found
        newest: dict[tuple[str, str | None], Consent] = {}
        for consent in found:
            newest.setdefault((consent.channel, consent.category), consent)
        return list(newest.values())

    def delete_consent(self, consent_id: str) -> None:
        consent = self._data.consents.get(consent_id)
        if consent is None:
            raise SkyError.not_found("consent", consent_id)
        del self._data.consents[consent_id]
        self._data.children[consent.constituent_id]["consents"].remove(consent_id)
        self._touch(self._data.constituents[consent.constituent_id])

    def solicit_code(self, assignment_id: str) -> SolicitCodeAssignment:
        found = self._data.solicit_codes.get(assignment_id)
        if found is None:
            raise SkyError.not_found("constituent solicit code", assignment_id)
        return found

    def solicit_codes_of(self, constituent_id: str) -> list[SolicitCodeAssignment]:
        self.constituent(constituent_id)
        ids = self._data.children[constituent_id]["solicit_codes"]
        return [self._data.solicit_codes[i] for i in ids]

    def add_solicit_code(self, body: SolicitCodeAdd) -> SolicitCodeAssignment:
        """``POST /commpref/v1/constituentsolicitcodes``. A code the constituent already has
        (current, or starting later) is refused rather than added twice."""
        constituent = self.constituent(body.constituent_id)
        code = self._code("solicit_codes", body.solicit_code, "solicit_code")
        _check_dates(body.start_date, body.end_date, "start_date", "end_date")
        now = self.now()
        for held in self.solicit_codes_of(constituent.id):
            if held.solicit_code == code and (held.end_date is None or held.end_date > now):
                raise SkyError(
                    400,
                    "solicit_code: constituent {0} already has {1} (constituent solicit code {2}).",
                    constituent.id,
                    code,
                    held.id,
                    error_name=DUPLICATE,
                )
        assignment = SolicitCodeAssignment(
            id=self._claim_id("solicit_code", None, self._data.solicit_codes),
            constituent_id=constituent.id,
            solicit_code=code,
            start_date=body.start_date,
            end_date=body.end_date,
            date_added=now,
            date_modified=now,
        )
        self._data.solicit_codes[assignment.id] = assignment
        self._data.children[constituent.id]["solicit_codes"].append(assignment.id)
        self._touch(constituent, now)
        return assignment

    def edit_solicit_code(self, assignment_id: str, body: SolicitCodeEdit) -> SolicitCodeAssignment:
        assignment = self.solicit_code(assignment_id)
        changes = edits(body)
        if not changes:
            return assignment
        if "solicit_code" in changes:
            if changes["solicit_code"] is None:
                raise SkyError.field("solicit_code", "cannot be set to null")
            changes["solicit_code"] = self._code(
                "solicit_codes", changes["solicit_code"], "solicit_code"
            )
        start = changes.get("start_date", assignment.start_date)
        end = changes.get("end_date", assignment.end_date)
        _check_dates(start, end, "start_date", "end_date")
        for key, value in changes.items():
            setattr(assignment, key, value)
        now = self.now()
        assignment.date_modified = now
        self._touch(self._data.constituents[assignment.constituent_id], now)
        return assignment

    def delete_solicit_code(self, assignment_id: str) -> None:
        assignment = self.solicit_code(assignment_id)
        del self._data.solicit_codes[assignment_id]
        self._data.children[assignment.constituent_id]["solicit_codes"].remove(assignment_id)
        self._touch(self._data.constituents[assignment.constituent_id])

    # ---- lists ------------------------------------------------------------------------------

    def add_list(self, name: str, constituent_ids: Sequence[str]) -> ConstituentList:
        """A static constituent list (what a saved list in the RE web view gives ``list_id``)."""
        for constituent_id in constituent_ids:
            self.constituent(constituent_id)
        list_id = str(_uuid(self._rng))
        made = ConstituentList(list_id, name, list(dict.fromkeys(constituent_ids)), self.now())
        self._data.lists[list_id] = made
        return made

    def set_list_members(self, list_id: str, constituent_ids: Sequence[str]) -> ConstituentList:
        found = self._data.lists.get(list_id)
        if found is None:
            raise SkyError.not_found("list", list_id)
        for constituent_id in constituent_ids:
            self.constituent(constituent_id)
        found.constituent_ids = list(dict.fromkeys(constituent_ids))
        found.date_modified = self.now()
        return found

    def list_members(self, list_id: str) -> frozenset[str]:
        found = self._data.lists.get(list_id)
        if found is None:
            raise SkyError(400, "list_id: {0} is not a constituent list.", list_id)
        return frozenset(found.constituent_ids)

    # ---- listing ----------------------------------------------------------------------------

    def _listed_constituent(self, constituent: Constituent, *, frozen: bool) -> Listed:
        address = self.preferred_address(constituent.id)
        render: Callable[[], dict[str, Any]]
        if frozen:
            body = self.render_constituent(constituent)
            render = functools.partial(dict, body)
        else:
            render = functools.partial(self.render_constituent, constituent)
        return Listed(
            id=constituent.id,
            constituent_id=constituent.id,
            date_added=constituent.date_added,
            date_modified=constituent.date_modified,
            render=render,
            name_key=constituent.name_key(),
            lookup_id=constituent.lookup_id,
            inactive=constituent.inactive,
            deceased=constituent.deceased,
            postal_code=address.values.get("postal_code") if address is not None else None,
        )

    def _listed_child(self, kind: str, child: Any, *, frozen: bool) -> Listed:
        now = self.now()
        inactive = child.inactive_at(now) if isinstance(child, Address) else child.inactive
        live: Callable[[], dict[str, Any]] = (
            functools.partial(child.render, now) if isinstance(child, Address) else child.render
        )
        render = functools.partial(dict, live()) if frozen else live
        return Listed(
            id=child.id,
            constituent_id=child.constituent_id,
            date_added=child.date_added,
            date_modified=child.date_modified,
            render=render,
            inactive=inactive,
        )

    def _replicate_constituent(self, constituent: Constituent, at: datetime | None = None) -> None:
        self._rows.pop(constituent.id, None)
        if self._data.replicas is not None:
            listed = self._listed_constituent(constituent, frozen=True)
            self._data.replicas["constituents"].record(
                constituent.id, at or constituent.date_modified, listed
            )

    def _replicate_child(self, kind: str, child: Any, at: datetime | None = None) -> None:
        if self._data.replicas is not None:
            listed = self._listed_child(kind, child, frozen=True)
            self._data.replicas[kind].record(child.id, at or child.date_modified, listed)

    def _replicate_gone(self, kind: str, record_id: str, now: datetime) -> None:
        if kind == "constituents":
            self._rows.pop(record_id, None)
        if self._data.replicas is not None:
            self._data.replicas[kind].record(record_id, now, None)

    def _listable(self, kind: str) -> Iterator[Listed]:
        if self._data.replicas is not None:
            horizon = self.now() - timedelta(seconds=self._latency)
            yield from self._data.replicas[kind].view(horizon)
        elif kind == "constituents":
            for constituent_id, constituent in self._data.constituents.items():
                row = self._rows.get(constituent_id)
                if row is None:
                    row = self._rows[constituent_id] = self._listed_constituent(
                        constituent, frozen=False
                    )
                yield row
        else:
            for child in self._children_of_kind(kind).values():
                yield self._listed_child(kind, child, frozen=False)

    def list_records(self, kind: str, filters: ListFilters, request: PageRequest) -> Page:
        """One page of ``GET /constituents`` (``kind="constituents"``) or of an all-constituent
        child list (``emailaddresses``, ``addresses``, ``phones``)."""
        return page_of((row for row in self._listable(kind) if filters.keep(row)), request)

    # ---- search -----------------------------------------------------------------------------

    def search(
        self,
        text: str,
        *,
        search_field: str | None = None,
        strict: bool = False,
        include_inactive: bool = False,
    ) -> list[Constituent]:
        """``GET /constituents/search``: by ``lookup_id`` or ``email_address`` exactly (case
        ignored), or by name words (each a prefix of a name part, or sounding like one unless
        ``strict``), an email address, a lookup ID, 7+ phone digits or address text."""
        wanted = text.strip()
        if not wanted:
            raise SkyError.field("search_text", "is required")
        if search_field not in (None, "lookup_id", "email_address"):
            raise SkyError.field(
                "search_field",
                "{0} is not supported (use lookup_id or email_address).",
                search_field or "",
            )
        folded = wanted.casefold()
        found: list[Constituent] = []
        for constituent in self._data.constituents.values():
            if constituent.inactive and not include_inactive:
                continue
            if search_field == "lookup_id":
                hit = constituent.lookup_id.casefold() == folded
            elif search_field == "email_address":
                hit = self._has_email(constituent, folded)
            else:
                hit = self._matches(constituent, wanted, strict)
            if hit:
                found.append(constituent)
        found.sort(key=lambda c: (c.name_key(), int(c.id)))
        return found[:SEARCH_LIMIT]

    def _has_email(self, constituent: Constituent, folded: str) -> bool:
        return any(
            email.address.casefold() == folded
            for email in self.emails_of(constituent.id, include_inactive=False)
        )

    def _matches(self, constituent: Constituent, text: str, strict: bool) -> bool:
        folded = text.casefold()
        if constituent.lookup_id.casefold() == folded:
            return True
        if "@" in text:
            return self._has_email(constituent, folded)
        if text.isdigit() and len(text) >= 7:
            return any(
                text in re.sub(r"\D", "", phone.number)
                for phone in self.phones_of(constituent.id, include_inactive=False)
            )
        parts = [
            str(constituent.profile[key]).casefold()
            for key in ("first", "middle", "last", "preferred_name", "former_name")
            if constituent.profile.get(key)
        ]
        if constituent.type == "Organization":
            parts = constituent.display_name().casefold().split()
        words = folded.split()
        if words and all(_word_matches(word, parts, strict) for word in words):
            return True
        return len(folded) >= 3 and any(
            folded in " ".join(str(v) for v in address.values.values()).casefold()
            for address in self.addresses_of(constituent.id, include_inactive=False)
        )

    def render_search_result(self, constituent: Constituent) -> dict[str, Any]:
        """A search hit as the API shows it (``SearchResultRead``)."""
        email = self._primary(constituent.id, "emails", self._data.emails)
        address = self.preferred_address(constituent.id)
        body: dict[str, Any] = {
            "id": constituent.id,
            "address": address.formatted() if address is not None else None,
            "deceased": constituent.deceased,
            "email": email.address if email is not None else None,
            "fundraiser_status": "None",
            "inactive": constituent.inactive,
            "lookup_id": constituent.lookup_id,
            "name": constituent.display_name(),
        }
        return {key: value for key, value in body.items() if value is not None}

    # ---- snapshot ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything held, JSON-able: each constituent with all its records."""
        constituents = []
        for constituent in self._data.constituents.values():
            body = self.render_constituent(constituent)
            body["email_addresses"] = [e.render() for e in self.emails_of(constituent.id)]
            now = self.now()
            body["addresses"] = [a.render(now) for a in self.addresses_of(constituent.id)]
            body["phones"] = [p.render() for p in self.phones_of(constituent.id)]
            body["consents"] = [c.render() for c in self.consents_of(constituent.id)]
            body["solicit_codes"] = [
                {
                    **s.render(),
                    "date_added": iso(s.date_added),
                    "date_modified": iso(s.date_modified),
                }
                for s in self.solicit_codes_of(constituent.id)
            ]
            constituents.append(body)
        return {
            "constituents": constituents,
            "deleted_constituents": list(self._data.deleted.values()),
            "lists": [
                {
                    "id": item.id,
                    "name": item.name,
                    "constituent_ids": list(item.constituent_ids),
                    "date_modified": iso(item.date_modified),
                }
                for item in self._data.lists.values()
            ],
            "code_tables": {name: list(v) for name, v in self._data.code_tables.tables.items()},
        }


_FLAGS: Final = ("primary", "do_not_email", "do_not_call", "inactive")
#: The constituent properties kept in ``Constituent.profile``.
_PROFILE: Final = frozenset(ConstituentEdit.model_fields) - {"lookup_id"}


def _check_dates(start: object, end: object, start_name: str, end_name: str) -> None:
    if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
        raise SkyError.field(end_name, "must not be before {0}.", start_name)


def _word_matches(word: str, parts: Sequence[str], strict: bool) -> bool:
    for part in parts:
        for piece in part.split():
            if piece.startswith(word):
                return True
            if not strict and len(word) > 1 and soundex(piece) == soundex(word) != "":
                return True
    return False


def _age(birthdate: dict[str, Any], now: datetime) -> int:
    year = int(birthdate["y"])
    month, day = int(birthdate.get("m") or 1), int(birthdate.get("d") or 1)
    return now.year - year - ((now.month, now.day) < (month, day))


def _uuid(rng: random.Random) -> str:
    raw = f"{rng.getrandbits(128):032x}"
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:]}"
