"""Shared helpers of the Virtuous side's tests: a simulated Virtuous CRM+ organization with the
users the sync meets, clients and settings for it, an engine serving its webhooks, and webhook
bodies as Virtuous sends them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import syncframe_raisedonors_virtuous.plugin as plugin
import yaml
from pydantic import SecretStr
from syncframe_raisedonors_virtuous.virtuous_client import VirtuousClient
from syncframe_raisedonors_virtuous.virtuous_settings import VirtuousSettings
from virtuous_simulator import DeliveryReport, VirtuousSimulator

from syncframe.clock import ManualClock
from syncframe.config import load_config
from syncframe.engine import Engine, RunReport
from syncframe.host import Host
from syncframe.records import Change, Operation, Origin
from syncframe.serve import service_app
from syncframe.testing import ConformancePlugin

__all__ = [
    "API_KEY",
    "IMPORTER",
    "IMPORT_FLOW",
    "SERVE_URL",
    "SSO_USER",
    "START",
    "SYNC_PASSWORD",
    "SYNC_USER",
    "TWO_FACTOR_USER",
    "WEBHOOK_FLOW",
    "WEBHOOK_SECRET",
    "WebhookWorld",
    "client_for",
    "contact_payload",
    "donor_change",
    "event_payload",
    "gift_change",
    "make_simulator",
    "next_midnight",
    "run_imports",
    "settings_for",
    "settings_values",
    "webhook_world",
]

WEBHOOK_SECRET = "whsec-7c1d2e3f-never-shown"
SYNC_USER = "sync@raisedonors-sync.example.org"
SYNC_PASSWORD = "Sync-Pa55-never-shown"
TWO_FACTOR_USER = "jane.admin@example.org"
SSO_USER = "sam.sso@sso.example.org"
API_KEY = "vk-0123456789-never-shown"
#: The person who runs the nightly import in Virtuous (named on the audit log).
IMPORTER = "Dana Importer"
#: Where ``syncframe serve`` is reached by the simulated Virtuous's webhook deliveries.
SERVE_URL = "http://syncframe.test"
#: The flow the webhook of :func:`make_simulator` delivers to.
WEBHOOK_FLOW = "virtuous_to_raisedonors"
#: Where the simulator clock starts in every helper-built simulator.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_simulator(
    *, seed: int = 0, rate_limit_per_hour: int = 5000, flow: str = WEBHOOK_FLOW
) -> VirtuousSimulator:
    """A simulated organization on a manual clock: the sync user, a user with two-factor
    authentication, one under SSO, an API key, and a webhook sending ContactCreate and
    ContactUpdate to ``syncframe serve``'s endpoint of ``flow``, signed with the secret."""
    simulator = VirtuousSimulator(
        clock=ManualClock(START), seed=seed, rate_limit_per_hour=rate_limit_per_hour
    )
    simulator.add_user(SYNC_USER, SYNC_PASSWORD, name="RaiseDonors Sync")
    simulator.add_user(TWO_FACTOR_USER, "Jane-Pa55", name="Jane Admin", two_factor_enabled=True)
    simulator.add_user(SSO_USER, "Sam-Pa55", name="Sam SSO", sso=True)
    simulator.add_user("dana@example.org", "Dana-Pa55", name=IMPORTER)
    simulator.add_api_key("Syncframe", API_KEY)
    simulator.subscribe_webhook(
        f"{SERVE_URL}/webhooks/{flow}", ["ContactCreate", "ContactUpdate"], secret=WEBHOOK_SECRET
    )
    return simulator


def settings_values(simulator: VirtuousSimulator, **overrides: Any) -> dict[str, Any]:
    """Connection settings (plain values) that open ``simulator`` as the sync user."""
    return {
        "base_url": simulator.base_url,
        "username": SYNC_USER,
        "password": SYNC_PASSWORD,
        "webhook_secret": WEBHOOK_SECRET,
        **overrides,
    }


def settings_for(simulator: VirtuousSimulator, **overrides: Any) -> VirtuousSettings:
    """The settings model of :func:`settings_values`."""
    values = settings_values(simulator, **overrides)
    for name in ("password", "api_key", "webhook_secret"):
        if isinstance(values.get(name), str):
            values[name] = SecretStr(values[name])
    return VirtuousSettings(**values)


