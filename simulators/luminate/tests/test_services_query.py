"""Query (the select syntax) and Find (lookup by field values), DescribeRecordType."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from luminate_simulator.constituents import ConstituentDirectory
from luminate_simulator.schema import ASSOCIATED_TYPES, RECORD_TYPES
from luminate_simulator.services import ApiUser, LuminateFault, WebServices

from syncframe.clock import ManualClock

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def services(clock: ManualClock) -> WebServices:
    web = WebServices(clock, ConstituentDirectory(clock))
    web.add_api_user("sync-api", "s3cret")
    web.add_associated("DonationCampaign", {"Title": "Spring Appeal", "Description": "2026"})
    web.add_associated("DonationCampaign", {"CampaignId": 500, "Title": "O'Brien Fund"})
    web.add_associated("DonationCampaign", {"Title": "Winter Appeal"})
    web.add_associated("DonationLevel", {"FormId": 9, "Title": "Gold", "Amount": "100.00"})
    web.add_associated("DonationLevel", {"FormId": 9, "Title": "Silver", "Amount": "50.00"})
    return web


@pytest.fixture
def user(services: WebServices) -> ApiUser:
    return services.session_user(services.login("sync-api", "s3cret"))


class TestQuery:
    """``select F1, F2 from Type [where Field = value and ...]``."""

    def test_select_all_of_a_reference_table(self, services: WebServices, user: ApiUser) -> None:
        record_type, records = services.query(
            user, "select CampaignId, Title from DonationCampaign", 1, 100
        )
        assert record_type == "DonationCampaign"
        assert records == [
            {"CampaignId": 101, "Title": "Spring Appeal"},
            {"CampaignId": 500, "Title": "O'Brien Fund"},
            {"CampaignId": 501, "Title": "Winter Appeal"},  # ids continue after the highest
        ]

    @pytest.mark.parametrize(
        ("query", "titles"),
        [
            ("SELECT Title FROM DonationCampaign WHERE CampaignId = 501", ["Winter Appeal"]),
            ("select Title from DonationCampaign where Title = 'o''brien fund'", ["O'Brien Fund"]),
            ('select Title from DonationCampaign where Title = "Spring Appeal"', ["Spring Appeal"]),
            (
                "select Title from DonationLevel where FormId = 9 and Amount = 50.00",
                ["Silver"],
            ),
            ("select Title from DonationLevel where FormId = 9 and Amount = 50.01", []),
            ("select   Title\nfrom DonationCampaign where Description='2026'", ["Spring Appeal"]),
        ],
    )
    def test_where_clauses(
        self, services: WebServices, user: ApiUser, query: str, titles: list[str]
    ) -> None:
        _, records = services.query(user, query, 1, 100)
        assert [r["Title"] for r in records] == titles

    def test_booleans_compare_with_bare_true_and_false(
        self, services: WebServices, user: ApiUser
    ) -> None:
        donor = services.add_constituent({"PrimaryEmail": "d@example.org"})
        gift = services.add_transaction(
            "Donation", {"Donor": {"ConsId": donor}, "Payment": {"Amount": "30.00"}}
        )
        services.refund(gift, "5.00", online=True)
        services.refund(gift, None, online=True)
        for literal, full in (("true", [True]), ("FALSE", [False]), ("'true'", [True])):
            _, records = services.query(
                user, f"select RefundId, FullRefund from Refund where FullRefund = {literal}", 1, 10
            )
            assert [r["FullRefund"] for r in records] == full
        with pytest.raises(
            LuminateFault, match="expected a quoted string, a number, true or false"
        ):
            services.query(user, "select RefundId from Refund where Online = yes", 1, 10)

    def test_wildcard_returns_every_field(self, services: WebServices, user: ApiUser) -> None:
        _, records = services.query(user, "select * from DonationLevel where Title = 'Gold'", 1, 10)
        assert records == [
            {"DonationLevelId": 101, "FormId": 9, "Title": "Gold", "Amount": Decimal("100.00")}
        ]

    def test_paging_up_to_1000(self, services: WebServices, user: ApiUser) -> None:
        for number in range(5):
            services.add_associated("Product", {"Name": f"Mug {number}"})
        _, page_two = services.query(user, "select Name from Product", 2, 2)
        assert [r["Name"] for r in page_two] == ["Mug 2", "Mug 3"]
        assert services.query(user, "select Name from Product", 1, 1000)[1][4]["Name"] == "Mug 4"
        for page, size in ((1, 1001), (0, 10), (1, 0)):
            with pytest.raises(LuminateFault) as caught:
                services.query(user, "select Name from Product", page, size)
            assert caught.value.fault_type == "InvalidMessageFault"

    def test_partitions(self, services: WebServices, user: ApiUser) -> None:
        services.add_partition("Nevada", rule=("HomeAddress.State", "NV"))
        _, records = services.query(user, "select PartitionId, Name from Partition", 1, 10)
        assert records == [
            {"PartitionId": 1001, "Name": "All Constituents"},
            {"PartitionId": 1002, "Name": "Nevada"},
        ]

    def test_constituent_by_cons_id_only(self, services: WebServices, user: ApiUser) -> None:
        cons_id = services.add_constituent(
            {"PrimaryEmail": "ann@example.org", "ConsName": {"FirstName": "Ann"}}
        )
        _, records = services.query(
            user,
            f"select ConsId, ConsName.FirstName from Constituent where ConsId = {cons_id}",
            1,
            1,
        )
        assert records == [{"ConsId": cons_id, "ConsName": {"FirstName": "Ann"}}]
        services.remove_constituent(cons_id)
        query = f"select ConsId from Constituent where ConsId = {cons_id}"
        assert services.query(user, query, 1, 1)[1] == []  # Removed records are not returned
        for unsupported in (
            "select ConsId from Constituent",
            "select ConsId from Constituent where PrimaryEmail = 'ann@example.org'",
        ):
            with pytest.raises(LuminateFault) as caught:
                services.query(user, unsupported, 1, 10)
            assert caught.value.fault_type == "UnsupportedOperationFault"

    @pytest.mark.parametrize("record_type", ["Donation", "TicketPurchase", "ActionAlertResponse"])
    def test_transactions_are_not_queried(
        self, services: WebServices, user: ApiUser, record_type: str
    ) -> None:
        first = RECORD_TYPES[record_type].fields[0].name
        with pytest.raises(LuminateFault) as caught:
            services.query(user, f"select {first} from {record_type}", 1, 10)
        assert caught.value.fault_type == "UnsupportedOperationFault"

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            (
                "select Title DonationCampaign",
                "position 14: expected 'from', found 'DonationCampaign'",
            ),
            (
                "select from DonationCampaign",
                "position 8: expected a field name or '*', found 'from'",
            ),
            ("select Title from", "position 18: expected a record type name, found the end"),
            ("select Title from DonationCampaign where", "position 41: expected a field name"),
            ("select Title from DonationCampaign where Title > 'x'", "position 48: expected '='"),
            (
                "select Title from DonationCampaign where Title = x",
                "position 50: expected a quoted",
            ),
            (
                "select Title from DonationCampaign where Title = 'x' or",
                "position 54: expected 'and'",
            ),
            ("select Title; from DonationCampaign", "position 13: unexpected character ';'"),
            ("select Title from DonationCampaign where Title = 'open", "unexpected character"),
            ("delete from DonationCampaign", "position 1: expected 'select', found 'delete'"),
        ],
    )
    def test_syntax_errors_name_the_position(
        self, services: WebServices, user: ApiUser, query: str, message: str
    ) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.query(user, query, 1, 10)
        assert caught.value.fault_type == "InvalidMessageFault"
        assert message in caught.value.message
        assert caught.value.message.startswith("Query syntax error at position")

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("select Title from Pledge", "Invalid record type 'Pledge'."),
            ("select Nickname from DonationCampaign", "Invalid field 'Nickname'"),
            ("select Title from DonationCampaign where Nickname = 1", "Invalid field 'Nickname'"),
            ("select Title from DonationCampaign where CampaignId = 'abc'", "whole number"),
        ],
    )
    def test_unknown_names_and_bad_values(
        self, services: WebServices, user: ApiUser, query: str, message: str
    ) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.query(user, query, 1, 10)
        assert caught.value.fault_type == "InvalidMessageFault"
        assert message in caught.value.message


class TestFind:
    """Find: records of a lookup type whose fields equal every (field, value) criterion."""

    def test_find_by_field_values(self, services: WebServices, user: ApiUser) -> None:
        records = services.find(
            user, "DonationLevel", [("FormId", "9"), ("Title", "gold")], ["Title", "Amount"], 1, 10
        )
        assert records == [{"Title": "Gold", "Amount": Decimal("100.00")}]

    def test_no_criteria_lists_everything(self, services: WebServices, user: ApiUser) -> None:
        records = services.find(user, "DonationLevel", [], ["DonationLevelId"], 1, 10)
        assert records == [{"DonationLevelId": 101}, {"DonationLevelId": 102}]
        assert services.find(user, "DonationLevel", [], ["DonationLevelId"], 2, 1) == [
            {"DonationLevelId": 102}
        ]

    def test_find_constituent_by_indexed_ids(self, services: WebServices, user: ApiUser) -> None:
        cons_id = services.add_constituent({"PrimaryEmail": "Ann@Example.org", "MemberId": "M1"})
        services.add_constituent({"PrimaryEmail": "bob@example.org", "MemberId": "M2"})
        fields = ["ConsId", "MemberId"]
        assert services.find(
            user, "Constituent", [("PrimaryEmail", "ann@example.org")], fields, 1, 5
        ) == [{"ConsId": cons_id, "MemberId": "M1"}]
        assert (
            services.find(
                user,
                "Constituent",
                [("MemberId", "M1"), ("PrimaryEmail", "bob@example.org")],
                fields,
                1,
                5,
            )
            == []
        )
        with pytest.raises(LuminateFault) as caught:
            services.find(user, "Constituent", [("HomeAddress.City", "Reno")], fields, 1, 5)
        assert caught.value.fault_type == "UnsupportedOperationFault"
        with pytest.raises(LuminateFault):
            services.find(user, "Constituent", [], fields, 1, 5)

    def test_find_checks_fields_order_and_types(self, services: WebServices, user: ApiUser) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.find(user, "DonationLevel", [], ["Title", "FormId"], 1, 10)
        assert caught.value.fault_type == "InvalidMessageFault"
        assert "out of order" in caught.value.message
        with pytest.raises(LuminateFault) as caught:
            services.find(user, "Donation", [], ["TransactionId"], 1, 10)
        assert caught.value.fault_type == "UnsupportedOperationFault"
        with pytest.raises(LuminateFault) as caught:
            services.find(user, "DonationLevel", [("Amount", "lots")], ["Title"], 1, 10)
        assert "decimal" in caught.value.message
        with pytest.raises(LuminateFault) as caught:
            services.find(user, "Refund", [("Payment", "1")], ["RefundId"], 1, 10)
        assert "sub-elements" in caught.value.message

    @pytest.mark.parametrize("record_type", ASSOCIATED_TYPES)
    def test_every_associated_type_is_found_by_id(
        self, services: WebServices, user: ApiUser, record_type: str
    ) -> None:
        definition = RECORD_TYPES[record_type]
        new_id = services.add_associated(record_type, {definition.id_field: 77})
        found = services.find(
            user, record_type, [(definition.id_field, "77")], [definition.id_field], 1, 10
        )
        assert found == [{definition.id_field: new_id}]
        _, queried = services.query(
            user,
            f"select {definition.id_field} from {record_type} where {definition.id_field} = 77",
            1,
            1,
        )
        assert queried == found


class TestDescribe:
    """DescribeRecordType answers the schema's definition."""

    def test_describe(self, services: WebServices) -> None:
        constituent = services.describe_record_type("Constituent")
        assert constituent.supports("Create")
        assert not services.describe_record_type("Refund").supports("GetIncrementalUpdates")
        with pytest.raises(LuminateFault) as caught:
            services.describe_record_type("Pledge")
        assert caught.value.fault_type == "InvalidMessageFault"
