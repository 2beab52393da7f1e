"""The account's audiences (lists) and their members: the state and every rule that changes it.

Nothing here knows HTTP. :class:`Account` is called by the imitated API (``source="api"``) and by
the admin routes that stand for what people do in Mailchimp's UI (``"admin"``: an account user
in the audience dashboard; ``"user"``: the contact, through a signup form, an unsubscribe link
or the update-profile page; ``"system"``: Mailchimp itself, cleaning a bounced address). Every
change a webhook reports is handed to the ``on_event`` listener the moment it happens, with the
member as it is then.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, cast, get_args

from mailchimp_simulator._time import parse_time
from mailchimp_simulator.merge_fields import (
    DEFAULT_MERGE_FIELDS,
    MERGE_TYPES,
    MergeField,
    MergeType,
    MergeValue,
    coerce_value,
    default_options,
    valid_tag,
)
from mailchimp_simulator.problems import FieldProblem, MailchimpError
from syncframe.clock import Clock

__all__ = [
    "PATCH_STATUSES",
    "STATUSES",
    "WRITE_STATUSES",
    "Account",
    "Audience",
    "EditSource",
    "EventType",
    "Member",
    "MemberEvent",
    "MemberQuery",
    "MemberWrite",
    "Tag",
    "Webhook",
    "parse_member_write",
    "subscriber_hash",
]

Status = Literal["subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"]
STATUSES: Final[tuple[str, ...]] = get_args(Status)
#: What POST ``status`` and PUT ``status`` / ``status_if_new`` accept.
WRITE_STATUSES: Final = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
#: What PATCH ``status`` accepts.
PATCH_STATUSES: Final = ("subscribed", "unsubscribed", "cleaned", "pending")

#: Who made a change: the API, an account user in the UI, the contact, or Mailchimp itself.
EditSource = Literal["api", "admin", "user", "system"]
EventType = Literal["subscribe", "unsubscribe", "profile", "upemail", "cleaned"]

_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_EMAIL_TYPES: Final = ("html", "text")
_SORT_FIELDS: Final = ("timestamp_opt", "timestamp_signup", "last_changed")
#: The reason Mailchimp records for an unsubscribe that an account user or the API made.
ADMIN_UNSUBSCRIBE_REASON: Final = "N/A (Unsubscribed by an admin)"


def subscriber_hash(email: str) -> str:
    """The member id: MD5 of the trimmed, lower-cased email address."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


# -- state -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Tag:
    id: int
    name: str


@dataclass(slots=True)
class Webhook:
    """A webhook of an audience: where and which events (and whose changes) it reports."""

    id: str
    url: str
    events: dict[str, bool]
    sources: dict[str, bool]


@dataclass(slots=True)
class Member:
    """A contact of one audience. ``merge_fields`` holds only the values that are set."""

    id: str
    email_address: str
    unique_email_id: str
    contact_id: str
    web_id: int
    seq: int
    status: Status
    email_type: str
    last_changed: datetime
    source: str
    merge_fields: dict[str, MergeValue] = field(default_factory=dict)
    interests: dict[str, bool] = field(default_factory=dict)
    language: str = ""
    vip: bool = False
    location: dict[str, float] = field(default_factory=lambda: {"latitude": 0, "longitude": 0})
    ip_signup: str = ""
    timestamp_signup: datetime | None = None
    ip_opt: str = ""
    timestamp_opt: datetime | None = None
    unsubscribe_reason: str = ""
    tags: dict[int, datetime] = field(default_factory=dict)

    def full_name(self) -> str:
        return f"{self.merge_fields.get('FNAME', '')} {self.merge_fields.get('LNAME', '')}".strip()

    def profile_key(self) -> tuple[Any, ...]:
        """What a ``profile`` webhook reports a change of."""
        return (
            self.email_type,
            sorted(self.merge_fields.items(), key=repr),
            sorted(self.interests.items()),
            self.language,
        )

    def state_key(self) -> tuple[Any, ...]:
        """Everything a write can change: ``last_changed`` moves only when this does."""
        return (
            self.email_address,
            self.status,
            self.profile_key(),
            self.vip,
            sorted(self.location.items()),
            self.ip_signup,
            self.timestamp_signup,
            self.ip_opt,
            self.timestamp_opt,
            self.unsubscribe_reason,
            sorted(self.tags),
        )


