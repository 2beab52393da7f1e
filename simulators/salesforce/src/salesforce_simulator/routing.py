"""Which resource a request path names, by segments, as Salesforce's REST API lays them out.

Paths are split on ``/`` *before* percent-decoding, so an external id value carrying an
encoded slash (``%2F``, as ``simple_salesforce.format_external_id`` writes it) stays one
segment. A trailing slash is ignored (``query/`` and ``query`` are the same resource).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

__all__ = [
    "NEWEST_API_VERSION",
    "OLDEST_API_VERSION",
    "RESOURCES",
    "Match",
    "Resource",
    "match_path",
    "release_label",
    "supported_versions",
]

#: The oldest and newest REST API versions the simulator answers (Winter '11 to Winter '26).
OLDEST_API_VERSION: Final = 20
NEWEST_API_VERSION: Final = 65

_VERSION: Final = re.compile(r"v(\d+)\.0")
_SOAP_VERSION: Final = re.compile(r"(\d+)\.0")


@dataclass(frozen=True, slots=True)
class Resource:
    """One REST resource: its path pattern and the operation name of each method.

    A pattern segment ``{name}`` captures the segment; ``{version}`` must be ``vNN.0`` of a
    supported version (``{soap_version}``: ``NN.0``). ``min_version`` is the API version the
    resource appeared in.
    """

    pattern: tuple[str, ...]
    operations: Mapping[str, str]
    min_version: int = OLDEST_API_VERSION
    #: Methods the resource answers only for some values (``POST sobjects/Contact/Id``), so
    #: a 405 does not offer them.
    unlisted: frozenset[str] = frozenset()

    @property
    def allowed(self) -> str:
        """The methods a 405 names: ``GET,PATCH,DELETE``."""
        return ",".join(method for method in self.operations if method not in self.unlisted)

    @property
    def versioned(self) -> bool:
        return "{version}" in self.pattern


def _resource(
    path: str,
    min_version: int = OLDEST_API_VERSION,
    unlisted: frozenset[str] = frozenset(),
    **operations: str,
) -> Resource:
    return Resource(tuple(path.split("/")), operations, min_version, unlisted)


_DATA: Final = "data/{version}"
_SOBJECT: Final = f"{_DATA}/sobjects/{{sobject}}"

#: Every resource, most specific first (``describe`` before a record id).
RESOURCES: Final = (
    _resource("oauth2/token", POST="OAuthToken"),
    _resource("oauth2/revoke", POST="OAuthRevoke"),
    _resource("Soap/u/{soap_version}", POST="SoapLogin"),
    _resource("data", GET="Versions"),
    _resource(_DATA, GET="Resources"),
    _resource(f"{_DATA}/limits", 29, GET="Limits"),
    _resource(f"{_DATA}/sobjects", GET="DescribeGlobal"),
    _resource(_SOBJECT, GET="SObjectBasicInfo", POST="SObjectCreate"),
    _resource(f"{_SOBJECT}/describe", GET="SObjectDescribe"),
    _resource(f"{_SOBJECT}/updated", 29, GET="SObjectGetUpdated"),
    _resource(f"{_SOBJECT}/deleted", 29, GET="SObjectGetDeleted"),
    _resource(
        f"{_SOBJECT}/{{record_id}}",
        unlisted=frozenset({"POST"}),
        GET="SObjectRetrieve",
        PATCH="SObjectUpdate",
        DELETE="SObjectDelete",
        POST="SObjectUpsert",
    ),
    _resource(
        f"{_SOBJECT}/{{field}}/{{value}}",
        GET="SObjectRetrieveByExternalId",
        PATCH="SObjectUpsert",
        DELETE="SObjectDeleteByExternalId",
    ),
    _resource(f"{_DATA}/query", GET="Query"),
    _resource(f"{_DATA}/query/{{locator}}", GET="QueryMore"),
    _resource(f"{_DATA}/queryAll", 29, GET="QueryAll"),
    _resource(f"{_DATA}/queryAll/{{locator}}", 29, GET="QueryMore"),
    _resource(
        f"{_DATA}/composite/sobjects",
        42,
        POST="CollectionCreate",
        PATCH="CollectionUpdate",
        DELETE="CollectionDelete",
    ),
    _resource(f"{_DATA}/composite/sobjects/{{sobject}}", 42, GET="CollectionRetrieve"),
    _resource(f"{_DATA}/composite/sobjects/{{sobject}}/{{field}}", 46, PATCH="CollectionUpsert"),
)


@dataclass(frozen=True, slots=True)
class Match:
    """A path matched to a resource: the captured segments and the API version (``"59.0"``)."""

    resource: Resource
    params: Mapping[str, str]
    version: str | None

    def operation(self, method: str) -> str | None:
        return self.resource.operations.get(method.upper())


def _segments(raw_path: str) -> list[str] | None:
    parts = raw_path.split("/")
    if len(parts) < 3 or parts[0] != "" or parts[1] != "services":
        return None
    parts = parts[2:]
    if parts and parts[-1] == "":
        parts.pop()
    return [unquote(part) for part in parts]


def match_path(raw_path: str) -> Match | None:
    """The resource ``raw_path`` (undecoded, e.g. ``/services/data/v59.0/query/``) names, or
    ``None`` (an unknown path or an unsupported API version)."""
    segments = _segments(raw_path)
    if segments is None:
        return None
    for resource in RESOURCES:
        if len(resource.pattern) != len(segments):
            continue
        params: dict[str, str] = {}
        version: str | None = None
        for expected, segment in zip(resource.pattern, segments, strict=True):
            if expected == "{version}" or expected == "{soap_version}":
                regex = _VERSION if expected == "{version}" else _SOAP_VERSION
                found = regex.fullmatch(segment)
                if found is None:
                    break
                number = int(found.group(1))
                if not OLDEST_API_VERSION <= number <= NEWEST_API_VERSION:
                    break
                version = f"{number}.0"
            elif expected.startswith("{"):
                if not segment:
                    break
                params[expected[1:-1]] = segment
            elif expected != segment:
                break
        else:
            if version is not None and int(float(version)) < resource.min_version:
                return None
            return Match(resource, params, version)
    return None


def release_label(version: int) -> str:
    """The release a version came with: 59 -> ``Winter '24``, 60 -> ``Spring '24``."""
    offset = version - 59
    season = ("Winter", "Spring", "Summer")[offset % 3]
    return f"{season} '{24 + offset // 3:02d}"


def supported_versions() -> list[dict[str, str]]:
    """``GET /services/data/``: every version the simulator answers, oldest first."""
    return [
        {
            "label": release_label(number),
            "url": f"/services/data/v{number}.0",
            "version": f"{number}.0",
        }
        for number in range(OLDEST_API_VERSION, NEWEST_API_VERSION + 1)
    ]
