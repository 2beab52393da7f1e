"""The REST API's resources: one method per operation, a request in, a Salesforce answer out.

:class:`RestApi` holds no HTTP machinery of its own beyond building responses: the simulator
matches the path (``routing``), authenticates the caller, counts the call against the daily
limit and then calls the operation's method with a :class:`Call`, holding its lock.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl
from xml.etree import ElementTree

import orjson
from starlette.responses import Response

from salesforce_simulator.auth import Identity, LoginFailed, OAuthError, Session, token_signature
from salesforce_simulator.errors import ErrorItem, SalesforceError, not_found
from salesforce_simulator.ids import normalize_id
from salesforce_simulator.limits import ApiUsage
from salesforce_simulator.routing import Match, supported_versions
from salesforce_simulator.schema import (
    CONTACT,
    FieldDef,
    SObjectDef,
    format_datetime,
    parse_datetime,
)
from salesforce_simulator.soql import SoqlError, compile_query, parse_soql
from salesforce_simulator.store import ContactStore, MultipleMatches, UpsertOutcome

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "JSON_TYPE",
    "Call",
    "QueryCursor",
    "RestApi",
    "error_response",
    "json_answer",
]

JSON_TYPE: Final = "application/json;charset=UTF-8"
#: Records per query page: Salesforce's default and maximum.
DEFAULT_BATCH_SIZE: Final = 2000
#: The smallest batch a client may ask for with ``Sforce-Query-Options: batchSize=n``.
MIN_BATCH_SIZE: Final = 200
#: How long an unused query cursor lives, and how many one user may have open.
CURSOR_LIFETIME: Final = timedelta(minutes=15)
CURSORS_PER_USER: Final = 10
#: How far back ``updated/`` and ``deleted/`` reach, in days before today.
UPDATED_WINDOW_DAYS: Final = 30
DELETED_WINDOW_DAYS: Final = 15
#: Most ids ``updated/`` and ``deleted/`` return before ``EXCEEDED_ID_LIMIT``.
DEFAULT_REPLICATION_ID_LIMIT: Final = 600_000
#: Most records one sObject Collections request carries.
COLLECTION_LIMIT: Final = 200
#: API version from which an upsert answers updates with 200 and a body (204 before), and
#: results carry ``created``.
UPSERT_BODY_VERSION: Final = 46

_SOAP_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
_PARTNER: Final = "urn:partner.soap.sforce.com"
_OBJECTS: Final = {CONTACT.name.lower(): CONTACT}
_ROLLED_BACK: Final = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
    "fields": [],
}


def json_answer(data: Any, status: int = 200, *, pretty: bool = False) -> Response:
    """A JSON response as Salesforce sends it (``X-PrettyPrint: 1`` indents it)."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    return Response(orjson.dumps(data, option=option), status_code=status, media_type=JSON_TYPE)


def error_response(error: SalesforceError, *, pretty: bool = False) -> Response:
    """The error list of ``error`` with its status."""
    return json_answer(error.to_json(), error.status, pretty=pretty)


@dataclass
class Call:
    """One API request as the operations see it."""

    method: str
    match: Match
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    #: ``http://127.0.0.1:8000``: where the caller reached the simulator.
    base_url: str
    session: Session | None = None

    @property
    def version(self) -> str:
        assert self.match.version is not None, "only versioned resources ask for it"
        return self.match.version

    @property
    def version_number(self) -> int:
        return int(float(self.version))

    @property
    def pretty(self) -> bool:
        return self.headers.get("x-prettyprint", "") == "1"

    @property
    def user_id(self) -> str:
        assert self.session is not None, "only authenticated resources ask for it"
        return self.session.user_id

    def param(self, name: str) -> str:
        return self.match.params[name]

    def answer(self, data: Any, status: int = 200) -> Response:
        return json_answer(data, status, pretty=self.pretty)

    def json_body(self) -> Any:
        """The request body as JSON; 400 ``JSON_PARSER_ERROR`` when it is not."""
        if not self.body.strip():
            raise SalesforceError.one(
                400, "JSON_PARSER_ERROR", "No content to map due to end-of-input"
            )
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            where = (
                f" at [line:{exc.lineno}, column:{exc.colno}]"
                if isinstance(exc, json.JSONDecodeError)
                else ""
            )
            message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise SalesforceError.one(
                400, "JSON_PARSER_ERROR", f"Unexpected character: {message}{where}"
            ) from None

    def json_object(self) -> dict[str, Any]:
        body = self.json_body()
        if not isinstance(body, dict):
            raise SalesforceError.one(
                400,
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {CONTACT.name} out of "
                f"{'START_ARRAY' if isinstance(body, list) else 'VALUE'} token",
            )
        return body


