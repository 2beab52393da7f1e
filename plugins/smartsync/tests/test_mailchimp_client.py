"""The Mailchimp client: problem+json refusals as the engine's error kinds, partial member
reads, and the subscriber hash."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from mailchimp_simulator import MailchimpSimulator
from syncframe_simulators import FaultRule
from syncframe_smartsync.mailchimp_client import (
    MailchimpClient,
    MailchimpRefusal,
    subscriber_hash,
)
from syncframe_smartsync.mailchimp_settings import MailchimpSettings

from plugins.smartsync.tests.mailchimp_helpers import (
    API_KEY,
    LIST_ID,
    START,
    connection_settings,
    make_simulator,
    member,
    seed_members,
)
from syncframe.components import PermanentError, TransientError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> MailchimpSimulator:
    return make_simulator()


async def client_of(sim: MailchimpSimulator, **settings: str) -> AsyncIterator[MailchimpClient]:
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        yield MailchimpClient(http, MailchimpSettings(**connection_settings(sim, **settings)))


@pytest.fixture
async def client(sim: MailchimpSimulator) -> AsyncIterator[MailchimpClient]:
    async for made in client_of(sim):
        yield made


def test_the_subscriber_hash_is_md5_of_the_lower_cased_address() -> None:
    assert subscriber_hash(" Jane.Doe@Example.org ") == "b49be4c6d5b60918bf27d1189d8f326d"


async def test_members_are_read_with_the_fields_the_components_use(
    client: MailchimpClient, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("ann@example.org", consid="1", tags=["Donor"], FNAME="Ann"))

    page = await client.members(LIST_ID, count=10, since=START - timedelta(seconds=1))
    one = await client.member(LIST_ID, subscriber_hash("ann@example.org"))

    [listed] = page.members
    assert page.total_items == 1
    assert listed == one
    assert listed.merge_fields["CONSID"] == "1"
    assert listed.tag_names() == ["Donor"]
    assert listed.last_changed == START
    assert await client.member(LIST_ID, subscriber_hash("nobody@example.org")) is None
    assert await client.members(LIST_ID, count=10, since=START) == type(page)(total_items=0)


async def test_a_refusal_carries_mailchimps_words_and_the_field(client: MailchimpClient) -> None:
    with pytest.raises(MailchimpRefusal) as raised:
        await client.put_member(
            LIST_ID,
            subscriber_hash("x@example.org"),
            {
                "email_address": "x@example.org",
                "status_if_new": "subscribed",
                "merge_fields": {"ADDRESS": {"addr1": "1 Way"}},
            },
            "saving x",
        )

    refusal = raised.value
    assert refusal.status == 400
    assert refusal.title == "Invalid Resource"
    assert [field for field, _ in refusal.errors] == ["ADDRESS"]
    assert str(refusal).startswith(
        "saving x: HTTP 400 Invalid Resource: Your merge fields were invalid."
    )


async def test_a_refused_key_is_permanent_and_not_shown(sim: MailchimpSimulator) -> None:
    async for client in client_of(sim, api_key="fedcba9876543210fedcba9876543210-us6"):
        with pytest.raises(PermanentError) as raised:
            await client.ping()

    message = str(raised.value)
    assert "Mailchimp refused the API key of data center us6" in message
    assert "API Key Invalid" in message
    assert "fedcba9876543210" not in message
    assert API_KEY not in message


async def test_an_unknown_audience_is_named(client: MailchimpClient) -> None:
    with pytest.raises(MailchimpRefusal, match="the account has no audience 'zz99' \\(list_id\\)"):
        await client.audience("zz99")


@pytest.mark.parametrize(
    ("rule", "retry_after"),
    [
        (FaultRule(kind="error", status=503, times=1), None),
        (FaultRule(kind="rate_limit", retry_after=7, times=1), 7.0),
        (FaultRule(kind="malformed", times=1), None),
    ],
)
async def test_transient_answers_are_transient_errors(
    client: MailchimpClient, sim: MailchimpSimulator, rule: FaultRule, retry_after: float | None
) -> None:
    sim.faults.add(rule)

    with pytest.raises(TransientError) as raised:
        await client.members(LIST_ID, count=10)

    assert raised.value.retry_after == retry_after
    assert (await client.members(LIST_ID, count=10)).members == []


async def test_the_connection_limit_is_a_transient_error(sim: MailchimpSimulator) -> None:
    sim.connections.limit = 0  # every slot taken

    async for client in client_of(sim):
        with pytest.raises(TransientError, match="HTTP 429 Too Many Requests"):
            await client.ping()


async def test_archiving_says_whether_there_was_a_member(
    client: MailchimpClient, sim: MailchimpSimulator
) -> None:
    seed_members(sim, member("gone@example.org"))

    assert await client.archive_member(LIST_ID, subscriber_hash("gone@example.org"), "archiving")
    assert not await client.archive_member(LIST_ID, subscriber_hash("never@example.org"), "x")
    archived = await client.member(LIST_ID, subscriber_hash("gone@example.org"))
    assert archived is not None
    assert archived.status == "archived"
