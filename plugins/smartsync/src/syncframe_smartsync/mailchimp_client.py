"""The Marketing API v3 calls the Mailchimp components make, on the engine's HTTP client.

Errors come back as ``application/problem+json``; the client turns them into the engine's
kinds: 429 (the 10-connection limit) and 5xx are :class:`TransientError` with the
``Retry-After`` the server sent (the engine waits and tries again), every other refusal is a
:class:`MailchimpRefusal` (a :class:`PermanentError`) carrying Mailchimp's title, detail and
the fields it names, so a sink can reject the one member it concerns. The API key travels in
the ``Authorization`` header only and never appears in a message.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar
from urllib.parse import quote

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from syncframe.components import ComponentContext, PermanentError, TransientError
from syncframe_smartsync.mailchimp_settings import MAX_PAGE_SIZE, MailchimpSettings, settings_of

__all__ = [
    "MEMBER_FIELDS",
    "MailchimpClient",
    "MailchimpRefusal",
    "MemberPage",
    "MemberRecord",
    "MergeFieldInfo",
    "TagRef",
    "client_for",
    "subscriber_hash",
]

#: The parts of a member the components read (a partial response: no stats, links...).
MEMBER_FIELDS: Final = (
    "id",
    "email_address",
    "contact_id",
    "status",
    "merge_fields",
    "tags",
    "last_changed",
)
_TRANSIENT: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


def subscriber_hash(email: str) -> str:
    """A member's id in an audience: MD5 of the trimmed, lower-cased email address."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


class TagRef(BaseModel):
    """A tag as a member carries it."""

    model_config = ConfigDict(extra="ignore")

    id: int | None = None
    name: str


class MemberRecord(BaseModel):
    """A member as the API returns it (the parts the components use)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    email_address: str
    contact_id: str = ""
    status: str
    merge_fields: dict[str, Any] = Field(default_factory=dict)
    tags: list[TagRef] = Field(default_factory=list)
    last_changed: AwareDatetime | None = None

    def tag_names(self) -> list[str]:
        """The names of the member's tags, in the API's order."""
        return [tag.name for tag in self.tags]


class MemberPage(BaseModel):
    """One page of ``GET /lists/{list_id}/members``."""

    model_config = ConfigDict(extra="ignore")

    members: list[MemberRecord] = Field(default_factory=list)
    total_items: int = 0


@dataclass(frozen=True, slots=True)
class MergeFieldInfo:
    """A merge field of an audience: its tag and type (``text``, ``number``, ``address``...)."""

    tag: str
    type: str
    name: str
    required: bool


class MailchimpRefusal(PermanentError):
    """Mailchimp refused a request (4xx other than 429): its status, title, detail and the
    fields its ``errors`` array names. The message says what was being done."""

    def __init__(
        self,
        what: str,
        status: int,
        title: str,
        detail: str,
        errors: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.what = what
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = tuple(errors)
        super().__init__(f"{what}: {self.explanation}")

    @property
    def explanation(self) -> str:
        """Mailchimp's words: ``"Invalid Resource: ... (ADDRESS: ...)"``."""
        text = f"{self.title}: {self.detail}" if self.title else self.detail
        if self.errors:
            text += " (" + "; ".join(f"{f}: {m}" if f else m for f, m in self.errors) + ")"
        return f"HTTP {self.status} {text}"


