"""SOAP 1.1 envelopes of the Luminate web services: reading requests, writing responses and faults.

Requests are parsed with lxml with every external access switched off (no network, no entity
expansion, no DTD) and a DOCTYPE is refused outright, as SOAP 1.1 forbids one. The operation
element is then validated against the schema generated in :mod:`luminate_simulator.wsdl`, so an
unknown or out-of-order element is an ``InvalidMessageFault`` naming the line, like the real
service; only then are parameters converted to Python values. Responses are written from the same
operation description, in schema order, records with ``xsi:type`` and ``xsi:nil``.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, NamedTuple
from xml.sax.saxutils import escape

from lxml import etree

from luminate_simulator._faults import FaultType, LuminateFault
from luminate_simulator.schema import RECORD_TYPES, FieldDef
from luminate_simulator.wsdl import (
    ENS,
    OPERATIONS,
    RECORD,
    SOAP_ENV,
    TNS,
    XSI,
    Operation,
    Part,
    request_schema,
)

__all__ = [
    "CONTENT_TYPE",
    "SoapRequest",
    "TypedRecord",
    "fault_envelope",
    "format_value",
    "operation_name",
    "parse_request",
    "parse_value",
    "response_envelope",
]

CONTENT_TYPE: Final = "text/xml; charset=utf-8"

_NIL: Final = f"{{{XSI}}}nil"
_XSI_TYPE: Final = f"{{{XSI}}}type"
_TRUE: Final = frozenset({"true", "1"})


class TypedRecord(NamedTuple):
    """A record with its concrete type: what ``<Record xsi:type="ens:...">`` carries."""

    record_type: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A parsed request: the operation, the Session header's id and the converted parameters."""

    operation: Operation
    session_id: str | None
    params: dict[str, Any]


# -- reading ----------------------------------------------------------------------------------


def _parser() -> etree.XMLParser:
    # One parser a call: lxml parsers must not be shared between threads, and simulators served
    # with uvicorn run in threads of their own.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _text_line(element: etree._Element) -> int:
    line = element.sourceline
    return line if isinstance(line, int) else 0


def _parse_xml(body: bytes) -> etree._Element:
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        raise LuminateFault(
            "MalformedMessageFault", exc.msg or "Malformed XML", line=line, column=column
        ) from None
    except ValueError as exc:  # e.g. an empty body
        raise LuminateFault("MalformedMessageFault", str(exc), line=0, column=0) from None
    doctype: str = root.getroottree().docinfo.doctype  # type: ignore[union-attr]  # stubs lag
    if doctype:
        raise LuminateFault(
            "MalformedMessageFault", "A DOCTYPE is not allowed in a SOAP message", line=1
        )
    return root


def _child(parent: etree._Element, namespace: str, name: str) -> etree._Element | None:
    return parent.find(f"{{{namespace}}}{name}")


def parse_request(body: bytes) -> SoapRequest:
    """Read a request envelope; raises :class:`LuminateFault` for what the SOAP layer refuses."""
    envelope = _parse_xml(body)
    if envelope.tag != f"{{{SOAP_ENV}}}Envelope":
        raise LuminateFault(
            "MalformedMessageFault",
            f"Root element {envelope.tag} is not a SOAP 1.1 Envelope",
            line=_text_line(envelope),
            column=1,
        )
    soap_body = _child(envelope, SOAP_ENV, "Body")
    if soap_body is None:
        raise LuminateFault(
            "MalformedMessageFault",
            "SOAP body element is missing",
            line=_text_line(envelope),
            column=1,
        )
    calls = [child for child in soap_body if isinstance(child.tag, str)]
    if len(calls) != 1:
        raise LuminateFault(
            "MalformedMessageFault",
            "SOAP body must hold exactly one operation element",
            line=_text_line(soap_body),
            column=1,
        )
    call = calls[0]
    qname = etree.QName(call)
    operation = OPERATIONS.get(qname.localname) if qname.namespace == TNS else None
    if operation is None:
        raise LuminateFault(
            "UnsupportedOperationFault",
            f"Unsupported operation {qname.localname} (namespace {qname.namespace or 'none'})",
            line=_text_line(call),
            column=1,
        )
    _validate(call)
    session_id = _session_id(envelope, soap_body) if operation.needs_session else None
    return SoapRequest(operation, session_id, _read_parts(call, operation.request))