@dataclass(slots=True)
class Audience:
    """One audience (``/lists/{list_id}``) with its merge fields, members, tags and webhooks."""

    id: str
    web_id: int
    name: str
    contact: dict[str, str]
    permission_reminder: str
    campaign_defaults: dict[str, str]
    email_type_option: bool
    date_created: datetime
    double_optin: bool = False
    use_archive_bar: bool = True
    notify_on_subscribe: str = ""
    notify_on_unsubscribe: str = ""
    visibility: str = "pub"
    merge_fields: dict[int, MergeField] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    #: The same members by ``contact_id`` (the API accepts it in place of the hash).
    by_contact_id: dict[str, Member] = field(default_factory=dict)
    tags: dict[int, Tag] = field(default_factory=dict)
    webhooks: dict[str, Webhook] = field(default_factory=dict)
    #: Hashes of permanently deleted members: the API may not re-add them.
    forgotten: set[str] = field(default_factory=set)
    last_sub_date: datetime | None = None
    last_unsub_date: datetime | None = None
    next_merge_id: int = 1
    next_display_order: int = 1

    def merge_field_by_tag(self, tag: str) -> MergeField | None:
        return next((m for m in self.merge_fields.values() if m.tag == tag), None)

    def tag_by_name(self, name: str) -> Tag | None:
        folded = name.casefold()
        return next((t for t in self.tags.values() if t.name.casefold() == folded), None)

    def ordered_merge_fields(self) -> list[MergeField]:
        return sorted(self.merge_fields.values(), key=lambda m: (m.display_order, m.merge_id))

    def count(self, status: str) -> int:
        return sum(1 for member in self.members.values() if member.status == status)


@dataclass(frozen=True, slots=True)
class MemberEvent:
    """A change a webhook reports, with the member as it is at that moment.

    ``extra`` carries the event's own ``data[...]`` keys (``action``, ``reason``, ``old_email``...).
    """

    type: EventType
    source: EditSource
    audience: Audience
    member: Member
    fired_at: datetime
    extra: Mapping[str, str] = field(default_factory=dict)


# -- what a write asks for --------------------------------------------------------------------


@dataclass(slots=True)
class MemberWrite:
    """A POST/PUT/PATCH member body; ``None`` means "not sent"."""

    email_address: str | None = None
    status: str | None = None
    status_if_new: str | None = None
    email_type: str | None = None
    merge_fields: dict[str, Any] | None = None
    interests: dict[str, bool] | None = None
    language: str | None = None
    vip: bool | None = None
    location: dict[str, float] | None = None
    ip_signup: str | None = None
    timestamp_signup: datetime | None = None
    ip_opt: str | None = None
    timestamp_opt: datetime | None = None
    tags: list[str] | None = None


def parse_member_write(
    body: Any, *, statuses: tuple[str, ...], with_status_if_new: bool, with_tags: bool
) -> MemberWrite:
    """Read a member body; :class:`MailchimpError` (Invalid Resource) naming each bad field.

    Keys the endpoint does not know are ignored, as the real API ignores them.
    """
    if not isinstance(body, dict):
        raise MailchimpError.invalid_field("body", "The request body must be a JSON object")
    problems: list[FieldProblem] = []
    write = MemberWrite()

    def text(name: str) -> str | None:
        value = body.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            problems.append(FieldProblem(name, f"must be a string, not {type(value).__name__}"))
            return None
        return value

    def status(name: str) -> str | None:
        value = text(name)
        if value is not None and value not in statuses:
            problems.append(
                FieldProblem(name, f"must be one of {', '.join(statuses)}; got {value!r}")
            )
            return None
        return value

    write.email_address = text("email_address")
    if write.email_address is not None:
        write.email_address = write.email_address.strip()
        if not _EMAIL.fullmatch(write.email_address):
            raise MailchimpError.invalid(
                FieldProblem("email_address", f"{write.email_address!r} is not an email address"),
                detail="Please provide a valid email address.",
            )
    write.status = status("status")
    if with_status_if_new:
        write.status_if_new = status("status_if_new")
    write.email_type = text("email_type")
    if write.email_type is not None and write.email_type not in _EMAIL_TYPES:
        problems.append(FieldProblem("email_type", "must be html or text"))
    merges = body.get("merge_fields")
    if merges is not None:
        if isinstance(merges, dict):
            write.merge_fields = merges
        else:
            problems.append(FieldProblem("merge_fields", "must be an object of tag: value"))
    interests = body.get("interests")
    if interests is not None:
        if not isinstance(interests, dict) or not all(
            isinstance(v, bool) for v in interests.values()
        ):
            problems.append(FieldProblem("interests", "must be an object of interest id: bool"))
        elif interests:
            # The simulated audiences have no interest categories, so no id can be valid.
            problems.append(
                FieldProblem("interests", f"Invalid interest ID: {sorted(interests)[0]!r}")
            )
        else:
            write.interests = {}
    write.language = text("language")
    vip = body.get("vip")
    if vip is not None:
        if isinstance(vip, bool):
            write.vip = vip
        else:
            problems.append(FieldProblem("vip", "must be true or false"))
    location = body.get("location")
    if location is not None:
        if isinstance(location, dict) and all(
            isinstance(location.get(k, 0), int | float) and not isinstance(location.get(k), bool)
            for k in ("latitude", "longitude")
        ):
            write.location = {
                "latitude": float(location.get("latitude", 0)),
                "longitude": float(location.get("longitude", 0)),
            }
        else:
            problems.append(FieldProblem("location", "must be {latitude, longitude} numbers"))
    write.ip_signup = text("ip_signup")
    write.ip_opt = text("ip_opt")
    for name in ("timestamp_signup", "timestamp_opt"):
        raw = text(name)
        if raw:
            when = parse_time(raw)
            if when is None:
                problems.append(FieldProblem(name, f"{raw!r} is not an ISO 8601 time"))
            setattr(write, name, when)
    permissions = body.get("marketing_permissions")
    if permissions:
        problems.append(
            FieldProblem(
                "marketing_permissions",
                "this audience has no marketing permissions (GDPR fields are not enabled)",
            )
        )
    if with_tags and body.get("tags") is not None:
        tags = body["tags"]
        if isinstance(tags, list) and all(isinstance(t, str) and t.strip() for t in tags):
            write.tags = [t.strip() for t in tags]
        else:
            problems.append(FieldProblem("tags", "must be a list of tag names"))
    if problems:
        raise MailchimpError.invalid(*problems)
    return write


