"""Create / Update / Delete, Query, Find and DescribeRecordType over SOAP."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from simulators.luminate.tests.conftest import (
    TNS,
    SoapClient,
    element_text,
    record_of,
)

pytestmark = pytest.mark.anyio


def constituent(**fields: str) -> str:
    """A ``Record xsi:type="ens:Constituent"`` with fields given as ``Name=value`` or, for
    nested ones, ``ConsName__FirstName=value`` (in the order given)."""
    parts: list[str] = []
    nested: dict[str, list[str]] = {}
    order: list[str] = []
    for key, value in fields.items():
        outer, _, inner = key.partition("__")
        if outer not in order:
            order.append(outer)
        if inner:
            nested.setdefault(outer, []).append(f"<ens:{inner}>{value}</ens:{inner}>")
        else:
            nested[outer] = [value]
    for outer in order:
        if outer in fields:
            parts.append(f"<ens:{outer}>{fields[outer]}</ens:{outer}>")
        else:
            parts.append(f"<ens:{outer}>{''.join(nested[outer])}</ens:{outer}>")
    return f'<Record xsi:type="ens:Constituent">{"".join(parts)}</Record>'


def results(answer: etree._Element) -> list[dict[str, Any]]:
    out = []
    for result in answer:
        record = next((c for c in result if etree.QName(c).localname == "Record"), None)
        out.append(
            {
                "code": element_text(result, "ResultCode"),
                "message": element_text(result, "Message"),
                "record": record_of(record) if record is not None else None,
            }
        )
    return out


async def state_constituents(sim: Any) -> list[dict[str, Any]]:
    state = await sim.admin().state()
    found: list[dict[str, Any]] = state["constituents"]
    return found


class TestCreate:
    """``Create`` makes constituents and answers one Result per record."""

    async def test_created_records_land_in_the_directory(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        answer = await session.ok(
            f'<Create xmlns="{TNS}">'
            + constituent(
                MemberId="EXT-1",
                PrimaryEmail="ada@example.org",
                ConsName__FirstName="Ada",
                ConsName__LastName="Lovelace",
                AcceptsEmail="true",
            )
            + constituent(PrimaryEmail="bad")
            + "</Create>"
        )
        assert etree.QName(answer).localname == "CreateResponse"
        first, second = results(answer)
        assert first["code"] == "OK"
        record_type, ids = first["record"]
        assert record_type == "Constituent"
        assert ids["MemberId"] == "EXT-1"
        assert ids["PrimaryEmail"] == "ada@example.org"
        assert second["code"] != "OK"
        assert second["message"]
        (stored,) = [
            c
            for c in await state_constituents(luminate_simulator)
            if c["CONS_ID"] == int(ids["ConsId"])
        ]
        assert stored["MEMBER_ID"] == "EXT-1"
        assert stored["FIRST_NAME"] == "Ada"
        assert stored["ACCEPTS_EMAIL"] is True

    async def test_more_than_50_records_are_all_refused(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        records = "".join(
            constituent(PrimaryEmail=f"m{i}@example.org", ConsName__LastName="M") for i in range(51)
        )
        answer = await session.ok(f'<Create xmlns="{TNS}">{records}</Create>')
        codes = {r["code"] for r in results(answer)}
        assert codes == {"TOO_MANY_RECORDS"}
        assert len(answer) == 51
        assert await state_constituents(luminate_simulator) == []

    async def test_transaction_upload_is_refused_with_a_fault(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        fault = await session.fault(
            f'<Create xmlns="{TNS}"><Record xsi:type="ens:Donation">'
            "<ens:TransactionId>5</ens:TransactionId></Record></Create>"
        )
        assert fault.fault_type == "UnsupportedOperationFault"
        assert "download only" in fault.faultstring
        transactions = (await luminate_simulator.admin().state())["transactions"]
        assert not any(transactions.values())

    async def test_records_of_two_types_in_one_call(self, session: SoapClient) -> None:
        fault = await session.fault(
            f'<Create xmlns="{TNS}">{constituent(PrimaryEmail="a@example.org")}'
            '<Record xsi:type="ens:Product"><ens:Name>Mug</ens:Name></Record></Create>'
        )
        assert fault.fault_type == "InvalidMessageFault"
        assert "Constituent, Product" in fault.faultstring


class TestUpdateAndDelete:
    """``Update`` matches ConsId > MemberId > PrimaryEmail; ``xsi:nil`` clears; ``Delete``."""

    async def _create(self, session: SoapClient, **fields: str) -> str:
        answer = await session.ok(f'<Create xmlns="{TNS}">{constituent(**fields)}</Create>')
        (result,) = results(answer)
        assert result["code"] == "OK", result
        cons_id: str = result["record"][1]["ConsId"]
        return cons_id

    async def test_update_by_member_id_and_nil_clears(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        cons_id = await self._create(
            session,
            MemberId="EXT-7",
            PrimaryEmail="grace@example.org",
            ConsName__FirstName="Grace",
            ConsName__LastName="Hopper",
            HomePhone="555-0100",
        )
        answer = await session.ok(
            f'<Update xmlns="{TNS}"><Record xsi:type="ens:Constituent">'
            "<ens:MemberId>EXT-7</ens:MemberId>"
            "<ens:ConsName><ens:FirstName>Amazing Grace</ens:FirstName>"
            "<ens:LastName></ens:LastName></ens:ConsName>"
            '<ens:HomePhone xsi:nil="true"/></Record></Update>'
        )
        (result,) = results(answer)
        assert result["code"] == "OK"
        assert result["message"] == "User updated."
        assert result["record"][1]["ConsId"] == cons_id
        (stored,) = await state_constituents(luminate_simulator)
        assert stored["FIRST_NAME"] == "Amazing Grace"
        assert stored["LAST_NAME"] == "Hopper"  # empty element: unchanged
        assert stored["HOME_PHONE"] in (None, "")  # nil: cleared

    async def test_update_of_an_unknown_record(self, session: SoapClient) -> None:
        answer = await session.ok(
            f'<Update xmlns="{TNS}">{constituent(ConsId="99999999", HomePhone="1")}</Update>'
        )
        (result,) = results(answer)
        assert result["code"] == "RECORD_NOT_FOUND"
        assert "99999999" in (result["message"] or "")

    async def test_ambiguous_email_match(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        admin = luminate_simulator.admin()
        for last in ("One", "Two"):
            cons = await admin.post(
                "/luminate/constituents",
                {"PrimaryEmail": f"{last}@example.org", "ConsName": {"LastName": last}},
            )
            await admin.request(
                "PATCH",
                f"/luminate/constituents/{cons['ConsId']}",
                json={"PrimaryEmail": "shared@example.org"},
            )
        answer = await session.ok(
            f'<Update xmlns="{TNS}">{constituent(PrimaryEmail="shared@example.org", HomePhone="2")}'
            "</Update>"
        )
        (result,) = results(answer)
        assert result["code"] == "UPDATE_MATCH_AMBIGUOUS"

    async def test_delete_removes(self, session: SoapClient, luminate_simulator: Any) -> None:
        cons_id = await self._create(session, PrimaryEmail="gone@example.org")
        answer = await session.ok(
            f'<Delete xmlns="{TNS}"><Force>true</Force>{constituent(ConsId=cons_id)}</Delete>'
        )
        (result,) = results(answer)
        assert (result["code"], result["message"]) == ("OK", "User deleted.")
        (stored,) = await state_constituents(luminate_simulator)
        assert stored["STATUS"] == "Removed"


class TestLookups:
    """``Query`` and ``Find`` on associated types; ``DescribeRecordType``."""

    async def _seed(self, sim: Any) -> dict[str, Any]:
        made: dict[str, Any] = await sim.admin().seed(
            {
                "associated": {
                    "DonationCampaign": [
                        {"CampaignId": 11, "Title": "Spring appeal"},
                        {"CampaignId": 12, "Title": "Year end"},
                    ],
                    "Product": [{"ProductId": 7, "Name": "Mug", "Sku": "MUG-1", "Price": "12.50"}],
                }
            }
        )
        return made

    async def test_query_select_where(self, session: SoapClient, luminate_simulator: Any) -> None:
        await self._seed(luminate_simulator)
        records = await session.records(
            f'<Query xmlns="{TNS}"><QueryString>select CampaignId, Title from DonationCampaign '
            "where CampaignId = 12</QueryString><Page>1</Page><PageSize>100</PageSize></Query>"
        )
        assert records == [("DonationCampaign", {"CampaignId": "12", "Title": "Year end"})]

    async def test_query_pages(self, session: SoapClient, luminate_simulator: Any) -> None:
        await self._seed(luminate_simulator)
        pages = []
        for page in (1, 2, 3):
            records = await session.records(
                f'<Query xmlns="{TNS}"><QueryString>select CampaignId from DonationCampaign'
                f"</QueryString><Page>{page}</Page><PageSize>1</PageSize></Query>"
            )
            pages.append([r["CampaignId"] for _, r in records])
        assert pages == [["11"], ["12"], []]

    async def test_query_page_size_over_1000(self, session: SoapClient) -> None:
        fault = await session.fault(
            f'<Query xmlns="{TNS}"><QueryString>select CampaignId from DonationCampaign'
            "</QueryString><Page>1</Page><PageSize>1001</PageSize></Query>"
        )
        assert fault.fault_type == "InvalidMessageFault"
        assert "1000" in fault.faultstring

    async def test_query_of_an_unknown_type(self, session: SoapClient) -> None:
        fault = await session.fault(
            f'<Query xmlns="{TNS}"><QueryString>select X from Nothing</QueryString>'
            "<Page>1</Page><PageSize>10</PageSize></Query>"
        )
        assert fault.fault_type == "InvalidMessageFault"
        assert "Nothing" in fault.faultstring

    async def test_find_by_field_value(self, session: SoapClient, luminate_simulator: Any) -> None:
        await self._seed(luminate_simulator)
        records = await session.records(
            f'<Find xmlns="{TNS}"><RecordType>Product</RecordType>'
            "<Criteria><Field>Sku</Field><Value>MUG-1</Value></Criteria>"
            "<Field>ProductId</Field><Field>Name</Field><Field>Price</Field>"
            "<Page>1</Page><PageSize>10</PageSize></Find>"
        )
        assert records == [("Product", {"ProductId": "7", "Name": "Mug", "Price": "12.50"})]

    async def test_query_partitions(self, session: SoapClient) -> None:
        records = await session.records(
            f'<Query xmlns="{TNS}"><QueryString>select PartitionId, Name from Partition'
            "</QueryString><Page>1</Page><PageSize>100</PageSize></Query>"
        )
        assert records == [("Partition", {"PartitionId": "1001", "Name": "All Constituents"})]

    async def test_query_a_constituent_by_cons_id(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        made = await luminate_simulator.admin().post(
            "/luminate/constituents",
            {"PrimaryEmail": "q@example.org", "ConsName": {"FirstName": "Quinn"}},
        )
        records = await session.records(
            f'<Query xmlns="{TNS}"><QueryString>select ConsId, ConsName.FirstName from '
            f"Constituent where ConsId = {made['ConsId']}</QueryString><Page>1</Page>"
            "<PageSize>10</PageSize></Query>"
        )
        assert records == [
            ("Constituent", {"ConsId": str(made["ConsId"]), "ConsName": {"FirstName": "Quinn"}})
        ]

    async def test_describe_record_type(self, session: SoapClient) -> None:
        answer = await session.ok(
            f'<DescribeRecordType xmlns="{TNS}"><RecordType>Constituent</RecordType>'
            "</DescribeRecordType>"
        )
        result = answer[0]
        assert element_text(result, "Name") == "Constituent"
        operations = [c.text for c in result if etree.QName(c).localname == "SupportedOperations"]
        assert {"Create", "Update", "Delete", "GetIncrementalInserts"} <= set(operations)
        fields = {element_text(f, "Name"): f for f in result if etree.QName(f).localname == "Field"}
        assert element_text(fields["ConsName.FirstName"], "Writable") == "true"
        assert element_text(fields["ConsId"], "Writable") == "false"
        assert element_text(fields["PrimaryEmail"], "MaxLength") == "255"
        assert element_text(fields["ConsName"], "Type") == "Name"

    async def test_describe_unknown_type(self, session: SoapClient) -> None:
        fault = await session.fault(
            f'<DescribeRecordType xmlns="{TNS}"><RecordType>Pledge</RecordType>'
            "</DescribeRecordType>"
        )
        assert fault.fault_type == "InvalidMessageFault"
