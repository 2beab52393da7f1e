"""A Legacy RaiseDonors account and a Virtuous CRM+ organization (both simulators, one
``ManualClock``), the example flow file around them, and the ways a test drives and reads both
systems. Shared by the RaiseDonors <-> Virtuous end-to-end tests, the kill -9 test and the
benchmark.

Two layers:

* :class:`Systems`: the two simulators on one clock, set up as the integration expects (the
  sync's API client in RaiseDonors, the sync user and an importing user in Virtuous), what people
  do in each system (portal edits, gifts, Virtuous edits of every source, running the nightly
  import), and reading back and comparing both sides (:meth:`Systems.disagreements`,
  :meth:`Systems.duplicates`). It needs no engine, so a test that runs ``syncframe serve`` in
  another process can use it with the simulators served on sockets.
* :class:`SyncWorld`: ``Systems`` plus the example flow file (``examples/raisedonors_virtuous/
  flows.toml``, copied as written with only ``base_url`` pointed at the simulators; the secrets
  come through ``environ``), an :class:`~syncframe.engine.Engine` whose HTTP transport routes by
  host to each simulator, and ``syncframe serve``'s app as the Virtuous simulator's
  ``webhook_transport``: a webhook delivery runs the Virtuous -> RaiseDonors flow in-process.

The sync is switched on by :meth:`Systems.switch_on`, as ``syncframe raisedonors-virtuous
enable`` does it (the plugin's own clients: sign in to Virtuous as the sync user, register the
ContactCreate/ContactUpdate webhook with the secret, tick "Sync Legacy RaiseDonors Contacts to
Virtuous Donors"), at the clock's now, which it returns.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import syncframe_raisedonors_virtuous.plugin as raisedonors_virtuous_plugin
from pydantic import SecretStr
from raisedonors_simulator import RaiseDonorsSimulator
from syncframe_raisedonors_virtuous.raisedonors_client import RaiseDonorsClient
from syncframe_raisedonors_virtuous.raisedonors_settings import RaiseDonorsSettings
from syncframe_raisedonors_virtuous.virtuous_client import VirtuousClient
from syncframe_raisedonors_virtuous.virtuous_settings import VirtuousSettings
from syncframe_raisedonors_virtuous.virtuous_webhook import CONTACT_EVENTS
from virtuous_simulator import DeliveryReport, VirtuousSimulator
from virtuous_simulator.contacts import audit_json, contact_json
from virtuous_simulator.imports import ContactTransactionIn
from virtuous_simulator.webhooks import parse_status

from syncframe.clock import ManualClock
from syncframe.config import load_config
from syncframe.engine import Engine, RunReport
from syncframe.host import Host
from syncframe.serve import service_app
from syncframe.state.base import FailedRecord, OutcomeRow

__all__ = [
    "ENV",
    "EXAMPLE_FLOW_FILE",
    "IMPORTER",
    "IMPORTER_NAME",
    "IMPORT_FLOW",
    "OTHER_CLIENT_NAME",
    "RD_CLIENT_NAME",
    "REFERENCE_SOURCE",
    "START",
    "SYNCED_FIELDS",
    "WEBHOOK_FLOW",
    "WEBHOOK_URL",
    "HostRouter",
    "Linked",
    "SyncWorld",
    "Systems",
    "contact_email",
    "contact_of_donor",
    "contact_synced_fields",
    "donor_synced_fields",
    "flatten",
    "flow_file",
    "sync_world",
]

REPO: Final = Path(__file__).resolve().parents[2]
#: The flow file the tests run, as shipped.
EXAMPLE_FLOW_FILE: Final = REPO / "examples" / "raisedonors_virtuous" / "flows.toml"
#: The flows of the example file.
IMPORT_FLOW: Final = "raisedonors_to_virtuous"
WEBHOOK_FLOW: Final = "virtuous_to_raisedonors"
#: Where the Virtuous webhook reaches ``syncframe serve`` (any host: in-process it is ignored).
WEBHOOK_URL: Final = f"http://syncframe.test/webhooks/{WEBHOOK_FLOW}"
#: Where both simulators' clocks start: a Monday morning, well before midnight.
START: Final = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REFERENCE_SOURCE: Final = "Legacy RaiseDonors"

# The sync's credentials; none may ever show in any output.
RD_CLIENT_KEY: Final = "virtuous-crm-sync"
RD_CLIENT_SECRET: Final = "Rd-e2e-s3cret-never-shown"
#: The sync's API client's name: the actor of everything it writes into RaiseDonors.
RD_CLIENT_NAME: Final = "Virtuous CRM+ Sync"
SYNC_USER: Final = "sync@rd-sync.example.org"
SYNC_PASSWORD: Final = "Sync-e2e-Pa55-never-shown"
WEBHOOK_SECRET: Final = "whsec-e2e-never-shown-4b1d"
#: Another API client of RaiseDonors (the organization's website): its edits are channel Api.
OTHER_CLIENT_KEY: Final = "website"
OTHER_CLIENT_SECRET: Final = "Web-s3cret-e2e"
OTHER_CLIENT_NAME: Final = "Hope Website"
#: The Virtuous user who runs the nightly import each morning, and the name the audit log shows.
IMPORTER: Final = "dana@hope.example.org"
IMPORTER_NAME: Final = "Dana Importer"

#: The secrets of the example flow file, as the environment gives them.
ENV: Final[dict[str, str]] = {
    "SYNCFRAME_RAISEDONORS_CLIENT_KEY": RD_CLIENT_KEY,
    "SYNCFRAME_RAISEDONORS_CLIENT_SECRET": RD_CLIENT_SECRET,
    "SYNCFRAME_VIRTUOUS_USERNAME": SYNC_USER,
    "SYNCFRAME_VIRTUOUS_PASSWORD": SYNC_PASSWORD,
    "SYNCFRAME_VIRTUOUS_WEBHOOK_SECRET": WEBHOOK_SECRET,
}

#: The fields both systems must agree on for a linked donor/contact (email: see
#: :meth:`Systems.disagreements`).
SYNCED_FIELDS: Final = (
    "first_name",
    "last_name",
    "organization_name",
    "phone",
    "address1",
    "address2",
    "city",
    "state",
    "postal_code",
    "country",
)
_NOT_DIGIT: Final = re.compile(r"\D+")
_EXAMPLE_URLS: Final = {
    "raisedonors": 'base_url = "https://api.raisedonors.com"',
    "virtuous": 'base_url = "https://api.virtuoussoftware.com"',
}


def flow_file(folder: Path, *, raisedonors_url: str, virtuous_url: str) -> Path:
    """Copy the example flow file into ``folder`` as written, with only each connection's
    ``base_url`` pointed at the given addresses; its path. (Secrets: :data:`ENV`.)"""
    text = EXAMPLE_FLOW_FILE.read_text(encoding="utf-8")
    for system, url in (("raisedonors", raisedonors_url), ("virtuous", virtuous_url)):
        line = _EXAMPLE_URLS[system]
        if text.count(line) != 1:
            raise AssertionError(f"{EXAMPLE_FLOW_FILE} no longer has the line {line!r} once")
        text = text.replace(line, f'base_url = "{url}"')
    path = folder / "flows.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ---- the synced fields of each side, read independently of the plugin ---------------------------


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _digits(value: Any) -> str:
    return _NOT_DIGIT.sub("", _text(value))


def donor_synced_fields(donor: Mapping[str, Any]) -> dict[str, str]:
    """A RaiseDonors donor (API JSON) as the fields the sync carries: names (an organization's
    name only, for an organization), the primary phone's digits, the primary address; blank is
    ""."""
    organization = bool(donor.get("organizationName"))
    address = donor.get("primaryAddress") or {}
    return {
        "first_name": "" if organization else _text(donor.get("firstName")),
        "last_name": "" if organization else _text(donor.get("lastName")),
        "organization_name": _text(donor.get("organizationName")),
        "phone": _digits(donor.get("phone")),
        "address1": _text(address.get("address1")),
        "address2": _text(address.get("address2")),
        "city": _text(address.get("city")),
        "state": _text(address.get("state")),
        "postal_code": _text(address.get("postalCode")),
        "country": _text(address.get("country")),
    }


def _primary_individual(contact: Mapping[str, Any]) -> Mapping[str, Any]:
    individuals = contact.get("contactIndividuals") or []
    for individual in individuals:
        if individual.get("isPrimary"):
            return dict(individual)
    return dict(individuals[0]) if individuals else {}


def _primary_method(individual: Mapping[str, Any], kind: str) -> str:
    for method in individual.get("contactMethods") or []:
        if method.get("isPrimary") and str(method.get("type", "")).endswith(kind):
            return _text(method.get("value"))
    return ""


def contact_synced_fields(contact: Mapping[str, Any]) -> dict[str, str]:
    """A Virtuous contact (API JSON) as the same fields as :func:`donor_synced_fields`: the
    primary individual's names (the contact name for an organization or foundation), its primary
    phone's digits, the primary address."""
    organization = contact.get("contactType") in ("Organization", "Foundation")
    person = _primary_individual(contact)
    address = contact.get("address") or {}
    return {
        "first_name": "" if organization else _text(person.get("firstName")),
        "last_name": "" if organization else _text(person.get("lastName")),
        "organization_name": _text(contact.get("name")) if organization else "",
        "phone": _digits(_primary_method(person, "Phone")),
        "address1": _text(address.get("address1")),
        "address2": _text(address.get("address2")),
        "city": _text(address.get("city")),
        "state": _text(address.get("state")),
        "postal_code": _text(address.get("postal")),
        "country": _text(address.get("country")),
    }


