"""zeep, a standard SOAP client, calling the simulator on a real socket from its served WSDL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import zeep
import zeep.exceptions
from zeep.transports import Transport

from simulators.luminate.tests.conftest import API_PASSWORD, API_USER, SITE
from syncframe.clock import ManualClock

PARTITION = 1001


class ZeepSite:
    """A zeep client on the served WSDL, plus the admin API on the same socket."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.admin = httpx.Client(base_url=f"{base_url}/_admin/luminate", timeout=5)
        self.client = zeep.Client(
            f"{base_url}/1.0/{SITE}/wsdl", transport=Transport(timeout=5, operation_timeout=5)
        )
        self.service: Any = self.client.service
        self.header: dict[str, Any] = {}

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self.admin.post(path, json=payload)
        assert response.status_code < 300, response.text
        result: dict[str, Any] = response.json()
        return result

    def login(self) -> str:
        # zeep unwraps a response of one element: LoginResponse/Result/SessionId is the id.
        session_id: str = self.service.Login(UserName=API_USER, Password=API_PASSWORD)
        self.header = {"Session": {"SessionId": session_id}}
        return session_id

    def call(self, operation: str, **params: Any) -> Any:
        return getattr(self.service, operation)(**params, _soapheaders=self.header)

    def type(self, name: str) -> Any:
        return self.client.get_type(f"{{urn:object.soap.convio.com}}{name}")

    def close(self) -> None:
        self.admin.close()
        self.client.transport.session.close()


@pytest.fixture
def site(luminate_simulator: Any, serve_simulator: Callable[[Any], Any]) -> Iterator[ZeepSite]:
    server = serve_simulator(luminate_simulator)
    zeep_site = ZeepSite(server.base_url)
    zeep_site.post("/api-users", {"name": API_USER, "password": API_PASSWORD})
    yield zeep_site
    zeep_site.close()


def type_name(value: Any) -> str:
    name: str = value._xsd_type.name
    return name