@asynccontextmanager
async def client_for(
    simulator: VirtuousSimulator, waits: list[float] | None = None, **overrides: Any
) -> AsyncIterator[VirtuousClient]:
    """A client of ``simulator`` over its in-process transport. Its pacer's waits move the
    simulator's clock instead of sleeping (and are recorded in ``waits``)."""
    clock = simulator.clock
    assert isinstance(clock, ManualClock)

    async def clock_sleep(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    async with httpx.AsyncClient(transport=simulator.transport(), timeout=5.0) as http:
        yield VirtuousClient(http, settings_for(simulator, **overrides), clock, sleep=clock_sleep)


def next_midnight(simulator: VirtuousSimulator) -> None:
    """Move the simulator's clock just past the next midnight (UTC): held transactions are
    bundled into imports."""
    clock = simulator.clock
    assert isinstance(clock, ManualClock)
    now = clock.now()
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    clock.set(midnight + timedelta(minutes=1))
    simulator.tick()


def run_imports(simulator: VirtuousSimulator, user: str = IMPORTER) -> list[dict[str, Any]]:
    """Past midnight, run every pending import as ``user``: what a person does each morning.
    Returns the imports as the admin API shows them afterwards."""
    next_midnight(simulator)
    done = []
    for imp in list(simulator.imports.imports.values()):
        if imp.status == "Pending":
            simulator.run_import(imp.id, user)
            done.append(simulator.imports.import_json(imp))
    return done


# ---- an engine with both flows of the Virtuous side ------------------------------------------

#: The flow from a feed of RaiseDonors-like changes into the import tool.
IMPORT_FLOW = "raisedonors_to_virtuous"


class WebhookWorld:
    """A flow file with two flows and the engine on it, with ``syncframe serve``'s app set as
    the simulator's webhook transport:

    * ``WEBHOOK_FLOW``: the Virtuous webhook, through the reference source filter (and the
      ``echo`` guard if asked), into a capture sink;
    * ``IMPORT_FLOW``: changes the test queues (as the RaiseDonors activity source emits them)
      into the ``virtuous_import`` sink.
    """

    def __init__(self, simulator: VirtuousSimulator, engine: Engine, plugin: ConformancePlugin):
        self.simulator = simulator
        self.engine = engine
        self.plugin = plugin

    @property
    def captured(self) -> list[Change]:
        """The changes the webhook flow's sink received, in order."""
        return self.plugin.captured

    def queue(self, *changes: Change) -> None:
        """Changes for the import flow's next run."""
        self.plugin.feed.extend(changes)

    async def deliver(self) -> DeliveryReport:
        """Deliver every webhook event due now (into the serve app)."""
        return await self.simulator.deliver_webhooks()

    async def send(self, *changes: Change, dry_run: bool = False) -> RunReport:
        """Queue ``changes`` and run the import flow."""
        self.queue(*changes)
        return await self.engine.run_flow(IMPORT_FLOW, dry_run=dry_run)


@contextmanager
def webhook_world(
    simulator: VirtuousSimulator,
    folder: Path,
    *,
    echo: bool = False,
    settings: Mapping[str, Any] | None = None,
    sink_options: Mapping[str, Any] | None = None,
) -> Iterator[WebhookWorld]:
    """A :class:`WebhookWorld` for ``simulator`` in ``folder``."""
    capture = ConformancePlugin()
    webhook_flow: dict[str, Any] = {
        "source": {"type": "virtuous_webhook", "connection": "virtuous"},
        "filters": [{"type": "virtuous_reference_source"}],
        "sink": {"type": "conformance_capture"},
    }
    if echo:
        webhook_flow["loop_guards"] = [{"type": "echo"}]
    document = {
        "state": {"url": "sqlite:///state.db"},
        "connections": {
            "virtuous": {
                "system": "virtuous",
                **(settings or settings_values(simulator)),
                "retry": {"attempts": 2, "initial_wait": 0, "jitter": 0},
            }
        },
        "flows": {
            WEBHOOK_FLOW: webhook_flow,
            IMPORT_FLOW: {
                "source": {"type": "conformance_feed"},
                "sink": {
                    "type": "virtuous_import",
                    "connection": "virtuous",
                    **(sink_options or {}),
                },
            },
        },
    }
    path = folder / "flows.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    host = Host(plugins=[plugin, capture], entry_points=False)
    config = load_config(path, host.registry, environ={})

    async def no_wait(seconds: float) -> None:
        return None

    with Engine(
        config, host, clock=simulator.clock, transport=simulator.transport(), sleep=no_wait
    ) as engine:
        simulator.webhook_transport = httpx.ASGITransport(app=service_app(engine))
        try:
            yield WebhookWorld(simulator, engine, capture)
        finally:
            simulator.webhook_transport = None


# ---- changes as the RaiseDonors side emits them ------------------------------------------------


def donor_change(
    donor_id: int,
    *,
    operation: Operation = Operation.UPDATE,
    occurred_at: datetime = START,
    **fields: Any,
) -> Change:
    """A donor edit as ``raisedonors_activity`` emits it (every donor field, ``None`` for the
    ones the donor has not)."""
    values: dict[str, Any] = {
        "donor_id": donor_id,
        "is_organization": False,
        "first_name": "Ann",
        "last_name": "Lee",
        "organization_name": None,
        "email": f"donor{donor_id}@example.org",
        "phone": "555-0100",
        "address1": "1 Elm St",
        "address2": None,
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
        "virtuous_contact_id": None,
        **fields,
    }
    return Change(
        "raisedonors",
        "donor",
        {"donor_id": str(donor_id)},
        operation,
        values,
        occurred_at,
        Origin("raisedonors", channel="admin_portal"),
    )


def gift_change(donor_id: int, gift_id: int, amount: str = "25.00", **fields: Any) -> Change:
    """A gift on the giving form as ``raisedonors_activity`` emits it, with its donor."""
    donor = donor_change(donor_id, operation=Operation.INSERT, **fields)
    values = {
        **donor.fields,
        "gift_id": gift_id,
        "amount": amount,
        "gift_date": "2026-03-02",
        "project_code": None,
    }
    return Change(
        "raisedonors",
        "gift",
        {"gift_id": str(gift_id), "donor_id": str(donor_id)},
        Operation.INSERT,
        values,
        START,
        Origin("raisedonors", channel="gift"),
    )


# ---- webhook bodies ----------------------------------------------------------------------------


def contact_payload(
    contact_id: int,
    *,
    reference_source: str | None = "Legacy RaiseDonors",
    reference_id: str | None = None,
    contact_type: str = "Household",
    name: str | None = None,
    first_name: str = "Ann",
    last_name: str = "Lee",
    email: str | None = None,
    phone: str | None = None,
    address: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A contact as ``GET /api/Contact/{id}`` and the webhooks show it."""
    methods: list[dict[str, Any]] = []
    if email is not None:
        methods.append(
            {"id": 1, "type": "Home Email", "value": email, "isPrimary": True, "isOptedIn": True}
        )
    if phone is not None:
        methods.append(
            {"id": 2, "type": "Home Phone", "value": phone, "isPrimary": True, "isOptedIn": True}
        )
    primary = None
    if address is not None:
        primary = {
            "id": 1,
            "address1": None,
            "address2": None,
            "city": None,
            "state": None,
            "postal": None,
            "country": None,
            "isPrimary": True,
            **address,
        }
    return {
        "id": contact_id,
        "contactType": contact_type,
        "name": name or f"{first_name} {last_name}",
        "referenceSource": reference_source,
        "referenceId": reference_id,
        "address": primary,
        "addresses": [primary] if primary is not None else [],
        "contactIndividuals": [
            {
                "id": contact_id * 10,
                "contactId": contact_id,
                "firstName": first_name,
                "lastName": last_name,
                "isPrimary": True,
                "contactMethods": methods,
            }
        ],
        "createDateTimeUtc": "2026-03-01T09:00:00.000Z",
        "modifiedDateTimeUtc": "2026-03-02T09:00:00.000Z",
    }


def event_payload(
    event_id: str,
    event: str,
    contact: dict[str, Any],
    *,
    source: str = "admin",
    occurred_at: str = "2026-03-02T09:00:00.000Z",
) -> dict[str, Any]:
    """A webhook delivery's body."""
    return {
        "eventId": event_id,
        "event": event,
        "source": source,
        "occurredAt": occurred_at,
        "contact": contact,
    }
