"""The Marketing API v3 routes: requests in, :class:`~mailchimp_simulator.audiences.Account`
calls, JSON (or problem+json) out.

Every handler runs under the account lock for the part that reads or changes state, and never
awaits while holding it. Refusals are :class:`~mailchimp_simulator.problems.MailchimpError`\\ s,
rendered by :func:`endpoint` with the request's ``instance`` id.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mailchimp_simulator._time import format_time, parse_time
from mailchimp_simulator.audiences import (
    PATCH_STATUSES,
    STATUSES,
    WRITE_STATUSES,
    Audience,
    Member,
    MemberQuery,
    MemberWrite,
    parse_member_write,
    subscriber_hash,
)
from mailchimp_simulator.partial import select_fields
from mailchimp_simulator.problems import FieldProblem, MailchimpError, problem_response
from mailchimp_simulator.render import (
    audience_json,
    collection_links,
    link,
    member_json,
    merge_field_json,
    webhook_json,
)
from mailchimp_simulator.webhooks import EVENT_TYPES, SOURCES

if TYPE_CHECKING:
    from mailchimp_simulator.app import MailchimpSimulator

__all__ = [
    "DEFAULT_EVENTS",
    "DEFAULT_SOURCES",
    "JSON_CONTENT_TYPE",
    "OPERATIONS",
    "MarketingApi",
    "endpoint",
    "operation_for",
]

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE: Final = "application/json; charset=utf-8"
_MAX_COUNT: Final = 1000
_BATCH_LIMIT: Final = 500

Handler = Callable[[Request], Awaitable[Response]]

_LIST = r"/3\.0/lists/[^/]+"
_MEMBER = _LIST + r"/members/[^/]+"
#: (method, path pattern, operation id of Mailchimp's OpenAPI spec): journal and fault names.
OPERATIONS: Final[tuple[tuple[str, re.Pattern[str], str], ...]] = tuple(
    (method, re.compile(pattern + "/?"), name)
    for method, pattern, name in (
        ("GET", r"/3\.0", "getRoot"),
        ("GET", r"/3\.0/ping", "getPing"),
        ("GET", r"/3\.0/search-members", "getSearchMembers"),
        ("GET", r"/3\.0/lists", "getLists"),
        ("POST", r"/3\.0/lists", "postLists"),
        ("GET", _LIST, "getListsId"),
        ("POST", _LIST, "postListsId"),
        ("PATCH", _LIST, "patchListsId"),
        ("DELETE", _LIST, "deleteListsId"),
        ("GET", _LIST + "/tag-search", "searchTagsByName"),
        ("GET", _LIST + "/members", "getListsIdMembers"),
        ("POST", _LIST + "/members", "postListsIdMembers"),
        ("GET", _MEMBER, "getListsIdMembersId"),
        ("PUT", _MEMBER, "putListsIdMembersId"),
        ("PATCH", _MEMBER, "patchListsIdMembersId"),
        ("DELETE", _MEMBER, "deleteListsIdMembersId"),
        (
            "POST",
            _MEMBER + "/actions/delete-permanent",
            "postListsIdMembersHashActionsDeletePermanent",
        ),
        ("GET", _MEMBER + "/tags", "getListMemberTags"),
        ("POST", _MEMBER + "/tags", "postListMemberTags"),
        ("GET", _LIST + "/merge-fields", "getListsIdMergeFields"),
        ("POST", _LIST + "/merge-fields", "postListsIdMergeFields"),
        ("GET", _LIST + "/merge-fields/[^/]+", "getListsIdMergeFieldsId"),
        ("PATCH", _LIST + "/merge-fields/[^/]+", "patchListsIdMergeFieldsId"),
        ("DELETE", _LIST + "/merge-fields/[^/]+", "deleteListsIdMergeFieldsId"),
        ("GET", _LIST + "/webhooks", "getListsIdWebhooks"),
        ("POST", _LIST + "/webhooks", "postListsIdWebhooks"),
        ("GET", _LIST + "/webhooks/[^/]+", "getListsIdWebhooksId"),
        ("PATCH", _LIST + "/webhooks/[^/]+", "patchListsIdWebhooksId"),
        ("DELETE", _LIST + "/webhooks/[^/]+", "deleteListsIdWebhooksId"),
    )
)


def operation_for(method: str, path: str) -> str | None:
    """The operation id of a request (``putListsIdMembersId``), ``None`` for unknown routes."""
    for op_method, pattern, name in OPERATIONS:
        if op_method == method and pattern.fullmatch(path):
            return name
    return None


# -- request parsing ---------------------------------------------------------------------------


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type=JSON_CONTENT_TYPE)


def _partial(request: Request, data: Any, status: int = 200) -> Response:
    """``data`` cut down by the request's ``fields`` / ``exclude_fields``."""
    query = request.query_params
    return _json(select_fields(data, query.get("fields"), query.get("exclude_fields")), status)


