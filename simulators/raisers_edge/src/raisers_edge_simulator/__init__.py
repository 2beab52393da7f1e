"""Raiser's Edge (RE 7) simulator for the RE connector for Luminate Online: the database's
constituents, gifts and pledges, TeamRaiser solicitors and code tables behind the query
interface the connector uses, and the import area where Luminate's files land. One
:class:`RaisersEdgeSimulator` (registered as ``raisers_edge``); see
``docs/simulators/raisers_edge.md``."""

from raisers_edge_simulator.admin import RaisersEdgeAdmin
from raisers_edge_simulator.app import (
    API_PREFIX,
    DATABASE_UNAVAILABLE,
    LOGIN_FAILED,
    RaisersEdgeSimulator,
)
from raisers_edge_simulator.database import (
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    DatabaseError,
    NotFound,
    RaisersEdgeDatabase,
)
from raisers_edge_simulator.imports import (
    CONSTITUENT_COLUMNS,
    SEGMENT_COLUMNS,
    TRANSACTION_COLUMNS,
    TRANSACTION_TYPES,
    ImportException,
    ImportOutcome,
)
from raisers_edge_simulator.records import (
    EMAIL_PHONE_TYPES,
    LUMINATE_GIFT_ID,
    PRIMARY_EMAIL_TYPE,
    Address,
    CodeEntry,
    Constituent,
    Gift,
    Phone,
)
from raisers_edge_simulator.sample import SAMPLE_CODE_TABLES, SampleDatabase, populate

__all__ = [
    "API_PREFIX",
    "CONSTITUENT_COLUMNS",
    "DATABASE_UNAVAILABLE",
    "DEFAULT_PASSWORD",
    "DEFAULT_USER",
    "EMAIL_PHONE_TYPES",
    "LOGIN_FAILED",
    "LUMINATE_GIFT_ID",
    "PRIMARY_EMAIL_TYPE",
    "SAMPLE_CODE_TABLES",
    "SEGMENT_COLUMNS",
    "TRANSACTION_COLUMNS",
    "TRANSACTION_TYPES",
    "Address",
    "CodeEntry",
    "Constituent",
    "DatabaseError",
    "Gift",
    "ImportException",
    "ImportOutcome",
    "NotFound",
    "Phone",
    "RaisersEdgeAdmin",
    "RaisersEdgeDatabase",
    "RaisersEdgeSimulator",
    "SampleDatabase",
    "populate",
]