class TestZeep:
    """Every operation from zeep: session header, typed records and faults."""

    def test_wsdl_service_address_is_the_socket(self, site: ZeepSite) -> None:
        assert site.service._binding_options["address"] == f"{site.base_url}/1.0/{SITE}/"

    def test_login_and_server_time(self, site: ZeepSite, sim_clock: ManualClock) -> None:
        session_id = site.login()
        assert ":JSESSIONID=" in session_id
        assert site.call("GetServerTime") == sim_clock.now()

    def test_login_fault(self, site: ZeepSite) -> None:
        with pytest.raises(zeep.exceptions.Fault) as raised:
            site.service.Login(UserName=API_USER, Password="nope")
        assert raised.value.code == "LOGIN_FAILED"
        assert raised.value.message.startswith("Login failed")
        assert raised.value.detail[0].tag == "{urn:soap.convio.com}LoginFault"

    def test_session_fault_without_a_valid_session(self, site: ZeepSite) -> None:
        site.header = {"Session": {"SessionId": "forged"}}
        with pytest.raises(zeep.exceptions.Fault) as raised:
            site.call("GetServerTime")
        assert raised.value.code == "INVALID_SESSION"

    def test_sync_and_typed_incremental_records(
        self, site: ZeepSite, sim_clock: ManualClock
    ) -> None:
        donor = site.post(
            "/constituents",
            {"PrimaryEmail": "zed@example.org", "ConsName": {"FirstName": "Zed", "LastName": "Z"}},
        )["ConsId"]
        gift = site.post(
            "/transactions/Donation",
            {"Donor": {"ConsId": donor}, "Payment": {"Amount": "42.50"}},
        )["TransactionId"]
        sim_clock.advance(minutes=1)
        site.login()
        window = site.call("StartSynchronization", PartitionId=PARTITION)
        assert window.PartitionId == PARTITION
        assert window.Start is None
        assert window.End == sim_clock.now()

        constituents = site.call(
            "GetIncrementalInserts",
            PartitionId=PARTITION,
            RecordType="Constituent",
            Page=1,
            PageSize=200,
            Field=["ConsId", "PrimaryEmail", "ConsName.FirstName"],
        )
        assert [type_name(r) for r in constituents] == ["Constituent"]
        assert constituents[0].ConsId == donor
        assert constituents[0].ConsName.FirstName == "Zed"

        donations = site.call(
            "GetIncrementalInserts",
            PartitionId=PARTITION,
            RecordType="Donation",
            Page=1,
            PageSize=200,
            Field=["TransactionId", "Donor.ConsId", "Payment.Amount", "Payment.PaymentDate"],
        )
        assert [type_name(r) for r in donations] == ["Donation"]
        assert donations[0].TransactionId == gift
        assert donations[0].Donor.ConsId == donor
        assert donations[0].Payment.Amount == Decimal("42.50")
        assert isinstance(donations[0].Payment.PaymentDate, datetime)
        for operation in ("GetIncrementalUpdates", "GetIncrementalDeletes"):
            assert (
                site.call(
                    operation,
                    PartitionId=PARTITION,
                    RecordType="Donation",
                    Page=1,
                    PageSize=200,
                    Field=["TransactionId"],
                )
                == []
            )

        ended = site.call("EndSynchronization", PartitionId=PARTITION)
        assert ended.SyncId == window.SyncId
        log = site.call("GetSynchronizationLog", PartitionId=PARTITION)
        assert [entry.SyncId for entry in log] == [window.SyncId]
        requests = site.call("GetSynchronizationRequestLog", SyncId=window.SyncId)
        assert [r.RecordType for r in requests] == [
            "Constituent",
            "Donation",
            "Donation",
            "Donation",
        ]

    def test_synchronization_fault(self, site: ZeepSite) -> None:
        site.login()
        site.call("StartSynchronization", PartitionId=PARTITION)
        with pytest.raises(zeep.exceptions.Fault) as raised:
            site.call("StartSynchronization", PartitionId=PARTITION)
        assert raised.value.code == "SYNCHRONIZATION_ERROR"
        assert "already exists" in raised.value.message
        assert site.call("StartSynchronization", PartitionId=PARTITION, Force=True).SyncId

    def test_create_update_delete_with_typed_records(
        self, site: ZeepSite, luminate_simulator: Any
    ) -> None:
        site.login()
        constituent, name = site.type("Constituent"), site.type("Name")
        created = site.call(
            "Create",
            Record=[
                constituent(
                    MemberId="Z-1",
                    PrimaryEmail="z1@example.org",
                    ConsName=name(FirstName="Zoe", LastName="Zed"),
                    AcceptsEmail=True,
                )
            ],
        )
        assert [r.ResultCode for r in created] == ["OK"]
        assert type_name(created[0].Record) == "Constituent"
        cons_id = created[0].Record.ConsId
        updated = site.call(
            "Update", Record=[constituent(MemberId="Z-1", ConsName=name(FirstName="Zoë"))]
        )
        assert (updated[0].ResultCode, updated[0].Message) == ("OK", "User updated.")
        assert updated[0].Record.ConsId == cons_id
        deleted = site.call("Delete", Record=[constituent(ConsId=cons_id)])
        assert (deleted[0].ResultCode, deleted[0].Message) == ("OK", "User deleted.")
        (stored,) = luminate_simulator.snapshot()["constituents"]
        assert (stored["FIRST_NAME"], stored["STATUS"]) == ("Zoë", "Removed")

    def test_transaction_upload_is_a_fault(self, site: ZeepSite) -> None:
        site.login()
        with pytest.raises(zeep.exceptions.Fault) as raised:
            site.call("Create", Record=[site.type("Donation")(TransactionId=1)])
        assert raised.value.code == "UNSUPPORTED_OPERATION"

    def test_query_find_and_describe(self, site: ZeepSite) -> None:
        site.post("/associated/DonationCampaign", {"CampaignId": 31, "Title": "Autumn"})
        site.login()
        found = site.call(
            "Query",
            QueryString="select CampaignId, Title from DonationCampaign where CampaignId = 31",
            Page=1,
            PageSize=10,
        )
        assert [(type_name(r), r.CampaignId, r.Title) for r in found] == [
            ("DonationCampaign", 31, "Autumn")
        ]
        found = site.call(
            "Find",
            RecordType="DonationCampaign",
            Criteria=[{"Field": "Title", "Value": "Autumn"}],
            Field=["CampaignId"],
            Page=1,
            PageSize=10,
        )
        assert [r.CampaignId for r in found] == [31]
        described = site.call("DescribeRecordType", RecordType="Refund")
        assert described.Name == "Refund"
        assert "GetIncrementalInserts" in described.SupportedOperations
        assert "OriginalTransactionId" in [f.Name for f in described.Field]

    def test_bad_paging_is_an_invalid_message_fault(self, site: ZeepSite) -> None:
        site.login()
        site.call("StartSynchronization", PartitionId=PARTITION)
        with pytest.raises(zeep.exceptions.Fault) as raised:
            site.call(
                "GetIncrementalInserts",
                PartitionId=PARTITION,
                RecordType="Constituent",
                Page=1,
                PageSize=500,
                Field=["ConsId"],
            )
        assert raised.value.code == "INVALID_MESSAGE"
        assert "200" in raised.value.message