@dataclass
class QueryCursor:
    """The rest of a query's records, fetched a batch at a time through ``nextRecordsUrl``."""

    locator: str
    user_id: str
    resource: str
    rows: list[dict[str, Any]]
    batch_size: int
    last_used: datetime


def _sobject(call: Call) -> SObjectDef:
    sobject = _OBJECTS.get(call.param("sobject").lower())
    if sobject is None:
        raise not_found()
    return sobject


def _external_id_missing(name: str) -> SalesforceError:
    return not_found(f"Provided external ID field does not exist or is not accessible: {name}")


def _record_id(sobject: SObjectDef, raw: str) -> str:
    """The record id a path segment names; 404 when it is not an id of ``sobject``."""
    record_id = normalize_id(raw)
    if record_id is None:
        if len(raw) == 18 and raw.isalnum() and raw.startswith(sobject.key_prefix):
            raise SalesforceError.one(
                400, "MALFORMED_ID", f"{sobject.label} ID: id value of incorrect type: {raw}"
            )
        raise _external_id_missing(raw)
    if not record_id.startswith(sobject.key_prefix):
        raise not_found()
    return record_id


def _requested_fields(sobject: SObjectDef, raw: str | None) -> tuple[FieldDef, ...]:
    if raw is None:
        return sobject.fields
    chosen: list[FieldDef] = []
    for name in (part.strip() for part in raw.split(",")):
        found = sobject.field(name)
        if found is None:
            raise SalesforceError.one(
                400,
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{sobject.name}'. If you are attempting to "
                "use a custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )
        if found not in chosen:
            chosen.append(found)
    return tuple(chosen)


def _batch_size(headers: Mapping[str, str], maximum: int) -> int:
    """The page size: ``Sforce-Query-Options: batchSize=n`` within 200..2000, capped by the
    simulator's ``max_batch_size`` (Salesforce may always answer with fewer)."""
    size = DEFAULT_BATCH_SIZE
    for option in headers.get("sforce-query-options", "").split(","):
        name, _, value = option.partition("=")
        if name.strip() == "batchSize" and value.strip().isdigit():
            size = min(max(int(value), MIN_BATCH_SIZE), DEFAULT_BATCH_SIZE)
    return min(size, maximum)


def _truncate_to_minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def _replication_bound(call: Call, name: str) -> datetime:
    raw = call.query.get(name)
    parsed = parse_datetime(raw) if raw else None
    if parsed is None:
        reason = (
            f"{name} is missing"
            if not raw
            else f"{name} {raw!r} is not an ISO 8601 date-time (a '+' in its offset must be "
            "URL-encoded as %2B, or it arrives as a space)"
        )
        raise not_found(f"The requested resource does not exist: {reason}")
    return _truncate_to_minute(parsed)


def _upsert_result(outcome: UpsertOutcome, version: int) -> dict[str, Any]:
    result: dict[str, Any] = {"id": outcome.record_id, "success": True, "errors": []}
    if version >= UPSERT_BODY_VERSION:
        result["created"] = outcome.created
    return result


class RestApi:
    """The operations of the imitated REST API over the org's state."""

    def __init__(
        self,
        store: ContactStore,
        identity: Identity,
        usage: ApiUsage,
        *,
        org_created: Callable[[], datetime],
        max_batch_size: int = DEFAULT_BATCH_SIZE,
        replication_id_limit: int = DEFAULT_REPLICATION_ID_LIMIT,
        rng: random.Random,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be 1 or more, not {max_batch_size}")
        self.store = store
        self.identity = identity
        self.usage = usage
        self.org_created = org_created
        self.max_batch_size = max_batch_size
        self.replication_id_limit = replication_id_limit
        self.rng = rng
        self.cursors: dict[str, QueryCursor] = {}

    def handler(self, operation: str) -> Callable[[Call], Response]:
        handler: Callable[[Call], Response] = getattr(self, f"op_{operation}")
        return handler

    # -- authentication ----------------------------------------------------------------------

    def op_OAuthToken(self, call: Call) -> Response:
        form = dict(parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True))
        merged = {**call.query, **form}
        try:
            session = self.identity.grant(merged, call.headers.get("authorization"))
        except OAuthError as refused:
            return json_answer(refused.to_json(), refused.status)
        issued_at = str(int(session.issued_at.timestamp() * 1000))
        identity_url = f"{call.base_url}/id/{self.identity.org_id}/{session.user_id}"
        answer: dict[str, Any] = {
            "access_token": session.access_token,
            "instance_url": call.base_url,
            "id": identity_url,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
        app = self.identity.apps.get(session.client_id or "")
        if app is not None:
            answer["signature"] = token_signature(
                app.client_secret.get_secret_value(), identity_url, issued_at
            )
        if session.grant == "authorization_code":
            answer["refresh_token"] = session.refresh_token
            answer["scope"] = "api refresh_token"
        return json_answer(answer)

    def op_OAuthRevoke(self, call: Call) -> Response:
        form = dict(parse_qsl(call.body.decode("utf-8", "replace")))
        token = form.get("token") or call.query.get("token", "")
        if not self.identity.revoke(token):
            return json_answer(
                {
                    "error": "unsupported_token_type",
                    "error_description": "this token type is not supported",
                },
                400,
            )
        return Response(status_code=200)

    def op_SoapLogin(self, call: Call) -> Response:
        try:
            username, password = _soap_credentials(call.body)
            session = self.identity.soap_login(username, password)
        except LoginFailed as failed:
            return _soap_fault("INVALID_LOGIN", str(failed))
        except ValueError as bad:
            return _soap_fault("INVALID_OPERATION", str(bad), fault_type="InvalidSObjectFault")
        user = self.identity.users[session.user_id]
        version = call.match.version
        org_id = self.identity.org_id
        result = {
            "metadataServerUrl": f"{call.base_url}/services/Soap/m/{version}/{org_id}",
            "passwordExpired": "false",
            "sandbox": "false",
            "serverUrl": f"{call.base_url}/services/Soap/u/{version}/{org_id}",
            "sessionId": session.access_token,
            "userId": user.id,
        }
        fields = "".join(f"<{name}>{_xml_text(value)}</{name}>" for name, value in result.items())
        user_info = (
            f"<userInfo><organizationId>{self.identity.org_id}</organizationId>"
            f"<userEmail>{_xml_text(user.username)}</userEmail>"
            f"<userFullName>{_xml_text(user.name)}</userFullName><userId>{user.id}</userId>"
            f"<userName>{_xml_text(user.username)}</userName></userInfo>"
        )
        envelope = (
            f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{_SOAP_ENV}" '
            f'xmlns="{_PARTNER}"><soapenv:Body><loginResponse><result>{fields}{user_info}'
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(envelope, media_type="text/xml; charset=utf-8")

    # -- versions, resources, limits, describe -----------------------------------------------

    def op_Versions(self, call: Call) -> Response:
        return call.answer(supported_versions())

    def op_Resources(self, call: Call) -> Response:
        base = f"/services/data/v{call.version}"
        names = ["sobjects", "query", "queryAll", "limits", "composite"]
        return call.answer({name: f"{base}/{name}" for name in names})

    def op_Limits(self, call: Call) -> Response:
        used = self.usage.used
        return call.answer(
            {"DailyApiRequests": {"Max": self.usage.limit, "Remaining": self.usage.limit - used}}
        )

    def op_DescribeGlobal(self, call: Call) -> Response:
        return call.answer(
            {
                "encoding": "UTF-8",
                "maxBatchSize": COLLECTION_LIMIT,
                "sobjects": [sobject.basic_describe(call.version) for sobject in _OBJECTS.values()],
            }
        )

    def op_SObjectBasicInfo(self, call: Call) -> Response:
        sobject = _sobject(call)
        return call.answer(
            {"objectDescribe": sobject.basic_describe(call.version), "recentItems": []}
        )

    def op_SObjectDescribe(self, call: Call) -> Response:
        return call.answer(_sobject(call).describe(call.version))

    # -- records -----------------------------------------------------------------------------

    def op_SObjectCreate(self, call: Call) -> Response:
        sobject = _sobject(call)
        values = sobject.writable_values(call.json_object())
        record_id = self.store.create(values, call.user_id)
        return call.answer({"id": record_id, "success": True, "errors": []}, 201)

    def op_SObjectRetrieve(self, call: Call) -> Response:
        sobject = _sobject(call)
        record = self.store.get(_record_id(sobject, call.param("record_id")))
        fields = _requested_fields(sobject, call.query.get("fields"))
        return call.answer(self.store.render(record, fields, call.version))

    def op_SObjectUpdate(self, call: Call) -> Response:
        sobject = _sobject(call)
        record_id = _record_id(sobject, call.param("record_id"))
        values = sobject.writable_values(call.json_object())
        self.store.update(record_id, values, call.user_id)
        return Response(status_code=204)

    def op_SObjectDelete(self, call: Call) -> Response:
        sobject = _sobject(call)
        self.store.delete(_record_id(sobject, call.param("record_id")), call.user_id)
        return Response(status_code=204)

    def op_SObjectUpsert(self, call: Call) -> Response:
        sobject = _sobject(call)
        if "record_id" in call.match.params:
            # POST sobjects/Contact/Id: Id as the external id with no value, i.e. an insert.
            if call.param("record_id") != "Id" or call.version_number < 37:
                raise SalesforceError.one(
                    405,
                    "METHOD_NOT_ALLOWED",
                    "HTTP Method 'POST' not allowed. Allowed are GET,PATCH,DELETE",
                )
            values = sobject.writable_values(call.json_object())
            outcome = UpsertOutcome(self.store.create(values, call.user_id), created=True)
            return call.answer(_upsert_result(outcome, call.version_number), 201)
        field_name, value = call.param("field"), call.param("value")
        values = sobject.writable_values(call.json_object())
        if field_name.lower() == "id":
            record_id = _record_id(sobject, value)
            self.store.update(record_id, values, call.user_id)
            outcome = UpsertOutcome(record_id, created=False)
        else:
            external = self._external_field(sobject, field_name)
            try:
                outcome = self.store.upsert(
                    external,
                    value,
                    values,
                    call.user_id,
                    update_only=call.query.get("updateOnly", "").lower() == "true",
                    version=call.version,
                )
            except MultipleMatches as several:
                return call.answer(several.urls, 300)
        if outcome.created:
            return call.answer(_upsert_result(outcome, call.version_number), 201)
        if call.version_number < UPSERT_BODY_VERSION:
            return Response(status_code=204)
        return call.answer(_upsert_result(outcome, call.version_number))

    def _external_field(self, sobject: SObjectDef, name: str) -> FieldDef:
        found = sobject.field(name)
        if found is None or not found.external_id:
            raise _external_id_missing(name)
        return found

    def _by_external_id(self, call: Call) -> dict[str, Any]:
        sobject = _sobject(call)
        field_name, value = call.param("field"), call.param("value")
        if field_name.lower() == "id":
            return self.store.get(_record_id(sobject, value))
        matches = self.store.by_external_id(self._external_field(sobject, field_name), value)
        if len(matches) > 1:
            urls = [
                f"/services/data/v{call.version}/sobjects/{sobject.name}/{match['Id']}"
                for match in matches
            ]
            raise MultipleMatches(urls)
        if not matches:
            raise not_found()
        return matches[0]

    def op_SObjectRetrieveByExternalId(self, call: Call) -> Response:
        try:
            record = self._by_external_id(call)
        except MultipleMatches as several:
            return call.answer(several.urls, 300)
        fields = _requested_fields(_sobject(call), call.query.get("fields"))
        return call.answer(self.store.render(record, fields, call.version))

    def op_SObjectDeleteByExternalId(self, call: Call) -> Response:
        try:
            record = self._by_external_id(call)
        except MultipleMatches as several:
            return call.answer(several.urls, 300)
        self.store.delete(record["Id"], call.user_id)
        return Response(status_code=204)

    # -- queries -----------------------------------------------------------------------------

    def op_Query(self, call: Call) -> Response:
        return self._query(call, include_deleted=False)

    def op_QueryAll(self, call: Call) -> Response:
        return self._query(call, include_deleted=True)

    def _query(self, call: Call, *, include_deleted: bool) -> Response:
        text = call.query.get("q", "")
        if not text.strip():
            raise SalesforceError.one(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            parsed = parse_soql(text, _OBJECTS.values())
        except SoqlError as refused:
            raise SalesforceError.one(400, refused.error_code, refused.message()) from None
        rows = compile_query(parsed, self.store.clock.now()).run(
            self.store.rows(include_deleted=include_deleted)
        )
        if parsed.count_only:
            return call.answer({"totalSize": len(rows), "done": True, "records": []})
        rendered = [self.store.render(row, parsed.fields, call.version) for row in rows]
        batch = _batch_size(call.headers, self.max_batch_size)
        if len(rendered) <= batch:
            return call.answer({"totalSize": len(rendered), "done": True, "records": rendered})
        resource = "queryAll" if include_deleted else "query"
        cursor = self._open_cursor(call.user_id, resource, rendered, batch)
        return call.answer(self._page(call, cursor, 0))

    def _open_cursor(
        self, user_id: str, resource: str, rows: list[dict[str, Any]], batch: int
    ) -> QueryCursor:
        self._expire_cursors()
        mine = [cursor for cursor in self.cursors.values() if cursor.user_id == user_id]
        for oldest in mine[: max(0, len(mine) - CURSORS_PER_USER + 1)]:
            del self.cursors[oldest.locator]  # Salesforce drops a user's oldest cursor
        locator = "01g" + "".join(self.rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k=15))
        cursor = QueryCursor(locator, user_id, resource, rows, batch, self.store.clock.now())
        self.cursors[locator] = cursor
        return cursor

    def _expire_cursors(self) -> None:
        now = self.store.clock.now()
        for locator, cursor in list(self.cursors.items()):
            if now - cursor.last_used > CURSOR_LIFETIME:
                del self.cursors[locator]

    def _page(self, call: Call, cursor: QueryCursor, offset: int) -> dict[str, Any]:
        end = offset + cursor.batch_size
        page: dict[str, Any] = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows)}
        if end < len(cursor.rows):
            page["nextRecordsUrl"] = (
                f"/services/data/v{call.version}/{cursor.resource}/{cursor.locator}-{end}"
            )
        page["records"] = cursor.rows[offset:end]
        return page

    def op_QueryMore(self, call: Call) -> Response:
        self._expire_cursors()
        locator, _, raw_offset = call.param("locator").rpartition("-")
        cursor = self.cursors.get(locator)
        if (
            cursor is None
            or cursor.user_id != call.user_id
            or not raw_offset.isdigit()
            or int(raw_offset) > len(cursor.rows)
        ):
            raise SalesforceError.one(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor.last_used = self.store.clock.now()
        return call.answer(self._page(call, cursor, int(raw_offset)))

    # -- replication -------------------------------------------------------------------------

    def _window(self, call: Call, days: int) -> tuple[datetime, datetime]:
        """``[start, covered)``: the asked window in whole minutes, no later than now."""
        start = _replication_bound(call, "start")
        end = _replication_bound(call, "end")
        if end <= start:
            raise SalesforceError.one(
                400,
                "INVALID_REPLICATION_DATE",
                "startDate must chronologically precede endDate by at least a minute "
                f"(start {format_datetime(start)}, end {format_datetime(end)})",
            )
        now = self.store.clock.now()
        today = datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)
        if start < today - timedelta(days=days):
            raise SalesforceError.one(
                400,
                "INVALID_REPLICATION_DATE",
                f"startDate cannot be more than {days} days ago (start {format_datetime(start)})",
            )
        covered = max(start, min(end, _truncate_to_minute(now)))
        return start, covered

    def op_SObjectGetUpdated(self, call: Call) -> Response:
        _sobject(call)
        start, covered = self._window(call, UPDATED_WINDOW_DAYS)
        ids = self.store.updated_ids(start, covered)
        self._check_id_limit(len(ids))
        return call.answer({"ids": ids, "latestDateCovered": format_datetime(covered)})

    def op_SObjectGetDeleted(self, call: Call) -> Response:
        _sobject(call)
        start, covered = self._window(call, DELETED_WINDOW_DAYS)
        earliest = self.store.purged_through or _truncate_to_minute(self.org_created())
        if self.store.purged_through is not None and start < self.store.purged_through:
            raise SalesforceError.one(
                400,
                "INVALID_REPLICATION_DATE",
                f"startDate is before earliestDateAvailable {format_datetime(earliest)}: "
                "deleted records older than that were purged from the recycle bin",
            )
        deleted = self.store.deleted_in(start, covered)
        self._check_id_limit(len(deleted))
        return call.answer(
            {
                "deletedRecords": [
                    {"id": record_id, "deletedDate": format_datetime(deleted_at)}
                    for record_id, deleted_at in deleted
                ],
                "earliestDateAvailable": format_datetime(earliest),
                "latestDateCovered": format_datetime(covered),
            }
        )

    def _check_id_limit(self, count: int) -> None:
        if count > self.replication_id_limit:
            raise SalesforceError.one(
                400,
                "EXCEEDED_ID_LIMIT",
                f"The window holds {count} ids, more than the {self.replication_id_limit} "
                "allowed: choose start and end dates closer together",
            )

    # -- sObject Collections -----------------------------------------------------------------

    def _collection_records(self, call: Call) -> tuple[bool, list[Any]]:
        body = call.json_object()
        records = body.get("records")
        if not isinstance(records, list):
            raise SalesforceError.one(400, "JSON_PARSER_ERROR", "records: give a list of records")
        if len(records) > COLLECTION_LIMIT:
            raise SalesforceError.one(
                400,
                "EXCEEDED_MAX_SIZE_REQUEST",
                f"Maximum size of request reached. Maximum size of request is "
                f"{COLLECTION_LIMIT}. (records has {len(records)})",
            )
        all_or_none = body.get("allOrNone", False)
        if not isinstance(all_or_none, bool):
            raise SalesforceError.one(400, "JSON_PARSER_ERROR", "allOrNone: must be true or false")
        return all_or_none, records

    def _collection(
        self,
        call: Call,
        records: Sequence[Any],
        all_or_none: bool,
        write: Callable[[int, Any], dict[str, Any]],
    ) -> Response:
        """Write each record, one result per record in order. With ``allOrNone`` a failure
        rolls every write of the request back and the other records report it."""
        results: list[dict[str, Any]] = []
        if all_or_none:
            self.store.begin()
        try:
            for index, record in enumerate(records):
                try:
                    results.append(write(index, record))
                except SalesforceError as refused:
                    results.append({"success": False, "errors": _collection_errors(refused)})
        except BaseException:
            if all_or_none:
                self.store.rollback()  # an unexpected failure leaves nothing half-written
            raise
        failed = any(not result["success"] for result in results)
        if all_or_none and failed:
            self.store.rollback()
        elif all_or_none:
            self.store.commit()
        if all_or_none and failed:
            results = [
                result if not result["success"] else {"success": False, "errors": [_ROLLED_BACK]}
                for result in results
            ]
        return call.answer(results)

    def op_CollectionCreate(self, call: Call) -> Response:
        all_or_none, records = self._collection_records(call)

        def create(index: int, record: Any) -> dict[str, Any]:
            sobject = _collection_sobject(record, index)
            values = sobject.writable_values(record)
            return {"id": self.store.create(values, call.user_id), "success": True, "errors": []}

        return self._collection(call, records, all_or_none, create)

    def op_CollectionUpdate(self, call: Call) -> Response:
        all_or_none, records = self._collection_records(call)

        def update(index: int, record: Any) -> dict[str, Any]:
            sobject = _collection_sobject(record, index)
            raw_id = record.get("Id") if isinstance(record, dict) else None
            if not isinstance(raw_id, str):
                raise SalesforceError.one(
                    400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]
                )
            record_id = _record_id(sobject, raw_id)
            values = sobject.writable_values({k: v for k, v in record.items() if k != "Id"})
            self.store.update(record_id, values, call.user_id)
            return {"id": record_id, "success": True, "errors": []}

        return self._collection(call, records, all_or_none, update)

    def op_CollectionUpsert(self, call: Call) -> Response:
        sobject = _sobject(call)
        external = self._external_field(sobject, call.param("field"))
        all_or_none, records = self._collection_records(call)

        def upsert(index: int, record: Any) -> dict[str, Any]:
            if _collection_sobject(record, index) is not sobject:
                raise SalesforceError.one(
                    400, "INVALID_FIELD", f"records[{index}]: every record must be a {sobject.name}"
                )
            value = next((v for k, v in record.items() if k.lower() == external.name.lower()), None)
            if value is None or value == "":
                raise SalesforceError.one(
                    400,
                    "MISSING_ARGUMENT",
                    f"{external.name} not specified",
                    [external.name],
                )
            values = sobject.writable_values(record)
            try:
                outcome = self.store.upsert(
                    external, str(value), values, call.user_id, version=call.version
                )
            except MultipleMatches as several:
                raise SalesforceError.one(
                    300,
                    "DUPLICATE_EXTERNAL_ID",
                    f"{external.name}: more than one record found for external id field: "
                    f"{[url.rsplit('/', 1)[1] for url in several.urls]}",
                    [external.name],
                ) from None
            return {
                "id": outcome.record_id,
                "success": True,
                "errors": [],
                "created": outcome.created,
            }

        return self._collection(call, records, all_or_none, upsert)

    def op_CollectionDelete(self, call: Call) -> Response:
        raw_ids = [part for part in call.query.get("ids", "").split(",") if part]
        if not raw_ids:
            raise SalesforceError.one(400, "MISSING_ARGUMENT", "ids: give the ids to delete")
        if len(raw_ids) > COLLECTION_LIMIT:
            raise SalesforceError.one(
                400,
                "EXCEEDED_MAX_SIZE_REQUEST",
                f"Maximum size of request reached. Maximum size of request is {COLLECTION_LIMIT}.",
            )
        all_or_none = call.query.get("allOrNone", "false").lower() == "true"

        def delete(index: int, raw: Any) -> dict[str, Any]:
            record_id = normalize_id(str(raw))
            if record_id is None or not record_id.startswith(CONTACT.key_prefix):
                raise SalesforceError.one(400, "MALFORMED_ID", f"malformed id {raw}", [])
            self.store.delete(record_id, call.user_id)
            return {"id": record_id, "success": True, "errors": []}

        return self._collection(call, raw_ids, all_or_none, delete)

    def op_CollectionRetrieve(self, call: Call) -> Response:
        sobject = _sobject(call)
        raw_ids = [part for part in call.query.get("ids", "").split(",") if part]
        if not raw_ids or "fields" not in call.query:
            raise SalesforceError.one(
                400, "MISSING_ARGUMENT", "give ids and fields, e.g. ?ids=003...&fields=Id,Email"
            )
        fields = _requested_fields(sobject, call.query["fields"])
        out: list[dict[str, Any] | None] = []
        for raw in raw_ids:
            record_id = normalize_id(raw)
            record = self.store.records.get(record_id or "")
            if record is None or record["IsDeleted"]:
                out.append(None)  # Salesforce answers null for an id it cannot return
            else:
                out.append(self.store.render(record, fields, call.version))
        return call.answer(out)


