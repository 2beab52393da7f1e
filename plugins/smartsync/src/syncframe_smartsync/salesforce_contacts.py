"""The Salesforce Contact in the plugin's common record vocabulary, both ways.

SmartSYNC-style flows move people between Raiser's Edge NXT, Mailchimp and Salesforce with
little mapping because every connection speaks the same field names:

=================  ==========================================================================
vocabulary         Contact field
=================  ==========================================================================
``constituent_id``  the External ID field (``RE_Constituent_ID__c`` by default): the binding key
``email``           ``Email``
``first_name``      ``FirstName``
``last_name``       ``LastName`` (required by Salesforce on create)
``address1``        ``MailingStreet`` (all its lines, as Salesforce holds them)
``city``            ``MailingCity``
``state``           ``MailingState``
``postal_code``     ``MailingPostalCode``
``country``         ``MailingCountry``
``phone``           ``Phone``
``email_status``    ``HasOptedOutOfEmail``: opted out <-> ``unsubscribed``; a Contact that has
                    not opted out reports none (that is no opt-in); ``subscribed`` written to
                    Salesforce clears the opt-out
``nickname``        none: the Contact has no nickname field (map it to a custom field)
=================  ==========================================================================
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import orjson

from syncframe_smartsync.salesforce_models import parse_datetime

__all__ = [
    "EMAIL_STATUSES",
    "SYSTEM_FIELDS",
    "UNSTORABLE",
    "VOCABULARY",
    "WRITABLE_FIELDS",
    "ContactValues",
    "contact_fields",
    "fingerprint",
    "full_record_id",
    "is_salesforce_field",
    "modstamp",
    "opted_out_for",
    "select_fields",
]

#: The values ``email_status`` may take (Mailchimp's member statuses).
EMAIL_STATUSES: Final = ("subscribed", "unsubscribed", "cleaned", "pending")

#: Vocabulary name -> Contact field (the external id field is the connection's setting).
VOCABULARY: Final[dict[str, str]] = {
    "email": "Email",
    "first_name": "FirstName",
    "last_name": "LastName",
    "address1": "MailingStreet",
    "city": "MailingCity",
    "state": "MailingState",
    "postal_code": "MailingPostalCode",
    "country": "MailingCountry",
    "phone": "Phone",
}
#: Vocabulary names a Contact has no place for: ignored by the sink.
UNSTORABLE: Final = frozenset({"nickname"})

#: Standard Contact fields a client may write (a mapping may target them by their own names;
#: custom fields ``..__c`` pass too).
WRITABLE_FIELDS: Final = frozenset(
    {
        "AccountId", "Salutation", "FirstName", "LastName", "Title", "Email", "Phone",
        "MobilePhone", "HomePhone", "MailingStreet", "MailingCity", "MailingState",
        "MailingPostalCode", "MailingCountry", "HasOptedOutOfEmail",
    }
)  # fmt: skip
#: What the source reads besides the vocabulary's fields: identity, deletion and change times.
SYSTEM_FIELDS: Final = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)


def is_salesforce_field(name: str) -> bool:
    """Whether ``name`` is a Contact field the sink passes through as it is."""
    return name in WRITABLE_FIELDS or name.endswith("__c")


def select_fields(external_id_field: str) -> list[str]:
    """Every Contact field the connector reads, in SELECT order."""
    return [
        *SYSTEM_FIELDS,
        external_id_field,
        *VOCABULARY.values(),
        "HasOptedOutOfEmail",
    ]


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def contact_fields(record: Mapping[str, Any], external_id_field: str) -> dict[str, Any]:
    """A Contact as read from the API, in the vocabulary (every name present, ``None`` when
    empty)."""
    fields: dict[str, Any] = {"constituent_id": _text(record.get(external_id_field))}
    for name, sf_name in VOCABULARY.items():
        fields[name] = _text(record.get(sf_name))
    if record.get("HasOptedOutOfEmail") is True:
        fields["email_status"] = "unsubscribed"
    else:
        # Not having opted out is not an opt-in: a Contact records no consent to be mailed, so
        # it must not overwrite one (nor an opt-out) the other system holds. No email_status.
        fields.pop("email_status", None)
    return fields


def opted_out_for(status: Any, *, cleaned_opts_out: bool) -> bool | None:
    """``HasOptedOutOfEmail`` for an ``email_status``; ``None``: leave it as it is.

    ``subscribed`` -> false, ``unsubscribed`` -> true, ``pending`` (not confirmed yet: no
    decision) -> unchanged, ``cleaned`` (the address bounced: not a consent decision) ->
    unchanged, or true with ``cleaned_opts_out``. ``ValueError`` for any other value.
    """
    if status is None or status == "":
        return None
    if status == "subscribed":
        return False
    if status == "unsubscribed":
        return True
    if status == "cleaned":
        return True if cleaned_opts_out else None
    if status == "pending":
        return None
    raise ValueError(f"email_status {status!r} is not one of {', '.join(EMAIL_STATUSES)}")


class ContactValues:
    """The Contact values a change asks for, in Salesforce's names, and what it leaves out.

    ``values`` holds the fields to set (``None``: clear it); ``ignored`` the change's fields
    with no Contact counterpart.
    """

    def __init__(self, values: dict[str, Any], ignored: list[str]) -> None:
        self.values = values
        self.ignored = ignored

    @classmethod
    def of(
        cls,
        fields: Mapping[str, Any],
        *,
        external_id_field: str,
        clear_blank_fields: bool,
        cleaned_opts_out: bool,
    ) -> ContactValues:
        """Translate a change's fields; ``ValueError`` naming the field for a bad value."""
        values: dict[str, Any] = {}
        ignored: list[str] = []
        for name, value in fields.items():
            if name == "constituent_id":
                sf_name: str = external_id_field
            elif name == "email_status":
                opted_out = opted_out_for(value, cleaned_opts_out=cleaned_opts_out)
                if opted_out is not None:
                    values["HasOptedOutOfEmail"] = opted_out
                continue
            elif name in VOCABULARY:
                sf_name = VOCABULARY[name]
            elif name == "Id" or name in UNSTORABLE:
                continue  # the record's identity, or a field a Contact cannot hold
            elif is_salesforce_field(name):
                sf_name = name
            else:
                ignored.append(name)
                continue
            if isinstance(value, dict | list):
                raise ValueError(f"field {name!r}: a {type(value).__name__} cannot be stored")
            if sf_name == "HasOptedOutOfEmail":
                if value is None:
                    continue  # no decision: the flag stays as it is
                if not isinstance(value, bool):
                    raise ValueError(f"field {name!r}: {value!r} is not true or false")
                values[sf_name] = value
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            text = _text(value)
            if text is None and not clear_blank_fields:
                continue  # a blank does not erase what Salesforce holds
            values[sf_name] = text
        return cls(values, ignored)


