"""The luminate_constituents sink and its lookup, against the simulator: what lands, and the
outcome and reason of every path (create, replayed create, update by ConsId, gone records,
refused records, deletes, dry runs, calls of at most 50)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from luminate_simulator.app import LuminateSimulator
from pydantic import ValidationError
from syncframe_luminate.constituent_sink import (
    ConstituentLookup,
    ConstituentSink,
    ConstituentSinkOptions,
)
from syncframe_luminate.errors import LoginRefused

from plugins.luminate.tests.client_helpers import make_simulator, sink_context
from syncframe.components import Outcome, PermanentError, WritePlan
from syncframe.records import Change, Operation

pytestmark = pytest.mark.anyio

AT = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> LuminateSimulator:
    return make_simulator()


@pytest.fixture
async def sink(sim: LuminateSimulator) -> AsyncIterator[ConstituentSink]:
    async with httpx.AsyncClient(transport=sim.transport(), base_url=sim.base_url) as http:
        yield ConstituentSink(sink_context(sim, http), ConstituentSinkOptions())


def change(
    fields: dict[str, Any],
    operation: Operation = Operation.INSERT,
    keys: dict[str, Any] | None = None,
) -> Change:
    key = keys if keys is not None else {"id": fields.get("MemberId") or fields.get("PrimaryEmail")}
    return Change("crm", "Constituent", key, operation, fields, AT)


def plan(targets: Sequence[str | None] | None = None, *, dry_run: bool = False) -> WritePlan:
    return WritePlan("test:run:1", list(targets) if targets is not None else None, dry_run)


def by_member(sim: LuminateSimulator) -> dict[str, dict[str, Any]]:
    return {
        row["MEMBER_ID"]: row
        for row in sim.services.snapshot()["constituents"]
        if row["MEMBER_ID"] is not None
    }


def posts(sim: LuminateSimulator) -> list[str | None]:
    return [e.operation for e in sim.journal.entries() if e.method == "POST"]


# ---- options ----------------------------------------------------------------------------------


def test_only_constituents_can_be_written() -> None:
    assert ConstituentSinkOptions().record_type == "Constituent"
    with pytest.raises(ValidationError) as caught:
        ConstituentSinkOptions(record_type="Donation")
    assert caught.value.errors()[0]["loc"] == ("record_type",)
    assert (
        "Luminate Online does not accept uploads of transaction data: Donation is download-only "
        "(web services can create, update and delete Constituent records only)"
    ) in str(caught.value)
    with pytest.raises(ValidationError, match="DonationCampaign is read-only"):
        ConstituentSinkOptions(record_type="DonationCampaign")
    with pytest.raises(ValidationError, match="'Contact' is not a Luminate Online record type"):
        ConstituentSinkOptions(record_type="Contact")
    with pytest.raises(ValidationError, match="extra"):
        ConstituentSinkOptions.model_validate({"batch": 10})


# ---- writes -----------------------------------------------------------------------------------


async def test_creates_land_with_their_cons_ids(
    sim: LuminateSimulator, sink: ConstituentSink
) -> None:
    result = await sink.write(
        [
            change(
                {"MemberId": "M-1", "PrimaryEmail": "ann@example.org", "ConsName.FirstName": "Ann"}
            ),
            change({"MemberId": "M-2", "ConsName.LastName": "Bo", "HomePhone": "555"}),
        ],
        plan(),
    )
    assert result.outcomes == [Outcome.CREATED, Outcome.CREATED]
    held = by_member(sim)
    assert result.target_keys == {0: str(held["M-1"]["CONS_ID"]), 1: str(held["M-2"]["CONS_ID"])}
    assert held["M-1"]["FIRST_NAME"] == "Ann"
    assert (held["M-2"]["LAST_NAME"], held["M-2"]["HOME_PHONE"]) == ("Bo", "555")
    assert posts(sim) == ["Login", "Create"]


async def test_a_replayed_create_updates_by_member_id(
    sim: LuminateSimulator, sink: ConstituentSink
) -> None:
    first = await sink.write(
        [change({"MemberId": "M-1", "ConsName.FirstName": "Ann", "ConsName.LastName": "Lee"})],
        plan(),
    )
    again = await sink.write(
        [change({"MemberId": "M-1", "ConsName.FirstName": "Anne", "ConsName.LastName": "Lee"})],
        plan(),
    )
    assert first.outcomes == [Outcome.CREATED]
    assert again.outcomes == [Outcome.UPDATED]
    assert again.target_keys == first.target_keys
    assert len(by_member(sim)) == 1
    assert by_member(sim)["M-1"]["FIRST_NAME"] == "Anne"


async def test_a_matched_target_is_updated_by_cons_id(
    sim: LuminateSimulator, sink: ConstituentSink
) -> None:
    cons_id = sim.services.add_constituent({"PrimaryEmail": "ann@example.org", "HomePhone": "1"})
    result = await sink.write(
        [
            change(
                {"PrimaryEmail": "ann@example.org", "ConsName.FirstName": "Ann", "HomePhone": None}
            )
        ],
        plan([str(cons_id)]),
    )
    assert result.outcomes == [Outcome.UPDATED]
    assert result.target_keys == {0: str(cons_id)}
    (row,) = sim.services.snapshot()["constituents"]
    assert (row["FIRST_NAME"], row["HOME_PHONE"]) == ("Ann", None)  # None clears the field


async def test_a_cons_id_in_the_change_is_an_update(
    sim: LuminateSimulator, sink: ConstituentSink
) -> None:
    cons_id = sim.services.add_constituent({"PrimaryEmail": "ann@example.org"})
    result = await sink.write(
        [
            change({"ConsName.LastName": "Lee"}, Operation.UPDATE, keys={"ConsId": cons_id}),
            change({"ConsId": str(cons_id), "ConsName.FirstName": "Ann"}, Operation.UPDATE),
        ],
        plan(),
    )
    assert result.outcomes == [Outcome.UPDATED, Outcome.UPDATED]
    (row,) = sim.services.snapshot()["constituents"]
    assert (row["FIRST_NAME"], row["LAST_NAME"]) == ("Ann", "Lee")


async def test_a_record_gone_from_luminate_is_created_again_if_it_can_be(
    sim: LuminateSimulator, sink: ConstituentSink
) -> None:
    result = await sink.write(
        [
            change({"MemberId": "M-9", "ConsName.LastName": "Nine"}),
            change({"ConsName.FirstName": "Nobody"}),
        ],
        plan(["999", "998"]),
    )
    assert result.outcomes == [Outcome.CREATED, Outcome.REJECTED]
    assert result.target_keys == {0: str(by_member(sim)["M-9"]["CONS_ID"])}
    assert result.reasons[1].startswith("RECORD_NOT_FOUND: ")
    assert "998" in result.reasons[1]


async def test_refused_records_carry_the_code_and_message(
    sim: LuminateSimulator, sink: ConstituentSink
) -> None:
    sim.services.add_constituent({"PrimaryEmail": "taken@example.org"})
    result = await sink.write(
        [
            change({"MemberId": "M-1", "PrimaryEmail": "taken@example.org"}),
            change({"MemberId": "M-2", "PrimaryEmail": "not-an-email"}),
            change({"ConsName.FirstName": "No ids"}),
            change({"MemberId": "M-3", "Email": "x@example.org"}),
            change({"MemberId": "M-4", "AcceptsEmail": "perhaps", "ConsName.LastName": "Four"}),
            change({"MemberId": "M-5", "ConsName.LastName": "Five"}),
        ],
        plan(),
    )
    assert result.outcomes == [Outcome.REJECTED] * 5 + [Outcome.CREATED]
    assert result.reasons[0].startswith("DUPLICATE_EMAIL: ")
    assert result.reasons[1].startswith("SERVER_ERROR: ")
    assert "PrimaryEmail" in result.reasons[1]
    assert result.reasons[2].startswith("REQUIRED_FIELDS_MISSING: ")
    assert "'Email' is not a field of Luminate record type Constituent" in result.reasons[3]
    assert "field 'AcceptsEmail' (boolean): 'perhaps' is not true or false" in result.reasons[4]
    assert list(by_member(sim)) == ["M-5"]
    assert posts(sim) == ["Login", "Create"]  # refused before sending: not sent at all


async def test_deletes(sim: LuminateSimulator, sink: ConstituentSink) -> None:
    ann = sim.services.add_constituent({"MemberId": "M-1", "PrimaryEmail": "ann@example.org"})
    bob = sim.services.add_constituent({"MemberId": "M-2", "PrimaryEmail": "bob@example.org"})
    result = await sink.write(
        [
            change({"MemberId": "M-1"}, Operation.DELETE),
            change({}, Operation.DELETE, keys={"ConsId": bob}),
            change({"MemberId": "M-1"}, Operation.DELETE),
            change({"ConsName.LastName": "x"}, Operation.DELETE, keys={"id": "?"}),
        ],
        plan(),
    )
    assert result.outcomes == [Outcome.DELETED, Outcome.DELETED, Outcome.UNCHANGED, Outcome.SKIPPED]
    assert result.target_keys == {0: str(ann), 1: str(bob)}
    assert "no ConsId, MemberId or PrimaryEmail" in result.reasons[3]
    statuses = {row["CONS_ID"]: row["STATUS"] for row in sim.services.snapshot()["constituents"]}
    assert statuses == {ann: "Removed", bob: "Removed"}


async def test_order_within_a_batch_is_kept(sim: LuminateSimulator, sink: ConstituentSink) -> None:
    result = await sink.write(
        [
            change({"MemberId": "M-1", "ConsName.LastName": "Lee"}),
            change({"MemberId": "M-1"}, Operation.DELETE),
            change({"MemberId": "M-2", "ConsName.LastName": "Two"}),
        ],
        plan(),
    )
    assert result.outcomes == [Outcome.CREATED, Outcome.DELETED, Outcome.CREATED]
    assert posts(sim) == ["Login", "Create", "Delete", "Create"]
    assert {k: v["STATUS"] for k, v in by_member(sim).items()} == {
        "M-1": "Removed",
        "M-2": "Active",
    }


async def test_large_batches_go_in_calls_of_fifty(
    sim: LuminateSimulator, sink: ConstituentSink
) -> None:
    changes = [change({"MemberId": f"M-{n}", "ConsName.LastName": f"L{n}"}) for n in range(120)]
    result = await sink.write(changes, plan())
    assert result.outcomes == [Outcome.CREATED] * 120
    assert len(by_member(sim)) == 120
    assert posts(sim) == ["Login", "Create", "Create", "Create"]


async def test_a_dry_run_writes_nothing(sim: LuminateSimulator, sink: ConstituentSink) -> None:
    cons_id = sim.services.add_constituent({"MemberId": "M-1", "PrimaryEmail": "a@example.org"})
    result = await sink.write(
        [
            change({"MemberId": "M-2", "ConsName.LastName": "Two"}),
            change({"ConsName.FirstName": "Ann"}, Operation.UPDATE, keys={"ConsId": cons_id}),
            change({"MemberId": "M-1"}, Operation.DELETE),
            change({"MemberId": "M-3", "Nope": 1}),
        ],
        plan(dry_run=True),
    )
    assert result.outcomes == [Outcome.CREATED, Outcome.UPDATED, Outcome.DELETED, Outcome.REJECTED]
    assert posts(sim) == []
    assert list(by_member(sim)) == ["M-1"]


async def test_check_logs_in_and_bad_credentials_fail_it(sim: LuminateSimulator) -> None:
    async with httpx.AsyncClient(transport=sim.transport(), base_url=sim.base_url) as http:
        good = ConstituentSink(sink_context(sim, http), ConstituentSinkOptions())
        await good.check()
        bad = ConstituentSink(
            sink_context(sim, http, api_password="nope"), ConstituentSinkOptions()
        )
        with pytest.raises(LoginRefused, match="refused the login of API user 'sync-api'"):
            await bad.check()
    assert posts(sim) == ["Login", "GetServerTime", "Login"]


# ---- lookup -----------------------------------------------------------------------------------


async def test_lookup_by_each_id(sim: LuminateSimulator, sink: ConstituentSink) -> None:
    ann = sim.services.add_constituent(
        {"MemberId": "M-1", "PrimaryEmail": "ann@example.org", "ConsName": {"FirstName": "Ann"}}
    )
    sim.services.add_constituent({"MemberId": "M-2", "PrimaryEmail": "shared@example.org"})
    sim.services.add_constituent({"MemberId": "M-3", "PrimaryEmail": "shared@example.org"})
    lookup = sink.lookup()
    assert isinstance(lookup, ConstituentLookup)

    by_cons = await lookup.find("ConsId", [str(ann), "12345", "not-a-number"])
    assert list(by_cons) == [str(ann)]
    (record,) = by_cons[str(ann)]
    assert record.key == str(ann)
    assert record.fields["ConsName.FirstName"] == "Ann"
    assert record.fields["MemberId"] == "M-1"

    by_member_id = await lookup.find("MemberId", ["M-1", "M-404"])
    assert [r.key for r in by_member_id["M-1"]] == [str(ann)]
    assert "M-404" not in by_member_id

    by_email = await lookup.find("PrimaryEmail", ["shared@example.org"])
    assert sorted(r.fields["MemberId"] for r in by_email["shared@example.org"]) == ["M-2", "M-3"]

    with pytest.raises(PermanentError, match="cannot find constituents by 'UserName'"):
        await lookup.find("UserName", ["x"])
