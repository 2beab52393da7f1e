"""The Luminate web-services client against the simulator: every operation, flat typed records,
fields in WSDL order, sessions, and each fault mapped to the engine's error kinds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest
from luminate_simulator.app import LuminateSimulator
from lxml import etree
from pydantic import SecretStr, ValidationError
from syncframe_luminate.client import LuminateClient, RecordSchema
from syncframe_luminate.errors import (
    InvalidRecord,
    InvalidRequest,
    LoginRefused,
    LuminateFault,
    LuminateServerFault,
    SynchronizationRefused,
    UnsupportedOperation,
)
from syncframe_luminate.settings import LuminateSettings
from syncframe_simulators import FaultRule

from plugins.luminate.tests.client_helpers import (
    API_LOGIN,
    API_PASSWORD,
    START,
    add_donations,
    client_for,
    make_simulator,
    settings_for,
)
from syncframe.components import PermanentError, TransientError

pytestmark = pytest.mark.anyio

CONSTITUENT_FIELDS = [
    "ConsId",
    "MemberId",
    "UserName",
    "PrimaryEmail",
    "ConsName.FirstName",
    "ConsName.MiddleName",
    "ConsName.LastName",
    "HomeAddress.Street1",
    "HomeAddress.Street2",
    "HomeAddress.City",
    "HomeAddress.State",
    "HomeAddress.Zip",
    "HomeAddress.Country",
    "HomePhone",
    "AcceptsEmail",
    "CreationDate",
    "ModifyDate",
]
PAYMENT_FIELDS = [
    "Payment.Amount",
    "Payment.OriginalAmount",
    "Payment.PaymentDate",
    "Payment.ModifyDate",
    "Payment.CreationMethod",
    "Payment.TenderType",
    "Payment.ConfirmationCode",
    "Payment.BillingName",
    "Payment.DiscountId",
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> LuminateSimulator:
    return make_simulator()


def constituents(sim: LuminateSimulator) -> dict[int, dict[str, Any]]:
    """The simulator's constituents by ConsId (upload column names)."""
    return {row["CONS_ID"]: row for row in sim.services.snapshot()["constituents"]}


async def inserts(client: LuminateClient, record_type: str, **kw: Any) -> list[dict[str, Any]]:
    fields = kw.pop("fields", None) or await client.fields(record_type)
    return await client.get_incremental(
        "inserts",
        record_type,
        partition_id=1001,
        page=kw.pop("page", 1),
        page_size=kw.pop("page_size", 200),
        fields=fields,
    )


# ---- settings ---------------------------------------------------------------------------------


def test_settings_keep_the_address_without_trailing_slash(sim: LuminateSimulator) -> None:
    settings = settings_for(sim, url="https://webservices.cluster2.convio.net/1.0/mysite/")
    assert settings.url == "https://webservices.cluster2.convio.net/1.0/mysite"
    assert settings.wsdl_url == "https://webservices.cluster2.convio.net/1.0/mysite/wsdl"
    assert settings.endpoint == "https://webservices.cluster2.convio.net/1.0/mysite/"
    assert (settings.page_size, settings.query_page_size) == (200, 1000)
    assert API_PASSWORD not in repr(settings)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"url": "ftp://example.org/1.0/site"}, "url"),
        ({"url": "webservices.cluster2.convio.net/1.0/site"}, "url"),
        ({"page_size": 201}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"query_page_size": 1001}, "query_page_size"),
        ({"api_login": ""}, "api_login"),
        ({"partition_id": 1001}, "partition_id"),
    ],
)
def test_invalid_settings_name_the_field(values: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {
        "url": "https://webservices.cluster2.convio.net/1.0/mysite",
        "api_login": "api",
        "api_password": SecretStr("pw"),
    }
    with pytest.raises(ValidationError) as caught:
        LuminateSettings(**{**base, **values})
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]


# ---- WSDL and fields --------------------------------------------------------------------------


