"""simple-salesforce, the common Python client, against the simulator on a real socket.

simple-salesforce always builds ``https://`` URLs (and logs in at
``https://login.salesforce.com``), so its ``requests`` session gets a transport adapter that
sends every ``https://`` request to the simulator's plain-HTTP address instead; nothing else
about the client changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from salesforce_simulator import SalesforceSimulator
from simple_salesforce import Salesforce, format_external_id, format_soql
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from syncframe_simulators import RunningServer

from simulators.salesforce.tests.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
)
from syncframe.clock import ManualClock


class ToSimulator(HTTPAdapter):
    """Sends every request to the simulator, keeping its path and query."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        url = urlsplit(request.url or "")
        request.url = self.base_url + url.path + (f"?{url.query}" if url.query else "")
        return super().send(request, *args, **kwargs)


def session_to(server: RunningServer) -> requests.Session:
    session = requests.Session()
    session.mount("https://", ToSimulator(server.base_url))
    return session


@pytest.fixture
def sim(simulator_factory: Callable[..., SalesforceSimulator]) -> SalesforceSimulator:
    """An org with the integration user and app, answering 3 records per query page."""
    made = simulator_factory("salesforce", max_batch_size=3)
    made.add_user(USERNAME, PASSWORD, security_token=SECURITY_TOKEN)
    made.add_connected_app(CLIENT_ID, CLIENT_SECRET, run_as=USERNAME)
    return made


@pytest.fixture
def server(
    sim: SalesforceSimulator, serve_simulator: Callable[[SalesforceSimulator], RunningServer]
) -> RunningServer:
    return serve_simulator(sim)


@pytest.fixture
def sf(sim: SalesforceSimulator, server: RunningServer) -> Iterator[Salesforce]:
    """simple-salesforce in direct-token mode: a session id and the instance URL."""
    user = sim.identity.user_named(USERNAME)
    assert user is not None
    token = sim.identity.new_session(user, None, "admin").access_token
    http = session_to(server)
    yield Salesforce(instance_url=server.base_url, session_id=token, session=http)
    http.close()


def test_contact_create_get_update_upsert_delete(sf: Salesforce, sim: SalesforceSimulator) -> None:
    contacts = sf.Contact
    created = contacts.create({"FirstName": "Jane", "LastName": "Doe", "Email": "j@example.org"})
    assert created["success"] is True
    record_id = created["id"]
    got = contacts.get(record_id)
    assert (got["Name"], got["attributes"]["type"]) == ("Jane Doe", "Contact")
    assert contacts.update(record_id, {"MailingCity": "Leeds"}) == 204
    assert contacts.upsert("RE_Constituent_ID__c/10042", {"LastName": "Roe"}) == 201
    assert contacts.upsert("RE_Constituent_ID__c/10042", {"Title": "Dr"}) == 200
    by_external = contacts.get_by_custom_id("RE_Constituent_ID__c", "10042")
    assert (by_external["LastName"], by_external["Title"]) == ("Roe", "Dr")
    with_slash = format_external_id("RE_Constituent_ID__c", "A/1 2")
    assert contacts.upsert(with_slash, {"LastName": "Slash"}) == 201
    assert contacts.delete(record_id) == 204
    state = {c["LastName"]: c for c in sim.snapshot()["contacts"]}
    assert state["Doe"]["MailingCity"] == "Leeds"
    assert state["Doe"]["IsDeleted"] is True
    assert state["Roe"]["Title"] == "Dr"
    assert state["Slash"]["RE_Constituent_ID__c"] == "A/1 2"
    # simple-salesforce reads Sforce-Limit-Info after each call.
    assert contacts.api_usage["api-usage"].used == sim.usage.used == 8
    assert contacts.api_usage["api-usage"].total == 100_000
    with pytest.raises(SalesforceResourceNotFound) as gone:
        contacts.get(record_id)
    assert gone.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_query_and_query_all_with_paging(sf: Salesforce, sim: SalesforceSimulator) -> None:
    for number in range(1, 9):
        sf.Contact.create({"LastName": f"Person {number}", "Email": f"p{number}@example.org"})
    gone = sf.query("SELECT Id FROM Contact WHERE LastName = 'Person 8'")["records"][0]["Id"]
    sf.Contact.delete(gone)
    first = sf.query("SELECT Id, LastName FROM Contact ORDER BY LastName")
    assert (first["totalSize"], first["done"], len(first["records"])) == (7, False, 3)
    everything = sf.query_all("SELECT Id, LastName FROM Contact ORDER BY LastName")
    assert [r["LastName"] for r in everything["records"]] == [f"Person {n}" for n in range(1, 8)]
    with_deleted = sf.query_all("SELECT LastName, IsDeleted FROM Contact", include_deleted=True)
    assert with_deleted["totalSize"] == 8
    assert [r["LastName"] for r in with_deleted["records"] if r["IsDeleted"]] == ["Person 8"]
    lazily = list(sf.query_all_iter("SELECT Email FROM Contact WHERE Email LIKE 'p1%'"))
    assert [r["Email"] for r in lazily] == ["p1@example.org"]
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.query("SELECT Id FROM Contact WHERE Emial = 'x'")
    assert refused.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_polling_by_last_modified_date_and_updated_deleted(
    sf: Salesforce, sim: SalesforceSimulator, sim_clock: ManualClock
) -> None:
    start = sim_clock.now()
    kept = sf.Contact.create({"LastName": "Kept"})["id"]
    removed = sf.Contact.create({"LastName": "Removed"})["id"]
    sim_clock.advance(minutes=5)
    sf.Contact.update(kept, {"Title": "Dr"})
    sf.Contact.delete(removed)
    sim_clock.advance(minutes=1)
    changed = sf.query_all(
        format_soql(
            "SELECT Id FROM Contact WHERE LastModifiedDate > {} ORDER BY LastModifiedDate",
            start + timedelta(minutes=1),
        )
    )
    assert [r["Id"] for r in changed["records"]] == [kept]
    end = sim_clock.now()
    updated = sf.Contact.updated(start, end)
    assert updated == {"ids": [kept], "latestDateCovered": "2026-01-01T09:06:00.000+0000"}
    deleted = sf.Contact.deleted(start, end)
    assert deleted["deletedRecords"] == [
        {"id": removed, "deletedDate": "2026-01-01T09:05:00.000+0000"}
    ]