# One schema object serves every simulator in the process; its error log is per object, so
# validations (from several served simulators' threads) take turns.
_VALIDATION_LOCK: Final = threading.Lock()


def _validate(element: etree._Element) -> None:
    schema = request_schema()
    with _VALIDATION_LOCK:
        if schema.validate(element):
            return
        error_log: Any = schema.error_log  # lxml-stubs do not describe the error log
        error = error_log.last_error
    message = error.message if error is not None else "Message does not match the WSDL"
    raise LuminateFault(
        "InvalidMessageFault",
        message.replace(f"{{{TNS}}}", "").replace(f"{{{ENS}}}", "ens:"),
        line=error.line if error is not None else 0,
        # libxml2 reports no column for schema errors: 1 points at the element's line.
        column=(error.column or 1) if error is not None else 0,
    )


def _session_id(envelope: etree._Element, soap_body: etree._Element) -> str:
    header = _child(envelope, SOAP_ENV, "Header")
    session = _child(header, TNS, "Session") if header is not None else None
    if session is None:
        raise LuminateFault(
            "MalformedMessageFault",
            "SOAP header element is missing",
            line=_text_line(soap_body),
            column=1,
        )
    _validate(session)
    session_id = _child(session, TNS, "SessionId")
    return (session_id.text or "").strip() if session_id is not None else ""


