"""The web services' WSDL (SOAP 1.1, document/literal), generated from the record schema.

One description drives three things so they cannot disagree: the WSDL a client such as zeep
loads, the XML Schema requests are validated against (out-of-order or unknown elements are an
``InvalidMessageFault``, as the real service answers), and the element order responses are
written in (``soap.py``).

Namespaces are the documented ones: operations, the ``Session`` header and fault details in
``urn:soap.convio.com``; records in ``urn:object.soap.convio.com`` (prefix ``ens``), each record
type an extension of the abstract ``ens:Record`` so responses carry
``<Record xsi:type="ens:Constituent">``. Request and response element names beyond the documented
ones (``GetServerTime``'s ``ServerTime``, the ``Find`` criteria, ``DescribeRecordType``'s result)
are our choice and written down in ``docs/simulators.md``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Final

from lxml import etree

from luminate_simulator.schema import RECORD_TYPES, FieldDef, complex_types

__all__ = [
    "ENS",
    "FAULT_TYPES",
    "OPERATIONS",
    "RECORD",
    "SIMPLE_TYPES",
    "SOAP_ENV",
    "TNS",
    "XSI",
    "Operation",
    "Part",
    "request_schema",
    "wsdl_document",
]

TNS: Final = "urn:soap.convio.com"
ENS: Final = "urn:object.soap.convio.com"
XSD: Final = "http://www.w3.org/2001/XMLSchema"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
SOAP_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL: Final = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP: Final = "http://schemas.xmlsoap.org/wsdl/soap/"
HTTP_TRANSPORT: Final = "http://schemas.xmlsoap.org/soap/http"

SIMPLE_TYPES: Final[frozenset[str]] = frozenset(
    {"string", "long", "int", "decimal", "boolean", "dateTime"}
)
RECORD: Final = "Record"  # the abstract record type, as a Part type

# The documented fault types. Every detail element has the same optional line/column pair the
# documentation shows for MalformedMessageFault (an assumption for the other types).
FAULT_TYPES: Final[tuple[str, ...]] = (
    "LoginFault",
    "SessionFault",
    "SynchronizationFault",
    "InvalidMessageFault",
    "MalformedMessageFault",
    "UnsupportedOperationFault",
    "ServerFault",
)
_ALWAYS: Final = (
    "InvalidMessageFault",
    "MalformedMessageFault",
    "UnsupportedOperationFault",
    "ServerFault",
)


@dataclass(frozen=True, slots=True)
class Part:
    """An element of an operation's request or response body.

    ``type`` is a simple XSD type name, ``"Record"`` (an ``ens:Record``, concrete type given by
    ``xsi:type``) or a tuple of nested parts (an anonymous complex type).
    """

    name: str
    type: str | tuple[Part, ...]
    min_occurs: int = 1
    max_occurs: int | None = 1  # None: unbounded
    nillable: bool = False

    @property
    def repeated(self) -> bool:
        return self.max_occurs != 1


@dataclass(frozen=True, slots=True)
class Operation:
    """One SOAP operation: its request parameters, response children and declared faults."""

    name: str
    request: tuple[Part, ...]
    response: tuple[Part, ...]
    faults: tuple[str, ...]
    needs_session: bool = True


def _opt(name: str, type_: str | tuple[Part, ...]) -> Part:
    return Part(name, type_, min_occurs=0)


def _many(name: str, type_: str | tuple[Part, ...], *, min_occurs: int = 0) -> Part:
    return Part(name, type_, min_occurs=min_occurs, max_occurs=None)


_RECORDS_OUT: Final = (_many("Record", RECORD),)
_SYNC_WINDOW: Final = (
    Part(
        "Result",
        (
            Part("PartitionId", "long"),
            Part("Start", "dateTime", nillable=True),
            Part("End", "dateTime"),
            Part("SyncId", "long"),
        ),
    ),
)
_RECORD_RESULTS: Final = (
    _many(
        "Result",
        (
            Part("ResultCode", "string"),
            Part("Message", "string", min_occurs=0),
            Part("Record", RECORD, min_occurs=0),
        ),
    ),
)
_INCREMENTAL_REQUEST: Final = (
    Part("PartitionId", "long"),
    Part("RecordType", "string"),
    Part("Page", "int"),
    Part("PageSize", "int"),
    _many("Field", "string", min_occurs=1),
)
_SESSION_FAULTS: Final = ("SessionFault", *_ALWAYS)
_SYNC_FAULTS: Final = ("SessionFault", "SynchronizationFault", *_ALWAYS)


def _operation(
    name: str,
    request: tuple[Part, ...],
    response: tuple[Part, ...],
    faults: tuple[str, ...] = _SESSION_FAULTS,
    *,
    needs_session: bool = True,
) -> Operation:
    return Operation(name, request, response, faults, needs_session)


_OPERATION_LIST: Final[tuple[Operation, ...]] = (
    _operation(
        "Login",
        (Part("UserName", "string"), Part("Password", "string")),
        (Part("Result", (Part("SessionId", "string"),)),),
        ("LoginFault", *_ALWAYS),
        needs_session=False,
    ),
    _operation("GetServerTime", (), (Part("Result", (Part("ServerTime", "dateTime"),)),)),
    _operation(
        "StartSynchronization",
        (
            Part("PartitionId", "long"),
            _opt("Start", "dateTime"),
            _opt("End", "dateTime"),
            _opt("Force", "boolean"),
        ),
        _SYNC_WINDOW,
        _SYNC_FAULTS,
    ),
    _operation("EndSynchronization", (Part("PartitionId", "long"),), _SYNC_WINDOW, _SYNC_FAULTS),
    _operation("GetIncrementalInserts", _INCREMENTAL_REQUEST, _RECORDS_OUT, _SYNC_FAULTS),
    _operation("GetIncrementalUpdates", _INCREMENTAL_REQUEST, _RECORDS_OUT, _SYNC_FAULTS),
    _operation("GetIncrementalDeletes", _INCREMENTAL_REQUEST, _RECORDS_OUT, _SYNC_FAULTS),
    _operation(
        "Query",
        (Part("QueryString", "string"), Part("Page", "int"), Part("PageSize", "int")),
        _RECORDS_OUT,
    ),
    _operation(
        "Find",
        (
            Part("RecordType", "string"),
            _many("Criteria", (Part("Field", "string"), Part("Value", "string"))),
            _many("Field", "string", min_occurs=1),
            Part("Page", "int"),
            Part("PageSize", "int"),
        ),
        _RECORDS_OUT,
    ),
    _operation(
        "Create",
        (_opt("PartitionId", "long"), _many("Record", RECORD, min_occurs=1)),
        _RECORD_RESULTS,
    ),
    _operation(
        "Update",
        (_opt("PartitionId", "long"), _many("Record", RECORD, min_occurs=1)),
        _RECORD_RESULTS,
    ),
    _operation(
        "Delete",
        (
            _opt("PartitionId", "long"),
            _opt("Force", "boolean"),
            _many("Record", RECORD, min_occurs=1),
        ),
        _RECORD_RESULTS,
    ),
    _operation(
        "GetSynchronizationLog",
        (Part("PartitionId", "long"), _opt("Start", "dateTime"), _opt("End", "dateTime")),
        (
            _many(
                "Result",
                (
                    Part("PartitionId", "long"),
                    Part("Start", "dateTime", nillable=True),
                    Part("End", "dateTime"),
                    Part("Created", "dateTime"),
                    Part("Completed", "dateTime", nillable=True),
                    Part("SyncId", "long"),
                ),
            ),
        ),
        _SYNC_FAULTS,
    ),
    _operation(
        "GetSynchronizationRequestLog",
        (Part("SyncId", "long"),),
        (
            _many(
                "RecordRequest",
                (
                    Part("Operation", "string"),
                    Part("RecordType", "string"),
                    Part("RecordCount", "int"),
                    Part("RequestTime", "dateTime"),
                    Part("SyncId", "long"),
                    Part("Page", "int"),
                    Part("PageSize", "int"),
                ),
            ),
        ),
        _SYNC_FAULTS,
    ),
    _operation(
        "DescribeRecordType",
        (Part("RecordType", "string"),),
        (
            Part(
                "Result",
                (
                    Part("Name", "string"),
                    _many("SupportedOperations", "string"),
                    _many(
                        "Field",
                        (
                            Part("Name", "string"),
                            Part("Writable", "boolean"),
                            Part("Custom", "boolean"),
                            Part("Nillable", "boolean"),
                            Part("Multiple", "boolean"),
                            Part("Type", "string"),
                            _opt("MaxLength", "int"),
                            Part("IsWildcard", "boolean"),
                            _many("Option", "string"),
                        ),
                    ),
                ),
            ),
        ),
    ),
)

OPERATIONS: Final[dict[str, Operation]] = {op.name: op for op in _OPERATION_LIST}


# -- XML Schema -----------------------------------------------------------------------------


def _xs(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{XSD}}}{tag}", attrs)


def _occurs(min_occurs: int, max_occurs: int | None) -> dict[str, str]:
    attrs: dict[str, str] = {}
    if min_occurs != 1:
        attrs["minOccurs"] = str(min_occurs)
    if max_occurs != 1:
        attrs["maxOccurs"] = "unbounded" if max_occurs is None else str(max_occurs)
    return attrs


def _field_elements(sequence: etree._Element, fields: tuple[FieldDef, ...]) -> None:
    # Every record field is optional: a response carries only the fields asked for.
    for f in fields:
        type_ = f"xsd:{f.xsd_type}" if f.children is None else f"ens:{f.xsd_type}"
        attrs = {"name": f.name, "type": type_, **_occurs(0, None if f.multiple else 1)}
        if f.nillable:
            attrs["nillable"] = "true"
        _xs(sequence, "element", **attrs)


def _record_schema(parent: etree._Element) -> etree._Element:
    schema = _xs(parent, "schema", targetNamespace=ENS, elementFormDefault="qualified")
    record = _xs(schema, "complexType", name=RECORD, abstract="true")
    _xs(record, "sequence")
    for name, children in complex_types().items():
        if name in RECORD_TYPES or name == RECORD:
            raise ValueError(f"complex type {name} clashes with a record type name")
        complex_type = _xs(schema, "complexType", name=name)
        _field_elements(_xs(complex_type, "sequence"), children)
    for record_type in RECORD_TYPES.values():
        complex_type = _xs(schema, "complexType", name=record_type.name)
        extension = _xs(_xs(complex_type, "complexContent"), "extension", base=f"ens:{RECORD}")
        _field_elements(_xs(extension, "sequence"), record_type.fields)
    return schema


def _part_element(sequence: etree._Element, part: Part) -> None:
    attrs = {"name": part.name, **_occurs(part.min_occurs, part.max_occurs)}
    if part.nillable:
        attrs["nillable"] = "true"
    if isinstance(part.type, tuple):
        element = _xs(sequence, "element", **attrs)
        _parts_sequence(_xs(element, "complexType"), part.type)
    else:
        prefix = "ens" if part.type == RECORD else "xsd"
        _xs(sequence, "element", type=f"{prefix}:{part.type}", **attrs)


def _parts_sequence(complex_type: etree._Element, parts: tuple[Part, ...]) -> None:
    sequence = _xs(complex_type, "sequence")
    for part in parts:
        _part_element(sequence, part)


def _operation_schema(parent: etree._Element, record_schema_location: str | None) -> None:
    schema = _xs(parent, "schema", targetNamespace=TNS, elementFormDefault="qualified")
    imported = {"namespace": ENS}
    if record_schema_location is not None:
        imported["schemaLocation"] = record_schema_location
    _xs(schema, "import", **imported)
    for op in OPERATIONS.values():
        for name, parts in ((op.name, op.request), (f"{op.name}Response", op.response)):
            _parts_sequence(_xs(_xs(schema, "element", name=name), "complexType"), parts)
    session = _xs(_xs(schema, "element", name="Session"), "complexType")
    _xs(_xs(session, "sequence"), "element", name="SessionId", type="xsd:string")
    detail = _xs(schema, "complexType", name="FaultDetail")
    detail_sequence = _xs(detail, "sequence")
    _xs(detail_sequence, "element", name="line", type="xsd:int", minOccurs="0")
    _xs(detail_sequence, "element", name="column", type="xsd:int", minOccurs="0")
    for fault in FAULT_TYPES:
        _xs(schema, "element", name=fault, type="tns:FaultDetail")


_NSMAP: Final = {"xsd": XSD, "tns": TNS, "ens": ENS}


# -- request validation ---------------------------------------------------------------------

_RECORD_XSD_URL: Final = "luminate-records.xsd"


class _RecordSchemaResolver(etree.Resolver):
    """Answers the operation schema's import of the record schema from memory (no network)."""

    def __init__(self, record_schema: bytes) -> None:
        super().__init__()
        self._record_schema = record_schema

    # lxml passes a third argument, the parser context, that lxml-stubs leave out.
    def resolve(  # type: ignore[override]
        self, system_url: str | None, public_id: str | None, context: object
    ) -> Any:
        if system_url is not None and system_url.endswith(_RECORD_XSD_URL):
            return self.resolve_string(self._record_schema, context, base_url=None)
        return None


