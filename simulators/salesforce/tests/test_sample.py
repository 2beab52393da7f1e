"""The sample org the demo, the end-to-end tests and the benchmarks share."""

from __future__ import annotations

import re

import pytest
from salesforce_simulator import SalesforceSimulator
from salesforce_simulator.sample import populate, sample_contacts

from simulators.salesforce.tests.conftest import API

pytestmark = pytest.mark.anyio


def test_the_same_seed_gives_the_same_contacts() -> None:
    assert sample_contacts(30, seed=7) == sample_contacts(30, seed=7)
    assert sample_contacts(30, seed=7) != sample_contacts(30, seed=8)


def test_the_contacts_are_realistic_and_valid() -> None:
    contacts = sample_contacts(300)
    constituent_ids = [c["RE_Constituent_ID__c"] for c in contacts if "RE_Constituent_ID__c" in c]
    assert constituent_ids == [str(n) for n in range(10001, 10001 + len(constituent_ids))]
    assert 200 < len(constituent_ids) < 300  # some were made in Salesforce, not yet in RE
    emails = [c["Email"] for c in contacts if "Email" in c]
    assert 250 < len(emails) < 300
    assert len(set(emails)) == len(emails)
    assert all(re.fullmatch(r"[a-z.\-]+\.\d+@example\.org", email) for email in emails)
    assert any(c["HasOptedOutOfEmail"] for c in contacts)
    assert all(c["LastName"] and c["MailingCity"] and c["MailingPostalCode"] for c in contacts)


async def test_populate_makes_an_org_a_connector_can_log_in_to(
    salesforce_simulator: SalesforceSimulator,
) -> None:
    org = populate(salesforce_simulator, contacts=25)
    assert len(org.contact_ids) == 25
    assert [c["Id"] for c in salesforce_simulator.snapshot()["contacts"]] == org.contact_ids
    async with salesforce_simulator.client() as http:
        token = await http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": org.client_id,
                "client_secret": org.client_secret,
                "username": org.username,
                "password": org.password + org.security_token,
            },
        )
        answer = await http.get(
            f"{API}/query",
            params={"q": "SELECT COUNT() FROM Contact WHERE RE_Constituent_ID__c != null"},
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
    expected = sum("RE_Constituent_ID__c" in c for c in sample_contacts(25))
    assert answer.json()["totalSize"] == expected