def _read_parts(parent: etree._Element, parts: tuple[Part, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for part in parts:
        found = parent.findall(f"{{{TNS}}}{part.name}")
        read = [_read_part(element, part) for element in found]
        if part.repeated:
            values[part.name] = read
        elif read:
            values[part.name] = read[0]
    return values


def _read_part(element: etree._Element, part: Part) -> Any:
    if element.get(_NIL) in _TRUE:
        return None
    if isinstance(part.type, tuple):
        return _read_parts(element, part.type)
    if part.type == RECORD:
        return _read_record(element)
    return _read_simple(element, part.type)


def _read_simple(element: etree._Element, xsd_type: str) -> Any:
    text = element.text or ""
    try:
        return parse_value(text, xsd_type)
    except ValueError as exc:  # the schema check lets through little that lands here
        raise LuminateFault(
            "InvalidMessageFault",
            f"{etree.QName(element).localname}: {exc}",
            line=_text_line(element),
            column=1,
        ) from None


def parse_value(text: str, xsd_type: str) -> Any:
    """The Python value of an XSD simple type's lexical form."""
    if xsd_type == "string":
        return text
    text = text.strip()
    if xsd_type in ("long", "int"):
        return int(text)
    if xsd_type == "decimal":
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{text!r} is not a decimal") from None
    if xsd_type == "boolean":
        if text not in ("true", "false", "1", "0"):
            raise ValueError(f"{text!r} is not a boolean")
        return text in _TRUE
    if xsd_type == "dateTime":
        when = datetime.fromisoformat(text)
        # A time without an offset is read as UTC, the simulator's only zone.
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    raise ValueError(f"unknown XSD type {xsd_type}")


def _read_record(element: etree._Element) -> TypedRecord:
    type_qname = element.get(_XSI_TYPE, "")
    prefix, _, local = type_qname.rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    record_type = RECORD_TYPES.get(local) if namespace == ENS else None
    if record_type is None:  # the schema check refuses an abstract Record without xsi:type
        raise LuminateFault(
            "InvalidMessageFault",
            f"Record has no known xsi:type ({type_qname or 'none'})",
            line=_text_line(element),
            column=1,
        )
    return TypedRecord(record_type.name, _read_fields(element, record_type.fields))


def _read_fields(element: etree._Element, fields: tuple[FieldDef, ...]) -> dict[str, Any]:
    by_name = {f.name: f for f in fields}
    values: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        field = by_name[etree.QName(child).localname]  # the schema check named only these
        value: Any
        if child.get(_NIL) in _TRUE:
            value = None
        elif field.children is not None:
            value = _read_fields(child, field.children)
        else:
            value = _read_simple(child, field.xsd_type)
        if field.multiple:
            values.setdefault(field.name, []).append(value)
        else:
            values[field.name] = value
    return values


def operation_name(body: bytes) -> str | None:
    """The operation a request calls, read from the start of the body only (for the journal and
    fault matching); None when the body is not a recognisable SOAP request."""
    events = etree.iterparse(
        io.BytesIO(body),
        events=("start",),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
    )
    body_tag = f"{{{SOAP_ENV}}}Body"
    in_body = False
    try:
        for _, element in events:
            if in_body:
                qname = etree.QName(element)
                return qname.localname if qname.namespace == TNS else None
            in_body = element.tag == body_tag
    except etree.XMLSyntaxError:
        return None
    return None


# -- writing ----------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """The XSD lexical form of a Python value."""
    kind = type(value)
    # The common exact types first: this runs for every field of every record served.
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return str(value)
    if kind is Decimal:
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in a response")
        text = value.astimezone(UTC).isoformat()
        return text.removesuffix("+00:00") + "Z"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | str):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to XML")


def _envelope() -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(
        f"{{{SOAP_ENV}}}Envelope",
        nsmap={"soap": SOAP_ENV, "xsi": XSI, "ens": ENS},
    )
    return envelope, etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")


def _serialise(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def response_envelope(operation: Operation, result: Mapping[str, Any]) -> bytes:
    """The response envelope of ``operation``; ``result`` holds its response children by name
    (nested mappings, lists for repeated elements, :class:`TypedRecord` for records)."""
    if _only_records(operation) and set(result) <= {"Record"}:
        try:
            return _records_envelope(operation.name, result.get("Record") or ())
        except _NotPlainText:
            pass  # a value lxml must judge (control characters): the tree writer below
    envelope, body = _envelope()
    response = etree.SubElement(body, f"{{{TNS}}}{operation.name}Response", nsmap={None: TNS})  # type: ignore[dict-item]
    _write_parts(response, operation.response, result)
    return _serialise(envelope)


def _write_parts(
    parent: etree._Element, parts: tuple[Part, ...], values: Mapping[str, Any]
) -> None:
    unknown = set(values) - {p.name for p in parts}
    if unknown:
        raise ValueError(f"{etree.QName(parent).localname}: unknown elements {sorted(unknown)}")
    for part in parts:
        value = values.get(part.name)
        items: Sequence[Any] = value if part.repeated and value is not None else [value]
        for item in items:
            if item is None:
                if part.nillable:
                    etree.SubElement(parent, f"{{{TNS}}}{part.name}", {_NIL: "true"})
                elif part.min_occurs > 0:
                    raise ValueError(f"{part.name} is required in {etree.QName(parent).localname}")
                continue
            element = etree.SubElement(parent, f"{{{TNS}}}{part.name}")
            if isinstance(part.type, tuple):
                _write_parts(element, part.type, item)
            elif part.type == RECORD:
                _write_record(element, item)
            else:
                element.text = format_value(item)


def _write_record(element: etree._Element, record: TypedRecord) -> None:
    element.set(_XSI_TYPE, f"ens:{record.record_type}")
    _write_fields(element, RECORD_TYPES[record.record_type].fields, record.fields)


@dataclass(frozen=True, slots=True)
class _FieldPlan:
    """How one field is written, worked out once per field rather than once per record."""

    name: str
    tag: str
    nillable: bool
    multiple: bool
    children: tuple[FieldDef, ...] | None


_PLANS: dict[int, tuple[tuple[FieldDef, ...], frozenset[str], tuple[_FieldPlan, ...]]] = {}


def _plan(fields: tuple[FieldDef, ...]) -> tuple[frozenset[str], tuple[_FieldPlan, ...]]:
    # Keyed by identity: the field tuples are the schema's own, alive as long as the module, and
    # hashing them (nested frozen dataclasses) would cost more than the writing it saves.
    found = _PLANS.get(id(fields))
    if found is None or found[0] is not fields:
        plans = tuple(
            _FieldPlan(f.name, f"{{{ENS}}}{f.name}", f.nillable, f.multiple, f.children)
            for f in fields
        )
        found = (fields, frozenset(f.name for f in fields), plans)
        _PLANS[id(fields)] = found
    return found[1], found[2]


def _write_fields(
    parent: etree._Element, fields: tuple[FieldDef, ...], values: Mapping[str, Any]
) -> None:
    names, plans = _plan(fields)
    if not names.issuperset(values):
        unknown = sorted(set(values) - names)
        raise ValueError(f"{etree.QName(parent).localname}: unknown fields {unknown}")
    sub = etree.SubElement
    for field in plans:
        if field.name not in values:
            continue
        value = values[field.name]
        items: Sequence[Any] = value if field.multiple and value is not None else (value,)
        for item in items:
            if item is None:
                if field.nillable:
                    sub(parent, field.tag, {_NIL: "true"})
                continue
            element = sub(parent, field.tag)
            if field.children is not None:
                _write_fields(element, field.children, item)
            else:
                element.text = format_value(item)


# -- the record pages, written as text ---------------------------------------------------------
# GetIncremental*, Query and Find answer pages of up to 1000 records; writing them as text is
# several times cheaper than building an lxml tree, and the bytes are those lxml writes.

_ENVELOPE_OPEN: Final = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:xsi="{XSI}" xmlns:ens="{ENS}"><soap:Body>'
)
_ENVELOPE_CLOSE: Final = "</soap:Body></soap:Envelope>"
# Text lxml would escape differently or refuse: control characters, CR, lone surrogates.
_NOT_PLAIN: Final = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class _NotPlainText(Exception):
    """A value the text writer leaves to lxml."""


def _only_records(operation: Operation) -> bool:
    parts = operation.response
    return len(parts) == 1 and parts[0].name == "Record" and parts[0].type == RECORD


def _records_envelope(name: str, records: Sequence[TypedRecord]) -> bytes:
    if not records:
        response = f'<{name}Response xmlns="{TNS}"/>'
    else:
        out = [f'<{name}Response xmlns="{TNS}">']
        for record in records:
            out.append(f'<Record xsi:type="ens:{record.record_type}">')
            _text_fields(out, RECORD_TYPES[record.record_type].fields, record.fields)
            out.append("</Record>")
        out.append(f"</{name}Response>")
        response = "".join(out)
    return (_ENVELOPE_OPEN + response + _ENVELOPE_CLOSE).encode()


def _text_fields(out: list[str], fields: tuple[FieldDef, ...], values: Mapping[str, Any]) -> None:
    names, plans = _plan(fields)
    if not names.issuperset(values):
        raise ValueError(f"unknown fields {sorted(set(values) - names)}")
    for field in plans:
        if field.name not in values:
            continue
        value = values[field.name]
        items: Sequence[Any] = value if field.multiple and value is not None else (value,)
        for item in items:
            if item is None:
                if field.nillable:
                    out.append(f'<ens:{field.name} xsi:nil="true"/>')
                continue
            if field.children is not None:
                out.append(f"<ens:{field.name}>")
                _text_fields(out, field.children, item)
                out.append(f"</ens:{field.name}>")
                continue
            text = format_value(item)
            if type(item) is str:
                if _NOT_PLAIN.search(text):
                    raise _NotPlainText
                text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            out.append(f"<ens:{field.name}>{text}</ens:{field.name}>")


def _xml_text(text: str) -> str:
    # Characters XML 1.0 cannot carry at all are dropped; the rest is escaped.
    kept = "".join(
        c
        for c in text
        if c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000"
    )
    return escape(kept)


def fault_envelope(
    fault_type: FaultType, faultcode: str, message: str, *, line: int = 0, column: int = 0
) -> bytes:
    """A fault in the documented shape: ``soap:faultcode``, ``soap:faultstring`` and a
    ``soap:detail`` holding ``<{fault_type} xmlns="urn:soap.convio.com">`` with the line and
    column of the request the fault is about (0 when it is about no position)."""
    # Written as text to keep the documented prefixes (lxml would pick the default namespace).
    # The envelope namespace is also the Fault's default namespace, so clients that look
    # faultcode/faultstring up unprefixed (zeep does) find the documented qualified elements.
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
        f'<soap:Fault xmlns="{SOAP_ENV}">'
        f"<soap:faultcode>{_xml_text(faultcode)}</soap:faultcode>"
        f"<soap:faultstring>{_xml_text(message)}</soap:faultstring>"
        f'<soap:detail><{fault_type} xmlns="{TNS}">'
        f"<line>{line}</line><column>{column}</column>"
        f"</{fault_type}></soap:detail>"
        "</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()
