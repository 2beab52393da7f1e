"""The search steps: the sink's lookup finds constituents by the binding key (constituent_id,
RE's lookup_id) first, then by email, optionally only within a constituent list; and the sink's
connection check names code-table entries the environment lacks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from re_nxt_simulator import ReNxtSimulator
from re_nxt_simulator.inputs import EmailAddressAdd

from plugins.smartsync.tests.re_nxt_helpers import (
    FlowHarness,
    add_constituent,
    change,
    make_simulator,
    sink_for,
    snapshot_of,
    write_flow,
)
from syncframe.components import PermanentError
from syncframe.records import Operation

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> ReNxtSimulator:
    return make_simulator()


@pytest.fixture
def harness(sim: ReNxtSimulator, tmp_path: Path) -> Iterator[FlowHarness]:
    flows = FlowHarness(sim, tmp_path)
    yield flows
    flows.close()


def emails(sim: ReNxtSimulator, constituent_id: str) -> set[str]:
    return {e["address"] for e in snapshot_of(sim, constituent_id)["email_addresses"]}


async def test_the_binding_key_wins_over_the_email(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    # The member's email is also another constituent's: the Constituent ID decides.
    ada = add_constituent(
        sim, lookup_id="8001", email={"address": "ada@example.org", "type": "Email"}
    )
    other = add_constituent(
        sim, first="Other", lookup_id="8002", email={"address": "new@example.org", "type": "Email"}
    )
    harness.queue([change("m-1", occurred_at=T0, constituent_id="8001", email="new@example.org")])

    report = await harness.run(write_flow(), "write")

    outcome, _reason, target = harness.outcomes(report)["m-1"]
    assert (outcome, target) == ("updated", ada.id)
    assert emails(sim, ada.id) == {"ada@example.org", "new@example.org"}
    assert emails(sim, other.id) == {"new@example.org"}


async def test_without_a_known_constituent_id_the_email_finds_it(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    ada = add_constituent(
        sim, lookup_id="8001", email={"address": "Ada@Example.org", "type": "Email"}
    )
    harness.queue(
        [
            change("m-1", occurred_at=T0, email="ada@example.org", first_name="Augusta Ada"),
            change("m-2", occurred_at=T0, constituent_id="4242", email="ada@example.org"),
        ]
    )

    report = await harness.run(write_flow(), "write")

    outcomes = harness.outcomes(report)
    assert outcomes["m-1"][0::2] == ("updated", ada.id)
    assert outcomes["m-1"][1] == "matched on email ada@example.org (record 1001)"
    assert outcomes["m-2"][0::2] == ("unchanged", ada.id)
    with sim.lock:
        assert list(sim.store.constituents) == [ada.id]
    assert snapshot_of(sim, ada.id)["first"] == "Augusta Ada"


async def test_an_email_two_constituents_share_is_not_guessed(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    for first in ("Jo", "Sam"):
        add_constituent(sim, first=first, email={"address": "family@example.org", "type": "Email"})
    harness.queue([change("m-1", occurred_at=T0, email="family@example.org", last_name="Family")])

    report = await harness.run(write_flow(), "write")

    outcome, reason, _ = harness.outcomes(report)["m-1"]
    assert outcome == "rejected"
    assert reason is not None
    assert "2 records in target share email family@example.org" in reason
    with sim.lock:
        assert len(sim.store.constituents) == 2


async def test_the_sink_alone_does_not_guess_either(
    sim: ReNxtSimulator, harness: FlowHarness
) -> None:
    # Without matchers the sink looks the record up itself before creating it.
    for first in ("Jo", "Sam"):
        add_constituent(sim, first=first, email={"address": "family@example.org", "type": "Email"})
    harness.queue(
        [change("m-1", Operation.INSERT, T0, email="family@example.org", last_name="Family")]
    )

    report = await harness.run(write_flow(matchers=False), "write")

    outcome, reason, _ = harness.outcomes(report)["m-1"]
    assert outcome == "rejected"
    assert reason == (
        "crm.contact[key=m-1]: 2 constituents have email family@example.org (1001, 1002); "
        "refusing to guess which one it is"
    )


async def test_a_list_restricts_the_search(sim: ReNxtSimulator, harness: FlowHarness) -> None:
    member = add_constituent(
        sim, first="In", lookup_id="8001", email={"address": "in@example.org", "type": "Email"}
    )
    outsider = add_constituent(
        sim, first="Out", lookup_id="8002", email={"address": "out@example.org", "type": "Email"}
    )
    with sim.lock:
        newsletter = sim.store.add_list("Newsletter", [member.id]).id
    harness.queue(
        [
            change("m-1", occurred_at=T0, email="in@example.org", nickname="Inny"),
            change("m-2", Operation.INSERT, T0, email="out@example.org", last_name="Outside"),
        ]
    )

    report = await harness.run(write_flow({"list_id": newsletter}), "write")

    outcomes = harness.outcomes(report)
    assert outcomes["m-1"][0::2] == ("updated", member.id)
    # Outside the list the constituent is as if absent: a new one is created.
    assert outcomes["m-2"][0] == "created"
    assert outcomes["m-2"][2] not in (member.id, outsider.id)
    assert snapshot_of(sim, outsider.id)["last"] == "Lovelace"


async def test_find_by_each_field(sim: ReNxtSimulator) -> None:
    ada = add_constituent(
        sim, lookup_id="AL-8001", email={"address": "ada@example.org", "type": "Email"}
    )
    with sim.lock:
        sim.store.add_email(
            ada.id,
            EmailAddressAdd.model_validate(
                {"constituent_id": ada.id, "address": "ada@work.example", "type": "Business"}
            ),
        )
    async with sink_for(sim) as sink:
        lookup = sink.lookup()
        by_key = await lookup.find("constituent_id", ["al-8001", "nobody"])
        by_email = await lookup.find("email", ["ada@work.example"])
        by_id = await lookup.find("id", [ada.id, "999999", "not-an-id"])
        with pytest.raises(PermanentError, match="cannot find constituents by 'phone'"):
            await lookup.find("phone", ["555"])

    assert list(by_key) == ["al-8001"]
    [hit] = by_key["al-8001"]
    assert (hit.key, hit.fields["constituent_id"], hit.fields["email"]) == (
        ada.id,
        "AL-8001",
        "ada@example.org",
    )
    # Found by a second address: the record says the address asked for, and the primary one.
    [second] = by_email["ada@work.example"]
    assert (second.fields["email"], second.fields["primary_email"]) == (
        "ada@work.example",
        "ada@example.org",
    )
    assert [r.key for r in by_id[ada.id]] == [ada.id]
    assert list(by_id) == [ada.id]


async def test_an_unknown_list_is_a_clear_error(sim: ReNxtSimulator) -> None:
    async with sink_for(sim, list_id="no-such-list") as sink:
        with pytest.raises(PermanentError, match="list_id 'no-such-list' of sink"):
            await sink.lookup().find("email", ["ada@example.org"])


async def test_the_check_names_code_table_entries_re_lacks(sim: ReNxtSimulator) -> None:
    async with sink_for(sim) as sink:
        await sink.check()
    async with sink_for(sim, email_type="Emial", consent_source="Carrier pigeon") as sink:
        with pytest.raises(PermanentError) as wrong:
            await sink.check()

    message = str(wrong.value)
    assert "email_type 'Emial' is not in /constituent/v1/emailaddresstypes" in message
    assert "consent_source 'Carrier pigeon' is not in /commpref/v1/consent/sources" in message
