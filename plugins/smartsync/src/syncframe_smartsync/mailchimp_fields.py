"""How a Mailchimp member carries the common record vocabulary, both ways.

A member's merge fields are named by tag (``FNAME``, ``CONSID``...); changes use the vocabulary
of the SmartSYNC-style plugin (``first_name``, ``constituent_id``...). :class:`FieldMap` reads
merge values into vocabulary fields (the polling and the webhook sources), and
:class:`AudienceFields` (the field map plus the audience's merge fields and their types) turns
the fields of a change into the merge values a sink sends, and says whether a value differs
from what the member holds.

- ``constituent_id`` is the merge field named by the connection's ``constituent_id_merge_tag``
  (``CONSID``); ``first_name``, ``last_name``, ``phone`` are ``FNAME``, ``LNAME``, ``PHONE``,
  and the connection's ``merge_fields`` adds more (``nickname = "NICKNAME"``);
- ``address1``, ``address2``, ``city``, ``state``, ``postal_code``, ``country`` are the parts of
  the address merge field (``ADDRESS``: ``addr1, addr2, city, state, zip, country``);
- any other merge field is carried under its tag (``BIRTHDAY``), both ways;
- ``email_status`` is the member's status when it is one of ``subscribed``, ``unsubscribed``,
  ``cleaned`` or ``pending`` (a ``transactional`` or ``archived`` member has none).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from syncframe.components import PermanentError
from syncframe_smartsync.mailchimp_client import MailchimpClient, MemberRecord, MergeFieldInfo
from syncframe_smartsync.mailchimp_settings import ADDRESS_PARTS, MailchimpSettings

__all__ = [
    "EMAIL_STATUSES",
    "MEMBER_STATUSES",
    "WRITE_FIELDS",
    "AudienceFields",
    "DesiredMember",
    "FieldMap",
    "audience_fields",
    "email_status_of",
    "fingerprint",
    "member_fields",
    "tag_names",
    "text_of",
]

#: The consent statuses of the common vocabulary (Mailchimp's statuses a contact can be in).
EMAIL_STATUSES: Final = ("subscribed", "unsubscribed", "cleaned", "pending")
#: Every status a Mailchimp member can have.
MEMBER_STATUSES: Final = (*EMAIL_STATUSES, "transactional", "archived")
#: Fields of a change a sink reads besides merge fields.
WRITE_FIELDS: Final = ("email", "email_status", "tags", "remove_tags")
_MERGE_TAG: Final = re.compile(r"^[A-Z0-9_]{1,10}$")
_ADDRESS_KEYS: Final = tuple(ADDRESS_PARTS.values())
#: Keys of a webhook's ``data[merges]`` that are not merge fields.
_NOT_MERGE_FIELDS: Final = frozenset({"EMAIL", "INTERESTS", "GROUPINGS"})


def text_of(value: Any) -> str:
    """A merge or field value as text: ``None`` is empty, ``10042.0`` is ``"10042"``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value.strip() if isinstance(value, str) else str(value)


def email_status_of(status: str) -> str | None:
    """The vocabulary's ``email_status`` of a member status (``None``: transactional,
    archived)."""
    return status if status in EMAIL_STATUSES else None


def tag_names(value: Any, field_name: str) -> list[str]:
    """Tag names from a list or a comma-separated text; ``ValueError`` naming the field."""
    if value is None or value == "":
        return []
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise ValueError(f"{field_name} must be a list of tag names, not {type(value).__name__}")
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{field_name} holds {item!r}, which is not a tag name")
        name = item.strip()
        if len(name) > 100:
            raise ValueError(f"{field_name}: tag {name[:20]!r}... is longer than 100 characters")
        if name and name.casefold() not in {n.casefold() for n in names}:
            names.append(name)
    return names


