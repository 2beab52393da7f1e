"""The sink's lookup (the search steps) against the simulator: by constituent_id (the External
ID field), by email (without case, as SOQL compares), by id; restricted by a SOQL condition;
and the core key_cascade matcher deciding with it: binding key first, then email."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from salesforce_simulator import SalesforceSimulator
from syncframe_smartsync.salesforce_sink import (
    SalesforceContactLookup,
    SalesforceContactSink,
    SalesforceContactSinkOptions,
)

from plugins.smartsync.tests.salesforce_helpers import (
    change,
    component_context,
    make_simulator,
)
from syncframe.builtins.matchers import KeyCascadeMatcher, KeyCascadeOptions
from syncframe.components import MatchAction, PermanentError, TargetLookup

pytestmark = pytest.mark.anyio

EXT = "RE_Constituent_ID__c"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> SalesforceSimulator:
    return make_simulator()


@pytest.fixture
async def http(sim: SalesforceSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=sim.transport()) as client:
        yield client


def lookup_of(sim: SalesforceSimulator, http: httpx.AsyncClient, **options: Any) -> TargetLookup:
    sink = SalesforceContactSink(
        component_context(sim, http), SalesforceContactSinkOptions(**options)
    )
    lookup = sink.lookup()
    assert isinstance(lookup, SalesforceContactLookup)
    return lookup


def queries(sim: SalesforceSimulator) -> int:
    return sum(1 for e in sim.journal.entries() if e.operation == "Query")


async def test_by_constituent_id(sim: SalesforceSimulator, http: httpx.AsyncClient) -> None:
    ann = sim.add_contact({EXT: "10042", "LastName": "Lee", "Email": "ann@example.org"})
    sim.add_contact({EXT: "10043", "LastName": "Ng"})

    found = await lookup_of(sim, http).find("constituent_id", ["10042", "99999", ""])

    assert list(found) == ["10042"]
    [record] = found["10042"]
    assert record.key == ann
    assert record.fields["constituent_id"] == "10042"
    assert record.fields["email"] == "ann@example.org"
    assert record.fields["id"] == ann
    assert queries(sim) == 1


async def test_by_email_without_regard_to_case(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    first = sim.add_contact({"LastName": "Lee", "Email": "Family@Example.org"})
    second = sim.add_contact({"LastName": "Lee", "Email": "family@example.org"})
    sim.add_contact({"LastName": "Other", "Email": "other@example.org"})

    found = await lookup_of(sim, http).find("email", ["family@example.org"])

    assert sorted(r.key for r in found["family@example.org"]) == sorted([first, second])


async def test_by_id_in_either_form(sim: SalesforceSimulator, http: httpx.AsyncClient) -> None:
    ann = sim.add_contact({"LastName": "Lee"})

    found = await lookup_of(sim, http).find("id", [ann, ann[:15], "not-an-id"])

    assert {value: [r.key for r in records] for value, records in found.items()} == {
        ann: [ann],
        ann[:15]: [ann],
    }


async def test_lookup_where_restricts_the_search(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    sim.add_contact(
        {"LastName": "Uk", "Email": "a@example.org", "MailingCountry": "United Kingdom"}
    )
    sim.add_contact({"LastName": "Us", "Email": "a@example.org", "MailingCountry": "United States"})

    lookup = lookup_of(sim, http, lookup_where="MailingCountry = 'United Kingdom'")
    found = await lookup.find("email", ["a@example.org"])

    assert [r.fields["last_name"] for r in found["a@example.org"]] == ["Uk"]


async def test_many_values_go_in_several_queries(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    for n in range(0, 250, 2):
        sim.add_contact({EXT: str(n), "LastName": f"Donor{n}"})

    found = await lookup_of(sim, http).find("constituent_id", [str(n) for n in range(250)])

    assert sorted(found, key=int) == [str(n) for n in range(0, 250, 2)]
    assert queries(sim) == 3  # 100 values per IN list


async def test_values_with_quotes_cannot_change_the_query(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    sim.add_contact({"LastName": "O'Brien", EXT: "x' OR LastName != '"})

    found = await lookup_of(sim, http).find("constituent_id", ["x' OR LastName != '", "y"])

    assert [r.fields["last_name"] for r in found["x' OR LastName != '"]] == ["O'Brien"]
    assert "y" not in found


async def test_the_check_runs_the_restricted_lookup_once(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    good = SalesforceContactSinkOptions(lookup_where="MailingCountry = 'United Kingdom'")
    bad = SalesforceContactSinkOptions(lookup_where="Country = 'United Kingdom'")

    await SalesforceContactSink(component_context(sim, http), good).check()
    with pytest.raises(PermanentError, match=r"lookup_where is refused: .*INVALID_FIELD"):
        await SalesforceContactSink(component_context(sim, http), bad).check()


async def test_other_fields_are_refused(sim: SalesforceSimulator, http: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentError, match="cannot be looked up by 'phone'; they can by"):
        await lookup_of(sim, http).find("phone", ["0113"])


async def test_key_cascade_tries_the_constituent_id_then_the_email(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    bound = sim.add_contact({EXT: "1", "LastName": "Bound", "Email": "shared@example.org"})
    by_email = sim.add_contact({"LastName": "Typed", "Email": "Typed@Example.org"})
    sim.add_contact({"LastName": "Twin", "Email": "twins@example.org"})
    sim.add_contact({"LastName": "Twin", "Email": "twins@example.org"})
    matcher = KeyCascadeMatcher(
        component_context(sim, http),
        KeyCascadeOptions.model_validate(
            {
                "keys": [
                    "constituent_id",
                    {"source": "email", "target": "email", "normalize": "lower"},
                ]
            }
        ),
    )
    changes = [
        change({"constituent_id": "1", "email": "new-address@example.org"}),
        change({"constituent_id": "2", "email": "typed@example.org"}),
        change({"constituent_id": "3", "email": "twins@example.org"}),
        change({"constituent_id": "4", "email": "nobody@example.org"}),
    ]

    decisions = await matcher.decide(changes, lookup_of(sim, http))

    assert [d.action if d else None for d in decisions] == [
        MatchAction.MATCH,
        MatchAction.MATCH,
        MatchAction.REJECT,
        MatchAction.CREATE,
    ]
    matched, found_by_email, twins, _ = decisions
    assert matched is not None
    assert matched.target_key == bound
    assert found_by_email is not None
    assert found_by_email.target_key == by_email
    assert twins is not None
    assert "2 records in target share email" in twins.explanation