def contact_email(contact: Mapping[str, Any]) -> str:
    """The contact's primary email (its primary individual's), "" when none."""
    return _primary_method(_primary_individual(contact), "Email")


def contact_of_donor(donor_id: int, contact_id: int, donor: Mapping[str, Any]) -> dict[str, Any]:
    """The Virtuous contact RaiseDonors made of a donor (RaiseDonors edit fields), as seed JSON:
    ReferenceSource "Legacy RaiseDonors", ReferenceId = the donor id, the same names, email,
    primary phone and primary address."""
    organization = donor.get("organizationName")
    methods = [{"type": "Home Email", "value": donor["email"], "isPrimary": True}]
    if donor.get("phone"):
        methods.append({"type": "Home Phone", "value": donor["phone"], "isPrimary": True})
    contact: dict[str, Any] = {
        "id": contact_id,
        "contactType": "Organization" if organization else "Household",
        "name": organization,
        "referenceSource": REFERENCE_SOURCE,
        "referenceId": str(donor_id),
        "contactIndividuals": [
            {
                "firstName": donor.get("firstName"),
                "lastName": donor.get("lastName"),
                "isPrimary": True,
                "contactMethods": methods,
            }
        ],
    }
    address = donor.get("primaryAddress")
    if address:
        contact["address"] = {
            "address1": address.get("address1"),
            "address2": address.get("address2"),
            "city": address.get("city"),
            "state": address.get("state"),
            "postal": address.get("postalCode"),
            "country": address.get("country"),
        }
    return contact


