"""The calls the Salesforce connection makes, on the HTTP client the engine provides.

The client logs in at the token endpoint on its first call (and once more when Salesforce says
the session expired), takes the API's address from the token answer, and turns Salesforce's
answers into the engine's error kinds:

* 408, 429 and 5xx, and 403 ``REQUEST_LIMIT_EXCEEDED`` (Salesforce throttles with a 403, not a
  429: the concurrent-request limit with a ``Retry-After``, the rolling 24-hour allocation
  without) -> :class:`~syncframe.components.TransientError`, with the ``Retry-After`` it sent;
* a body that is not the JSON it should be (an answer cut off) -> ``TransientError``;
* a refused login -> :class:`LoginRefused`, other 4xx -> :class:`SalesforceApiError` (both
  ``PermanentError``), carrying Salesforce's error list.

Messages name what was being done, the status and Salesforce's error codes; never a header, a
token or a secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

import anyio
import httpx
import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from syncframe.components import ComponentContext, PermanentError, TransientError
from syncframe.http import raise_for_status
from syncframe.retry import retry_after_of
from syncframe_smartsync.salesforce_models import (
    ApiErrorItem,
    QueryPage,
    SaveResult,
    TokenAnswer,
    describe_errors,
)
from syncframe_smartsync.salesforce_settings import SalesforceSettings

__all__ = [
    "COLLECTION_SIZE",
    "LoginRefused",
    "QueryLocatorExpired",
    "SalesforceApiError",
    "SalesforceClient",
    "check_contact_access",
    "client_for",
]

#: Most records one sObject Collections request carries.
COLLECTION_SIZE: Final = 200
#: The page sizes a query may ask for with ``Sforce-Query-Options: batchSize=n``.
MIN_PAGE_SIZE: Final = 200
MAX_PAGE_SIZE: Final = 2000

_ModelT = TypeVar("_ModelT", bound=BaseModel)
_SAVE_RESULTS: Final = TypeAdapter(list[SaveResult])
_ERROR_LIST: Final = TypeAdapter(list[ApiErrorItem])


class SalesforceApiError(PermanentError):
    """Salesforce refused a call (a 4xx other than throttling): its status and error list."""

    def __init__(self, what: str, status: int, errors: list[ApiErrorItem]) -> None:
        super().__init__(f"{what}: HTTP {status}: {describe_errors(errors)}")
        self.what = what
        self.status = status
        self.errors = errors

    @property
    def error_codes(self) -> list[str]:
        return [item.error_code for item in self.errors]


class QueryLocatorExpired(SalesforceApiError):
    """``INVALID_QUERY_LOCATOR``: the cursor of a query's next page is gone (unused for 15
    minutes, or dropped for a newer one); the query must be run again."""


class LoginRefused(PermanentError):
    """The token endpoint refused the connection's credentials (or its connected app)."""


class _SessionExpired(Exception):
    """401 ``INVALID_SESSION_ID``: log in again and repeat the call once."""


def _error_list(response: httpx.Response) -> list[ApiErrorItem]:
    """Salesforce's error list of an error answer (one item with the text if it is not one)."""
    try:
        return _ERROR_LIST.validate_json(response.content)
    except ValidationError:
        text = response.text[:300].strip() or response.reason_phrase
        return [ApiErrorItem(message=text, errorCode=f"HTTP_{response.status_code}")]


