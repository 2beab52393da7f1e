"""An async client of the Luminate Online web services (SOAP), on the engine's HTTP client.

zeep reads the site's WSDL (each site has its own: custom fields differ) and builds every request
envelope from it, so requests are what the WSDL says, records are typed with ``xsi:type`` and a
cleared field is ``xsi:nil``. The HTTP exchange is ours, on the ``httpx.AsyncClient`` the
component got from ``context.http()`` (with the connection's limits, timeouts and, in tests, the
simulator's in-process transport): zeep's own ``AsyncTransport`` would replace that client's
headers and, loading the WSDL through a second, synchronous client, could not reach an
in-process simulator. The WSDL is therefore fetched through the async client first and handed
to zeep by a transport that only serves those bytes.

Answers are read with lxml directly into FLAT records (dot-notation keys, WSDL order, typed
values), the one shape every component uses. zeep would build nested value objects first and
then we would flatten them: several times slower for a 200-record page (see
``test_client_speed.py``).

Faults become the typed exceptions of :mod:`syncframe_luminate.errors`; a 5xx/429 that is not a
SOAP fault (a load balancer's page) goes through :func:`syncframe.http.raise_for_status`; a body
cut off mid-way is a :class:`TransientError`; httpx's own errors pass through (the engine
retries them). No retry loops here, except the one re-login the session protocol needs.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import anyio
import httpx
import zeep
from lxml import etree
from zeep import xsd

from syncframe.components import PermanentError, TransientError
from syncframe.http import raise_for_status
from syncframe_luminate.errors import (
    InvalidRecord,
    LuminateFault,
    SessionRefused,
    fault_for,
)
from syncframe_luminate.settings import LuminateSettings
from syncframe_luminate.types import CONSTITUENT, MAX_WRITE_RECORDS, IncrementalKind

__all__ = [
    "LuminateClient",
    "RecordResult",
    "SyncWindow",
]

TNS: Final = "urn:soap.convio.com"
ENS: Final = "urn:object.soap.convio.com"
SOAP_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_TYPE: Final = "{http://www.w3.org/2001/XMLSchema-instance}type"
XSI_NIL: Final = "{http://www.w3.org/2001/XMLSchema-instance}nil"
XSD: Final = "http://www.w3.org/2001/XMLSchema"

_OPERATION_NAMES: Final[dict[str, str]] = {
    "inserts": "GetIncrementalInserts",
    "updates": "GetIncrementalUpdates",
    "deletes": "GetIncrementalDeletes",
}
_HEADERS: Final = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
# Answers are the service's, but still: no entities, no network, no DTDs.
_PARSER: Final = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
)
_ZEEP: Any = zeep
_SELECT = re.compile(r"^\s*select\s+(?P<fields>.+?)\s+from\s+(?P<type>\w+)", re.I | re.S)


# --------------------------------------------------------------------------------------------
# What the calls return


@dataclass(frozen=True, slots=True)
class SyncWindow:
    """A synchronization window as Start/EndSynchronization answer it."""

    partition_id: int
    start: datetime | None  # None: the first window (beginning of time)
    end: datetime  # aware UTC
    sync_id: int | None


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The service's answer for one record of a Create / Update / Delete, in order."""

    code: str  # "OK", "DUPLICATE_EMAIL", "MATCH_EXISTING", "RECORD_NOT_FOUND", ...
    message: str | None
    cons_id: int | None
    member_id: str | None
    primary_email: str | None

    @property
    def ok(self) -> bool:
        """Whether the service did what was asked for this record."""
        return self.code == "OK"


# --------------------------------------------------------------------------------------------
# Values: text of the answers -> Python, Python -> values zeep writes


def _to_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip())
    # A naive xsd:dateTime is UTC on this service.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_MOMENTS: dict[str, datetime] = {}
_MOMENTS_SIZE: Final = 4096