def _collection_sobject(record: Any, index: int) -> SObjectDef:
    if not isinstance(record, dict):
        raise SalesforceError.one(
            400, "JSON_PARSER_ERROR", f"records[{index}]: a record must be a JSON object"
        )
    attributes = record.get("attributes")
    kind = attributes.get("type") if isinstance(attributes, dict) else None
    sobject = _OBJECTS.get(str(kind).lower()) if kind else None
    if sobject is None:
        raise SalesforceError.one(
            400,
            "INVALID_TYPE",
            f'records[{index}]: give attributes.type, the sObject type (e.g. "Contact")',
        )
    return sobject


def _collection_error(item: ErrorItem) -> dict[str, Any]:
    return {
        "statusCode": item.error_code,
        "message": item.message,
        "fields": list(item.fields or ()),
    }


def _collection_errors(error: SalesforceError) -> list[dict[str, Any]]:
    return [_collection_error(item) for item in error.errors]


# -- SOAP login --------------------------------------------------------------------------------


def _soap_credentials(body: bytes) -> tuple[str, str]:
    """``(username, password)`` of a SOAP ``login`` request; ``ValueError`` for anything
    else. A DOCTYPE is refused before parsing, so no entity is ever expanded."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise ValueError("a DOCTYPE is not allowed in a SOAP message")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise ValueError(f"the request is not well-formed XML: {exc}") from None
    login = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "login"), None)
    if login is None:
        raise ValueError("the simulator's SOAP API answers the login call only")
    values = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in login}
    return values.get("username", ""), values.get("password", "")


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _soap_fault(code: str, message: str, *, fault_type: str = "LoginFault") -> Response:
    envelope = (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{_SOAP_ENV}" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {_xml_text(message)}</faultstring>"
        f'<detail><sf:{fault_type} xsi:type="sf:{fault_type}"><sf:exceptionCode>{code}'
        f"</sf:exceptionCode><sf:exceptionMessage>{_xml_text(message)}</sf:exceptionMessage>"
        f"</sf:{fault_type}></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(envelope, status_code=500, media_type="text/xml; charset=utf-8")