def test_describe_and_errors(sf: Salesforce, sim: SalesforceSimulator) -> None:
    assert sf.Contact.metadata()["objectDescribe"]["name"] == "Contact"
    assert "RE_Constituent_ID__c" in {f["name"] for f in sf.Contact.describe()["fields"]}
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get_by_custom_id("RE_Constituent_ID__c", "missing")
    sim.usage.limit = sim.usage.used
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.Contact.create({"LastName": "Too many calls"})
    assert refused.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_several_matches(
    simulator_factory: Callable[..., SalesforceSimulator],
    serve_simulator: Callable[[SalesforceSimulator], RunningServer],
) -> None:
    sim = simulator_factory("salesforce", unique_external_id=False)
    sim.add_user(USERNAME, PASSWORD)
    sim.add_contact({"LastName": "One", "RE_Constituent_ID__c": "5"})
    sim.add_contact({"LastName": "Two", "RE_Constituent_ID__c": "5"})
    server = serve_simulator(sim)
    user = sim.identity.user_named(USERNAME)
    assert user is not None
    http = session_to(server)
    sf = Salesforce(
        instance_url=server.base_url,
        session_id=sim.identity.new_session(user, None, "admin").access_token,
        session=http,
    )
    with pytest.raises(SalesforceMoreThanOneRecord) as several:
        sf.Contact.upsert("RE_Constituent_ID__c/5", {"Title": "Dr"})
    assert len(several.value.content) == 2
    http.close()


def test_password_flow_logs_in_again_when_the_session_expires(
    sim: SalesforceSimulator, server: RunningServer, sim_clock: ManualClock
) -> None:
    http = session_to(server)
    sf = Salesforce(
        username=USERNAME,
        password=PASSWORD + SECURITY_TOKEN,
        consumer_key=CLIENT_ID,
        consumer_secret=CLIENT_SECRET,
        session=http,
    )
    # The instance is the simulator's socket, from the token response's instance_url.
    assert sf.sf_instance == urlsplit(server.base_url).netloc
    first_token = sf.session_id
    sf.Contact.create({"LastName": "Before"})
    sim_clock.advance(hours=3)
    sf.Contact.create({"LastName": "After"})  # 401 INVALID_SESSION_ID, a new login, a retry
    assert sf.session_id != first_token
    assert [c["LastName"] for c in sim.snapshot()["contacts"]] == ["Before", "After"]
    assert [s["grant"] for s in sim.snapshot()["sessions"]] == ["password"]
    http.close()


def test_soap_login_with_a_security_token(sim: SalesforceSimulator, server: RunningServer) -> None:
    http = session_to(server)
    sf = Salesforce(
        username=USERNAME, password=PASSWORD, security_token=SECURITY_TOKEN, session=http
    )
    assert sf.sf_instance == urlsplit(server.base_url).netloc
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    http.close()


def test_client_credentials_flow(sim: SalesforceSimulator, server: RunningServer) -> None:
    http = session_to(server)
    sf = Salesforce(
        consumer_key=CLIENT_ID,
        consumer_secret=CLIENT_SECRET,
        domain="syncframe-dev.my",
        session=http,
    )
    record_id = sf.Contact.create({"LastName": "Made by the app"})["id"]
    user = sim.identity.user_named(USERNAME)
    assert user is not None
    assert sim.store.records[record_id]["CreatedById"] == user.id
    http.close()