def _read_datetime(text: str) -> datetime:
    """:func:`_to_datetime` remembering recent answers: the records of a page share a few
    timestamps (a batch import, a window's changes), and a datetime is immutable."""
    moment = _MOMENTS.get(text)
    if moment is None:
        moment = _to_datetime(text)
        if len(_MOMENTS) >= _MOMENTS_SIZE:
            _MOMENTS.clear()
        _MOMENTS[text] = moment
    return moment


def _to_bool(text: str) -> bool:
    return text.strip() in ("true", "1")


_READERS: Final[dict[str, Callable[[str], Any]]] = {
    **dict.fromkeys(
        (
            "long",
            "int",
            "integer",
            "short",
            "byte",
            "unsignedLong",
            "unsignedInt",
            "unsignedShort",
            "nonNegativeInteger",
            "positiveInteger",
        ),
        int,
    ),
    "decimal": Decimal,
    "boolean": _to_bool,
    "dateTime": _read_datetime,
    "date": date.fromisoformat,
}


def _text(text: str) -> str:
    return text


class _Field:
    """One leaf field of a record type: its path, how its text reads, how a value is written."""

    __slots__ = ("kind", "path", "read")

    def __init__(self, path: str, kind: str) -> None:
        self.path = path
        self.kind = kind  # the XSD type's local name ("long", "decimal", "string"...)
        self.read: Callable[[str], Any] = _READERS.get(kind, _text)

    def value_of(self, text: str | None) -> Any:
        """The typed value of an answer's element text (empty non-text: ``None``)."""
        if self.kind == "string":
            return text or ""
        if not text:
            return None
        return self.read(text)

    def writable(self, value: Any) -> Any:
        """``value`` as zeep should write it into a request; ``ValueError`` saying why not."""
        kind = self.kind
        if kind in ("string", "anyType"):
            return value if isinstance(value, str) else str(value)
        if self.read is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(f"{value!r} is not a whole number")
            return int(str(value).strip()) if not isinstance(value, int) else value
        if kind == "decimal":
            if isinstance(value, bool):
                raise ValueError(f"{value!r} is not a decimal number")
            try:
                return Decimal(str(value).strip())
            except InvalidOperation:
                raise ValueError(f"{value!r} is not a decimal number") from None
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1", "yes"):
                return True
            if text in ("false", "0", "no"):
                return False
            raise ValueError(f"{value!r} is not true or false")
        if kind == "dateTime":
            moment = value if isinstance(value, datetime) else _to_datetime(str(value))
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
        if kind == "date":
            return value if isinstance(value, date) else date.fromisoformat(str(value).strip())
        return value


_NIL_TRUE: Final = ("true", "1")
# What an element of a record is, for the parse plan.
_LEAF: Final = "leaf"
_COMPLEX: Final = "complex"
_UNKNOWN: Final = "unknown"
_PLAN_TAGS: Final = 1024  # distinct tags learnt per plan level (an answer cannot grow it more)


class _Plan:
    """How to read the children of one element of a record type (the record, or a complex
    field): per qualified tag, the flat path, whether it is a leaf, a complex field or unknown
    to the WSDL, and the converter of a leaf's text (``None``: a string). Built lazily from the
    schema as tags are met (the namespace of the answer's elements is the service's choice),
    so the per-element work while reading is a single dict lookup."""

    __slots__ = ("_below", "by_tag", "leaves", "prefix", "schema")

    def __init__(self, schema: RecordSchema, prefix: str) -> None:
        self.schema = schema
        self.prefix = prefix  # "" for the record, "Payment." for the Payment element
        self.leaves: list[str] = schema.under.get(prefix[:-1], []) if prefix else schema.leaves
        self.by_tag: dict[Any, tuple[str, str, Callable[[str], Any] | None, _Plan | None]] = {}
        self._below: dict[str, _Plan] = {}

    def learn(self, tag: Any) -> tuple[str, str, Callable[[str], Any] | None, _Plan | None] | None:
        """The entry of a tag not met before (``None`` for comments and processing
        instructions, which have no string tag)."""
        if not isinstance(tag, str):
            return None
        path = self.prefix + tag.rpartition("}")[2]
        schema = self.schema
        field = schema.fields.get(path)
        entry: tuple[str, str, Callable[[str], Any] | None, _Plan | None]
        if field is not None:
            entry = (path, _LEAF, None if field.kind == "string" else field.read, None)
        elif path in schema.under:
            below = self._below.get(path)
            if below is None:
                below = self._below[path] = _Plan(schema, path + ".")
            entry = (path, _COMPLEX, None, below)
        else:
            entry = (path, _UNKNOWN, None, None)
        if len(self.by_tag) < _PLAN_TAGS:
            self.by_tag[tag] = entry
        return entry