async def _body(request: Request) -> Any:
    """The JSON body; ``None`` when empty (or ``null``, which the SDK sends for no body)."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise MailchimpError.json_parse(str(exc)) from None


async def _object_body(request: Request) -> dict[str, Any]:
    body = await _body(request)
    if not isinstance(body, dict):
        raise MailchimpError.invalid_field(
            "body",
            "The request body must be a JSON object"
            if body is not None
            else "The request body is empty; a JSON object is required",
        )
    return body


def _int_param(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise MailchimpError.invalid_field(name, f"must be a whole number, not {raw!r}") from None
    if value < 0 or (maximum is not None and value > maximum):
        limit = f"between 0 and {maximum}" if maximum is not None else "0 or more"
        raise MailchimpError.invalid_field(name, f"must be {limit}, not {value}")
    return value


def _bool_param(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return False
    # requests sends Python's True/False; other clients true/false or 1/0.
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise MailchimpError.invalid_field(name, f"must be true or false, not {raw!r}")


def _time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    when = parse_time(raw)
    if when is None:
        raise MailchimpError.invalid_field(
            name, f"{raw!r} is not an ISO 8601 time (e.g. 2015-10-21T15:41:36+00:00)"
        )
    return when


def _choice_param(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        raise MailchimpError.invalid_field(
            name, f"must be one of {', '.join(choices)}; got {raw!r}"
        )
    return raw


def _page(request: Request, items: list[Any]) -> list[Any]:
    count = _int_param(request, "count", 10, _MAX_COUNT)
    offset = _int_param(request, "offset", 0)
    return items[offset : offset + count]


def _flags(
    body: dict[str, Any], name: str, names: tuple[str, ...], default: dict[str, bool]
) -> dict[str, bool]:
    value = body.get(name)
    if value is None:
        return dict(default)
    if not isinstance(value, dict):
        raise MailchimpError.invalid_field(name, f"must be an object of {', '.join(names)}: bool")
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise MailchimpError.invalid_field(name, f"unknown key(s): {', '.join(unknown)}")
    wrong = sorted(key for key, flag in value.items() if not isinstance(flag, bool))
    if wrong:
        raise MailchimpError.invalid_field(f"{name}.{wrong[0]}", "must be true or false")
    return {**default, **value}


#: A webhook's ``events`` and ``sources`` when the client leaves them out (see the docs page).
DEFAULT_EVENTS: Final = dict.fromkeys(EVENT_TYPES, True)
DEFAULT_SOURCES: Final = {"user": True, "admin": True, "api": False}


def _webhook_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MailchimpError.invalid_field("url", "This value should not be blank.")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MailchimpError.invalid_field("url", f"{value!r} is not an http(s) URL")
    return value.strip()


def endpoint(sim: MailchimpSimulator, handler: Handler) -> Handler:
    """Runs ``handler``; a refusal or a failure becomes Mailchimp's problem+json answer."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except MailchimpError as error:
            return problem_response(error, sim.new_instance_id())
        except Exception:
            # The real API's answer to its own failures; the traceback goes to the log.
            logger.exception("Mailchimp simulator: unexpected error in %s", request.url.path)
            return problem_response(MailchimpError.internal(), sim.new_instance_id())

    return run


