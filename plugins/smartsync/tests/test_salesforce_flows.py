"""Real flows through the engine against the Salesforce simulator, from a flow file: constituents
(a CSV export in the common vocabulary) into Salesforce with the search steps (constituent id,
then email), Contacts out of Salesforce, Salesforce's own 403 throttle retried with its
Retry-After, the connection check, and the plugin's registrations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from salesforce_simulator import EXTERNAL_ID_FIELD, SalesforceSimulator
from syncframe_simulators import FaultRule
from syncframe_smartsync.salesforce_settings import SalesforceSettings
from syncframe_smartsync.salesforce_sink import SalesforceContactSink
from syncframe_smartsync.salesforce_source import SalesforceContactSource

from plugins.smartsync.tests.salesforce_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    SalesforcePlugin,
    by_constituent,
    live_contacts,
    make_simulator,
)
from syncframe.config import load_config
from syncframe.engine import Engine
from syncframe.host import Host

pytestmark = pytest.mark.anyio

FLOWS = """
[state]
url = "sqlite:///state.db"

[connections.salesforce]
system = "salesforce"
login_url = "{login_url}"
client_id = "{client_id}"
# client_secret comes from SYNCFRAME_SALESFORCE_CLIENT_SECRET
retry = {{ attempts = 3, initial_wait = 0, max_wait = 0, jitter = 0 }}

[flows.constituents_in]
description = "Constituents exported from Raiser's Edge into Salesforce Contacts"
batch_size = 2

[flows.constituents_in.source]
type = "csv"
path = "constituents.csv"
key = "constituent_id"
entity = "constituent"
system = "re_nxt"

[[flows.constituents_in.matchers]]
type = "key_cascade"
keys = ["constituent_id", {{ source = "email", target = "email", normalize = "lower" }}]

[flows.constituents_in.sink]
type = "salesforce_contacts"
connection = "salesforce"

[flows.contacts_out]
description = "Contacts changed in Salesforce, as JSON Lines"

[flows.contacts_out.source]
type = "salesforce_contacts"
connection = "salesforce"

[flows.contacts_out.sink]
type = "jsonl"
path = "out/contacts.jsonl"
envelope = true
"""

CONSTITUENTS = """constituent_id,email,first_name,last_name,city,email_status
10042,ann.lee@example.org,Ann,Lee,Leeds,subscribed
10043,bo.ng@example.org,Bo,Ng,York,unsubscribed
10044,cy.ito@example.org,Cy,Ito,Hull,subscribed
10045,not-an-email,Di,Evans,Bath,subscribed
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> SalesforceSimulator:
    return make_simulator()


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def engine(tmp_path: Path, sim: SalesforceSimulator, waits: list[float]) -> Iterator[Engine]:
    (tmp_path / "flows.toml").write_text(
        FLOWS.format(login_url=sim.base_url, client_id=CLIENT_ID), encoding="utf-8"
    )
    (tmp_path / "constituents.csv").write_text(CONSTITUENTS, encoding="utf-8")

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    host = Host(plugins=[SalesforcePlugin()], entry_points=False)
    config = load_config(
        tmp_path / "flows.toml",
        host.registry,
        environ={"SYNCFRAME_SALESFORCE_CLIENT_SECRET": CLIENT_SECRET},
    )
    with Engine(config, host, clock=sim.clock, transport=sim.transport(), sleep=no_sleep) as built:
        yield built


def exported(tmp_path: Path) -> list[dict[str, Any]]:
    lines = (tmp_path / "out" / "contacts.jsonl").read_bytes().splitlines()
    return [orjson.loads(line) for line in lines]


async def test_constituents_land_matched_by_constituent_id_then_email(
    engine: Engine, sim: SalesforceSimulator
) -> None:
    typed_in = sim.add_contact({"LastName": "Lee", "Email": "Ann.Lee@example.org"})
    bound = sim.add_contact({EXTERNAL_ID_FIELD: "10043", "LastName": "Ng", "FirstName": "Bo"})
    sim.clock.advance(minutes=1)

    report = await engine.run_flow("constituents_in")

    assert report.summary.status == "succeeded"
    assert report.summary.counts == {"updated": 2, "created": 1, "rejected": 1}
    held = by_constituent(sim)
    assert held["10042"]["Id"] == typed_in  # found by email, now bound to its constituent
    assert (held["10042"]["FirstName"], held["10042"]["MailingCity"]) == ("Ann", "Leeds")
    assert held["10043"]["Id"] == bound
    assert held["10043"]["HasOptedOutOfEmail"] is True
    assert held["10044"]["Email"] == "cy.ito@example.org"
    assert "10045" not in held
    [failed] = engine.state.list_failed(flow="constituents_in")
    assert "INVALID_EMAIL_ADDRESS" in failed.reason
    assert len(live_contacts(sim)) == 3