class RecordSchema:
    """A record type as the site's WSDL defines it: its fields, in WSDL order.

    ``paths`` lists every path in document order, a complex element right before its children
    (what the service checks a request's Field list against); ``leaves`` only the leaf paths
    (the keys of a flat record); ``under[p]`` the leaves of the complex element ``p``.
    """

    def __init__(self, name: str, zeep_type: Any) -> None:
        self.name = name
        self.zeep_type = zeep_type
        self.paths: list[str] = []
        self.fields: dict[str, _Field] = {}
        self.under: dict[str, list[str]] = {}
        self.types: dict[str, Any] = {}  # complex path -> zeep type
        self._walk(zeep_type, "")
        self.leaves: list[str] = list(self.fields)
        self.position = {path: index for index, path in enumerate(self.paths)}
        self._plan = _Plan(self, "")

    def _walk(self, zeep_type: Any, prefix: str) -> list[str]:
        leaves: list[str] = []
        for name, element in zeep_type.elements:
            path = f"{prefix}{name}"
            self.paths.append(path)
            if isinstance(element.type, xsd.ComplexType):
                self.types[path] = element.type
                below = self._walk(element.type, f"{path}.")
                self.under[path] = below
                leaves.extend(below)
            else:
                qname = getattr(element.type, "qname", None)
                kind = qname.localname if qname is not None else "string"
                self.fields[path] = _Field(path, kind)
                leaves.append(path)
        return leaves

    def expand(self, paths: Sequence[str]) -> list[str]:
        """The leaf paths named by ``paths`` (leaves or complex elements), in WSDL order.

        Unknown paths are refused with a :class:`PermanentError` naming them and the type.
        """
        wanted: set[str] = set()
        unknown: list[str] = []
        for path in paths:
            if path in self.fields:
                wanted.add(path)
            elif path in self.under:
                wanted.update(self.under[path])
            else:
                unknown.append(path)
        if unknown:
            raise PermanentError(
                f"{', '.join(repr(p) for p in unknown)}: no such field in Luminate record type "
                f"{self.name} (its fields: {', '.join(self.leaves)})"
            )
        return [leaf for leaf in self.leaves if leaf in wanted]

    def flatten(self, record: etree._Element, wanted: Sequence[str] | None) -> dict[str, Any]:
        """One ``<Record>`` element as a flat dict: ``wanted`` keys (``None``: the ones present)
        in WSDL order, typed values, ``None`` for nil or absent."""
        out: dict[str, Any] = dict.fromkeys(wanted) if wanted is not None else {}
        self._fill_planned(record, self._plan, out)
        if wanted is None:
            position = self.position
            return dict(sorted(out.items(), key=lambda kv: position.get(kv[0], len(position))))
        return out

    def _fill_planned(self, element: etree._Element, plan: _Plan, out: dict[str, Any]) -> None:
        """:meth:`_fill` through the precompiled plan: one dict lookup per element (by its
        qualified tag) gives the path and how to read the text, instead of working the path
        out and looking it up again for every element of every record (the hot loop of a
        download: about 20 elements per record, 200 records per page)."""
        by_tag = plan.by_tag
        for child in element:
            entry = by_tag.get(child.tag)
            if entry is None:
                entry = plan.learn(child.tag)
                if entry is None:  # a comment or processing instruction
                    continue
            path, how, read, below = entry
            if how is _LEAF:
                if len(child):  # a leaf with elements inside: not what the WSDL says
                    self._fill(child, path + ".", out)
                    continue
                text = child.text
                if text:  # (a nil element has no content: only an empty one can be nil)
                    out[path] = text if read is None else read(text)
                elif child.get(XSI_NIL) in _NIL_TRUE:
                    out[path] = None
                else:  # empty: "" for a string, None for other types
                    out[path] = "" if read is None else None
            elif how is _COMPLEX:
                assert below is not None
                if len(child):
                    self._fill_planned(child, below, out)
                else:  # nil or empty: its leaves stay None
                    for leaf in below.leaves:
                        out.setdefault(leaf, None)
            elif len(child):  # an element the WSDL does not know, with elements inside
                self._fill(child, path + ".", out)
            else:  # an element the WSDL does not know: kept as text
                out[path] = child.text

    def _fill(self, element: etree._Element, prefix: str, out: dict[str, Any]) -> None:
        """The general reading of elements below ``prefix`` (the plan's fallback for what the
        WSDL does not describe)."""
        fields = self.fields
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):  # a comment or processing instruction
                continue
            path = prefix + tag.rpartition("}")[2]
            if len(child):
                self._fill(child, path + ".", out)
                continue
            field = fields.get(path)
            if field is None:
                if path in self.under:  # a complex element, nil or empty: its leaves stay None
                    for leaf in self.under[path]:
                        out.setdefault(leaf, None)
                else:  # an element the WSDL does not know: kept as text
                    out[path] = child.text
            elif child.get(XSI_NIL) in _NIL_TRUE:
                out[path] = None
            else:
                out[path] = field.value_of(child.text)

    def nested(self, record: Mapping[str, Any], what: str) -> Any:
        """A flat record (dot-notation keys) as the nested zeep value of this type.

        A ``None`` value is written as ``xsi:nil`` (the field is cleared); an absent key is not
        written (left as it is). Unknown paths and bad values raise :class:`InvalidRecord`.
        """
        tree: dict[str, Any] = {}
        for path, value in record.items():
            field = self.fields.get(path)
            if field is None and not (path in self.under and value is None):
                raise InvalidRecord(
                    f"{what}: {path!r} is not a field of Luminate record type {self.name}"
                )
            parent = tree
            parts = path.split(".")
            for part in parts[:-1]:
                child = parent.setdefault(part, {})
                if not isinstance(child, dict):  # "ConsName": None and "ConsName.FirstName"
                    raise InvalidRecord(f"{what}: {path!r} is inside a field cleared as a whole")
                parent = child
            if value is None:
                parent[parts[-1]] = xsd.Nil
                continue
            assert field is not None
            try:
                parent[parts[-1]] = field.writable(value)
            except (ValueError, TypeError) as exc:
                raise InvalidRecord(
                    f"{what}: field {path!r} ({field.kind}): {exc}".rstrip(": ")
                ) from None
        return self._build(self.zeep_type, tree, "")

    def _build(self, zeep_type: Any, values: dict[str, Any], prefix: str) -> Any:
        built: dict[str, Any] = {}
        for name, value in values.items():
            if isinstance(value, dict):
                built[name] = self._build(self.types[f"{prefix}{name}"], value, f"{prefix}{name}.")
            else:
                built[name] = value
        return zeep_type(**built)