class MarketingApi:
    """The handlers of the imitated API, over the simulator's account."""

    def __init__(self, sim: MailchimpSimulator) -> None:
        self.sim = sim
        self.account = sim.account

    @property
    def root(self) -> str:
        return self.sim.api_root

    def routes(self) -> list[BaseRoute]:
        def route(path: str, handler: Handler, *methods: str) -> Route:
            return Route(f"/3.0{path}", endpoint(self.sim, handler), methods=list(methods))

        member = "/lists/{list_id}/members/{subscriber_hash}"
        return [
            route("", self.get_root, "GET"),
            route("/", self.get_root, "GET"),
            route("/ping", self.ping, "GET"),
            route("/search-members", self.search_members, "GET"),
            route("/lists", self.get_lists, "GET"),
            route("/lists", self.create_list, "POST"),
            route("/lists/{list_id}", self.get_list, "GET"),
            route("/lists/{list_id}", self.batch_subscribe, "POST"),
            route("/lists/{list_id}", self.update_list, "PATCH"),
            route("/lists/{list_id}", self.delete_list, "DELETE"),
            route("/lists/{list_id}/tag-search", self.tag_search, "GET"),
            route("/lists/{list_id}/members", self.get_members, "GET"),
            route("/lists/{list_id}/members", self.add_member, "POST"),
            route(member, self.get_member, "GET"),
            route(member, self.set_member, "PUT"),
            route(member, self.update_member, "PATCH"),
            route(member, self.archive_member, "DELETE"),
            route(f"{member}/actions/delete-permanent", self.delete_member_permanent, "POST"),
            route(f"{member}/tags", self.get_member_tags, "GET"),
            route(f"{member}/tags", self.update_member_tags, "POST"),
            route("/lists/{list_id}/merge-fields", self.get_merge_fields, "GET"),
            route("/lists/{list_id}/merge-fields", self.add_merge_field, "POST"),
            route("/lists/{list_id}/merge-fields/{merge_id}", self.get_merge_field, "GET"),
            route("/lists/{list_id}/merge-fields/{merge_id}", self.update_merge_field, "PATCH"),
            route("/lists/{list_id}/merge-fields/{merge_id}", self.delete_merge_field, "DELETE"),
            route("/lists/{list_id}/webhooks", self.get_webhooks, "GET"),
            route("/lists/{list_id}/webhooks", self.create_webhook, "POST"),
            route("/lists/{list_id}/webhooks/{webhook_id}", self.get_webhook, "GET"),
            route("/lists/{list_id}/webhooks/{webhook_id}", self.update_webhook, "PATCH"),
            route("/lists/{list_id}/webhooks/{webhook_id}", self.delete_webhook, "DELETE"),
        ]

    def _audience(self, request: Request) -> Audience:
        return self.account.audience(request.path_params["list_id"])

    def _member_json(self, audience: Audience, member: Member) -> dict[str, Any]:
        return member_json(audience, member, self.root, self.account)

    # -- account -----------------------------------------------------------------------------

    async def get_root(self, request: Request) -> Response:
        with self.account.lock:
            total = sum(a.count("subscribed") for a in self.account.audiences.values())
        account = self.sim.account_profile
        return _partial(
            request,
            {
                **account,
                "total_subscribers": total,
                "_links": [link("self", f"{self.root}/"), link("lists", f"{self.root}/lists")],
            },
        )

    async def ping(self, request: Request) -> Response:
        return _json({"health_status": "Everything's Chimpy!"})

    async def search_members(self, request: Request) -> Response:
        query = request.query_params.get("query", "").strip()
        if not query:
            raise MailchimpError.invalid_field("query", "This value should not be blank.")
        list_id = request.query_params.get("list_id")
        folded = query.casefold()
        with self.account.lock:
            audiences = (
                [self.account.audience(list_id)]
                if list_id
                else list(self.account.audiences.values())
            )
            exact, partial = [], []
            for audience in audiences:
                for member in sorted(audience.members.values(), key=lambda m: m.seq):
                    if member.email_address.casefold() == folded:
                        exact.append(self._member_json(audience, member))
                    elif folded in member.email_address.casefold() or folded in (
                        member.full_name().casefold()
                    ):
                        partial.append(self._member_json(audience, member))
        return _partial(
            request,
            {
                "exact_matches": {"members": exact[:10], "total_items": len(exact)},
                "full_search": {"members": partial[:10], "total_items": len(partial)},
                "_links": [link("self", f"{self.root}/search-members")],
            },
        )

    # -- audiences ---------------------------------------------------------------------------

    async def get_lists(self, request: Request) -> Response:
        with self.account.lock:
            audiences = sorted(self.account.audiences.values(), key=lambda a: a.web_id)
            page = [audience_json(a, self.root) for a in _page(request, audiences)]
        return _partial(
            request,
            {
                "lists": page,
                "total_items": len(audiences),
                "constraints": {
                    "may_create": True,
                    "max_instances": 100,
                    "current_total_instances": len(audiences),
                },
                "_links": collection_links(f"{self.root}/lists", f"{self.root}/"),
            },
        )

    async def create_list(self, request: Request) -> Response:
        body = await _object_body(request)
        problems = []
        for name in ("name", "permission_reminder"):
            if not isinstance(body.get(name), str) or not body[name].strip():
                problems.append(FieldProblem(name, "This value should not be blank."))
        if not isinstance(body.get("email_type_option"), bool):
            problems.append(FieldProblem("email_type_option", "must be true or false"))
        for part, keys in (
            ("contact", ("company", "address1", "city", "state", "zip", "country")),
            ("campaign_defaults", ("from_name", "from_email", "subject", "language")),
        ):
            value = body.get(part)
            if not isinstance(value, dict):
                problems.append(FieldProblem(part, "This value should not be blank."))
                continue
            problems += [
                FieldProblem(f"{part}.{key}", "This value should not be blank.")
                for key in keys
                if not isinstance(value.get(key), str) or not value[key].strip()
            ]
        if problems:
            raise MailchimpError.invalid(*problems)
        with self.account.lock:
            audience = self.account.create_audience(
                body["name"].strip(),
                contact={k: str(v) for k, v in body["contact"].items()},
                permission_reminder=body["permission_reminder"],
                campaign_defaults={k: str(v) for k, v in body["campaign_defaults"].items()},
                email_type_option=body["email_type_option"],
                double_optin=bool(body.get("double_optin", False)),
            )
            return _json(audience_json(audience, self.root))

    async def get_list(self, request: Request) -> Response:
        with self.account.lock:
            return _partial(request, audience_json(self._audience(request), self.root))

    async def update_list(self, request: Request) -> Response:
        body = await _object_body(request)
        with self.account.lock:
            audience = self._audience(request)
            if "name" in body:
                if not isinstance(body["name"], str) or not body["name"].strip():
                    raise MailchimpError.invalid_field("name", "This value should not be blank.")
                audience.name = body["name"].strip()
            for part in ("contact", "campaign_defaults"):
                if part in body:
                    if not isinstance(body[part], dict):
                        raise MailchimpError.invalid_field(part, "must be an object")
                    getattr(audience, part).update({k: str(v) for k, v in body[part].items()})
            for flag in ("email_type_option", "double_optin", "use_archive_bar"):
                if flag in body:
                    if not isinstance(body[flag], bool):
                        raise MailchimpError.invalid_field(flag, "must be true or false")
                    setattr(audience, flag, body[flag])
            if isinstance(body.get("permission_reminder"), str):
                audience.permission_reminder = body["permission_reminder"]
            return _json(audience_json(audience, self.root))

    async def delete_list(self, request: Request) -> Response:
        with self.account.lock:
            self.account.delete_audience(request.path_params["list_id"])
        return Response(status_code=204)

    async def batch_subscribe(self, request: Request) -> Response:
        """POST ``/lists/{list_id}``: up to 500 members added or updated in one call."""
        body = await _object_body(request)
        members = body.get("members")
        if not isinstance(members, list):
            raise MailchimpError.invalid_field("members", "must be a list of member objects")
        if len(members) > _BATCH_LIMIT:
            raise MailchimpError.invalid_field(
                "members", f"at most {_BATCH_LIMIT} members per call, got {len(members)}"
            )
        update_existing = bool(body.get("update_existing", False))
        sync_tags = bool(body.get("sync_tags", False))
        skip = _bool_param(request, "skip_merge_validation")
        created: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.account.lock:
            audience = self._audience(request)
            for index, raw in enumerate(members):
                email = raw.get("email_address") if isinstance(raw, dict) else None
                try:
                    write = parse_member_write(
                        raw, statuses=WRITE_STATUSES, with_status_if_new=False, with_tags=True
                    )
                    member, was_created = self._batch_one(
                        audience, write, update_existing, sync_tags, skip
                    )
                except MailchimpError as error:
                    first = error.errors[0] if error.errors else None
                    errors.append(
                        {
                            "email_address": email if isinstance(email, str) else "",
                            "error": error.detail if first is None else first.message,
                            "error_code": (
                                "ERROR_CONTACT_EXISTS"
                                if error.title == "Member Exists"
                                else "ERROR_GENERIC"
                            ),
                            "field": first.field if first is not None else "",
                            "field_message": first.message if first is not None else "",
                            "index": index,
                        }
                    )
                    continue
                (created if was_created else updated).append(self._member_json(audience, member))
            return _partial(
                request,
                {
                    "new_members": created,
                    "updated_members": updated,
                    "errors": errors,
                    "total_created": len(created),
                    "total_updated": len(updated),
                    "error_count": len(errors),
                    "_links": [link("self", f"{self.root}/lists/{audience.id}", "POST")],
                },
            )

    def _batch_one(
        self,
        audience: Audience,
        write: MemberWrite,
        update_existing: bool,
        sync_tags: bool,
        skip: bool,
    ) -> tuple[Member, bool]:
        if write.email_address is None:
            raise MailchimpError.invalid_field("email_address", "This value should not be blank.")
        existing = audience.members.get(subscriber_hash(write.email_address))
        if existing is None or existing.status == "archived":
            return (
                self.account.add_member(audience, write, source="api", skip_merge_validation=skip),
                True,
            )
        if not update_existing:
            raise MailchimpError(
                400,
                "Member Exists",
                f"{existing.email_address} is already a list member, do you want to update? "
                "please provide update_existing:true in the request body",
            )
        tags, write.tags = write.tags, None
        member = self.account.update_member(
            audience, existing.id, write, source="api", skip_merge_validation=skip
        )
        if tags is not None:
            current = [tag.name for tag, _ in self.account.member_tags(audience, member)]
            changes = [(name, True) for name in tags]
            if sync_tags:
                folded = {name.casefold() for name in tags}
                changes += [(name, False) for name in current if name.casefold() not in folded]
            self.account.set_member_tags(audience, member.id, changes)
        return member, False

    async def tag_search(self, request: Request) -> Response:
        prefix = request.query_params.get("name", "").casefold()
        with self.account.lock:
            audience = self._audience(request)
            tags = [
                {"id": tag.id, "name": tag.name}
                for tag in audience.tags.values()
                if tag.name.casefold().startswith(prefix)
            ]
        return _partial(request, {"tags": tags, "total_items": len(tags)})

    # -- members -----------------------------------------------------------------------------

    def _member_query(self, request: Request) -> MemberQuery:
        query = MemberQuery(
            status=_choice_param(request, "status", STATUSES),
            email_type=_choice_param(request, "email_type", ("html", "text")),
            since_last_changed=_time_param(request, "since_last_changed"),
            before_last_changed=_time_param(request, "before_last_changed"),
            since_timestamp_opt=_time_param(request, "since_timestamp_opt"),
            before_timestamp_opt=_time_param(request, "before_timestamp_opt"),
            unsubscribed_since=_time_param(request, "unsubscribed_since"),
            unique_email_id=request.query_params.get("unique_email_id") or None,
            vip_only=_bool_param(request, "vip_only"),
            sort_field=_choice_param(
                request, "sort_field", ("timestamp_opt", "timestamp_signup", "last_changed")
            ),
            sort_dir=_choice_param(request, "sort_dir", ("ASC", "DESC")) or "ASC",
        )
        if query.unsubscribed_since is not None and query.status != "unsubscribed":
            raise MailchimpError.invalid_field(
                "unsubscribed_since", "can only be used with status=unsubscribed"
            )
        for name in ("interest_category_id", "interest_ids", "since_last_campaign"):
            if request.query_params.get(name):
                raise MailchimpError.invalid_field(
                    name, "this audience has no interest categories or campaigns to filter by"
                )
        return query

    async def get_members(self, request: Request) -> Response:
        query = self._member_query(request)
        with self.account.lock:
            audience = self._audience(request)
            members = self.account.members_matching(audience, query)
            page = [self._member_json(audience, m) for m in _page(request, members)]
        href = f"{self.root}/lists/{audience.id}/members"
        return _partial(
            request,
            {
                "members": page,
                "list_id": audience.id,
                "total_items": len(members),
                "_links": collection_links(href, f"{self.root}/lists/{audience.id}"),
            },
        )

    async def add_member(self, request: Request) -> Response:
        write = parse_member_write(
            await _object_body(request),
            statuses=WRITE_STATUSES,
            with_status_if_new=False,
            with_tags=True,
        )
        skip = _bool_param(request, "skip_merge_validation")
        with self.account.lock:
            audience = self._audience(request)
            member = self.account.add_member(
                audience, write, source="api", skip_merge_validation=skip
            )
            return _json(self._member_json(audience, member))

    async def get_member(self, request: Request) -> Response:
        with self.account.lock:
            audience = self._audience(request)
            member = self.account.member(audience, request.path_params["subscriber_hash"])
            return _partial(request, self._member_json(audience, member))

    async def set_member(self, request: Request) -> Response:
        write = parse_member_write(
            await _object_body(request),
            statuses=WRITE_STATUSES,
            with_status_if_new=True,
            with_tags=False,
        )
        skip = _bool_param(request, "skip_merge_validation")
        with self.account.lock:
            audience = self._audience(request)
            member, _ = self.account.upsert_member(
                audience,
                request.path_params["subscriber_hash"],
                write,
                source="api",
                skip_merge_validation=skip,
            )
            return _json(self._member_json(audience, member))

    async def update_member(self, request: Request) -> Response:
        write = parse_member_write(
            await _object_body(request),
            statuses=PATCH_STATUSES,
            with_status_if_new=False,
            with_tags=False,
        )
        skip = _bool_param(request, "skip_merge_validation")
        with self.account.lock:
            audience = self._audience(request)
            member = self.account.update_member(
                audience,
                request.path_params["subscriber_hash"],
                write,
                source="api",
                skip_merge_validation=skip,
            )
            return _json(self._member_json(audience, member))

    async def archive_member(self, request: Request) -> Response:
        with self.account.lock:
            audience = self._audience(request)
            self.account.archive_member(
                audience, request.path_params["subscriber_hash"], source="api"
            )
        return Response(status_code=204)

    async def delete_member_permanent(self, request: Request) -> Response:
        await _body(request)  # the SDK sends "null"; anything that is not JSON is refused
        with self.account.lock:
            audience = self._audience(request)
            self.account.delete_member_permanently(
                audience, request.path_params["subscriber_hash"], source="api"
            )
        return Response(status_code=204)

    async def get_member_tags(self, request: Request) -> Response:
        with self.account.lock:
            audience = self._audience(request)
            member = self.account.member(audience, request.path_params["subscriber_hash"])
            tags = [
                {"id": tag.id, "name": tag.name, "date_added": format_time(added)}
                for tag, added in self.account.member_tags(audience, member)
            ]
        href = f"{self.root}/lists/{audience.id}/members/{member.id}/tags"
        return _partial(
            request,
            {
                "tags": _page(request, tags),
                "total_items": len(tags),
                "_links": collection_links(href, href.removesuffix("/tags")),
            },
        )

    async def update_member_tags(self, request: Request) -> Response:
        body = await _object_body(request)
        tags = body.get("tags")
        if not isinstance(tags, list):
            raise MailchimpError.invalid_field("tags", "must be a list of {name, status}")
        changes: list[tuple[str, bool]] = []
        problems = []
        for index, tag in enumerate(tags):
            name = tag.get("name") if isinstance(tag, dict) else None
            status = tag.get("status") if isinstance(tag, dict) else None
            if not isinstance(name, str) or not name.strip():
                problems.append(
                    FieldProblem(f"tags.{index}.name", "This value should not be blank.")
                )
            elif len(name.strip()) > 100:
                problems.append(FieldProblem(f"tags.{index}.name", "at most 100 characters"))
            if status not in ("active", "inactive"):
                problems.append(FieldProblem(f"tags.{index}.status", "must be active or inactive"))
            if isinstance(name, str) and status in ("active", "inactive"):
                changes.append((name.strip(), status == "active"))
        if "is_syncing" in body and not isinstance(body["is_syncing"], bool):
            problems.append(FieldProblem("is_syncing", "must be true or false"))
        if problems:
            raise MailchimpError.invalid(*problems)
        with self.account.lock:
            audience = self._audience(request)
            self.account.set_member_tags(audience, request.path_params["subscriber_hash"], changes)
        return Response(status_code=204)

    # -- merge fields ------------------------------------------------------------------------

    async def get_merge_fields(self, request: Request) -> Response:
        type_filter = request.query_params.get("type")
        required = request.query_params.get("required")
        with self.account.lock:
            audience = self._audience(request)
            merges = [
                m
                for m in audience.ordered_merge_fields()
                if (not type_filter or m.type == type_filter)
                and (not required or m.required == _bool_param(request, "required"))
            ]
            page = [merge_field_json(audience, m, self.root) for m in _page(request, merges)]
        href = f"{self.root}/lists/{audience.id}/merge-fields"
        return _partial(
            request,
            {
                "merge_fields": page,
                "list_id": audience.id,
                "total_items": len(merges),
                "_links": collection_links(href, f"{self.root}/lists/{audience.id}"),
            },
        )

    async def add_merge_field(self, request: Request) -> Response:
        body = await _object_body(request)
        with self.account.lock:
            audience = self._audience(request)
            merge = self.account.add_merge_field(audience, body)
            return _json(merge_field_json(audience, merge, self.root))

    async def get_merge_field(self, request: Request) -> Response:
        with self.account.lock:
            audience = self._audience(request)
            merge = self.account.merge_field(audience, request.path_params["merge_id"])
            return _partial(request, merge_field_json(audience, merge, self.root))

    async def update_merge_field(self, request: Request) -> Response:
        body = await _object_body(request)
        with self.account.lock:
            audience = self._audience(request)
            merge = self.account.update_merge_field(audience, request.path_params["merge_id"], body)
            return _json(merge_field_json(audience, merge, self.root))

    async def delete_merge_field(self, request: Request) -> Response:
        with self.account.lock:
            audience = self._audience(request)
            self.account.delete_merge_field(audience, request.path_params["merge_id"])
        return Response(status_code=204)

    # -- webhooks ----------------------------------------------------------------------------

    async def get_webhooks(self, request: Request) -> Response:
        with self.account.lock:
            audience = self._audience(request)
            hooks = [webhook_json(audience, w, self.root) for w in audience.webhooks.values()]
        href = f"{self.root}/lists/{audience.id}/webhooks"
        return _partial(
            request,
            {
                "webhooks": hooks,
                "list_id": audience.id,
                "total_items": len(hooks),
                "_links": collection_links(href, f"{self.root}/lists/{audience.id}"),
            },
        )

    async def create_webhook(self, request: Request) -> Response:
        body = await _object_body(request)
        url = _webhook_url(body.get("url"))
        events = _flags(body, "events", EVENT_TYPES, DEFAULT_EVENTS)
        sources = _flags(body, "sources", SOURCES, DEFAULT_SOURCES)
        with self.account.lock:
            self._audience(request)  # 404 before anyone is called
        # Mailchimp calls the URL before it saves the webhook (outside the lock: the receiver
        # may be another app in this very process).
        refusal = await self.sim.verify_webhook_url(url)
        if refusal:
            raise MailchimpError.invalid(FieldProblem("url", refusal), detail=refusal)
        with self.account.lock:
            audience = self._audience(request)
            webhook = self.account.add_webhook(audience, url, events, sources)
            return _json(webhook_json(audience, webhook, self.root))

    async def get_webhook(self, request: Request) -> Response:
        with self.account.lock:
            audience = self._audience(request)
            webhook = self.account.webhook(audience, request.path_params["webhook_id"])
            return _partial(request, webhook_json(audience, webhook, self.root))

    async def update_webhook(self, request: Request) -> Response:
        body = await _object_body(request)
        with self.account.lock:
            audience = self._audience(request)
            webhook = self.account.webhook(audience, request.path_params["webhook_id"])
            events = _flags(body, "events", EVENT_TYPES, webhook.events)
            sources = _flags(body, "sources", SOURCES, webhook.sources)
        url = webhook.url
        if "url" in body and body["url"] != webhook.url:
            url = _webhook_url(body["url"])
            refusal = await self.sim.verify_webhook_url(url)
            if refusal:
                raise MailchimpError.invalid(FieldProblem("url", refusal), detail=refusal)
        with self.account.lock:
            webhook.url, webhook.events, webhook.sources = url, events, sources
            return _json(webhook_json(audience, webhook, self.root))

    async def delete_webhook(self, request: Request) -> Response:
        with self.account.lock:
            audience = self._audience(request)
            webhook = self.account.webhook(audience, request.path_params["webhook_id"])
            del audience.webhooks[webhook.id]
        return Response(status_code=204)
