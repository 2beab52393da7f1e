"""``POST /_admin/seed`` for the RE NXT simulator: records loaded as a data import would.

The payload (every part optional)::

    {
      "code_tables": {"solicit_codes": ["Do not email", ...], ...},
      "constituents": [
        {"type": "Individual", "first": "Ada", "last": "Lovelace", "lookup_id": "8001",
         "id": "1200", "date_added": "2020-01-01T00:00:00Z",
         "date_modified": "2025-06-01T00:00:00Z",
         "email_addresses": [{"address": "ada@example.org", "type": "Email"}],
         "addresses": [{"type": "Home", "city": "London", "preferred": true}],
         "phones": [{"number": "5550100", "type": "Home"}],
         "consents": [{"channel": "Email", "category": "All communications",
                       "constituent_consent_response": "OptIn", "consent_date": "2025-06-01"}],
         "solicit_codes": [{"solicit_code": "Do not mail"}]}
      ],
      "lists": [{"name": "Newsletter", "constituent_ids": ["1200"]}]
    }

A constituent takes the ``ConstituentAdd`` properties plus an optional ``id`` (numeric; later
ids continue after it) and ``date_modified`` (not in the future; default now): it and everything
it comes with are stamped at that time, so records can be seeded as changed in the past. A seed
is applied whole or not at all; a field that does not fit is answered 422 with its path, a value
the database refuses 400 naming the record.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from re_nxt_simulator.errors import SkyError
from re_nxt_simulator.inputs import (
    AddressAdd,
    ConsentAdd,
    ConsentFields,
    ConstituentAdd,
    ConstituentAddressAdd,
    ConstituentEmailAdd,
    ConstituentPhoneAdd,
    SkyDateTime,
    SolicitCodeAdd,
    SolicitCodeFields,
)
from re_nxt_simulator.store import RE_USER, RecordStore

__all__ = ["SeedPayload", "seed"]

TableName = Literal[
    "email_types",
    "phone_types",
    "address_types",
    "genders",
    "consent_channels",
    "consent_categories",
    "consent_sources",
    "solicit_codes",
]


class _SeedAddress(ConstituentAddressAdd):
    preferred: bool | None = None


class _SeedConsent(ConsentFields):
    user_name: str = RE_USER


class _SeedConstituent(ConstituentAdd):
    id: str | None = Field(None, pattern=r"^[0-9]+$")
    date_modified: SkyDateTime | None = None
    email_addresses: list[ConstituentEmailAdd] = Field(default_factory=list)
    addresses: list[_SeedAddress] = Field(default_factory=list)
    phones: list[ConstituentPhoneAdd] = Field(default_factory=list)
    consents: list[_SeedConsent] = Field(default_factory=list)
    solicit_codes: list[SolicitCodeFields] = Field(default_factory=list)


class _SeedList(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1)
    constituent_ids: list[str] = Field(default_factory=list)


class SeedPayload(BaseModel):
    """What ``POST /_admin/seed`` takes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    code_tables: dict[TableName, list[str]] = Field(default_factory=dict)
    constituents: list[_SeedConstituent] = Field(default_factory=list)
    lists: list[_SeedList] = Field(default_factory=list)


_CONSTITUENT_ONLY = frozenset(_SeedConstituent.model_fields) - frozenset(
    ConstituentAdd.model_fields
)


def seed(store: RecordStore, payload: dict[str, Any]) -> dict[str, Any]:
    """Load ``payload`` into ``store``; returns the ids made. ``pydantic.ValidationError`` for a
    field that does not fit, ``ValueError`` naming the record for a value the store refuses."""
    given = SeedPayload.model_validate_json(json.dumps(payload))
    saved = store.checkpoint()
    where = "code_tables"
    try:
        for table, entries in given.code_tables.items():
            cleaned = tuple(dict.fromkeys(entry.strip() for entry in entries if entry.strip()))
            if not cleaned:
                raise ValueError(f"code_tables.{table}: give at least one entry")
            store.code_tables.tables[table] = cleaned
        made: list[dict[str, str]] = []
        for index, record in enumerate(given.constituents):
            where = f"constituents.{index}"
            made.append(_constituent(store, record))
        lists = []
        for index, item in enumerate(given.lists):
            where = f"lists.{index}"
            lists.append(store.add_list(item.name, item.constituent_ids).id)
    except SkyError as exc:
        store.restore(saved)
        raise ValueError(f"{where}: {'; '.join(e['message'] for e in exc.entries())}") from None
    except ValueError:
        store.restore(saved)
        raise
    return {"constituents": made, "lists": lists, "code_tables": sorted(given.code_tables)}


def _constituent(store: RecordStore, record: _SeedConstituent) -> dict[str, str]:
    fields = record.model_dump(mode="json", exclude_unset=True, exclude=set(_CONSTITUENT_ONLY))
    body = ConstituentAdd.model_validate_json(json.dumps(fields))
    with store.stamping_at(record.date_modified or store.clock.now()):
        constituent = store.create_constituent(body, record_id=record.id)
        for email in record.email_addresses:
            store.add_email(constituent.id, email)
        for address in record.addresses:
            data = address.model_dump(exclude_unset=True, mode="json")
            store.add_address(AddressAdd.model_validate_json(_with(data, constituent.id)))
        for phone in record.phones:
            store.add_phone(constituent.id, phone)
        for consent in record.consents:
            data = consent.model_dump(exclude_unset=True, exclude={"user_name"}, mode="json")
            body_consent = ConsentAdd.model_validate_json(_with(data, constituent.id))
            store.add_consent(body_consent, actor=consent.user_name)
        for code in record.solicit_codes:
            data = code.model_dump(exclude_unset=True, mode="json")
            store.add_solicit_code(SolicitCodeAdd.model_validate_json(_with(data, constituent.id)))
    return {"id": constituent.id, "lookup_id": constituent.lookup_id}


def _with(data: dict[str, Any], constituent_id: str) -> str:
    return json.dumps({**data, "constituent_id": constituent_id})