# --------------------------------------------------------------------------------------------
# The WSDL, parsed once per site document


class _PrefetchedTransport(zeep.Transport):
    """Serves zeep the WSDL bytes fetched through the async HTTP client; fetches nothing."""

    def __init__(self, documents: Mapping[str, bytes]) -> None:
        # No super().__init__(): it would open a requests.Session this transport never uses.
        self._documents = dict(documents)
        self._close_session = False
        self.cache = None
        self.operation_timeout = None

    def load(self, url: str) -> bytes:
        try:
            return self._documents[url]
        except KeyError:
            raise PermanentError(
                f"the Luminate WSDL refers to {url}, which this client does not fetch"
            ) from None


class _Wsdl:
    """A site's WSDL: zeep's client for building envelopes, and the record schemas."""

    def __init__(self, url: str, document: bytes) -> None:
        transport = _PrefetchedTransport({url: document})
        # zeep is untyped: keep its objects as Any.
        self.zeep: Any = _ZEEP.Client(url, transport=transport)
        self.service = self.zeep.service
        self.session_element = self.zeep.get_element(f"{{{TNS}}}Session")
        self._schemas: dict[str, RecordSchema] = {}

    def schema(self, record_type: str) -> RecordSchema:
        """The schema of a record type; :class:`PermanentError` if the WSDL has no such type."""
        schema = self._schemas.get(record_type)
        if schema is None:
            try:
                zeep_type = self.zeep.get_type(f"{{{ENS}}}{record_type}")
            except (LookupError, ValueError, zeep.exceptions.Error):
                raise PermanentError(
                    f"the site's WSDL has no record type {record_type!r}"
                ) from None
            schema = self._schemas[record_type] = RecordSchema(record_type, zeep_type)
        return schema

    def envelope(self, operation: str, session_id: str | None, params: Mapping[str, Any]) -> bytes:
        """The request envelope of ``operation`` (with the Session header if given)."""
        headers = [self.session_element(SessionId=session_id)] if session_id else None
        message = self.zeep.create_message(self.service, operation, _soapheaders=headers, **params)
        return bytes(etree.tostring(message, xml_declaration=True, encoding="utf-8"))