class SalesforceClient:
    """One Salesforce org's REST API, logged in with the connection's OAuth flow."""

    def __init__(self, http: httpx.AsyncClient, settings: SalesforceSettings) -> None:
        self._http = http
        self.settings = settings
        self._session: TokenAnswer | None = None
        self._login_lock = anyio.Lock()

    # ---- the session -------------------------------------------------------------------------
    async def login(self) -> TokenAnswer:
        """A new session from the token endpoint (the instance URL comes with it)."""
        settings = self.settings
        what = f"logging in to Salesforce at {settings.login_url} as {settings.login_name()}"
        response = await self._http.post(
            settings.token_url,
            data=settings.login_form(),
            headers={"Accept": "application/json"},
        )
        if response.status_code in (400, 401, 403) and not _throttled(response):
            refusal = _oauth_refusal(response)
            raise LoginRefused(
                f"Salesforce refused the {settings.grant} login of {settings.login_name()} at "
                f"{settings.login_url}: {refusal}. Check client_id and client_secret"
                + (
                    ", username, password and security_token"
                    if settings.grant == "password"
                    else ", and that the connected app's client credentials flow has a Run As user"
                )
                + "."
            )
        self._raise_for(response, what)
        self._session = self._parse(response, TokenAnswer, what)
        return self._session

    async def session(self) -> TokenAnswer:
        """The current session, logging in first if there is none."""
        async with self._login_lock:
            if self._session is None:
                await self.login()
            assert self._session is not None
            return self._session

    async def user_id(self) -> str | None:
        """The id of the user the session runs as (``005...``), if the token answer said."""
        return (await self.session()).user_id

    def api_url(self, session: TokenAnswer, path: str) -> str:
        """The absolute URL of ``path`` under ``/services/data/vNN.0`` (or of a path that
        already starts with ``/services``, such as a ``nextRecordsUrl``)."""
        base = session.instance_url.rstrip("/")
        if path.startswith("/services/"):
            return base + path
        return f"{base}/services/data/v{self.settings.api_version}/{path.lstrip('/')}"

    # ---- calls -------------------------------------------------------------------------------
    async def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one API call (logging in first, and again once if the session expired)."""
        for attempt in (1, 2):
            session = await self.session()
            request_headers = {
                "Authorization": f"Bearer {session.access_token.get_secret_value()}",
                "Accept": "application/json",
                **(headers or {}),
            }
            content = None
            if body is not None:
                content = orjson.dumps(body)
                request_headers["Content-Type"] = "application/json"
            response = await self._http.request(
                method,
                self.api_url(session, path),
                params=params,
                content=content,
                headers=request_headers,
            )
            try:
                self._raise_for(response, what)
            except _SessionExpired:
                async with self._login_lock:
                    if self._session is session:
                        self._session = None
                if attempt == 2:
                    raise PermanentError(
                        f"{what}: Salesforce refused a session it had just issued "
                        "(INVALID_SESSION_ID twice): check the connected app's session policies"
                    ) from None
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def query(
        self, soql: str, *, include_deleted: bool = False, page_size: int | None = None
    ) -> QueryPage:
        """The first page of a SOQL query (``queryAll`` with ``include_deleted``: the recycle
        bin too)."""
        resource = "queryAll" if include_deleted else "query"
        response = await self.call(
            "GET",
            f"{resource}/",
            f"querying Salesforce ({resource})",
            params={"q": soql},
            headers=_page_size_header(page_size),
        )
        return self._parse(response, QueryPage, f"querying Salesforce ({resource})")

    async def query_more(self, next_records_url: str, *, page_size: int | None = None) -> QueryPage:
        """The next page of a query, from the previous page's ``nextRecordsUrl``."""
        what = "reading the next page of a Salesforce query"
        response = await self.call(
            "GET", next_records_url, what, headers=_page_size_header(page_size)
        )
        return self._parse(response, QueryPage, what)

    async def query_all(self, soql: str) -> list[dict[str, Any]]:
        """Every record of a (small) query, following ``nextRecordsUrl``."""
        page = await self.query(soql)
        records = list(page.records)
        while page.next_records_url is not None and not page.done:
            page = await self.query_more(page.next_records_url)
            records.extend(page.records)
        return records

    async def describe_contact(self) -> dict[str, Any]:
        """``sobjects/Contact/describe``: the Contact's fields as this user sees them."""
        what = "describing the Salesforce Contact"
        response = await self.call("GET", "sobjects/Contact/describe", what)
        described = self._json(response, what)
        if not isinstance(described, dict):
            raise TransientError(f"{what}: the answer is not a JSON object")
        return described

    async def upsert_contacts(
        self, external_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[SaveResult]:
        """sObject Collections upsert by ``external_id_field`` (each record carries it)."""
        return await self._collection(
            "PATCH",
            f"composite/sobjects/Contact/{external_id_field}",
            f"upserting Contacts by {external_id_field}",
            records,
        )

    async def update_contacts(self, records: Sequence[Mapping[str, Any]]) -> list[SaveResult]:
        """sObject Collections update (each record carries its ``Id``)."""
        return await self._collection(
            "PATCH", "composite/sobjects", "updating Contacts by Id", records
        )

    async def create_contacts(self, records: Sequence[Mapping[str, Any]]) -> list[SaveResult]:
        """sObject Collections create."""
        return await self._collection("POST", "composite/sobjects", "creating Contacts", records)

    async def delete_contacts(self, ids: Sequence[str]) -> list[SaveResult]:
        """sObject Collections delete (to the recycle bin); one result per id."""
        what = "deleting Contacts"
        if len(ids) > COLLECTION_SIZE:
            raise ValueError(f"at most {COLLECTION_SIZE} ids per call, not {len(ids)}")
        response = await self.call(
            "DELETE",
            "composite/sobjects",
            what,
            params={"ids": ",".join(ids), "allOrNone": "false"},
        )
        return self._save_results(response, what, len(ids))

    async def _collection(
        self, method: str, path: str, what: str, records: Sequence[Mapping[str, Any]]
    ) -> list[SaveResult]:
        if len(records) > COLLECTION_SIZE:
            raise ValueError(f"at most {COLLECTION_SIZE} records per call, not {len(records)}")
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": "Contact"}, **record} for record in records],
        }
        response = await self.call(method, path, what, body=body)
        return self._save_results(response, what, len(records))

    # ---- answers -----------------------------------------------------------------------------
    def _save_results(self, response: httpx.Response, what: str, count: int) -> list[SaveResult]:
        try:
            results = _SAVE_RESULTS.validate_json(response.content)
        except ValidationError as exc:
            raise TransientError(f"{what}: the answer is not a list of save results: {exc}") from (
                None
            )
        if len(results) != count:
            raise PermanentError(f"{what}: {count} records sent, {len(results)} results answered")
        return results

    @staticmethod
    def _json(response: httpx.Response, what: str) -> Any:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            # A 200 whose body is cut off: the connection dropped mid-answer; worth trying again.
            raise TransientError(f"{what}: the answer is not valid JSON (cut off?)") from None

    @classmethod
    def _parse(cls, response: httpx.Response, model: type[_ModelT], what: str) -> _ModelT:
        data = cls._json(response, what)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise TransientError(f"{what}: unexpected answer: {exc}") from None

    @staticmethod
    def _raise_for(response: httpx.Response, what: str) -> None:
        if response.is_success:
            return
        status = response.status_code
        if status == 401 and "INVALID_SESSION_ID" in response.text:
            raise _SessionExpired()
        if _throttled(response):
            errors = _error_list(response)
            raise TransientError(
                f"{what}: HTTP {status}: {describe_errors(errors)}",
                retry_after=_retry_after(response),
            )
        if status in (408, 425, 429) or status >= 500:
            raise_for_status(response, what)
        errors = _error_list(response)
        if any(item.error_code == "INVALID_QUERY_LOCATOR" for item in errors):
            raise QueryLocatorExpired(what, status, errors)
        raise SalesforceApiError(what, status, errors)


