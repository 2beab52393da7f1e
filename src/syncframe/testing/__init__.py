"""The connector conformance suite: tests any connector plugin runs against its simulator.

In the spirit of singer_sdk's standard tests and Airbyte's acceptance tests: a connector's test
module subclasses :class:`SourceConformance`, :class:`SinkConformance` or both, says which
plugin, system, source and sink it tests (a webhook source subclasses
:class:`WebhookSourceConformance`), how to seed its simulator and how to read back what
landed there, and inherits tests that each run real flows through the engine against the
simulator: settings validate, the connection check, reading from empty, an incremental read
resuming from its cursor, idempotent writes (twice, and after a stop between write and commit),
a transient fault retried, and a rejected record carrying its reason. See
``docs/plugin-guide.md`` ("Testing your connector").

Importing this package needs neither Starlette nor the simulator kit: a simulator is anything
shaped like :class:`SimulatorLike`. The fault tests build the kit's ``FaultRule`` when they run.
"""

from syncframe.testing._harness import (
    CONNECTION,
    READ_FLOW,
    WRITE_FLOW,
    ConformanceHarness,
    ConformancePlugin,
    EngineStopped,
)
from syncframe.testing._protocols import FaultsLike, JournalEntryLike, JournalLike, SimulatorLike
from syncframe.testing._suite import (
    RETRY_AFTER,
    ConnectorConformance,
    InvalidSettings,
    RejectedRecord,
    SinkConformance,
    SourceConformance,
    WebhookSourceConformance,
)

__all__ = [
    "CONNECTION",
    "READ_FLOW",
    "RETRY_AFTER",
    "WRITE_FLOW",
    "ConformanceHarness",
    "ConformancePlugin",
    "ConnectorConformance",
    "EngineStopped",
    "FaultsLike",
    "InvalidSettings",
    "JournalEntryLike",
    "JournalLike",
    "RejectedRecord",
    "SimulatorLike",
    "SinkConformance",
    "SourceConformance",
    "WebhookSourceConformance",
]
