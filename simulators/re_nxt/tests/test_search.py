"""``GET /constituents/search``: by lookup ID, by email address, by name (sound-alikes unless
strict), by phone and address text."""

from __future__ import annotations

import httpx
import pytest
from re_nxt_simulator.store import soundex

from simulators.re_nxt.tests.conftest import C, create, messages

pytestmark = pytest.mark.anyio


async def search(api: httpx.AsyncClient, **params: str) -> list[str]:
    answer = await api.get(f"{C}/constituents/search", params=params)
    assert answer.status_code == 200, answer.text
    return [hit["id"] for hit in answer.json()["value"]]


@pytest.fixture
async def people(api: httpx.AsyncClient) -> dict[str, str]:
    return {
        "ada": await create(
            api,
            lookup_id="A-1",
            email={"address": "Ada@Example.org", "type": "Email"},
            phone={"number": "(617) 555-0142", "type": "Home"},
            address={"type": "Home", "address_lines": "12 Analytical Row", "city": "London"},
        ),
        "smyth": await create(api, first="John", last="Smyth", lookup_id="S-2"),
        "smith": await create(api, first="Jane", last="Smith"),
        "gone": await create(
            api,
            first="Old",
            last="Smith",
            inactive=True,
            email={"address": "old@example.org", "type": "Email"},
        ),
        "org": await create(api, type="Organization", name="Smithsonian Friends"),
    }


async def test_by_lookup_id_and_by_email_address_exactly(
    api: httpx.AsyncClient, people: dict[str, str]
) -> None:
    assert await search(api, search_text="a-1", search_field="lookup_id") == [people["ada"]]
    assert await search(api, search_text="A-", search_field="lookup_id") == []
    assert await search(api, search_text="ada@example.ORG", search_field="email_address") == [
        people["ada"]
    ]
    assert await search(api, search_text="old@example.org", search_field="email_address") == []
    assert await search(
        api, search_text="old@example.org", search_field="email_address", include_inactive="true"
    ) == [people["gone"]]


async def test_by_name_with_sound_alikes_unless_strict(
    api: httpx.AsyncClient, people: dict[str, str]
) -> None:
    assert soundex("Smith") == soundex("Smyth") == "S530"
    # In name order: Smith, Smithsonian Friends, Smyth.
    assert await search(api, search_text="smith") == [
        people["smith"],
        people["org"],
        people["smyth"],
    ]
    assert await search(api, search_text="smith", strict_search="true") == [
        people["smith"],
        people["org"],
    ]
    # Every word must match; "Jane" sounds like "John" (J500), so John Smyth matches too.
    assert await search(api, search_text="jane smith") == [people["smith"], people["smyth"]]
    assert await search(api, search_text="jane smith", strict_search="true") == [people["smith"]]


async def test_by_phone_digits_address_and_the_response_shape(
    api: httpx.AsyncClient, people: dict[str, str]
) -> None:
    assert await search(api, search_text="6175550142") == [people["ada"]]
    assert await search(api, search_text="analytical") == [people["ada"]]
    answer = await api.get(f"{C}/constituents/search", params={"search_text": "A-1"})
    assert answer.json() == {
        "count": 1,
        "value": [
            {
                "id": people["ada"],
                "address": "12 Analytical Row\nLondon",
                "deceased": False,
                "email": "Ada@Example.org",
                "fundraiser_status": "None",
                "inactive": False,
                "lookup_id": "A-1",
                "name": "Ada Lovelace",
            }
        ],
    }


async def test_search_pages_by_offset(api: httpx.AsyncClient, people: dict[str, str]) -> None:
    answer = await api.get(
        f"{C}/constituents/search", params={"search_text": "smith", "limit": "2"}
    )
    body = answer.json()
    assert (body["count"], len(body["value"])) == (3, 2)
    rest = (await api.get(body["next_link"])).json()
    assert [hit["id"] for hit in rest["value"]] == [people["smyth"]]
    assert "next_link" not in rest


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, "search_text: is required"),
        ({"search_text": "x", "search_field": "name"}, "search_field: name is not supported"),
    ],
)
async def test_bad_searches_are_refused(
    api: httpx.AsyncClient, params: dict[str, str], expected: str
) -> None:
    answer = await api.get(f"{C}/constituents/search", params=params)
    assert answer.status_code == 400
    assert messages(answer)[0].startswith(expected)