async def test_the_same_export_again_changes_nothing(
    engine: Engine, sim: SalesforceSimulator
) -> None:
    await engine.run_flow("constituents_in")
    stamps = {c["Id"]: c["SystemModstamp"] for c in live_contacts(sim)}
    sim.clock.advance(minutes=5)

    engine.state.reset_flow("constituents_in")
    again = await engine.run_flow("constituents_in")

    assert again.summary.counts == {"unchanged": 3, "rejected": 1}
    assert {c["Id"]: c["SystemModstamp"] for c in live_contacts(sim)} == stamps


async def test_contacts_flow_out_once_each_then_only_what_changed(
    engine: Engine, sim: SalesforceSimulator, tmp_path: Path
) -> None:
    ann = sim.add_contact({EXTERNAL_ID_FIELD: "10042", "LastName": "Lee", "Email": "a@x.org"})
    bo = sim.add_contact({"LastName": "Ng"})

    first = await engine.run_flow("contacts_out")
    sim.clock.advance(minutes=5)
    sim.edit_contact(ann, {"HasOptedOutOfEmail": True})
    sim.delete_contact(bo)
    second = await engine.run_flow("contacts_out")
    third = await engine.run_flow("contacts_out")

    assert first.summary.counts == {"created": 2}
    assert second.summary.counts == {"created": 2}
    assert third.summary.total == 0
    rows = exported(tmp_path)
    assert [(row["_keys"]["id"], row["_op"]) for row in rows] == [
        (ann, "insert"),
        (bo, "insert"),
        (ann, "update"),
        (bo, "delete"),
    ]
    assert rows[2]["email_status"] == "unsubscribed"
    assert rows[0]["constituent_id"] == "10042"


async def test_writes_into_salesforce_are_in_the_ledger_as_the_source_reads_them(
    engine: Engine, sim: SalesforceSimulator
) -> None:
    await engine.run_flow("constituents_in")
    ann = by_constituent(sim)["10042"]["Id"]

    entries = engine.state.ledger_get("salesforce", "contact", [ann])

    assert entries[ann].source_system == "re_nxt"
    assert entries[ann].values["email"] == "ann.lee@example.org"


async def test_salesforces_own_throttle_is_waited_out(
    engine: Engine, sim: SalesforceSimulator, waits: list[float]
) -> None:
    sim.add_contact({"LastName": "Lee"})
    # The simulator's rate_limit fault is Salesforce's: 403 REQUEST_LIMIT_EXCEEDED, Retry-After.
    sim.faults.add(FaultRule(kind="rate_limit", retry_after=7, operation="QueryAll", times=1))

    report = await engine.run_flow("contacts_out")

    assert report.summary.status == "succeeded"
    assert report.summary.counts == {"created": 1}
    assert waits == [7.0]
    statuses = [e.status for e in sim.journal.entries() if e.operation == "QueryAll"]
    assert statuses == [403, 200]


async def test_the_connection_check_passes(engine: Engine, sim: SalesforceSimulator) -> None:
    checks = await engine.check_connections()

    salesforce = [c for c in checks if c.connection == "salesforce"]
    assert sorted(c.kind for c in salesforce) == ["sink", "source"]
    assert all(c.ok for c in salesforce), [c.error for c in salesforce]


def test_the_plugin_registers_the_salesforce_connection() -> None:
    from syncframe_smartsync import plugin

    registry = Host(plugins=[plugin], entry_points=False).registry

    assert registry.systems["salesforce"].settings is SalesforceSettings
    assert registry.sources["salesforce_contacts"].cls is SalesforceContactSource
    assert registry.sinks["salesforce_contacts"].cls is SalesforceContactSink
