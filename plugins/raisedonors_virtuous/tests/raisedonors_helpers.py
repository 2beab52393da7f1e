"""Shared helpers of the raisedonors-side tests: a simulated Legacy RaiseDonors account with the
sync's API client, the portals' edits and the giving form as a person would use them, a client
of the simulator, and the engine around the side's components (through syncframe.testing's
harness, whose feed source and capture sink stand for the Virtuous side)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import httpx
from pydantic import SecretStr
from raisedonors_simulator import RaiseDonorsSimulator
from syncframe_raisedonors_virtuous import raisedonors_side
from syncframe_raisedonors_virtuous.raisedonors_client import RaiseDonorsClient
from syncframe_raisedonors_virtuous.raisedonors_settings import RaiseDonorsSettings

from syncframe import hookimpl
from syncframe.records import Change
from syncframe.registry import ComponentRegistrar, SystemRegistrar
from syncframe.testing import ConformanceHarness, ConformancePlugin
from syncframe.testing._harness import READ_FLOW

__all__ = [
    "ADA",
    "ADA_ADDRESS",
    "CASCADE",
    "CLIENT_KEY",
    "CLIENT_NAME",
    "CLIENT_SECRET",
    "HOPE_FUND",
    "SYNC_USER",
    "RaiseDonorsSide",
    "SideHarness",
    "add_address",
    "connection_settings",
    "donor_of",
    "edit",
    "give",
    "open_account",
    "rd_client",
    "settings_for",
    "switch_contact_sync",
]

CLIENT_KEY: Final = "virtuous-crm-sync"
CLIENT_SECRET: Final = "Rd-s3cret-never-shown"
CLIENT_NAME: Final = "Virtuous CRM+ Sync"
SYNC_USER: Final = "sync@hope.example.org"

ADA_ADDRESS: Final = {
    "address1": "12 Oak St",
    "address2": "Apt 4",
    "city": "Austin",
    "state": "TX",
    "postalCode": "78701",
    "country": "US",
}
ADA: Final = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "ada@example.org",
    "phone": "(512) 555-0100",
    "primaryAddress": ADA_ADDRESS,
}
HOPE_FUND: Final = {
    "organizationName": "Hope Community Fund",
    "firstName": "Cara",
    "lastName": "Diaz",
    "email": "giving@hopefund.example.org",
}

#: The matchers of the flow into RaiseDonors, as the lead's flow file configures them.
CASCADE: Final[list[dict[str, Any]]] = [
    {
        "type": "key_cascade",
        "keys": [
            {"source": "donor_id", "target": "donor_id"},
            {"source": "virtuous_contact_id", "target": "virtuous_contact_id"},
            {"source": "email", "target": "email", "normalize": "lower"},
        ],
    }
]


def open_account(
    sim: RaiseDonorsSimulator,
    *,
    sync_contacts: bool = True,
    donors: Sequence[Mapping[str, Any]] = (),
    client: bool = True,
) -> list[int]:
    """Seed the sync's API client, the integration settings (contact sync on at the clock's
    now, unless ``sync_contacts`` is false) and ``donors`` (no activity); their ids."""
    payload: dict[str, Any] = {
        "integration": {"authorizedUser": SYNC_USER, "syncContacts": sync_contacts},
        "donors": [dict(d) for d in donors],
    }
    if client:
        payload["api_clients"] = [{"key": CLIENT_KEY, "secret": CLIENT_SECRET, "name": CLIENT_NAME}]
    made = sim.seed_records(payload)
    return list(made.get("donors", []))


def settings_for(sim: RaiseDonorsSimulator, **overrides: Any) -> RaiseDonorsSettings:
    """Settings of the sync's API client on ``sim``."""
    values: dict[str, Any] = {
        "base_url": sim.base_url,
        "client_key": CLIENT_KEY,
        "client_secret": SecretStr(CLIENT_SECRET),
        **overrides,
    }
    return RaiseDonorsSettings(**values)


def connection_settings(sim: RaiseDonorsSimulator, **overrides: Any) -> dict[str, Any]:
    """The same, as a flow file's connection table (secrets as text)."""
    return {
        "base_url": sim.base_url,
        "client_key": CLIENT_KEY,
        "client_secret": CLIENT_SECRET,
        **overrides,
    }


@asynccontextmanager
async def rd_client(
    sim: RaiseDonorsSimulator, **overrides: Any
) -> AsyncIterator[RaiseDonorsClient]:
    """A client of ``sim`` over its in-process transport, on its clock."""
    async with httpx.AsyncClient(transport=sim.transport(), timeout=5.0) as http:
        yield RaiseDonorsClient(http, settings_for(sim, **overrides), sim.clock)