@dataclass(slots=True)
class MemberQuery:
    """The filters and order of ``GET /lists/{list_id}/members``."""

    status: str | None = None
    email_type: str | None = None
    since_last_changed: datetime | None = None
    before_last_changed: datetime | None = None
    since_timestamp_opt: datetime | None = None
    before_timestamp_opt: datetime | None = None
    unsubscribed_since: datetime | None = None
    unique_email_id: str | None = None
    vip_only: bool = False
    sort_field: str | None = None
    sort_dir: str = "ASC"


def _seconds(when: datetime) -> datetime:
    """What the API can compare: its times are whole seconds."""
    return when.replace(microsecond=0)


# -- the account --------------------------------------------------------------------------------


class Account:
    """Every audience of one Mailchimp account and the rules that change them.

    Callers hold :attr:`lock` around a call (the simulator does): requests on the server's
    event loop and a test reading state from its own thread never see a half-made change.
    """

    def __init__(
        self,
        clock: Clock,
        rng: random.Random,
        on_event: Callable[[MemberEvent], None] | None = None,
    ) -> None:
        self.clock = clock
        self.rng = rng
        self.on_event = on_event
        self.lock = threading.RLock()
        self.audiences: dict[str, Audience] = {}
        #: Whether the API may set an unsubscribed member back to ``subscribed`` (see docs).
        self.allow_resubscribe = True
        self._next_web_id = 100_001
        self._next_member_seq = 1
        self._next_tag_id = 10_001

    # -- ids -------------------------------------------------------------------------------------

    def _hex(self, length: int) -> str:
        return f"{self.rng.getrandbits(length * 4):0{length}x}"

    def _web_id(self) -> int:
        self._next_web_id += 1
        return self._next_web_id - 1

    # -- audiences -------------------------------------------------------------------------------

    def create_audience(
        self,
        name: str,
        *,
        list_id: str | None = None,
        contact: Mapping[str, str] | None = None,
        permission_reminder: str = "You signed up for updates on our website.",
        campaign_defaults: Mapping[str, str] | None = None,
        email_type_option: bool = False,
        double_optin: bool = False,
        merge_fields: bool = True,
    ) -> Audience:
        """A new audience with the default merge fields (FNAME, LNAME, ADDRESS, PHONE,
        BIRTHDAY) unless ``merge_fields`` is false."""
        if list_id is None:
            list_id = self._hex(10)
            while list_id in self.audiences:
                list_id = self._hex(10)
        elif list_id in self.audiences:
            raise MailchimpError.invalid_field("id", f"an audience {list_id!r} already exists")
        elif not re.fullmatch(r"[0-9a-z]{1,32}", list_id):
            raise MailchimpError.invalid_field(
                "id", f"{list_id!r} is not a list id (lower-case letters and digits)"
            )
        audience = Audience(
            id=list_id,
            web_id=self._web_id(),
            name=name,
            contact={
                "company": name,
                "address1": "",
                "address2": "",
                "city": "",
                "state": "",
                "zip": "",
                "country": "US",
                "phone": "",
                **(contact or {}),
            },
            permission_reminder=permission_reminder,
            campaign_defaults={
                "from_name": name,
                "from_email": "",
                "subject": "",
                "language": "en",
                **(campaign_defaults or {}),
            },
            email_type_option=email_type_option,
            date_created=self.clock.now(),
            double_optin=double_optin,
        )
        if merge_fields:
            for tag, label, merge_type in DEFAULT_MERGE_FIELDS:
                self.add_merge_field(audience, {"tag": tag, "name": label, "type": merge_type})
        self.audiences[list_id] = audience
        return audience

    def audience(self, list_id: str) -> Audience:
        audience = self.audiences.get(list_id)
        if audience is None:
            raise MailchimpError.not_found(
                f"The requested resource could not be found: no audience {list_id!r}."
            )
        return audience

    def delete_audience(self, list_id: str) -> None:
        self.audience(list_id)
        del self.audiences[list_id]

    # -- finding members -------------------------------------------------------------------------

    def find_member(self, audience: Audience, key: str) -> Member | None:
        """By subscriber hash, email address or ``contact_id`` (the API accepts all three)."""
        if "@" in key:
            return audience.members.get(subscriber_hash(key))
        found = audience.members.get(key.lower())
        return found if found is not None else audience.by_contact_id.get(key)

    def member(self, audience: Audience, key: str) -> Member:
        found = self.find_member(audience, key)
        if found is None:
            raise MailchimpError.not_found(
                "The requested resource could not be found: no member "
                f"{key!r} in audience {audience.id!r}."
            )
        return found

    def members_matching(self, audience: Audience, query: MemberQuery) -> list[Member]:
        """The members a list request selects, in the order asked (default: as added)."""
        found: Iterable[Member] = audience.members.values()

        def keep(member: Member) -> bool:
            changed = _seconds(member.last_changed)
            opted = _seconds(member.timestamp_opt) if member.timestamp_opt else None
            return not (
                (query.status is not None and member.status != query.status)
                or (query.email_type is not None and member.email_type != query.email_type)
                or (query.since_last_changed is not None and changed <= query.since_last_changed)
                or (query.before_last_changed is not None and changed >= query.before_last_changed)
                or (
                    query.since_timestamp_opt is not None
                    and (opted is None or opted <= query.since_timestamp_opt)
                )
                or (
                    query.before_timestamp_opt is not None
                    and (opted is None or opted >= query.before_timestamp_opt)
                )
                or (
                    query.unsubscribed_since is not None
                    and (member.status != "unsubscribed" or changed < query.unsubscribed_since)
                )
                or (
                    query.unique_email_id is not None
                    and member.unique_email_id != query.unique_email_id
                )
                or (query.vip_only and not member.vip)
            )

        selected = [member for member in found if keep(member)]
        selected.sort(key=lambda member: member.seq)
        if query.sort_field is not None:
            name = query.sort_field
            epoch = datetime.min.replace(tzinfo=audience.date_created.tzinfo)

            def when(member: Member) -> datetime:
                value: datetime | None = getattr(member, name)
                return _seconds(value) if value is not None else epoch

            # Stable: members changed in the same second stay in the order they were added.
            selected.sort(key=when, reverse=query.sort_dir == "DESC")
        return selected

    # -- member writes ---------------------------------------------------------------------------

    def _emit(
        self,
        audience: Audience,
        member: Member,
        event: EventType,
        source: EditSource,
        **extra: str,
    ) -> None:
        if self.on_event is not None:
            self.on_event(MemberEvent(event, source, audience, member, self.clock.now(), extra))

    def _check_status_change(
        self, member: Member | None, email: str, new: str, source: EditSource
    ) -> None:
        """Refuse what Mailchimp's compliance rules refuse an account user or the API (see the
        docs page); the contact's own actions (``user``) are never refused."""
        old = member.status if member is not None else None
        if source in ("user", "system") or new != "subscribed" or old == "subscribed":
            return
        if old == "cleaned" or (old == "unsubscribed" and not self.allow_resubscribe):
            raise MailchimpError.compliance_state(email)

    def _merge_values(
        self,
        audience: Audience,
        current: Mapping[str, MergeValue],
        sent: Mapping[str, Any] | None,
        *,
        creating: bool,
        skip_merge_validation: bool,
    ) -> dict[str, MergeValue]:
        values = dict(current)
        problems: list[FieldProblem] = []
        for tag, raw in (sent or {}).items():
            merge = audience.merge_field_by_tag(tag)
            if merge is None:
                continue  # the real API ignores tags the audience does not have
            value = coerce_value(merge, raw)
            if isinstance(value, FieldProblem):
                problems.append(value)
            elif value in ("", {}):
                values.pop(tag, None)
            else:
                values[tag] = value
        if not skip_merge_validation:
            for merge in audience.merge_fields.values():
                asked = creating or (sent is not None and merge.tag in sent)
                if merge.required and asked and merge.tag not in values:
                    problems.append(FieldProblem(merge.tag, "Please enter a value"))
        if problems:
            raise MailchimpError.invalid(*problems, detail="Your merge fields were invalid.")
        return values

    def _set_status(
        self, audience: Audience, member: Member, new: str, *, creating: bool = False
    ) -> None:
        """Set the status and the times and reasons that go with it."""
        now = self.clock.now()
        if new == member.status and not creating:
            return
        member.status = cast(Status, new)  # callers checked it against the endpoint's statuses
        if new == "subscribed":
            member.timestamp_opt = now
            audience.last_sub_date = now
        if new == "pending":
            member.timestamp_signup = now
        if new == "unsubscribed":
            audience.last_unsub_date = now
            if not member.unsubscribe_reason:
                member.unsubscribe_reason = ADMIN_UNSUBSCRIBE_REASON
        else:
            member.unsubscribe_reason = ""

    def _apply(
        self,
        audience: Audience,
        member: Member,
        write: MemberWrite,
        *,
        status: str | None,
        source: EditSource,
        creating: bool,
        skip_merge_validation: bool,
        unsubscribe_reason: str = "",
        webhook_reason: str = "manual",
        campaign_id: str = "",
    ) -> Member:
        """Apply ``write`` (and a new ``status``) to ``member``, stamp ``last_changed`` if
        anything changed, and report the events the change makes."""
        if status is not None:
            self._check_status_change(
                None if creating else member, member.email_address, status, source
            )
        merges = self._merge_values(
            audience,
            {} if creating else member.merge_fields,
            write.merge_fields,
            creating=creating,
            skip_merge_validation=skip_merge_validation,
        )
        new_email = write.email_address
        new_hash = subscriber_hash(new_email) if new_email is not None else member.id
        if not creating and new_hash != member.id:
            other = audience.members.get(new_hash)
            if other is not None:
                raise MailchimpError.member_exists(other.email_address)
        old_state = None if creating else member.state_key()
        old_profile = member.profile_key()
        old_status = member.status
        old_email = member.email_address

        member.merge_fields = merges
        if write.email_type is not None:
            member.email_type = write.email_type
        if write.interests is not None:
            member.interests.update(write.interests)
        if write.language is not None:
            member.language = write.language
        if write.vip is not None:
            member.vip = write.vip
        if write.location is not None:
            member.location = dict(write.location)
        if write.ip_signup is not None:
            member.ip_signup = write.ip_signup
        if write.ip_opt is not None:
            member.ip_opt = write.ip_opt
        if unsubscribe_reason:
            member.unsubscribe_reason = unsubscribe_reason
        if status is not None:
            self._set_status(audience, member, status, creating=creating)
        # Times the client sends win over the ones a status change stamps.
        if write.timestamp_signup is not None:
            member.timestamp_signup = write.timestamp_signup
        if write.timestamp_opt is not None:
            member.timestamp_opt = write.timestamp_opt
        email_changed = not creating and new_hash != member.id
        if email_changed and new_email is not None:
            del audience.members[member.id]
            member.email_address = new_email
            member.id = new_hash
            member.unique_email_id = self._hex(10)
            audience.members[new_hash] = member
        if creating or old_state != member.state_key():
            member.last_changed = self.clock.now()

        if creating:
            if member.status == "subscribed":
                self._emit(audience, member, "subscribe", source)
            return member
        if email_changed:
            self._emit(
                audience,
                member,
                "upemail",
                source,
                old_email=old_email,
                new_email=member.email_address,
                new_id=member.unique_email_id,
            )
        status_changed = member.status != old_status
        if status_changed:
            if member.status == "subscribed":
                self._emit(audience, member, "subscribe", source)
            elif member.status == "unsubscribed" and old_status in ("subscribed", "pending"):
                self._emit(
                    audience,
                    member,
                    "unsubscribe",
                    source,
                    action="unsub",
                    reason=webhook_reason,
                    campaign_id=campaign_id,
                )
            elif member.status == "cleaned":
                self._emit(
                    audience,
                    member,
                    "cleaned",
                    source,
                    # A cleaned event's reason is hard (bounce) or abuse; an API write is hard.
                    reason=webhook_reason if webhook_reason == "abuse" else "hard",
                    campaign_id=campaign_id,
                )
        subscribe_sent = status_changed and member.status == "subscribed"
        profile_changed = member.profile_key() != old_profile
        if profile_changed and not subscribe_sent and member.status != "archived":
            self._emit(audience, member, "profile", source)
        return member

    def _new_member(self, email: str, status: str, member_source: str) -> Member:
        member = Member(
            id=subscriber_hash(email),
            email_address=email,
            unique_email_id=self._hex(10),
            contact_id=self._hex(32),
            web_id=self._web_id(),
            seq=self._next_member_seq,
            status=cast(Status, status),
            email_type="html",
            last_changed=self.clock.now(),
            source=member_source,
        )
        self._next_member_seq += 1
        return member

    def _creatable(self, audience: Audience, email: str, status: str, source: EditSource) -> None:
        forgotten = subscriber_hash(email) in audience.forgotten
        if forgotten and status != "pending" and source in ("api", "admin"):
            raise MailchimpError.forgotten(email)

    def add_member(
        self,
        audience: Audience,
        write: MemberWrite,
        *,
        source: EditSource,
        skip_merge_validation: bool = False,
        member_source: str = "API - Generic",
        unsubscribe_reason: str = "",
    ) -> Member:
        """POST ``/members``: a new member; an archived one comes back with the new status."""
        problems = []
        if write.email_address is None:
            problems.append(FieldProblem("email_address", "This value should not be blank."))
        if write.status is None:
            problems.append(FieldProblem("status", "This value should not be blank."))
        if problems:
            raise MailchimpError.invalid(*problems)
        assert write.email_address is not None
        assert write.status is not None
        existing = audience.members.get(subscriber_hash(write.email_address))
        if existing is not None and existing.status != "archived":
            raise MailchimpError.member_exists(existing.email_address)
        return self._create_or_revive(
            audience,
            existing,
            write,
            write.status,
            source=source,
            skip_merge_validation=skip_merge_validation,
            member_source=member_source,
            unsubscribe_reason=unsubscribe_reason,
        )

    def _create_or_revive(
        self,
        audience: Audience,
        existing: Member | None,
        write: MemberWrite,
        status: str,
        *,
        source: EditSource,
        skip_merge_validation: bool,
        member_source: str,
        unsubscribe_reason: str = "",
    ) -> Member:
        assert write.email_address is not None
        if existing is not None:  # archived: unarchived with the status asked for
            member = self._apply(
                audience,
                existing,
                write,
                status=status,
                source=source,
                creating=False,
                skip_merge_validation=skip_merge_validation,
                unsubscribe_reason=unsubscribe_reason,
            )
        else:
            member = self._create(
                audience,
                write,
                status,
                source=source,
                skip_merge_validation=skip_merge_validation,
                member_source=member_source,
                unsubscribe_reason=unsubscribe_reason,
            )
        if write.tags and self._tag(audience, member, [(name, True) for name in write.tags]):
            member.last_changed = self.clock.now()
        return member

    def _create(
        self,
        audience: Audience,
        write: MemberWrite,
        status: str,
        *,
        source: EditSource,
        skip_merge_validation: bool,
        member_source: str,
        unsubscribe_reason: str,
    ) -> Member:
        assert write.email_address is not None
        self._creatable(audience, write.email_address, status, source)
        member = self._new_member(write.email_address, status, member_source)
        # Built aside and only added once every check passed: a refused write leaves nothing.
        self._apply(
            audience,
            member,
            write,
            status=status,
            source=source,
            creating=True,
            skip_merge_validation=skip_merge_validation,
            unsubscribe_reason=unsubscribe_reason,
        )
        audience.members[member.id] = member
        audience.by_contact_id[member.contact_id] = member
        audience.forgotten.discard(member.id)
        return member

    def upsert_member(
        self,
        audience: Audience,
        key: str,
        write: MemberWrite,
        *,
        source: EditSource,
        skip_merge_validation: bool = False,
    ) -> tuple[Member, bool]:
        """PUT ``/members/{hash}``: update the member, or add it with ``status_if_new``.

        Returns the member and whether it was created (or brought back from the archive).
        """
        existing = self.find_member(audience, key)
        if existing is not None and existing.status != "archived":
            return (
                self._apply(
                    audience,
                    existing,
                    write,
                    status=write.status,
                    source=source,
                    creating=False,
                    skip_merge_validation=skip_merge_validation,
                ),
                False,
            )
        problems = []
        if write.email_address is None:
            problems.append(FieldProblem("email_address", "This value should not be blank."))
        elif existing is None and subscriber_hash(write.email_address) != _key_hash(key):
            problems.append(
                FieldProblem(
                    "email_address",
                    "The email address does not match the subscriber hash in the URL.",
                )
            )
        status = write.status_if_new or write.status
        if status is None:
            problems.append(FieldProblem("status_if_new", "This value should not be blank."))
        if problems:
            raise MailchimpError.invalid(*problems)
        assert status is not None
        member = self._create_or_revive(
            audience,
            existing,
            write,
            status,
            source=source,
            skip_merge_validation=skip_merge_validation,
            member_source="API - Generic",
        )
        return member, True

    def update_member(
        self,
        audience: Audience,
        key: str,
        write: MemberWrite,
        *,
        source: EditSource,
        skip_merge_validation: bool = False,
        unsubscribe_reason: str = "",
        webhook_reason: str = "manual",
        campaign_id: str = "",
    ) -> Member:
        """PATCH ``/members/{hash}``: change what was sent; 404 for an unknown member."""
        member = self.member(audience, key)
        return self._apply(
            audience,
            member,
            write,
            status=write.status,
            source=source,
            creating=False,
            skip_merge_validation=skip_merge_validation,
            unsubscribe_reason=unsubscribe_reason,
            webhook_reason=webhook_reason,
            campaign_id=campaign_id,
        )

    def archive_member(self, audience: Audience, key: str, *, source: EditSource) -> Member:
        """DELETE ``/members/{hash}``: the member stays, with status ``archived``."""
        member = self.member(audience, key)
        if member.status == "archived":
            return member
        member.status = "archived"
        member.last_changed = self.clock.now()
        self._emit(audience, member, "unsubscribe", source, action="delete", reason="manual")
        return member

    def delete_member_permanently(
        self, audience: Audience, key: str, *, source: EditSource
    ) -> None:
        """``/actions/delete-permanent``: gone, and the address may not be re-added by API."""
        member = self.member(audience, key)
        if member.status != "archived":
            self._emit(audience, member, "unsubscribe", source, action="delete", reason="manual")
        del audience.members[member.id]
        del audience.by_contact_id[member.contact_id]
        audience.forgotten.add(member.id)

    # -- tags ------------------------------------------------------------------------------------

    def _tag(self, audience: Audience, member: Member, changes: list[tuple[str, bool]]) -> bool:
        now = self.clock.now()
        changed = False
        for name, active in changes:
            tag = audience.tag_by_name(name)
            if active:
                if tag is None:
                    tag = Tag(self._next_tag_id, name)
                    self._next_tag_id += 1
                    audience.tags[tag.id] = tag
                if tag.id not in member.tags:
                    member.tags[tag.id] = now
                    changed = True
            elif tag is not None and tag.id in member.tags:
                del member.tags[tag.id]
                changed = True
        return changed

    def set_member_tags(
        self, audience: Audience, key: str, changes: list[tuple[str, bool]]
    ) -> Member:
        """POST ``/members/{hash}/tags``: ``active`` adds a tag (made if new), ``inactive``
        removes it. A change stamps ``last_changed``; no webhook event reports tags."""
        member = self.member(audience, key)
        if self._tag(audience, member, changes):
            member.last_changed = self.clock.now()
        return member

    def member_tags(self, audience: Audience, member: Member) -> Iterator[tuple[Tag, datetime]]:
        for tag_id, added in member.tags.items():
            yield audience.tags[tag_id], added

    # -- merge fields ----------------------------------------------------------------------------

    def add_merge_field(self, audience: Audience, body: Mapping[str, Any]) -> MergeField:
        """POST ``/merge-fields``: ``name`` and ``type`` required; ``tag`` made if not given."""
        problems: list[FieldProblem] = []
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(FieldProblem("name", "This value should not be blank."))
        merge_type = body.get("type")
        if merge_type not in MERGE_TYPES:
            problems.append(
                FieldProblem("type", f"must be one of {', '.join(MERGE_TYPES)}; got {merge_type!r}")
            )
        tag = body.get("tag")
        if tag is not None:
            if not isinstance(tag, str) or not valid_tag(tag.upper()):
                problems.append(
                    FieldProblem(
                        "tag", "must be 1-10 letters, digits or underscores, and not EMAIL"
                    )
                )
            elif audience.merge_field_by_tag(tag.upper()) is not None:
                problems.append(
                    FieldProblem(
                        "tag", f"A merge field with the tag {tag.upper()!r} already exists"
                    )
                )
        problems += _merge_field_flags(body)
        options = body.get("options")
        if options is not None and not isinstance(options, dict):
            problems.append(FieldProblem("options", "must be an object"))
        if problems:
            raise MailchimpError.invalid(*problems)
        merge_id = audience.next_merge_id
        chosen: MergeType = merge_type  # type: ignore[assignment]  # checked above
        merge = MergeField(
            merge_id=merge_id,
            tag=tag.upper() if isinstance(tag, str) else f"MMERGE{merge_id}",
            name=str(name).strip(),
            type=chosen,
            required=bool(body.get("required", False)),
            default_value=str(body.get("default_value", "")),
            public=bool(body.get("public", True)),
            display_order=int(body.get("display_order", audience.next_display_order)),
            options={**default_options(chosen), **(options or {})},
            help_text=str(body.get("help_text", "")),
        )
        audience.next_merge_id += 1
        audience.next_display_order = max(audience.next_display_order, merge.display_order) + 1
        audience.merge_fields[merge_id] = merge
        return merge

    def merge_field(self, audience: Audience, merge_id: str | int) -> MergeField:
        try:
            found = audience.merge_fields.get(int(merge_id))
        except ValueError:
            found = None
        if found is None:
            raise MailchimpError.not_found(
                f"The requested resource could not be found: no merge field {merge_id!r} in "
                f"audience {audience.id!r}."
            )
        return found

    def update_merge_field(
        self, audience: Audience, merge_id: str, body: Mapping[str, Any]
    ) -> MergeField:
        """PATCH ``/merge-fields/{merge_id}``: everything but the type may change; a new tag
        moves every member's value to it."""
        merge = self.merge_field(audience, merge_id)
        problems = _merge_field_flags(body)
        if "type" in body and body["type"] != merge.type:
            problems.append(FieldProblem("type", "The type of a merge field cannot be changed"))
        new_tag = body.get("tag")
        if new_tag is not None:
            if not isinstance(new_tag, str) or not valid_tag(new_tag.upper()):
                problems.append(
                    FieldProblem(
                        "tag", "must be 1-10 letters, digits or underscores, and not EMAIL"
                    )
                )
            else:
                clash = audience.merge_field_by_tag(new_tag.upper())
                if clash is not None and clash is not merge:
                    problems.append(
                        FieldProblem(
                            "tag", f"A merge field with the tag {new_tag.upper()!r} already exists"
                        )
                    )
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            problems.append(FieldProblem("name", "This value should not be blank."))
        if "options" in body and not isinstance(body["options"], dict):
            problems.append(FieldProblem("options", "must be an object"))
        if problems:
            raise MailchimpError.invalid(*problems)
        if isinstance(new_tag, str) and new_tag.upper() != merge.tag:
            old, new = merge.tag, new_tag.upper()
            for member in audience.members.values():
                if old in member.merge_fields:
                    member.merge_fields[new] = member.merge_fields.pop(old)
            merge.tag = new
        if isinstance(name, str):
            merge.name = name.strip()
        for flag in ("required", "public"):
            if flag in body:
                setattr(merge, flag, bool(body[flag]))
        if "default_value" in body:
            merge.default_value = str(body["default_value"])
        if "help_text" in body:
            merge.help_text = str(body["help_text"])
        if "display_order" in body:
            merge.display_order = int(body["display_order"])
        if isinstance(body.get("options"), dict):
            merge.options.update(body["options"])
        return merge

    def delete_merge_field(self, audience: Audience, merge_id: str) -> None:
        """DELETE ``/merge-fields/{merge_id}``: the field and every member's value of it go."""
        merge = self.merge_field(audience, merge_id)
        for member in audience.members.values():
            member.merge_fields.pop(merge.tag, None)
        del audience.merge_fields[merge.merge_id]

    # -- webhooks --------------------------------------------------------------------------------

    def add_webhook(
        self, audience: Audience, url: str, events: dict[str, bool], sources: dict[str, bool]
    ) -> Webhook:
        if any(hook.url == url for hook in audience.webhooks.values()):
            raise MailchimpError.invalid_field(
                "url", f"A webhook with the URL {url!r} already exists for this audience"
            )
        webhook = Webhook(self._hex(10), url, events, sources)
        audience.webhooks[webhook.id] = webhook
        return webhook

    def webhook(self, audience: Audience, webhook_id: str) -> Webhook:
        found = audience.webhooks.get(webhook_id)
        if found is None:
            raise MailchimpError.not_found(
                f"The requested resource could not be found: no webhook {webhook_id!r} in "
                f"audience {audience.id!r}."
            )
        return found


def _key_hash(key: str) -> str:
    return subscriber_hash(key) if "@" in key else key.lower()


def _merge_field_flags(body: Mapping[str, Any]) -> list[FieldProblem]:
    problems = []
    for flag in ("required", "public"):
        if flag in body and not isinstance(body[flag], bool):
            problems.append(FieldProblem(flag, "must be true or false"))
    if "display_order" in body and (
        not isinstance(body["display_order"], int) or isinstance(body["display_order"], bool)
    ):
        problems.append(FieldProblem("display_order", "must be a whole number"))
    return problems