# ---- transport ----------------------------------------------------------------------------------


class HostRouter(httpx.AsyncBaseTransport):
    """Sends each request to the transport of its URL's host (one per simulator); an unknown
    host is a connection error, as on a network."""

    def __init__(self, routes: Mapping[str, httpx.AsyncBaseTransport]) -> None:
        self.routes = dict(routes)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.routes.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no simulator answers at {request.url.host}", request=request)
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        # The simulators own their transports; an engine's clients closing must not close them.
        return None


# ---- the two systems ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Linked:
    """A donor and the Virtuous contact RaiseDonors made of it (ReferenceId = donor id; the
    donor shows the contact id)."""

    donor_id: int
    contact_id: int
    email: str


@dataclass
class Systems:
    """Both simulators on one manual clock, set up as the integration expects, with what people
    do in each and ways to read both back. No engine: see :class:`SyncWorld` for that."""

    clock: ManualClock = field(default_factory=lambda: ManualClock(START))
    seed: int = 0
    webhook_url: str = WEBHOOK_URL

    def __post_init__(self) -> None:
        self.raisedonors = RaiseDonorsSimulator(clock=self.clock, seed=self.seed)
        self.virtuous = VirtuousSimulator(clock=self.clock, seed=self.seed)
        self.raisedonors.seed_records(
            {
                "api_clients": [
                    {"key": RD_CLIENT_KEY, "secret": RD_CLIENT_SECRET, "name": RD_CLIENT_NAME},
                    {
                        "key": OTHER_CLIENT_KEY,
                        "secret": OTHER_CLIENT_SECRET,
                        "name": OTHER_CLIENT_NAME,
                    },
                ]
            }
        )
        # The dedicated sync user the help article recommends, and a person who imports.
        self.virtuous.add_user(SYNC_USER, SYNC_PASSWORD, name="RaiseDonors Sync")
        self.virtuous.add_user(IMPORTER, "Dana-Pa55", name=IMPORTER_NAME)
        #: When :meth:`switch_on` last switched the contact sync on.
        self.switched_on_at: datetime | None = None

    # ---- settings the sync signs in with -------------------------------------------------------
    def raisedonors_settings(self) -> RaiseDonorsSettings:
        """The sync's RaiseDonors API client."""
        return RaiseDonorsSettings(
            base_url=self.raisedonors.base_url,
            client_key=RD_CLIENT_KEY,
            client_secret=SecretStr(RD_CLIENT_SECRET),
        )

    def virtuous_settings(self) -> VirtuousSettings:
        """The sync's Virtuous user and webhook secret."""
        return VirtuousSettings(
            base_url=self.virtuous.base_url,
            username=SYNC_USER,
            password=SecretStr(SYNC_PASSWORD),
            webhook_secret=SecretStr(WEBHOOK_SECRET),
        )

    @asynccontextmanager
    async def _plugin_clients(self) -> AsyncIterator[tuple[RaiseDonorsClient, VirtuousClient]]:
        """The plugin's own clients of both simulators, as the ``enable`` command makes them."""
        router = HostRouter(self.transports())
        async with httpx.AsyncClient(transport=router, timeout=10) as http:
            yield (
                RaiseDonorsClient(http, self.raisedonors_settings(), self.clock),
                VirtuousClient(http, self.virtuous_settings(), self.clock),
            )

    def transports(self) -> dict[str, httpx.AsyncBaseTransport]:
        """Host -> in-process transport of each simulator."""
        return {
            httpx.URL(self.raisedonors.base_url).host: self.raisedonors.transport(),
            httpx.URL(self.virtuous.base_url).host: self.virtuous.transport(),
        }

    # ---- switching the sync on and off ---------------------------------------------------------
    async def switch_on(self) -> datetime:
        """What ``syncframe raisedonors-virtuous enable`` does, at the clock's now: sign in to
        Virtuous as the sync user, register the contact webhook with the secret (once), and
        tick "Sync Legacy RaiseDonors Contacts to Virtuous Donors". The switch-on moment."""
        async with self._plugin_clients() as (raisedonors, virtuous):
            await virtuous.login()
            if not any(h.get("url") == self.webhook_url for h in await virtuous.webhooks()):
                await virtuous.create_webhook(
                    self.webhook_url, list(CONTACT_EVENTS), WEBHOOK_SECRET
                )
            settings = await raisedonors.update_integration_settings(
                authorizedUser=SYNC_USER, syncContacts=True
            )
        assert settings.contact_sync_enabled_at is not None
        self.switched_on_at = settings.contact_sync_enabled_at
        return settings.contact_sync_enabled_at

    async def switch_off(self) -> None:
        """Untick the contact sync in RaiseDonors (``... disable``; the webhook stays)."""
        async with self._plugin_clients() as (raisedonors, _):
            await raisedonors.update_integration_settings(syncContacts=False)

    # ---- seeding what exists before the test --------------------------------------------------
    def seed_donors(self, *donors: Mapping[str, Any]) -> list[int]:
        """RaiseDonors donors that already exist (edit fields; no activity): their ids."""
        made = self.raisedonors.seed_records({"donors": [dict(d) for d in donors]})
        return list(made["donors"])

    def seed_contacts(self, *contacts: Mapping[str, Any]) -> list[int]:
        """Virtuous contacts that already exist (contact JSON; no webhook): their ids."""
        made = self.virtuous.seed_records({"contacts": [dict(c) for c in contacts]})
        return list(made["contacts"])

    def seed_linked(self, *donors: Mapping[str, Any]) -> list[Linked]:
        """Donors RaiseDonors sent to Virtuous before the test: each donor (RaiseDonors edit
        fields, may have ``otherAddresses``/``otherPhones``) and its contact, the same data on
        both sides, linked both ways (no activity, no webhook)."""
        next_donor = max((d.id for d in self.raisedonors.account.donors), default=100000) + 1
        next_contact = max(self.virtuous.contacts.contacts, default=1000) + 1
        linked = [
            Linked(next_donor + n, next_contact + n, str(d["email"])) for n, d in enumerate(donors)
        ]
        self.seed_contacts(
            *(
                contact_of_donor(k.donor_id, k.contact_id, d)
                for k, d in zip(linked, donors, strict=True)
            )
        )
        self.seed_donors(
            *(
                {**d, "id": k.donor_id, "virtuousContactId": str(k.contact_id)}
                for k, d in zip(linked, donors, strict=True)
            )
        )
        return linked

    # ---- what people do in RaiseDonors ----------------------------------------------------------
    async def portal_edit(
        self, donor_id: int, channel: str = "admin_portal", **fields: Any
    ) -> dict[str, Any]:
        """An admin (``admin_portal``) or the donor (``donor_portal``) edits a donor
        (PATCH-named fields: firstName, organizationName, phone, primaryAddress, email...)."""
        async with self.raisedonors.admin() as admin:
            donor: dict[str, Any] = await admin.post(
                f"/raisedonors/donors/{donor_id}/edit", {"channel": channel, "fields": fields}
            )
        return donor

    async def api_edit(self, donor_id: int, **fields: Any) -> dict[str, Any]:
        """The organization's website edits a donor through the RaiseDonors API (channel Api)."""
        settings = self.raisedonors_settings().model_copy(
            update={"client_key": OTHER_CLIENT_KEY, "client_secret": SecretStr(OTHER_CLIENT_SECRET)}
        )
        async with httpx.AsyncClient(transport=self.raisedonors.transport(), timeout=10) as http:
            client = RaiseDonorsClient(http, settings, self.clock)
            donor = await client.update_donor(donor_id, fields)
        return donor.model_dump(by_alias=True, mode="json")

    async def add_donor_address(
        self, donor_id: int, address: Mapping[str, Any], *, primary: bool = False
    ) -> dict[str, Any]:
        """An admin adds an address to a donor (a second, non-primary one by default)."""
        async with self.raisedonors.admin() as admin:
            donor: dict[str, Any] = await admin.post(
                f"/raisedonors/donors/{donor_id}/addresses",
                {"channel": "admin_portal", "address": dict(address), "isPrimary": primary},
            )
        return donor

    async def add_donor_phone(
        self, donor_id: int, number: str, *, primary: bool = False
    ) -> dict[str, Any]:
        """An admin adds a phone number to a donor (a second, non-primary one by default)."""
        async with self.raisedonors.admin() as admin:
            donor: dict[str, Any] = await admin.post(
                f"/raisedonors/donors/{donor_id}/phones",
                {
                    "channel": "admin_portal",
                    "number": number,
                    "type": "Mobile",
                    "isPrimary": primary,
                },
            )
        return donor

    async def give(self, **form: Any) -> dict[str, Any]:
        """A donor gives on the public giving form: ``{"gift", "donor", "donorCreated"}``."""
        async with self.raisedonors.client() as http:
            response = await http.post("/api/Raise/give", json=form)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    # ---- what people and processes do in Virtuous -------------------------------------------
    def virtuous_edit(
        self, contact_id: int, source: str = "admin", user: str | None = None, **fields: Any
    ) -> list[Any]:
        """An edit of a contact by ``source`` (admin, donor_portal, api, ncoa, query_update,
        import): camelCase fields of the admin edit route; fires ContactUpdate."""
        return self.virtuous.edit_contact(contact_id, fields, source=source, user=user)

    async def virtuous_add_address(
        self, contact_id: int, address: Mapping[str, Any], *, primary: bool = False
    ) -> dict[str, Any]:
        """An admin adds an address to a contact (a second, non-primary one by default): the
        contact after it."""
        async with self.virtuous.admin() as admin:
            answer: dict[str, Any] = await admin.post(
                f"/virtuous/contacts/{contact_id}/addresses",
                {"source": "admin", "address": {**address, "isPrimary": primary}},
            )
        return answer["contact"]  # type: ignore[no-any-return]

    async def virtuous_add_phone(
        self, contact_id: int, number: str, *, primary: bool = False
    ) -> dict[str, Any]:
        """An admin adds a phone number to a contact's primary person (not the primary one by
        default): the contact after it."""
        async with self.virtuous.admin() as admin:
            answer: dict[str, Any] = await admin.post(
                f"/virtuous/contacts/{contact_id}/contact-methods",
                {"source": "admin", "type": "Mobile Phone", "value": number, "isPrimary": primary},
            )
        return answer["contact"]  # type: ignore[no-any-return]

    def import_batches(self, user: str = IMPORTER) -> list[dict[str, Any]]:
        """Move the clock just past the next midnight (held transactions are bundled) and run
        every pending import as ``user``, as a person does each morning; the imports run."""
        now = self.clock.now()
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        self.clock.set(midnight + timedelta(minutes=1))
        self.virtuous.tick()
        done = []
        for batch in list(self.virtuous.imports.imports.values()):
            if batch.status == "Pending":
                self.virtuous.run_import(batch.id, user)
                done.append(self.virtuous.imports.import_json(batch))
        return done

    def other_import(self, source: str, *rows: Mapping[str, Any]) -> None:
        """Contact Transactions of another integration (``source``, e.g. a spreadsheet upload)
        into Virtuous's import tool; they land with the next :meth:`import_batches` as edits of
        source ``import``."""
        with self.virtuous.lock:
            for row in rows:
                self.virtuous.imports.hold_contact(
                    ContactTransactionIn.model_validate({"referenceSource": source, **row})
                )

    # ---- reading back --------------------------------------------------------------------------
    def donor(self, donor_id: int) -> dict[str, Any]:
        """The donor as RaiseDonors' API shows it now."""
        # The simulator's state lock: it may be served on a socket, in another thread.
        with self.raisedonors._lock:
            return self.raisedonors.account.overview(donor_id)["donor"]  # type: ignore[no-any-return]

    def donor_overview(self, donor_id: int) -> dict[str, Any]:
        """The donor overview: donor, ids, gifts and its recent activity (newest first)."""
        with self.raisedonors._lock:
            overview: dict[str, Any] = self.raisedonors.account.overview(donor_id)
        return overview

    def donors(self) -> list[dict[str, Any]]:
        """Every donor, as the API shows them."""
        donors: list[dict[str, Any]] = self.raisedonors.snapshot()["donors"]
        return donors

    def activity(self) -> list[dict[str, Any]]:
        """RaiseDonors' whole recent-activity feed, oldest first."""
        items: list[dict[str, Any]] = self.raisedonors.snapshot()["activity"]
        return items

    def contact(self, contact_id: int) -> dict[str, Any]:
        """The contact as ``GET /api/Contact/{id}`` shows it now."""
        with self.virtuous.lock:
            return contact_json(self.virtuous.contacts.get(contact_id))

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact."""
        with self.virtuous.lock:
            return [contact_json(c) for c in self.virtuous.contacts.contacts.values()]

    def contact_by_reference(self, donor_id: int) -> dict[str, Any] | None:
        """The contact whose ReferenceSource is "Legacy RaiseDonors" and ReferenceId the donor's
        id (the oldest, if several), or ``None``."""
        with self.virtuous.lock:
            found = self.virtuous.contacts.find_by_reference(REFERENCE_SOURCE, str(donor_id))
            return contact_json(found) if found is not None else None

    def audit(self, contact_id: int) -> list[dict[str, Any]]:
        """The contact's audit log, oldest first: ``{at, user, source, field, oldValue,
        newValue, note}``."""
        with self.virtuous.lock:
            return [audit_json(e) for e in self.virtuous.contacts.get(contact_id).audit]

    def holding(self) -> list[dict[str, Any]]:
        """Transactions waiting in Virtuous's import tool for the nightly bundle."""
        with self.virtuous.lock:
            return [held.json() for held in self.virtuous.imports.held]

    def webhook_events(self, status: str | None = None) -> list[dict[str, Any]]:
        """Settings > Connectivity > Webhooks: every event (``delivered``/``failed``/
        ``pending``, or all), oldest first, with attempts, httpStatus and reason."""
        with self.virtuous.lock:
            rows = self.virtuous.webhooks.select(parse_status(status))
            return [self.virtuous.webhooks.row_json(row) for row in rows]

    # ---- comparing both systems --------------------------------------------------------------
    def linked_pairs(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Every donor with its Virtuous contact, the pairs the sync keeps in step: the contact
        whose ReferenceId is the donor's id (ReferenceSource "Legacy RaiseDonors"), else the
        contact the donor shows as its Virtuous contact id (one made in Virtuous, matched or
        created in RaiseDonors). Donors with neither are left out."""
        contacts = {c["id"]: c for c in self.contacts()}
        by_reference: dict[str, dict[str, Any]] = {}
        for contact_id in sorted(contacts):
            contact = contacts[contact_id]
            if contact["referenceSource"] == REFERENCE_SOURCE and contact["referenceId"]:
                by_reference.setdefault(contact["referenceId"], contact)
        pairs = []
        for donor in self.donors():
            pair = by_reference.get(str(donor["id"]))
            shown = donor.get("virtuousContactId")
            if pair is None and shown and shown.isdigit():
                pair = contacts.get(int(shown))
            if pair is not None:
                pairs.append((donor, pair))
        return pairs

    def disagreements(
        self, *, email_kept_in_virtuous: Mapping[int, str] | None = None
    ) -> list[str]:
        """Where a linked donor and contact differ, one line each ([] when they agree).

        Compared: :data:`SYNCED_FIELDS` (phones by their digits), the Virtuous contact id on the
        donor, and the email. Email flows only RaiseDonors -> Virtuous: the contact's email is
        the donor's, except for donors in ``email_kept_in_virtuous`` (donor id -> the email a
        Virtuous edit gave the contact after RaiseDonors last sent the donor)."""
        kept = dict(email_kept_in_virtuous or {})
        problems: list[str] = []
        for donor, contact in self.linked_pairs():
            donor_id = donor["id"]
            mine, theirs = donor_synced_fields(donor), contact_synced_fields(contact)
            for name in SYNCED_FIELDS:
                if mine[name] != theirs[name]:
                    problems.append(
                        f"donor {donor_id} / contact {contact['id']}: {name} "
                        f"{mine[name]!r} in RaiseDonors, {theirs[name]!r} in Virtuous"
                    )
            if str(donor.get("virtuousContactId")) != str(contact["id"]):
                problems.append(
                    f"donor {donor_id} shows Virtuous contact {donor.get('virtuousContactId')!r}, "
                    f"but contact {contact['id']} carries its id"
                )
            expected = kept.get(donor_id, donor["email"]).lower()
            if contact_email(contact).lower() != expected:
                problems.append(
                    f"donor {donor_id} / contact {contact['id']}: email {donor['email']!r} in "
                    f"RaiseDonors, {contact_email(contact)!r} in Virtuous (expected {expected!r})"
                )
        return problems

    def duplicates(self) -> list[str]:
        """Donors sharing an email, contacts sharing a primary email, and contacts sharing a
        "Legacy RaiseDonors" reference, one line each ([] when none)."""
        problems: list[str] = []
        emails = Counter(d["email"].lower() for d in self.donors())
        problems += [f"{n} donors with email {e}" for e, n in emails.items() if n > 1]
        contacts = self.contacts()
        contact_emails = Counter(contact_email(c).lower() for c in contacts if contact_email(c))
        problems += [f"{n} contacts with email {e}" for e, n in contact_emails.items() if n > 1]
        references = Counter(
            c["referenceId"]
            for c in contacts
            if c["referenceSource"] == REFERENCE_SOURCE and c["referenceId"]
        )
        problems += [f"{n} contacts with ReferenceId {r}" for r, n in references.items() if n > 1]
        return problems


# ---- the sync itself ----------------------------------------------------------------------------


class SyncWorld(Systems):
    """:class:`Systems` with the example flow file and an engine on it: the daily RaiseDonors ->
    Virtuous flow run on demand, and Virtuous's webhooks delivered to ``syncframe serve``'s app
    in this process. Build it with :func:`sync_world` (which closes the engine)."""

    def __init__(self, folder: Path, *, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.folder = folder
        self.path = flow_file(
            folder, raisedonors_url=self.raisedonors.base_url, virtuous_url=self.virtuous.base_url
        )
        host = Host(plugins=[raisedonors_virtuous_plugin], entry_points=False)
        self.config = load_config(self.path, host.registry, environ=ENV)
        #: Seconds the engine waited between retries (they move the clock instead).
        self.waits: list[float] = []
        self.engine = Engine(
            self.config,
            host,
            clock=self.clock,
            transport=HostRouter(self.transports()),
            sleep=self._wait,
        )
        self.app = service_app(self.engine)
        self.virtuous.webhook_transport = httpx.ASGITransport(app=self.app)

    async def _wait(self, seconds: float) -> None:
        # Retry waits pass on the simulated clock: Retry-After is honoured without sleeping.
        self.waits.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))

    def close(self) -> None:
        """Stop delivering webhooks to the engine and close its state store."""
        self.virtuous.webhook_transport = None
        self.engine.close()

    # ---- running the flows -------------------------------------------------------------------
    async def run_daily(self) -> RunReport:
        """One run of the daily RaiseDonors -> Virtuous flow (what ``syncframe serve`` runs
        every day): activity since the last run into Virtuous's import tool."""
        return await self.engine.run_flow(IMPORT_FLOW)

    async def deliver(self) -> DeliveryReport:
        """Virtuous sends every webhook event due now (new ones and automatic retries whose time
        has come) to ``syncframe serve``, which applies each to RaiseDonors at once."""
        return await self.virtuous.deliver_webhooks()

    async def sync_day(self, user: str = IMPORTER) -> RunReport:
        """A whole day of the sync: the daily run, midnight and the morning import as ``user``,
        and the webhooks the import fires delivered."""
        report = await self.run_daily()
        self.import_batches(user)
        await self.deliver()
        return report

    async def retry_failed_from_cli(self) -> list[RunReport]:
        """``syncframe failed retry`` for the webhook flow."""
        return await self.engine.retry_failed(flow=WEBHOOK_FLOW)

    async def retry_from_webhook_page(self, event_id: str) -> httpx.Response:
        """Press Retry beside ``event_id`` on Virtuous's Failures tab (the page's form post);
        the page's answer (a 303 back to the page)."""
        async with self.virtuous.client() as http:
            page = await http.get("/settings/connectivity/webhooks", params={"tab": "failures"})
            assert page.status_code == 200, page.text
            row = re.search(
                rf"<tr data-event-id='{re.escape(event_id)}'>.*?<form method='post' "
                r"action='([^']+)'><input type='hidden' name='next' value='([^']+)'>",
                page.text,
            )
            assert row is not None, f"no Retry button for event {event_id} on the Failures tab"
            action, back = (html.unescape(part) for part in row.groups())
            return await http.post(action, data={"next": back})

    # ---- run history ---------------------------------------------------------------------------
    def outcomes(self, report: RunReport) -> list[OutcomeRow]:
        """What became of every record of a run (``syncframe runs show``)."""
        return list(self.engine.state.run_outcomes(report.run_id))

    def history(self, flow: str = WEBHOOK_FLOW) -> list[OutcomeRow]:
        """Every record outcome of every run of ``flow``, oldest first (slice off what a test
        saw before: ``world.history()[before:]``)."""
        state = self.engine.state
        runs = reversed(state.list_runs(flow=flow, limit=100_000))
        return [row for run in runs for row in state.run_outcomes(run.run_id)]

    def failed(self) -> list[FailedRecord]:
        """Open failed records of the webhook flow (``syncframe failed list``)."""
        return self.engine.state.list_failed(flow=WEBHOOK_FLOW)


@contextmanager
def sync_world(folder: Path, *, seed: int = 0) -> Iterator[SyncWorld]:
    """A :class:`SyncWorld` in ``folder``, closed afterwards. Not switched on yet."""
    world = SyncWorld(folder, seed=seed)
    try:
        yield world
    finally:
        world.close()


def flatten(rows: Sequence[OutcomeRow]) -> list[tuple[str, str]]:
    """(record, outcome) of run-history rows."""
    return [(row.record, row.outcome) for row in rows]