def _throttled(response: httpx.Response) -> bool:
    """403 ``REQUEST_LIMIT_EXCEEDED``: Salesforce's throttle (concurrent or daily limit)."""
    return response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in response.text


def _retry_after(response: httpx.Response) -> float | None:
    return retry_after_of(
        httpx.HTTPStatusError("throttled", request=response.request, response=response)
    )


def _oauth_refusal(response: httpx.Response) -> str:
    """``invalid_grant: authentication failure`` from the token endpoint's error body."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return f"HTTP {response.status_code}: {response.text[:200].strip()}"
    if isinstance(body, dict) and "error" in body:
        return f"{body['error']}: {body.get('error_description', '')}".rstrip(": ")
    return f"HTTP {response.status_code}"


def _page_size_header(page_size: int | None) -> dict[str, str]:
    if page_size is None:
        return {}
    size = min(max(page_size, MIN_PAGE_SIZE), MAX_PAGE_SIZE)
    return {"Sforce-Query-Options": f"batchSize={size}"}


def client_for(context: ComponentContext) -> SalesforceClient:
    """A client on the engine's HTTP client for the component's connection."""
    settings = context.connection
    if not isinstance(settings, SalesforceSettings):
        raise PermanentError(f"connection {context.connection_name!r} is not a Salesforce one")
    return SalesforceClient(context.http(), settings)


async def check_contact_access(client: SalesforceClient) -> dict[str, Any]:
    """Log in and describe the Contact: the credentials work, and the External ID field of the
    connection exists and is one. Returns the describe answer."""
    described = await client.describe_contact()
    field_name = client.settings.external_id_field
    fields = described.get("fields", [])
    found = next((f for f in fields if isinstance(f, dict) and f.get("name") == field_name), None)
    if found is None:
        raise PermanentError(
            f"the Salesforce Contact has no field {field_name!r} (visible to this user): create "
            "it (Text, External ID, Unique) or set external_id_field to the field that holds "
            "the Raiser's Edge Constituent ID"
        )
    if not found.get("externalId"):
        raise PermanentError(
            f"the Contact field {field_name!r} is not an External ID field: tick External ID "
            "(and Unique) on it in Setup > Object Manager > Contact > Fields"
        )
    return described
