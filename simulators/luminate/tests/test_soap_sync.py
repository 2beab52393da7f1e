"""Synchronization windows and GetIncremental* over SOAP: the mapping and the fault branches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from lxml import etree

from simulators.luminate.tests.conftest import (
    TNS,
    XSI,
    SoapClient,
    element_text,
)
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

PARTITION = 1001  # "All Constituents", present on every site


def start_sync(partition: int = PARTITION, *, force: bool | None = None, extra: str = "") -> str:
    forced = f"<Force>{str(force).lower()}</Force>" if force is not None else ""
    return (
        f'<StartSynchronization xmlns="{TNS}"><PartitionId>{partition}</PartitionId>'
        f"{extra}{forced}</StartSynchronization>"
    )


def end_sync(partition: int = PARTITION) -> str:
    return (
        f'<EndSynchronization xmlns="{TNS}"><PartitionId>{partition}</PartitionId>'
        "</EndSynchronization>"
    )


def incremental(
    which: str,
    record_type: str,
    fields: list[str],
    *,
    page: int = 1,
    page_size: int = 200,
    partition: int = PARTITION,
) -> str:
    field_elements = "".join(f"<Field>{f}</Field>" for f in fields)
    return (
        f'<GetIncremental{which} xmlns="{TNS}"><PartitionId>{partition}</PartitionId>'
        f"<RecordType>{record_type}</RecordType><Page>{page}</Page>"
        f"<PageSize>{page_size}</PageSize>{field_elements}</GetIncremental{which}>"
    )


async def add_constituent(sim: Any, email: str, first: str = "Ada", last: str = "Lovelace") -> int:
    created = await sim.admin().post(
        "/luminate/constituents",
        {"PrimaryEmail": email, "ConsName": {"FirstName": first, "LastName": last}},
    )
    return int(created["ConsId"])


class TestWindows:
    """StartSynchronization / EndSynchronization answer the window."""

    async def test_first_window_has_no_start_and_ends_now(
        self, session: SoapClient, sim_clock: ManualClock
    ) -> None:
        answer = await session.ok(start_sync())
        assert etree.QName(answer).localname == "StartSynchronizationResponse"
        result = answer[0]
        assert element_text(result, "PartitionId") == str(PARTITION)
        start = next(c for c in result if etree.QName(c).localname == "Start")
        assert start.get(f"{{{XSI}}}nil") == "true"
        end = element_text(result, "End")
        assert end is not None
        assert datetime.fromisoformat(end) == sim_clock.now()
        assert int(element_text(result, "SyncId") or 0) > 0

    async def test_end_answers_the_window_and_the_next_one_starts_where_it_ended(
        self, session: SoapClient, sim_clock: ManualClock
    ) -> None:
        first = (await session.ok(start_sync()))[0]
        sim_clock.advance(minutes=5)
        ended = (await session.ok(end_sync()))[0]
        assert element_text(ended, "SyncId") == element_text(first, "SyncId")
        assert element_text(ended, "End") == element_text(first, "End")
        sim_clock.advance(minutes=20)
        second = (await session.ok(start_sync()))[0]
        assert element_text(second, "Start") == element_text(first, "End")
        assert int(element_text(second, "SyncId") or 0) > int(element_text(first, "SyncId") or 0)

    async def test_explicit_start_and_end(
        self, session: SoapClient, sim_clock: ManualClock
    ) -> None:
        sim_clock.advance(minutes=20)
        answer = await session.ok(
            start_sync(extra="<Start>2026-01-01T08:00:00Z</Start><End>2026-01-01T09:15:00Z</End>")
        )
        assert element_text(answer[0], "Start") == "2026-01-01T08:00:00Z"
        assert element_text(answer[0], "End") == "2026-01-01T09:15:00Z"

    async def test_second_start_is_a_synchronization_fault_unless_forced(
        self, session: SoapClient
    ) -> None:
        await session.ok(start_sync())
        fault = await session.fault(start_sync())
        assert fault.fault_type == "SynchronizationFault"
        assert fault.faultcode == "SYNCHRONIZATION_ERROR"
        assert "An active synchronization session already exists" in fault.faultstring
        await session.ok(start_sync(force=True))

    async def test_end_without_a_window_is_a_synchronization_fault(
        self, session: SoapClient
    ) -> None:
        fault = await session.fault(end_sync())
        assert fault.fault_type == "SynchronizationFault"

    async def test_unknown_partition(self, session: SoapClient) -> None:
        fault = await session.fault(start_sync(999_999))
        assert fault.fault_type == "SynchronizationFault"
        assert "999999" in fault.faultstring

    async def test_synchronization_logs(self, session: SoapClient, sim_clock: ManualClock) -> None:
        first = (await session.ok(start_sync()))[0]
        sync_id = element_text(first, "SyncId")
        await session.ok(incremental("Inserts", "Constituent", ["ConsId"], page_size=10))
        sim_clock.advance(minutes=1)
        await session.ok(end_sync())
        log = await session.ok(
            f'<GetSynchronizationLog xmlns="{TNS}"><PartitionId>{PARTITION}</PartitionId>'
            "</GetSynchronizationLog>"
        )
        assert [element_text(r, "SyncId") for r in log] == [sync_id]
        assert element_text(log[0], "Completed") == "2026-01-01T09:01:00Z"
        requests = await session.ok(
            f'<GetSynchronizationRequestLog xmlns="{TNS}"><SyncId>{sync_id}</SyncId>'
            "</GetSynchronizationRequestLog>"
        )
        assert len(requests) == 1
        assert element_text(requests[0], "Operation") == "GetIncrementalInserts"
        assert element_text(requests[0], "PageSize") == "10"
        assert element_text(requests[0], "RecordCount") == "0"


class TestIncrementalFaults:
    """The faults of GetIncremental*: no window, bad paging, bad fields, unknown types."""

    async def test_outside_a_window(self, session: SoapClient) -> None:
        fault = await session.fault(incremental("Inserts", "Constituent", ["ConsId"]))
        assert fault.fault_type == "SynchronizationFault"
        assert "No active synchronization session" in fault.faultstring

    @pytest.mark.parametrize(("page", "page_size"), [(0, 10), (1, 0), (1, 201), (-1, 10)])
    async def test_bad_paging(self, session: SoapClient, page: int, page_size: int) -> None:
        await session.ok(start_sync())
        fault = await session.fault(
            incremental("Inserts", "Constituent", ["ConsId"], page=page, page_size=page_size)
        )
        assert fault.fault_type == "InvalidMessageFault"
        assert "Page" in fault.faultstring

    async def test_fields_out_of_wsdl_order(self, session: SoapClient) -> None:
        await session.ok(start_sync())
        fault = await session.fault(
            incremental("Updates", "Constituent", ["PrimaryEmail", "ConsId"])
        )
        assert fault.fault_type == "InvalidMessageFault"
        assert "ConsId" in fault.faultstring

    async def test_unknown_field(self, session: SoapClient) -> None:
        await session.ok(start_sync())
        fault = await session.fault(incremental("Updates", "Constituent", ["ShoeSize"]))
        assert fault.fault_type == "InvalidMessageFault"
        assert "ShoeSize" in fault.faultstring

    async def test_unknown_record_type(self, session: SoapClient) -> None:
        await session.ok(start_sync())
        fault = await session.fault(incremental("Inserts", "Pledge", ["PledgeId"]))
        assert fault.fault_type == "InvalidMessageFault"
        assert "Pledge" in fault.faultstring

    @pytest.mark.parametrize("which", ["Updates", "Deletes"])
    async def test_inserts_only_types(self, session: SoapClient, which: str) -> None:
        await session.ok(start_sync())
        fault = await session.fault(incremental(which, "Refund", ["RefundId"]))
        assert fault.fault_type == "UnsupportedOperationFault"
        assert "Refund" in fault.faultstring


class TestIncrementalConstituents:
    """What GetIncremental* answer for constituents changed in the window."""

    async def test_insert_update_delete_by_a_site_admin(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        admin = luminate_simulator.admin()
        kept = await add_constituent(luminate_simulator, "kept@example.org")
        changed = await add_constituent(luminate_simulator, "changed@example.org")
        removed = await add_constituent(luminate_simulator, "removed@example.org")
        sim_clock.advance(minutes=1)
        await session.ok(start_sync())
        await session.ok(end_sync())
        sim_clock.advance(minutes=1)
        await admin.request(
            "PATCH", f"/luminate/constituents/{changed}", json={"ConsName": {"FirstName": "Ida"}}
        )
        await admin.request("DELETE", f"/luminate/constituents/{removed}")
        new = await add_constituent(luminate_simulator, "new@example.org", "Grace", "Hopper")
        sim_clock.advance(minutes=1)
        await session.ok(start_sync())
        fields = ["ConsId", "PrimaryEmail", "ConsName.FirstName", "ConsName.LastName"]
        inserts = await session.records(incremental("Inserts", "Constituent", fields))
        assert inserts == [
            (
                "Constituent",
                {
                    "ConsId": str(new),
                    "PrimaryEmail": "new@example.org",
                    "ConsName": {"FirstName": "Grace", "LastName": "Hopper"},
                },
            )
        ]
        updates = await session.records(incremental("Updates", "Constituent", fields))
        assert [(t, r["ConsId"], r["ConsName"]["FirstName"]) for t, r in updates] == [
            ("Constituent", str(changed), "Ida")
        ]
        deletes = await session.records(
            incremental("Deletes", "Constituent", ["ConsId", "MemberId", "PrimaryEmail"])
        )
        assert [r["ConsId"] for _, r in deletes] == [str(removed)]
        assert deletes[0][1]["PrimaryEmail"] == "removed@example.org"
        assert str(kept) not in {r["ConsId"] for _, r in inserts + updates + deletes}

    async def test_records_the_api_user_changed_itself_are_left_out(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        created = await session.ok(
            f'<Create xmlns="{TNS}"><Record xsi:type="ens:Constituent">'
            "<ens:PrimaryEmail>own@example.org</ens:PrimaryEmail>"
            "<ens:ConsName><ens:LastName>Own</ens:LastName></ens:ConsName></Record></Create>"
        )
        assert element_text(created[0], "ResultCode") == "OK"
        other = await add_constituent(luminate_simulator, "other@example.org")
        sim_clock.advance(minutes=1)
        await session.ok(start_sync())
        inserts = await session.records(incremental("Inserts", "Constituent", ["ConsId"]))
        assert [r["ConsId"] for _, r in inserts] == [str(other)]

    async def test_pages_of_at_most_200(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        made = await luminate_simulator.admin().seed(
            {
                "constituents": [
                    {"PrimaryEmail": f"p{i}@example.org", "ConsName": {"LastName": f"P{i}"}}
                    for i in range(250)
                ]
            }
        )
        assert made
        sim_clock.advance(minutes=1)
        await session.ok(start_sync())
        seen: list[str] = []
        sizes = []
        for page in (1, 2, 3):
            records = await session.records(
                incremental("Inserts", "Constituent", ["ConsId"], page=page, page_size=200)
            )
            sizes.append(len(records))
            seen.extend(r["ConsId"] for _, r in records)
        assert sizes == [200, 50, 0]
        assert len(set(seen)) == 250

    async def test_nil_for_a_requested_field_without_value(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        await add_constituent(luminate_simulator, "nomember@example.org")
        sim_clock.advance(minutes=1)
        await session.ok(start_sync())
        response = await session.call(incremental("Inserts", "Constituent", ["ConsId", "MemberId"]))
        assert '<ens:MemberId xsi:nil="true"/>' in response.text
        assert 'xsi:type="ens:Constituent"' in response.text