def fingerprint(record: Mapping[str, Any]) -> str:
    """A short digest of a record as read (``attributes`` left out): tells a second change of
    a record within the same second from the one already read."""
    data = {key: value for key, value in record.items() if key != "attributes"}
    payload = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(payload, digest_size=8).hexdigest()


def modstamp(record: Mapping[str, Any]) -> datetime:
    """The record's ``SystemModstamp``; ``ValueError`` if it has none."""
    stamp = parse_datetime(record.get("SystemModstamp"))
    if stamp is None:
        raise ValueError(f"Contact {record.get('Id')}: no SystemModstamp in the answer")
    return stamp


_RECORD_ID: Final = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_SUFFIX_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def full_record_id(raw: str) -> str | None:
    """The 18-character form of a record id (``None`` when ``raw`` is not an id).

    A 15-character id is case-sensitive; Salesforce appends three characters that encode, five
    at a time, which of its letters are upper case. The API answers with the 18-character form,
    so ids given either way are compared in that one.
    """
    if not _RECORD_ID.fullmatch(raw):
        return None
    if len(raw) == 18:
        return raw
    suffix = ""
    for chunk in range(3):
        bits = sum(
            1 << i for i, char in enumerate(raw[chunk * 5 : chunk * 5 + 5]) if char.isupper()
        )
        suffix += _SUFFIX_ALPHABET[bits]
    return raw + suffix