@functools.cache
def request_schema() -> etree.XMLSchema:
    """The XML Schema of every operation's request element and of the ``Session`` header."""
    holder = etree.Element("holder", nsmap=_NSMAP)
    record_schema = _record_schema(holder)
    holder = etree.Element("holder", nsmap=_NSMAP)
    _operation_schema(holder, _RECORD_XSD_URL)
    operation_schema = holder[0]
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_RecordSchemaResolver(etree.tostring(record_schema)))
    document = etree.fromstring(
        etree.tostring(operation_schema), parser, base_url=f"memory:/{_RECORD_XSD_URL}.tns"
    )
    return etree.XMLSchema(document)


# -- the WSDL -------------------------------------------------------------------------------


def _wsdl(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{WSDL}}}{tag}", attrs)


def _soap(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{WSDL_SOAP}}}{tag}", attrs)


def _message(definitions: etree._Element, name: str, part: str, element: str) -> None:
    _wsdl(_wsdl(definitions, "message", name=name), "part", name=part, element=element)


@functools.lru_cache(maxsize=16)
def wsdl_document(endpoint: str) -> bytes:
    """The WSDL, its service element pointing at ``endpoint`` (the site's SOAP URL)."""
    definitions = etree.Element(
        f"{{{WSDL}}}definitions",
        {"name": "ConvioWebServices", "targetNamespace": TNS},
        nsmap={"wsdl": WSDL, "soap": WSDL_SOAP, **_NSMAP},
    )
    types = _wsdl(definitions, "types")
    _record_schema(types)
    _operation_schema(types, None)

    _message(definitions, "SessionHeader", "Session", "tns:Session")
    for fault in FAULT_TYPES:
        _message(definitions, fault, "fault", f"tns:{fault}")
    for op in OPERATIONS.values():
        _message(definitions, f"{op.name}Request", "parameters", f"tns:{op.name}")
        _message(definitions, f"{op.name}Response", "parameters", f"tns:{op.name}Response")

    port_type = _wsdl(definitions, "portType", name="Soap")
    for op in OPERATIONS.values():
        operation = _wsdl(port_type, "operation", name=op.name)
        _wsdl(operation, "input", message=f"tns:{op.name}Request")
        _wsdl(operation, "output", message=f"tns:{op.name}Response")
        for fault in op.faults:
            _wsdl(operation, "fault", name=fault, message=f"tns:{fault}")

    binding = _wsdl(definitions, "binding", name="SoapBinding", type="tns:Soap")
    _soap(binding, "binding", style="document", transport=HTTP_TRANSPORT)
    for op in OPERATIONS.values():
        operation = _wsdl(binding, "operation", name=op.name)
        _soap(operation, "operation", soapAction="")
        request = _wsdl(operation, "input")
        if op.needs_session:
            _soap(request, "header", message="tns:SessionHeader", part="Session", use="literal")
        _soap(request, "body", use="literal")
        _soap(_wsdl(operation, "output"), "body", use="literal")
        for fault in op.faults:
            _soap(_wsdl(operation, "fault", name=fault), "fault", name=fault, use="literal")

    service = _wsdl(definitions, "service", name="ConvioService")
    port = _wsdl(service, "port", name="Soap", binding="tns:SoapBinding")
    _soap(port, "address", location=endpoint)
    return etree.tostring(definitions, xml_declaration=True, encoding="UTF-8", pretty_print=True)