async def edit(
    sim: RaiseDonorsSimulator,
    donor_id: int,
    channel: str = "admin_portal",
    actor: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A person edits a donor in the admin or donor portal (PATCH-named fields)."""
    body: dict[str, Any] = {"channel": channel, "fields": fields}
    if actor is not None:
        body["actor"] = actor
    async with sim.admin() as admin:
        donor: dict[str, Any] = await admin.post(f"/raisedonors/donors/{donor_id}/edit", body)
    return donor


async def add_address(
    sim: RaiseDonorsSimulator, donor_id: int, address: Mapping[str, Any], *, primary: bool = False
) -> dict[str, Any]:
    """An admin adds an address to a donor (a second, non-primary one by default)."""
    async with sim.admin() as admin:
        donor: dict[str, Any] = await admin.post(
            f"/raisedonors/donors/{donor_id}/addresses",
            {"channel": "admin_portal", "address": dict(address), "isPrimary": primary},
        )
    return donor


async def give(sim: RaiseDonorsSimulator, **form: Any) -> dict[str, Any]:
    """A donor gives on the public giving form; its answer (gift, donor, donorCreated)."""
    async with sim.client() as http:
        response = await http.post("/api/Raise/give", json=form)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def switch_contact_sync(sim: RaiseDonorsSimulator, on: bool) -> dict[str, Any]:
    """The admin ticks (or unticks) "Sync Legacy RaiseDonors Contacts to Virtuous Donors" and
    presses "Update Settings"."""
    async with sim.admin() as admin:
        response = await admin.request(
            "PUT", "/raisedonors/integration/virtuous", json={"syncContacts": on}
        )
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


def donor_of(sim: RaiseDonorsSimulator, donor_id: int) -> dict[str, Any]:
    """The donor as the API shows it now."""
    for donor in sim.snapshot()["donors"]:
        if donor["id"] == donor_id:
            found: dict[str, Any] = donor
            return found
    raise AssertionError(f"no donor {donor_id} in the simulator")


class RaiseDonorsSide:
    """The raisedonors side of the plugin on its own (``plugin.py`` also loads the Virtuous
    side, which these tests leave to its own)."""

    __name__ = "syncframe_raisedonors_side_tests"

    @hookimpl
    def syncframe_register_systems(self, register: SystemRegistrar) -> None:
        """``raisedonors``."""
        raisedonors_side.register_systems(register)

    @hookimpl
    def syncframe_register_sources(self, register: ComponentRegistrar) -> None:
        """``raisedonors_activity``."""
        raisedonors_side.register_sources(register)

    @hookimpl
    def syncframe_register_sinks(self, register: ComponentRegistrar) -> None:
        """``raisedonors_donors``."""
        raisedonors_side.register_sinks(register)

    @hookimpl
    def syncframe_register_filters(self, register: ComponentRegistrar) -> None:
        """``raisedonors_edit_channels``."""
        raisedonors_side.register_filters(register)


class SideHarness(ConformanceHarness):
    """syncframe.testing's harness with filters on the read flow: flow ``read`` is
    raisedonors_activity -> capture, flow ``write`` is feed -> raisedonors_donors."""

    def __init__(
        self,
        sim: RaiseDonorsSimulator,
        folder: Path,
        *,
        filters: Sequence[Mapping[str, Any]] = (),
        matchers: Sequence[Mapping[str, Any]] = tuple(CASCADE),
        sink_options: Mapping[str, Any] | None = None,
        batch_size: int = 2,
    ) -> None:
        from syncframe.host import Host

        plugin = ConformancePlugin()
        super().__init__(
            simulator=sim,
            host=Host(plugins=[RaiseDonorsSide(), plugin], entry_points=False),
            plugin=plugin,
            folder=folder,
            system="raisedonors",
            source={"type": "raisedonors_activity"},
            sink={"type": "raisedonors_donors", **(sink_options or {})},
            matchers=matchers,
            batch_size=batch_size,
        )
        self.filters = [dict(f) for f in filters]
        self.settings = connection_settings(sim)

    def flow_document(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        document = super().flow_document(settings)
        if self.filters:
            document["flows"][READ_FLOW]["filters"] = self.filters
        return document

    async def read(self) -> tuple[Any, list[Change]]:
        """Run the read flow; its report and the changes that reached the capture sink."""
        report = await self.run(READ_FLOW, self.settings)
        return report, self.take_captured()

    async def write(self, records: Mapping[str, Mapping[str, Any]]) -> Any:
        """Queue ``records`` (key -> target-side fields) and run the write flow."""
        self.queue(records, "contact")
        return await self.run("write", self.settings)
