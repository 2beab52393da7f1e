"""The query and queryAll resources: results, paging through nextRecordsUrl, cursors, refusals."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from salesforce_simulator import SalesforceSimulator

from simulators.salesforce.tests.conftest import API, Org, error_of, open_session
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


@pytest.fixture
async def paged(simulator_factory: Callable[..., SalesforceSimulator]) -> Org:
    """An org answering at most 3 records per page, with 7 Contacts (the 5th deleted)."""
    sim = simulator_factory("salesforce", max_batch_size=3)
    sim.add_user("integration@example.org", "pw")
    org = Org(sim, sim.client(), await open_session(sim))
    for number in range(1, 8):
        await org.create(LastName=f"Person {number}", Email=f"p{number}@example.org")
    [fifth] = [c["Id"] for c in sim.snapshot()["contacts"] if c["LastName"] == "Person 5"]
    assert (await org.delete(f"/sobjects/Contact/{fifth}")).status_code == 204
    return org


async def test_a_query_answers_records_with_attributes(org: Org) -> None:
    record_id = await org.create(LastName="Doe", Email="jane@example.org")
    answer = await org.query("SELECT Id, Email FROM Contact WHERE Email = 'JANE@example.org'")
    assert answer.status_code == 200
    assert answer.json() == {
        "totalSize": 1,
        "done": True,
        "records": [
            {
                "attributes": {"type": "Contact", "url": f"{API}/sobjects/Contact/{record_id}"},
                "Id": record_id,
                "Email": "jane@example.org",
            }
        ],
    }


async def test_a_polling_query_on_last_modified_date(org: Org, sim_clock: ManualClock) -> None:
    old = await org.create(LastName="Old")
    sim_clock.advance(minutes=10)
    new = await org.create(LastName="New")
    sim_clock.advance(minutes=10)
    assert (await org.patch(f"/sobjects/Contact/{old}", {"Title": "Dr"})).status_code == 204
    answer = await org.query(
        "SELECT Id, LastModifiedDate FROM Contact WHERE LastModifiedDate > 2026-01-01T09:05:00Z "
        "ORDER BY LastModifiedDate"
    )
    assert [(r["Id"], r["LastModifiedDate"]) for r in answer.json()["records"]] == [
        (new, "2026-01-01T09:10:00.000+0000"),
        (old, "2026-01-01T09:20:00.000+0000"),
    ]


async def test_pages_follow_next_records_url_to_the_end(paged: Org) -> None:
    first = await paged.query("SELECT LastName FROM Contact ORDER BY LastName")
    body = first.json()
    assert (body["totalSize"], body["done"], len(body["records"])) == (6, False, 3)
    assert body["nextRecordsUrl"].startswith(f"{API}/query/01g")
    assert body["nextRecordsUrl"].endswith("-3")
    names = [r["LastName"] for r in body["records"]]
    while not body["done"]:
        body = (await paged.http.get(body["nextRecordsUrl"], headers=paged.auth)).json()
        assert body["totalSize"] == 6
        names += [r["LastName"] for r in body["records"]]
    assert "nextRecordsUrl" not in body
    assert names == [f"Person {n}" for n in (1, 2, 3, 4, 6, 7)]


async def test_query_all_includes_the_recycle_bin(paged: Org) -> None:
    body = (await paged.query("SELECT LastName, IsDeleted FROM Contact", all_rows=True)).json()
    assert body["totalSize"] == 7
    assert body["nextRecordsUrl"].startswith(f"{API}/queryAll/01g")
    rows = body["records"]
    while not body["done"]:
        body = (await paged.http.get(body["nextRecordsUrl"], headers=paged.auth)).json()
        rows += body["records"]
    assert [r["LastName"] for r in rows if r["IsDeleted"]] == ["Person 5"]
    only_deleted = await paged.query("SELECT Id FROM Contact WHERE IsDeleted = true", all_rows=True)
    assert only_deleted.json()["totalSize"] == 1
    assert (await paged.query("SELECT Id FROM Contact WHERE IsDeleted = true")).json()[
        "totalSize"
    ] == 0


async def test_a_page_shows_the_records_as_they_were_when_queried(
    paged: Org, sim_clock: ManualClock
) -> None:
    body = (await paged.query("SELECT Id, Title FROM Contact")).json()
    later_id = paged.sim.snapshot()["contacts"][-1]["Id"]
    assert (await paged.patch(f"/sobjects/Contact/{later_id}", {"Title": "Dr"})).status_code == 204
    rest = (await paged.http.get(body["nextRecordsUrl"], headers=paged.auth)).json()
    assert [r["Title"] for r in rest["records"]] == [None, None, None]


async def test_batch_size_header_within_its_bounds(
    simulator_factory: Callable[..., SalesforceSimulator],
) -> None:
    sim = simulator_factory("salesforce")
    sim.add_user("integration@example.org", "pw")
    org = Org(sim, sim.client(), await open_session(sim))
    async with sim.admin() as admin:
        await admin.seed({"contacts": [{"LastName": f"P{n}"} for n in range(450)]})
    default = (await org.query("SELECT Id FROM Contact")).json()
    assert (default["done"], len(default["records"])) == (True, 450)
    small = await org.query("SELECT Id FROM Contact", **{"Sforce-Query-Options": "batchSize=250"})
    assert len(small.json()["records"]) == 250
    assert small.json()["nextRecordsUrl"].endswith("-250")
    too_small = await org.query(
        "SELECT Id FROM Contact", **{"Sforce-Query-Options": "batchSize=10"}
    )
    assert len(too_small.json()["records"]) == 200  # the smallest batch Salesforce gives


async def test_count_limit_and_offset(paged: Org) -> None:
    count = (await paged.query("SELECT COUNT() FROM Contact WHERE Email LIKE 'p%'")).json()
    assert count == {"totalSize": 6, "done": True, "records": []}
    window = await paged.query(
        "SELECT LastName FROM Contact ORDER BY LastName DESC LIMIT 2 OFFSET 1"
    )
    assert [r["LastName"] for r in window.json()["records"]] == ["Person 6", "Person 4"]


async def test_a_cursor_lives_15_minutes_without_use(paged: Org, sim_clock: ManualClock) -> None:
    body = (await paged.query("SELECT Id FROM Contact")).json()
    sim_clock.advance(minutes=14)
    second = await paged.http.get(body["nextRecordsUrl"], headers=paged.auth)
    assert second.status_code == 200
    sim_clock.advance(minutes=15, seconds=1)
    again = await paged.http.get(body["nextRecordsUrl"], headers=paged.auth)
    assert error_of(again) == (400, "INVALID_QUERY_LOCATOR", "invalid query locator")


async def test_a_user_has_at_most_ten_cursors(paged: Org) -> None:
    urls = [
        (await paged.query("SELECT Id FROM Contact")).json()["nextRecordsUrl"] for _ in range(11)
    ]
    assert len(paged.sim.snapshot()["query_cursors"]) == 10
    oldest = await paged.http.get(urls[0], headers=paged.auth)
    assert error_of(oldest)[:2] == (400, "INVALID_QUERY_LOCATOR")
    assert (await paged.http.get(urls[1], headers=paged.auth)).status_code == 200


async def test_another_users_cursor_is_not_yours(paged: Org) -> None:
    url = (await paged.query("SELECT Id FROM Contact")).json()["nextRecordsUrl"]
    paged.sim.add_user("other@example.org", "pw")
    other = await open_session(paged.sim, "other@example.org")
    answer = await paged.http.get(url, headers={"Authorization": f"Bearer {other}"})
    assert error_of(answer)[:2] == (400, "INVALID_QUERY_LOCATOR")


async def test_a_query_with_no_q(org: Org) -> None:
    assert error_of(await org.get("/query/")) == (
        400,
        "MALFORMED_QUERY",
        "A query string has to be specified",
    )


async def test_a_refused_query_renders_the_caret(org: Org) -> None:
    answer = await org.query("SELECT Id FROM Contact WHERE Emial = 'x'")
    status, code, message = error_of(answer)
    assert (status, code) == (400, "INVALID_FIELD")
    assert message.startswith(
        "\nSELECT Id FROM Contact WHERE Emial = 'x'\n                             ^\n"
        "ERROR at Row:1:Column:30\nNo such column 'Emial' on entity 'Contact'."
    )


async def test_an_unencoded_plus_in_a_date_time_is_named(org: Org) -> None:
    # What a client sends when it forgets to encode '+': the server reads a space.
    answer = await org.http.get(
        f"{API}/query/?q=SELECT+Id+FROM+Contact+WHERE+LastModifiedDate+>+2026-01-01T00:00:00+00:00",
        headers=org.auth,
    )
    status, code, message = error_of(answer)
    assert (status, code) == (400, "MALFORMED_QUERY")
    assert "it needs a time zone" in message
    assert "%2B" in message


def test_ids_sort_case_sensitively_and_text_does_not() -> None:
    from salesforce_simulator.schema import CONTACT
    from salesforce_simulator.soql import OrderItem, _sorted

    rows = [
        {"Id": i, "LastName": n} for i, n in (("003b", "beta"), ("003C", "Alpha"), ("003A", "c"))
    ]
    by_id = _sorted(rows, OrderItem(CONTACT.field("Id"), descending=False, nulls_last=False))  # type: ignore[arg-type]
    by_name = _sorted(
        rows, OrderItem(CONTACT.field("LastName"), descending=False, nulls_last=False)
    )  # type: ignore[arg-type]

    assert [r["Id"] for r in by_id] == ["003A", "003C", "003b"]  # as Salesforce: binary order
    assert [r["LastName"] for r in by_name] == ["Alpha", "beta", "c"]