# Parsing a WSDL costs tens of ms: one parse per distinct document, shared by every client.
_WSDL_CACHE: OrderedDict[tuple[str, str], _Wsdl] = OrderedDict()
_WSDL_CACHE_SIZE: Final = 8


def _parsed_wsdl(url: str, document: bytes) -> _Wsdl:
    key = (url, hashlib.sha256(document).hexdigest())
    cached = _WSDL_CACHE.get(key)
    if cached is not None:
        _WSDL_CACHE.move_to_end(key)
        return cached
    try:
        parsed = _Wsdl(url, document)
    except etree.XMLSyntaxError as exc:
        raise TransientError(f"fetching the WSDL {url}: the answer was cut off ({exc})") from None
    except (zeep.exceptions.Error, LookupError, ValueError, AttributeError) as exc:
        raise PermanentError(
            f"{url} did not answer with a Luminate web-services WSDL ({exc}); check the url "
            "setting (e.g. https://webservices.cluster2.convio.net/1.0/mysite)"
        ) from None
    _WSDL_CACHE[key] = parsed
    while len(_WSDL_CACHE) > _WSDL_CACHE_SIZE:
        _WSDL_CACHE.popitem(last=False)
    return parsed


# --------------------------------------------------------------------------------------------
# The client


def _local(element: etree._Element) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _child(element: etree._Element, name: str) -> etree._Element | None:
    for child in element:
        if _local(child) == name:
            return child
    return None


def _first_element(parent: etree._Element) -> etree._Element | None:
    return next((child for child in parent if isinstance(child.tag, str)), None)


def _child_text(element: etree._Element, name: str) -> str | None:
    child = _child(element, name)
    if child is None or child.get(XSI_NIL) in ("true", "1"):
        return None
    return child.text or ""


def _criterion_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