async def test_fields_are_the_wsdl_leaves_in_wsdl_order(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        assert await client.fields("Constituent") == CONSTITUENT_FIELDS
        donation = await client.fields("Donation")
        refund = await client.fields("Refund")
    assert donation == [
        "TransactionId",
        "Donor.ConsId",
        "Donor.MemberId",
        "Donor.PrimaryEmail",
        "Donor.ConsName.FirstName",
        "Donor.ConsName.MiddleName",
        "Donor.ConsName.LastName",
        "CampaignId",
        "FormId",
        "DonationLevelId",
        "TaxDeductibleValue",
        *PAYMENT_FIELDS,
    ]
    assert refund[:6] == [
        "RefundId",
        "OriginalTransactionId",
        "OriginalTransactionType",
        "RefundDate",
        "Online",
        "FullRefund",
    ]
    # One GET of the WSDL per client, nothing else (fields need no session).
    assert [(e.method, e.path) for e in sim.journal.entries()] == [("GET", "/1.0/syncframe/wsdl")]


async def test_an_unknown_record_type_is_refused(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        with pytest.raises(PermanentError, match="no record type 'Donations'"):
            await client.fields("Donations")


async def test_a_wrong_site_address_is_permanent_naming_the_wsdl(sim: LuminateSimulator) -> None:
    async with client_for(sim, url=f"{sim.base_url}/1.0/othersite") as client:
        with pytest.raises(PermanentError, match=r"othersite/wsdl: HTTP 404"):
            await client.login()


# ---- login, sessions --------------------------------------------------------------------------


async def test_login_and_server_time(sim: LuminateSimulator) -> None:
    sim.clock.advance(timedelta(seconds=90))
    async with client_for(sim) as client:
        await client.login()
        assert client.logins == 1
        now = await client.server_time()
    assert now == START + timedelta(seconds=90)
    assert now.tzinfo is UTC
    assert len(sim.services.snapshot()["sessions"]) == 1


async def test_calls_log_in_lazily_once(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        await client.server_time()
        await client.server_time()
        assert client.logins == 1
    operations = [e.operation for e in sim.journal.entries() if e.method == "POST"]
    assert operations == ["Login", "GetServerTime", "GetServerTime"]


async def test_an_expired_session_is_renewed_transparently(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        await client.server_time()
        sim.clock.advance(timedelta(minutes=31))  # sessions expire after 30 minutes idle
        assert await client.server_time() == START + timedelta(minutes=31)
        assert client.logins == 2
    operations = [(e.operation, e.status) for e in sim.journal.entries() if e.method == "POST"]
    assert operations == [
        ("Login", 200),
        ("GetServerTime", 200),
        ("GetServerTime", 500),  # SessionFault
        ("Login", 200),
        ("GetServerTime", 200),
    ]


async def test_concurrent_calls_share_one_login_and_one_renewal(sim: LuminateSimulator) -> None:
    times: list[datetime] = []

    async def ask(client: LuminateClient) -> None:
        times.append(await client.server_time())

    async with client_for(sim) as client:
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(ask, client)
        assert client.logins == 1
        sim.clock.advance(timedelta(minutes=45))
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(ask, client)
        assert client.logins == 2
    assert len(times) == 10


async def test_bad_credentials_are_permanent_naming_the_login_not_the_password(
    sim: LuminateSimulator,
) -> None:
    async with client_for(sim, api_password=SecretStr("wrong-" + API_PASSWORD)) as client:
        with pytest.raises(LoginRefused) as caught:
            await client.server_time()
    error = caught.value
    assert isinstance(error, PermanentError)
    assert isinstance(error, LuminateFault)
    message = str(error)
    assert "refused the login" in message
    assert repr(API_LOGIN) in message
    assert API_PASSWORD not in message
    assert "wrong-" not in message
    assert error.fault_type == "LoginFault"
    assert error.code == "LOGIN_FAILED"
    assert "invalid user name or password" in error.fault_message


# ---- synchronization windows ------------------------------------------------------------------


async def test_windows_follow_each_other(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        sim.clock.advance(timedelta(minutes=5))
        first = await client.start_synchronization(1001)
        assert first.start is None
        assert first.end == START + timedelta(minutes=5)
        assert first.partition_id == 1001
        assert first.sync_id is not None
        ended = await client.end_synchronization(1001)
        assert ended == first

        sim.clock.advance(timedelta(minutes=5))
        second = await client.start_synchronization(1001)
        assert second.start == first.end
        assert second.end == START + timedelta(minutes=10)
        assert second.sync_id != first.sync_id


async def test_a_window_with_given_start_end_and_force(sim: LuminateSimulator) -> None:
    sim.clock.advance(timedelta(hours=2))
    start = START + timedelta(minutes=10)
    end = START + timedelta(minutes=40)
    async with client_for(sim) as client:
        window = await client.start_synchronization(1001, start=start, end=end)
        assert (window.start, window.end) == (start, end)
        with pytest.raises(SynchronizationRefused, match="already exists") as caught:
            await client.start_synchronization(1001, start=start, end=end)
        assert "StartSynchronization partition 1001" in str(caught.value)
        again = await client.start_synchronization(1001, start=start, end=end, force=True)
        assert (again.start, again.end) == (start, end)
        assert again.sync_id != window.sync_id


async def test_ending_without_a_window_is_refused(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        with pytest.raises(SynchronizationRefused) as caught:
            await client.end_synchronization(1001)
    assert "EndSynchronization partition 1001: No active synchronization session" in str(
        caught.value
    )
    assert caught.value.fault_type == "SynchronizationFault"
    assert caught.value.code == "SYNCHRONIZATION_ERROR"


async def test_an_unknown_partition_is_refused(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        with pytest.raises(SynchronizationRefused, match="Partition 4242 does not exist"):
            await client.start_synchronization(4242)


# ---- incremental downloads --------------------------------------------------------------------


async def test_inserts_are_flat_typed_records_in_wsdl_order(sim: LuminateSimulator) -> None:
    sim.clock.advance(timedelta(minutes=1))
    ids = add_donations(sim, 3)
    sim.clock.advance(timedelta(minutes=1))
    async with client_for(sim) as client:
        await client.start_synchronization(1001)
        records = await inserts(client, "Donation")
        fields = await client.fields("Donation")
    assert [r["TransactionId"] for r in records] == ids
    first = records[0]
    assert list(first) == fields
    assert first["Donor.ConsId"] == 1001001
    assert first["Donor.PrimaryEmail"] == "donor0@example.org"
    assert first["Donor.ConsName.FirstName"] == "Donor0"
    assert first["Donor.MemberId"] is None
    assert first["CampaignId"] == 101
    assert first["FormId"] is None
    assert first["Payment.Amount"] == Decimal("25.00")
    assert first["Payment.OriginalAmount"] == Decimal("0.00")
    assert first["Payment.CreationMethod"] == 1
    assert first["Payment.TenderType"] == "VISA"
    assert first["Payment.PaymentDate"] == START + timedelta(minutes=1)
    assert first["Payment.PaymentDate"].tzinfo is UTC
    assert records[2]["Payment.Amount"] == Decimal("27.00")


async def test_fields_in_any_order_are_sent_in_wsdl_order(sim: LuminateSimulator) -> None:
    sim.clock.advance(timedelta(minutes=1))
    add_donations(sim, 1)
    sim.clock.advance(timedelta(minutes=1))
    async with client_for(sim) as client:
        await client.start_synchronization(1001)
        records = await inserts(
            client,
            "Donation",
            fields=["Payment.Amount", "Donor.ConsName.LastName", "TransactionId", "CampaignId"],
        )
    assert records == [
        {
            "TransactionId": 2001001,
            "Donor.ConsName.LastName": "Example",
            "CampaignId": 101,
            "Payment.Amount": Decimal("25.00"),
        }
    ]


async def test_a_complex_field_stands_for_its_leaves(sim: LuminateSimulator) -> None:
    sim.clock.advance(timedelta(minutes=1))
    add_donations(sim, 1)
    sim.clock.advance(timedelta(minutes=1))
    async with client_for(sim) as client:
        await client.start_synchronization(1001)
        (record,) = await inserts(client, "Donation", fields=["Payment", "TransactionId"])
    assert list(record) == ["TransactionId", *PAYMENT_FIELDS]


async def test_an_unknown_field_is_refused_naming_path_and_type(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        await client.start_synchronization(1001)
        with pytest.raises(PermanentError, match=r"'Payment\.Amnt'.*record type Donation"):
            await inserts(client, "Donation", fields=["TransactionId", "Payment.Amnt"])


async def test_pages_until_empty(sim: LuminateSimulator) -> None:
    sim.clock.advance(timedelta(minutes=1))
    ids = add_donations(sim, 5)
    sim.clock.advance(timedelta(minutes=1))
    async with client_for(sim) as client:
        await client.start_synchronization(1001)
        pages = [
            [r["TransactionId"] for r in await inserts(client, "Donation", page=p, page_size=2)]
            for p in (1, 2, 3, 4)
        ]
    assert pages == [ids[:2], ids[2:4], ids[4:], []]


async def test_updates_deletes_and_refunds(sim: LuminateSimulator) -> None:
    sim.clock.advance(timedelta(minutes=1))
    partial, full, untouched = add_donations(sim, 3, amount="100.00")
    async with client_for(sim) as client:
        sim.clock.advance(timedelta(minutes=1))
        await client.start_synchronization(1001)
        await client.end_synchronization(1001)
        sim.clock.advance(timedelta(minutes=1))
        sim.services.refund(partial, Decimal("30.00"), online=True)
        sim.services.refund(full, None, online=False)
        sim.clock.advance(timedelta(minutes=1))
        await client.start_synchronization(1001)
        fields = ["TransactionId", "Payment.Amount", "Payment.OriginalAmount"]
        common: dict[str, Any] = {"partition_id": 1001, "page": 1, "page_size": 200}
        updated = await client.get_incremental("updates", "Donation", fields=fields, **common)
        deleted = await client.get_incremental("deletes", "Donation", fields=fields, **common)
        new = await client.get_incremental("inserts", "Donation", fields=fields, **common)
        refunds = await inserts(client, "Refund")
    assert updated == [
        {
            "TransactionId": partial,
            "Payment.Amount": Decimal("70.00"),
            "Payment.OriginalAmount": Decimal("100.00"),
        }
    ]
    assert deleted == [
        {
            "TransactionId": full,
            "Payment.Amount": Decimal("101.00"),
            "Payment.OriginalAmount": Decimal("0.00"),
        }
    ]
    assert new == []
    assert untouched not in {r["TransactionId"] for r in updated + deleted}
    (refund,) = refunds
    assert refund["OriginalTransactionId"] == partial
    assert refund["OriginalTransactionType"] == "Donation"
    assert refund["Online"] is True
    assert refund["FullRefund"] is False
    assert refund["Payment.Amount"] == Decimal("30.00")
    assert refund["RefundDate"] == START + timedelta(minutes=3)


async def test_an_unsupported_operation_is_permanent(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        await client.start_synchronization(1001)
        with pytest.raises(UnsupportedOperation) as caught:
            await client.get_incremental(
                "updates", "Refund", partition_id=1001, page=1, page_size=10, fields=["RefundId"]
            )
    assert str(caught.value).startswith("GetIncrementalUpdates Refund page 1: ")
    assert caught.value.fault_type == "UnsupportedOperationFault"


async def test_a_page_size_over_the_limit_is_an_invalid_request(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        await client.start_synchronization(1001)
        with pytest.raises(InvalidRequest, match="PageSize must be between 1 and 200"):
            await inserts(client, "Donation", fields=["TransactionId"], page_size=201)


# ---- Query and Find ---------------------------------------------------------------------------


async def test_query_of_associated_records(sim: LuminateSimulator) -> None:
    campaign = sim.services.add_associated(
        "DonationCampaign", {"CampaignId": 101, "Title": "Spring appeal"}
    )
    sim.services.add_associated("DonationCampaign", {"CampaignId": 102, "Title": "Gala"})
    async with client_for(sim) as client:
        one = await client.query(
            f"select Title, CampaignId from DonationCampaign where CampaignId = {campaign}"
        )
        every = await client.query("select * from DonationCampaign", page_size=1, page=2)
    # WSDL order whatever the select order; Description not selected, so not there.
    assert one == [{"CampaignId": 101, "Title": "Spring appeal"}]
    assert every == [{"CampaignId": 102, "Title": "Gala", "Description": None}]


async def test_query_of_refunds_by_transaction(sim: LuminateSimulator) -> None:
    (donation,) = add_donations(sim, 1, amount="50.00")
    sim.services.refund(donation, Decimal("10.00"), online=True)
    sim.services.refund(donation, Decimal("5.00"), online=False)
    sim.services.refund(donation, None, online=True)
    async with client_for(sim) as client:
        refunds = await client.query(
            f"select RefundId, Payment from Refund where OriginalTransactionId = {donation}"
        )
    assert [list(r) for r in refunds] == [["RefundId", *PAYMENT_FIELDS]] * 2
    assert [r["Payment.Amount"] for r in refunds] == [Decimal("10.00"), Decimal("35.00")]


async def test_a_query_syntax_error_is_an_invalid_request(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        with pytest.raises(InvalidRequest, match="Query syntax error at position") as caught:
            await client.query("select Title DonationCampaign")
    assert "Query 'select Title DonationCampaign' page 1: " in str(caught.value)


async def test_find_constituents_by_member_id_and_email(sim: LuminateSimulator) -> None:
    ann = sim.services.add_constituent(
        {"MemberId": "M-1", "PrimaryEmail": "ann@example.org", "ConsName": {"FirstName": "Ann"}}
    )
    sim.services.add_constituent({"MemberId": "M-2", "PrimaryEmail": "bob@example.org"})
    async with client_for(sim) as client:
        by_member = await client.find(
            "Constituent", {"MemberId": "M-1"}, ["PrimaryEmail", "ConsId", "ConsName.FirstName"]
        )
        by_email = await client.find("Constituent", {"PrimaryEmail": "BOB@example.org"}, ["ConsId"])
        nobody = await client.find("Constituent", {"ConsId": 999}, ["ConsId"])
        with pytest.raises(PermanentError, match="'Email'"):
            await client.find("Constituent", {"Email": "x"}, ["ConsId"])
    assert by_member == [
        {"ConsId": ann, "PrimaryEmail": "ann@example.org", "ConsName.FirstName": "Ann"}
    ]
    assert by_email == [{"ConsId": ann + 1}]
    assert nobody == []


async def test_find_associated_records_with_a_boolean_criterion(sim: LuminateSimulator) -> None:
    sim.services.add_associated("Product", {"ProductId": 7, "Name": "Mug", "Price": "12.50"})
    sim.services.add_associated("Product", {"ProductId": 8, "Name": "Cap", "Price": "9.00"})
    async with client_for(sim) as client:
        found = await client.find("Product", {"Name": "cap"}, ["ProductId", "Price"])
        every = await client.find("Product", {}, ["ProductId"], page_size=1, page=2)
    assert found == [{"ProductId": 8, "Price": Decimal("9.00")}]
    assert every == [{"ProductId": 8}]


# ---- Create, Update, Delete -------------------------------------------------------------------


async def test_create_update_delete_constituents(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        created = await client.create(
            [
                {
                    "MemberId": "EXT-1",
                    "PrimaryEmail": "ann@example.org",
                    "ConsName.FirstName": "Ann",
                    "ConsName.LastName": "Lee",
                    "HomeAddress.City": "Leeds",
                    "AcceptsEmail": True,
                },
                {"MemberId": "EXT-2", "PrimaryEmail": "ann@example.org"},
                {"ConsName.FirstName": "Nobody"},
            ]
        )
        assert [r.code for r in created] == ["OK", "DUPLICATE_EMAIL", "REQUIRED_FIELDS_MISSING"]
        ann = created[0]
        assert ann.ok
        assert ann.cons_id is not None
        assert (ann.member_id, ann.primary_email) == ("EXT-1", "ann@example.org")
        assert not created[1].ok
        assert created[1].message
        row = constituents(sim)[ann.cons_id]
        assert (row["FIRST_NAME"], row["LAST_NAME"], row["HOME_CITY"]) == ("Ann", "Lee", "Leeds")
        assert row["ACCEPTS_EMAIL"] is True

        # None clears a field (xsi:nil); an absent key leaves it as it is.
        updated = await client.update(
            [
                {"ConsId": ann.cons_id, "ConsName.FirstName": "Anne", "HomeAddress.City": None},
                {"ConsId": 999},
            ]
        )
        assert [r.code for r in updated] == ["OK", "RECORD_NOT_FOUND"]
        assert updated[0].message == "User updated."
        row = constituents(sim)[ann.cons_id]
        assert (row["FIRST_NAME"], row["LAST_NAME"], row["HOME_CITY"]) == ("Anne", "Lee", None)

        again = await client.create([{"MemberId": "EXT-1", "ConsName.LastName": "Lee"}])
        assert again[0].code == "MATCH_EXISTING"
        assert again[0].cons_id == ann.cons_id

        deleted = await client.delete([{"MemberId": "EXT-1"}])
        assert deleted[0].ok
        assert deleted[0].cons_id == ann.cons_id
        assert constituents(sim)[ann.cons_id]["STATUS"] == "Removed"
        gone = await client.delete([{"ConsId": ann.cons_id}])
        assert gone[0].code == "RECORD_NOT_FOUND"


async def test_typed_values_are_converted_for_writing(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        (result,) = await client.create(
            [{"ConsId": "17", "PrimaryEmail": "c@example.org", "AcceptsEmail": "true"}]
        )
        assert result.ok
        assert constituents(sim)[result.cons_id or 0]["ACCEPTS_EMAIL"] is True
        with pytest.raises(InvalidRecord, match=r"record 1: field 'AcceptsEmail' \(boolean\)"):
            await client.update([{"ConsId": result.cons_id, "AcceptsEmail": "maybe"}])
        with pytest.raises(InvalidRecord, match=r"record 2: 'Email' is not a field"):
            await client.update([{"ConsId": result.cons_id}, {"Email": "x"}])
        with pytest.raises(InvalidRecord, match="ConsId"):
            await client.validate({"ConsId": "abc"})
        await client.validate({"ConsId": 5, "ConsName.FirstName": None})


async def test_more_than_fifty_records_is_a_caller_bug(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        with pytest.raises(ValueError, match="51 records in one call"):
            await client.create([{"PrimaryEmail": f"p{n}@example.org"} for n in range(51)])
        assert await client.create([]) == []
    assert not [e for e in sim.journal.entries() if e.method == "POST"]


# ---- faults -----------------------------------------------------------------------------------


async def test_a_server_fault_is_transient(sim: LuminateSimulator) -> None:
    sim.faults.add(FaultRule(kind="error", status=500, operation="GetServerTime", times=1))
    async with client_for(sim) as client:
        with pytest.raises(LuminateServerFault) as caught:
            await client.server_time()
        assert await client.server_time()  # the fault was spent
    error = caught.value
    assert isinstance(error, TransientError)
    assert not isinstance(error, PermanentError)
    assert (error.fault_type, error.code) == ("ServerFault", "SERVER_ERROR")
    assert str(error).startswith("GetServerTime: An unexpected server error occurred")


async def test_a_gateway_error_page_is_transient(sim: LuminateSimulator) -> None:
    sim.faults.add(FaultRule(kind="error", status=503, operation="StartSynchronization"))
    async with client_for(sim) as client:
        with pytest.raises(TransientError) as caught:
            await client.start_synchronization(1001)
    assert not isinstance(caught.value, LuminateFault)
    assert str(caught.value).startswith("StartSynchronization partition 1001: HTTP 503")


async def test_a_503_on_the_wsdl_is_transient_and_not_kept(sim: LuminateSimulator) -> None:
    sim.faults.add(FaultRule(kind="error", status=503, method="GET", times=1))
    async with client_for(sim) as client:
        with pytest.raises(TransientError, match="fetching the WSDL"):
            await client.fields("Donation")
        assert await client.fields("Refund")


async def test_rate_limit_carries_retry_after(sim: LuminateSimulator) -> None:
    sim.faults.add(FaultRule(kind="rate_limit", retry_after=7, operation="Login"))
    async with client_for(sim) as client:
        with pytest.raises(TransientError) as caught:
            await client.server_time()
    assert caught.value.retry_after == 7
    assert "HTTP 429" in str(caught.value)
    assert API_PASSWORD not in str(caught.value)


async def test_a_timeout_passes_through_as_httpx_error(sim: LuminateSimulator) -> None:
    sim.faults.add(FaultRule(kind="timeout", hang=5, operation="GetServerTime"))
    async with client_for(sim, read_timeout=0.2) as client:
        with pytest.raises(httpx.TimeoutException):
            await client.server_time()


async def test_a_dropped_connection_passes_through_as_httpx_error(sim: LuminateSimulator) -> None:
    sim.faults.add(FaultRule(kind="disconnect", operation="Query"))
    async with client_for(sim) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.query("select CampaignId from DonationCampaign")


async def test_a_cut_off_answer_is_transient_naming_the_operation(sim: LuminateSimulator) -> None:
    sim.clock.advance(timedelta(minutes=1))
    add_donations(sim, 2)
    sim.clock.advance(timedelta(minutes=1))
    sim.faults.add(FaultRule(kind="malformed", operation="GetIncrementalInserts", times=1))
    async with client_for(sim) as client:
        await client.start_synchronization(1001)
        with pytest.raises(TransientError) as caught:
            await inserts(client, "Donation", page=3)
        assert not isinstance(caught.value, PermanentError)
        assert str(caught.value).startswith("GetIncrementalInserts Donation page 3: ")
        assert "not well-formed XML" in str(caught.value)
        assert len(await inserts(client, "Donation")) == 2


# ---- the schema on its own --------------------------------------------------------------------


async def test_schema_expands_and_orders(sim: LuminateSimulator) -> None:
    async with client_for(sim) as client:
        schema = await client.schema("Constituent")
    assert isinstance(schema, RecordSchema)
    assert schema.paths[4:8] == [
        "ConsName",
        "ConsName.FirstName",
        "ConsName.MiddleName",
        "ConsName.LastName",
    ]
    assert schema.expand(["HomePhone", "ConsName", "ConsId"]) == [
        "ConsId",
        "ConsName.FirstName",
        "ConsName.MiddleName",
        "ConsName.LastName",
        "HomePhone",
    ]


async def test_reading_a_record_through_the_parse_plan_covers_the_odd_elements(
    sim: LuminateSimulator,
) -> None:
    """Comments, elements the WSDL does not know (with or without elements inside), a nil or
    empty complex field, nil and empty leaves, another namespace prefix: read the same way the
    plan's general fallback reads them, and the plan learns tags once."""
    async with client_for(sim) as client:
        schema = await client.schema("Donation")
    record = etree.fromstring(
        '<Record xmlns:e="urn:object.soap.convio.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<!-- a comment --><e:TransactionId>42</e:TransactionId>"
        '<e:Donor xsi:nil="true"/>'
        "<e:CampaignId> 7 </e:CampaignId>"
        '<e:FormId xsi:nil="true"/><e:DonationLevelId></e:DonationLevelId>'
        "<e:Custom>kept</e:Custom><e:Extra><e:Inner>x</e:Inner></e:Extra>"
        "<p:Payment xmlns:p='urn:object.soap.convio.com'><p:Amount>1.50</p:Amount>"
        "<p:ModifyDate>2025-03-01T09:00:00Z</p:ModifyDate><p:BillingName/>"
        "<p:TenderType xsi:nil='true'/></p:Payment></Record>"
    )
    wanted = ["TransactionId", "Donor.ConsId", "CampaignId", "Payment.Amount"]
    for _ in range(2):  # the second time through learnt tags
        flat = schema.flatten(record, wanted)
        assert flat == {
            "TransactionId": 42,
            "Donor.ConsId": None,
            "CampaignId": 7,
            "Payment.Amount": Decimal("1.50"),
            "Donor.MemberId": None,
            "Donor.PrimaryEmail": None,
            "Donor.ConsName.FirstName": None,
            "Donor.ConsName.MiddleName": None,
            "Donor.ConsName.LastName": None,
            "FormId": None,
            "DonationLevelId": None,
            "Custom": "kept",
            "Extra.Inner": "x",
            "Payment.ModifyDate": datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
            "Payment.BillingName": "",
            "Payment.TenderType": None,
        }
        assert list(flat)[:4] == wanted
    every = schema.flatten(record, None)
    assert list(every)[:3] == ["TransactionId", "Donor.ConsId", "Donor.MemberId"]
    assert every["Extra.Inner"] == "x"
    assert every["Payment.BillingName"] == ""