def fingerprint(member: MemberRecord) -> str:
    """A short digest of everything a member read holds: two reads of a member in the same
    second tell a second change from the same one read again."""
    payload = json.dumps(member.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()


class FieldMap:
    """Merge values -> vocabulary fields, by the connection's settings (no call to Mailchimp)."""

    def __init__(self, settings: MailchimpSettings) -> None:
        self.field_tags = settings.field_tags()
        self.address_tag = settings.address_merge_tag
        self.constituent_id_tag = settings.constituent_id_merge_tag
        self._fields_of_tags = {tag: name for name, tag in self.field_tags.items()}

    def read(self, merges: Mapping[str, Any], *, include_empty: bool) -> dict[str, Any]:
        """The vocabulary fields of a member's merge values (webhook merges too, whose
        ``EMAIL``, ``INTERESTS`` and ``GROUPINGS`` are left out: the email is a field of its own
        and the others are interest groups, not merge fields). Empty values are left out unless
        ``include_empty``: a value Mailchimp does not hold then never blanks another system's."""
        fields: dict[str, Any] = {}
        for tag, value in merges.items():
            if tag in _NOT_MERGE_FIELDS:
                continue
            if tag == self.address_tag:
                parts = value if isinstance(value, Mapping) else {}
                for part, key in ADDRESS_PARTS.items():
                    text = text_of(parts.get(key))
                    if text or include_empty:
                        fields[part] = text
                continue
            mapped = self._fields_of_tags.get(tag)
            if mapped is not None:
                text = text_of(value)
                if text or include_empty:
                    fields[mapped] = text
            elif include_empty or value not in ("", None):
                fields[tag] = value
        return fields

    def constituent_id(self, merges: Mapping[str, Any]) -> str:
        """The constituent id a member's merge values hold (``""``: none)."""
        return text_of(merges.get(self.constituent_id_tag))


def member_fields(
    fields_map: FieldMap, member: MemberRecord, *, include_empty: bool
) -> dict[str, Any]:
    """Every vocabulary field of a member: email, status, merge values and tags."""
    fields: dict[str, Any] = {"email": member.email_address}
    status = email_status_of(member.status)
    if status is not None:
        fields["email_status"] = status
    fields.update(fields_map.read(member.merge_fields, include_empty=include_empty))
    fields["tags"] = member.tag_names()
    return fields


@dataclass(slots=True)
class DesiredMember:
    """What a change asks a member to hold: merge values by tag and the address parts it names
    (the rest of the address is kept), with the fields it could not place."""

    merges: dict[str, Any] = field(default_factory=dict)
    address: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


class AudienceFields(FieldMap):
    """The field map of one audience, with the merge fields it really has."""

    def __init__(self, settings: MailchimpSettings, merge_fields: Sequence[MergeFieldInfo]) -> None:
        super().__init__(settings)
        self.types = {merge.tag: merge.type for merge in merge_fields}

    def missing_tags(self) -> list[str]:
        """Mapped merge tags the audience lacks, as ``"CONSID (constituent_id)"``."""
        wanted = [(tag, name) for name, tag in self.field_tags.items()]
        if self.address_tag:
            wanted.append((self.address_tag, "address"))
        return [f"{tag} ({name})" for tag, name in wanted if tag not in self.types]

    def desired(self, fields: Mapping[str, Any]) -> DesiredMember:
        """The merge values ``fields`` ask for. ``None`` or ``""`` clears a value; a mapped
        field whose merge field the audience lacks is a problem only when it has a value."""
        desired = DesiredMember()
        for name, value in fields.items():
            if name in WRITE_FIELDS:
                continue
            empty = value is None or value == ""
            tag = self.field_tags.get(name)
            if tag is not None:
                if tag in self.types:
                    desired.merges[tag] = self._value(tag, value)
                elif not empty:
                    desired.problems.append(
                        f"{name}: the audience has no merge field {tag} to keep it in"
                    )
            elif name in ADDRESS_PARTS and self.address_tag:
                if self.address_tag in self.types:
                    desired.address[ADDRESS_PARTS[name]] = text_of(value)
                elif not empty:
                    desired.problems.append(
                        f"{name}: the audience has no address merge field {self.address_tag}"
                    )
            elif _MERGE_TAG.match(name):
                if name in self.types:
                    desired.merges[name] = self._value(name, value)
                else:
                    desired.problems.append(f"{name}: the audience has no merge field {name}")
            else:
                desired.unknown.append(name)
        return desired

    def _value(self, tag: str, value: Any) -> Any:
        if value is None:
            return ""
        if self.types.get(tag) in ("address", "number") and not isinstance(value, str):
            return value
        return text_of(value)

    def address_value(self, current: Any, parts: Mapping[str, str]) -> Any:
        """The address merge value after ``parts`` are written over ``current`` (``""`` when
        nothing is left)."""
        held = current if isinstance(current, Mapping) else {}
        merged = {key: text_of(held.get(key)) for key in _ADDRESS_KEYS}
        merged.update(parts)
        return merged if any(merged.values()) else ""

    def same(self, tag: str, wanted: Any, held: Any) -> bool:
        """Whether ``wanted`` is what the member already holds in merge field ``tag``."""
        if self.types.get(tag) == "address" or isinstance(wanted, Mapping):
            if not isinstance(wanted, Mapping):
                return text_of(wanted) == "" and not (
                    isinstance(held, Mapping) and any(text_of(v) for v in held.values())
                )
            held_parts = held if isinstance(held, Mapping) else {}
            return all(
                text_of(wanted.get(key)) == text_of(held_parts.get(key)) for key in _ADDRESS_KEYS
            )
        if text_of(wanted) == text_of(held):
            return True
        if self.types.get(tag) == "number":
            try:
                return float(text_of(wanted)) == float(text_of(held))
            except ValueError:
                return False
        return False


async def audience_fields(
    client: MailchimpClient, list_id: str, *, require_mapped: bool = False
) -> AudienceFields:
    """The field map of audience ``list_id``, read from Mailchimp (a refusal names the
    audience or the key). With ``require_mapped``, an audience lacking a mapped merge field is
    a :class:`PermanentError` saying which (what a connection check wants to know)."""
    await client.audience(list_id)
    fields = AudienceFields(client.settings, await client.merge_fields(list_id))
    missing = fields.missing_tags()
    if require_mapped and missing:
        raise PermanentError(
            f"audience {list_id} has no merge field {', '.join(missing)}: add it in Mailchimp "
            "(Audience > Settings > Audience fields and *|MERGE|* tags), or map the field to "
            "another tag in the connection's settings (a tag of '' un-maps it)"
        )
    return fields