class LuminateClient:
    """The web-services calls syncframe makes, with sessions and typed errors.

    One client per component; it logs in lazily on the first call, sends the session id in the
    ``Session`` header, and on a ``SessionFault`` (expired after 30 minutes idle, unknown) logs
    in again and repeats the call once. Concurrent calls share one login.
    """

    def __init__(self, settings: LuminateSettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http
        self._wsdl_doc: _Wsdl | None = None
        self._wsdl_lock = anyio.Lock()
        self._session_id: str | None = None
        self._login_lock = anyio.Lock()
        #: How many times this client logged in (tests and diagnostics).
        self.logins = 0

    @property
    def settings(self) -> LuminateSettings:
        """The connection settings this client uses."""
        return self._settings

    # ---- WSDL and schema -----------------------------------------------------------------
    async def _wsdl(self) -> _Wsdl:
        if self._wsdl_doc is None:
            async with self._wsdl_lock:
                if self._wsdl_doc is None:
                    url = self._settings.wsdl_url
                    response = await self._http.get(url)
                    raise_for_status(response, f"fetching the WSDL {url}")
                    self._wsdl_doc = _parsed_wsdl(url, response.content)
        return self._wsdl_doc

    async def schema(self, record_type: str) -> RecordSchema:
        """The record type as the site's WSDL defines it."""
        return (await self._wsdl()).schema(record_type)

    async def fields(self, record_type: str) -> list[str]:
        """Every leaf field path of ``record_type`` in WSDL order (``"ConsName.FirstName"``)."""
        return list((await self.schema(record_type)).leaves)

    # ---- sessions --------------------------------------------------------------------------
    async def login(self) -> None:
        """Log in now (a connection check); later calls use the session it opens."""
        async with self._login_lock:
            await self._login()

    async def _login(self) -> None:
        """Login; caller holds the login lock. The password goes only into the envelope."""
        wsdl = await self._wsdl()
        settings = self._settings
        body = wsdl.envelope(
            "Login",
            None,
            {
                "UserName": settings.api_login,
                "Password": settings.api_password.get_secret_value(),
            },
        )
        answer = await self._post(f"Login as API user {settings.api_login!r}", body)
        result = _child(answer, "Result")
        session_id = _child_text(result, "SessionId") if result is not None else None
        if not session_id:
            raise TransientError(f"Login as API user {settings.api_login!r}: no SessionId came")
        self._session_id = session_id
        self.logins += 1

    async def _session(self) -> str:
        session_id = self._session_id
        if session_id is None:
            async with self._login_lock:
                if self._session_id is None:
                    await self._login()
                session_id = self._session_id
        assert session_id is not None
        return session_id

    async def _call(self, operation: str, what: str, params: Mapping[str, Any]) -> etree._Element:
        """Call an operation in the session; re-login once on a SessionFault."""
        wsdl = await self._wsdl()
        session_id = await self._session()
        try:
            return await self._post(what, wsdl.envelope(operation, session_id, params))
        except SessionRefused:
            async with self._login_lock:
                # Another call may have logged in again already: then use its session.
                if self._session_id in (None, session_id):
                    await self._login()
                renewed = self._session_id
            assert renewed is not None
            return await self._post(what, wsdl.envelope(operation, renewed, params))

    async def _post(self, what: str, body: bytes) -> etree._Element:
        """POST an envelope; the response element of the Body, or a typed error."""
        response = await self._http.post(self._settings.endpoint, content=body, headers=_HEADERS)
        status = response.status_code
        if status != 200 and status != 500:
            raise_for_status(response, what)
        content = response.content
        try:
            root = etree.fromstring(content, _PARSER)
        except etree.XMLSyntaxError as exc:
            if status == 500:
                raise_for_status(response, what)
            raise TransientError(
                f"{what}: the answer is not well-formed XML, probably cut off ({exc})"
            ) from None
        soap_body = _child(root, "Body") if _local(root) == "Envelope" else None
        answer = _first_element(soap_body) if soap_body is not None else None
        if answer is None:
            if status == 500:
                raise_for_status(response, what)
            raise TransientError(f"{what}: the answer is not a SOAP envelope with a body")
        if _local(answer) == "Fault":
            raise self._fault(what, answer)
        if status != 200:
            raise_for_status(response, what)
        return answer

    def _fault(self, what: str, fault: etree._Element) -> LuminateFault:
        code = _child_text(fault, "faultcode") or ""
        message = _child_text(fault, "faultstring") or ""
        detail = _child(fault, "detail")
        kinds = [c for c in detail if isinstance(c.tag, str)] if detail is not None else []
        fault_type = _local(kinds[0]) if kinds else code.rpartition(":")[2]
        return fault_for(
            what, fault_type, code.rpartition(":")[2], message, api_login=self._settings.api_login
        )

    # ---- operations ------------------------------------------------------------------------
    async def server_time(self) -> datetime:
        """The service's clock (aware UTC)."""
        answer = await self._call("GetServerTime", "GetServerTime", {})
        result = _child(answer, "Result")
        text = _child_text(result, "ServerTime") if result is not None else None
        if not text:
            raise TransientError("GetServerTime: the answer has no ServerTime")
        return _to_datetime(text)

    async def start_synchronization(
        self,
        partition_id: int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        force: bool = False,
    ) -> SyncWindow:
        """Open a synchronization window (the service's defaults: Start = end of the last
        ended window, End = now)."""
        params: dict[str, Any] = {"PartitionId": partition_id}
        if start is not None:
            params["Start"] = _utc(start)
        if end is not None:
            params["End"] = _utc(end)
        if force:
            params["Force"] = True
        answer = await self._call(
            "StartSynchronization", f"StartSynchronization partition {partition_id}", params
        )
        return _window(answer, f"StartSynchronization partition {partition_id}")

    async def end_synchronization(self, partition_id: int) -> SyncWindow:
        """End the active window of the partition: the next one starts where it ended."""
        what = f"EndSynchronization partition {partition_id}"
        answer = await self._call("EndSynchronization", what, {"PartitionId": partition_id})
        return _window(answer, what)

    async def get_incremental(
        self,
        kind: IncrementalKind,
        record_type: str,
        *,
        partition_id: int,
        page: int,
        page_size: int,
        fields: Sequence[str],
    ) -> list[dict[str, Any]]:
        """One page of GetIncrementalInserts / Updates / Deletes, as flat records."""
        operation = _OPERATION_NAMES[kind]
        schema = await self.schema(record_type)
        leaves = schema.expand(fields)
        what = f"{operation} {record_type} page {page}"
        answer = await self._call(
            operation,
            what,
            {
                "PartitionId": partition_id,
                "RecordType": record_type,
                "Page": page,
                "PageSize": page_size,
                "Field": leaves,
            },
        )
        return await self._records(answer, what, record_type, leaves)

    async def query(
        self, statement: str, *, page: int = 1, page_size: int | None = None
    ) -> list[dict[str, Any]]:
        """One page of a Query (``select F1, F2 from Type where F = v``), as flat records."""
        size = page_size if page_size is not None else self._settings.query_page_size
        what = f"Query {statement!r} page {page}"
        answer = await self._call(
            "Query", what, {"QueryString": statement, "Page": page, "PageSize": size}
        )
        wanted_type, wanted = await self._selected(statement)
        return await self._records(answer, what, wanted_type, wanted)

    async def _selected(self, statement: str) -> tuple[str | None, list[str] | None]:
        """The record type and leaf fields a Query statement selects, when it can tell."""
        match = _SELECT.match(statement)
        if match is None:
            return None, None
        record_type = match["type"]
        try:
            schema = await self.schema(record_type)
        except PermanentError:
            return None, None
        names = [name.strip() for name in match["fields"].split(",")]
        if any(name == "*" or name.endswith(".*") for name in names):
            return record_type, None
        try:
            return record_type, schema.expand(names)
        except PermanentError:
            return record_type, None

    async def find(
        self,
        record_type: str,
        criteria: Mapping[str, Any],
        fields: Sequence[str],
        *,
        page: int = 1,
        page_size: int | None = None,
    ) -> list[dict[str, Any]]:
        """One page of a Find: records of the type whose fields equal every criterion."""
        schema = await self.schema(record_type)
        leaves = schema.expand(fields)
        size = page_size if page_size is not None else self._settings.query_page_size
        unknown = [name for name in criteria if name not in schema.fields]
        if unknown:
            schema.expand(unknown)  # raises, naming them
        what = f"Find {record_type} page {page}"
        answer = await self._call(
            "Find",
            what,
            {
                "RecordType": record_type,
                "Criteria": [
                    {"Field": name, "Value": _criterion_text(value)}
                    for name, value in criteria.items()
                ],
                "Field": leaves,
                "Page": page,
                "PageSize": size,
            },
        )
        return await self._records(answer, what, record_type, leaves)

    async def _records(
        self,
        answer: etree._Element,
        what: str,
        record_type: str | None,
        wanted: Sequence[str] | None,
    ) -> list[dict[str, Any]]:
        wsdl = await self._wsdl()
        records: list[dict[str, Any]] = []
        # The records of an answer are of one or two types: work each xsi:type out once.
        schemas: dict[str | None, tuple[RecordSchema, Sequence[str] | None]] = {}
        for element in answer:
            tag = element.tag
            if not isinstance(tag, str) or tag.rpartition("}")[2] != "Record":
                continue
            declared = element.get(XSI_TYPE)
            known = schemas.get(declared)
            if known is None:
                typed = (declared or record_type or "").rpartition(":")[2]
                if not typed:
                    raise TransientError(f"{what}: a Record without xsi:type")
                known = schemas[declared] = (
                    wsdl.schema(typed),
                    wanted if typed == record_type else None,
                )
            schema, keys = known
            records.append(schema.flatten(element, keys))
        return records

    async def validate(self, record: Mapping[str, Any], what: str = "record") -> None:
        """Raise :class:`InvalidRecord` naming the field if ``record`` cannot be sent as a
        Constituent (an unknown path, a value of the wrong type)."""
        (await self.schema(CONSTITUENT)).nested(record, what)

    async def create(self, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """Create constituents (at most 50); one result per record, in order."""
        return await self._write("Create", records)

    async def update(self, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """Update constituents matched by ConsId, else MemberId, else PrimaryEmail."""
        return await self._write("Update", records)

    async def delete(self, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """Delete (remove) constituents, matched as Update matches them."""
        return await self._write("Delete", records)

    async def _write(
        self, operation: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        if len(records) > MAX_WRITE_RECORDS:
            raise ValueError(
                f"{operation}: {len(records)} records in one call; the service takes at most "
                f"{MAX_WRITE_RECORDS}"
            )
        if not records:
            return []
        schema = await self.schema(CONSTITUENT)
        what = f"{operation} {len(records)} Constituent record{'s' if len(records) > 1 else ''}"
        values = [
            schema.nested(record, f"{what}: record {number}")
            for number, record in enumerate(records, 1)
        ]
        answer = await self._call(operation, what, {"Record": values})
        results = [
            _record_result(element, schema) for element in answer if _local(element) == "Result"
        ]
        if len(results) != len(records):
            raise TransientError(
                f"{what}: the service answered {len(results)} results for {len(records)} records"
            )
        return results


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; give an aware UTC time")
    return moment.astimezone(UTC)


def _window(answer: etree._Element, what: str) -> SyncWindow:
    result = _child(answer, "Result")
    if result is None:
        raise TransientError(f"{what}: the answer has no Result")
    start = _child_text(result, "Start")
    end = _child_text(result, "End")
    sync_id = _child_text(result, "SyncId")
    partition = _child_text(result, "PartitionId")
    if not end or not partition:
        raise TransientError(f"{what}: the answer has no End or PartitionId")
    return SyncWindow(
        partition_id=int(partition),
        start=_to_datetime(start) if start else None,
        end=_to_datetime(end),
        sync_id=int(sync_id) if sync_id else None,
    )


def _record_result(element: etree._Element, schema: RecordSchema) -> RecordResult:
    record = _child(element, "Record")
    flat = schema.flatten(record, None) if record is not None else {}
    message = _child_text(element, "Message")
    cons_id = flat.get("ConsId")
    return RecordResult(
        code=_child_text(element, "ResultCode") or "",
        message=message or None,
        cons_id=int(cons_id) if cons_id is not None else None,
        member_id=flat.get("MemberId"),
        primary_email=flat.get("PrimaryEmail"),
    )