def _problem(response: httpx.Response) -> tuple[str, str, list[tuple[str, str]]]:
    """The title, detail and field errors of a problem+json answer (or of what came instead)."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:300].strip(), []
    if not isinstance(body, dict):
        return "", str(body)[:300], []
    errors = [
        (str(item.get("field", "")), str(item.get("message", "")))
        for item in body.get("errors") or []
        if isinstance(item, dict)
    ]
    return str(body.get("title") or ""), str(body.get("detail") or ""), errors


class MailchimpClient:
    """The calls syncframe makes to one Mailchimp account (HTTP Basic with the API key)."""

    def __init__(self, http: httpx.AsyncClient, settings: MailchimpSettings) -> None:
        self._http = http
        self.settings = settings
        self._root = settings.api_root
        token = base64.b64encode(f"syncframe:{settings.api_key.get_secret_value()}".encode())
        # The key goes in a header only; messages never show request headers.
        self._headers = {"Authorization": f"Basic {token.decode()}"}

    # ---- plumbing --------------------------------------------------------------------------
    async def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> httpx.Response | None:
        """Send one request; the successful answer (``None`` for a 404 with ``missing_ok``)."""
        response = await self._http.request(
            method,
            self._root + path,
            params=params,
            json=body,
            headers=self._headers,
        )
        status = response.status_code
        if response.is_success:
            return response
        if status == 404 and missing_ok:
            return None
        title, detail, errors = _problem(response)
        if status in _TRANSIENT or status >= 500:
            raise TransientError(
                f"{what}: HTTP {status} {title or detail}".rstrip(),
                retry_after=_retry_after(response),
            )
        if status in (401, 403):
            raise MailchimpRefusal(
                f"{what}: Mailchimp refused the API key of data center {self.settings.data_center}",
                status,
                title,
                detail,
                errors,
            )
        raise MailchimpRefusal(what, status, title, detail, errors)

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> Any:
        """Send one request; its decoded JSON (``None`` for a 404 with ``missing_ok``)."""
        response = await self._send(
            method, path, what, params=params, body=body, missing_ok=missing_ok
        )
        if response is None:
            return None
        try:
            return response.json()
        except ValueError:
            # A body cut off on the way (a dropped connection): worth reading again.
            raise TransientError(f"{what}: Mailchimp's answer was not complete JSON") from None

    def _list_path(self, list_id: str) -> str:
        return f"/lists/{quote(list_id, safe='')}"

    def _member_path(self, list_id: str, member_id: str) -> str:
        return f"{self._list_path(list_id)}/members/{quote(member_id, safe='')}"

    # ---- the account and the audience ------------------------------------------------------
    async def ping(self) -> None:
        """``GET /ping``: the key opens the account."""
        await self._send("GET", "/ping", "checking the API key")

    async def audience(self, list_id: str) -> dict[str, Any]:
        """The audience's id, name and member count (404: a refusal naming the audience)."""
        try:
            found = await self._call(
                "GET",
                self._list_path(list_id),
                f"reading audience {list_id}",
                params={"fields": "id,name,stats.member_count"},
            )
        except MailchimpRefusal as refusal:
            if refusal.status == 404:
                raise MailchimpRefusal(
                    f"reading audience {list_id}: the account has no audience {list_id!r} "
                    "(list_id)",
                    404,
                    refusal.title,
                    refusal.detail,
                ) from None
            raise
        return dict(found)

    async def merge_fields(self, list_id: str) -> list[MergeFieldInfo]:
        """Every merge field of the audience."""
        found = await self._call(
            "GET",
            f"{self._list_path(list_id)}/merge-fields",
            f"reading the merge fields of audience {list_id}",
            params={
                "count": MAX_PAGE_SIZE,
                "fields": "merge_fields.tag,merge_fields.type,"
                "merge_fields.name,merge_fields.required",
            },
        )
        return [
            MergeFieldInfo(
                str(item["tag"]),
                str(item.get("type", "text")),
                str(item.get("name", "")),
                bool(item.get("required", False)),
            )
            for item in found.get("merge_fields", [])
        ]

    # ---- members ---------------------------------------------------------------------------
    async def members(
        self,
        list_id: str,
        *,
        count: int,
        offset: int = 0,
        since: datetime | None = None,
        fields: Sequence[str] = MEMBER_FIELDS,
    ) -> MemberPage:
        """Members changed after ``since`` (all without it), oldest change first."""
        params: dict[str, str | int] = {
            "count": count,
            "offset": offset,
            "sort_field": "last_changed",
            "sort_dir": "ASC",
            "fields": ",".join([*(f"members.{name}" for name in fields), "total_items"]),
        }
        if since is not None:
            params["since_last_changed"] = since.isoformat()
        what = f"listing the members of audience {list_id}" + (
            f" changed after {since.isoformat()}" if since is not None else ""
        )
        found = await self._call("GET", f"{self._list_path(list_id)}/members", what, params=params)
        return _validated(MemberPage, found, what)

    async def member_count(self, list_id: str) -> int:
        """How many members the audience holds, in every status."""
        found = await self._call(
            "GET",
            f"{self._list_path(list_id)}/members",
            f"counting the members of audience {list_id}",
            params={"count": 0, "fields": "total_items"},
        )
        return int(found.get("total_items", 0))

    async def member(self, list_id: str, member_id: str) -> MemberRecord | None:
        """The member with this subscriber hash, or ``None``."""
        what = f"reading member {member_id} of audience {list_id}"
        found = await self._call(
            "GET",
            self._member_path(list_id, member_id),
            what,
            params={"fields": ",".join(MEMBER_FIELDS)},
            missing_ok=True,
        )
        return None if found is None else _validated(MemberRecord, found, what)

    async def add_member(self, list_id: str, body: Mapping[str, Any], what: str) -> MemberRecord:
        """``POST /members``: a new member (with its tags); 400 Member Exists if it is not."""
        found = await self._call(
            "POST", f"{self._list_path(list_id)}/members", what, body=dict(body)
        )
        return _validated(MemberRecord, found, what)

    async def put_member(
        self, list_id: str, member_id: str, body: Mapping[str, Any], what: str
    ) -> MemberRecord:
        """``PUT /members/{hash}``: update the member, or create it with ``status_if_new``."""
        found = await self._call(
            "PUT", self._member_path(list_id, member_id), what, body=dict(body)
        )
        return _validated(MemberRecord, found, what)

    async def update_tags(
        self, list_id: str, member_id: str, tags: Mapping[str, bool], what: str
    ) -> None:
        """Make the named tags active (``True``) or inactive (``False``) on the member."""
        body = {
            "tags": [
                {"name": name, "status": "active" if active else "inactive"}
                for name, active in tags.items()
            ]
        }
        await self._send("POST", f"{self._member_path(list_id, member_id)}/tags", what, body=body)

    async def archive_member(self, list_id: str, member_id: str, what: str) -> bool:
        """``DELETE /members/{hash}``: archive the member; ``False`` if there is none."""
        answer = await self._send(
            "DELETE", self._member_path(list_id, member_id), what, missing_ok=True
        )
        return answer is not None


ModelT = TypeVar("ModelT", bound=BaseModel)


def _validated(model: type[ModelT], data: Any, what: str) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise PermanentError(
            f"{what}: Mailchimp answered with data syncframe cannot read: {problems}"
        ) from None


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds a refusal asks to wait (Mailchimp's own 429 sends none: the engine backs off)."""
    header = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None


def client_for(context: ComponentContext) -> MailchimpClient:
    """A Mailchimp client on the engine's HTTP client for the component's connection."""
    return MailchimpClient(context.http(), settings_of(context))
