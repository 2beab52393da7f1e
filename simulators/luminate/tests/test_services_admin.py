"""The admin side of the services: seeding, site-admin edits, snapshot, reset, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from luminate_simulator.constituents import ConstituentDirectory
from luminate_simulator.services import (
    DEFAULT_PARTITION_ID,
    AdminError,
    AdminNotFound,
    WebServices,
)

from syncframe.clock import ManualClock

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def services(clock: ManualClock) -> WebServices:
    return WebServices(clock, ConstituentDirectory(clock))


def seed_payload() -> dict[str, Any]:
    return {
        "api_users": [{"name": "sync-api", "password": "s3cret"}],
        "partitions": [{"name": "Nevada", "rule": ["HomeAddress.State", "NV"]}],
        "constituents": [
            {"PrimaryEmail": "ann@example.org", "ConsName": {"FirstName": "Ann"}},
            {"CONS_ID": 5000, "PRIMARY_EMAIL": "old@example.org", "STATUS": "Removed"},
        ],
        "associated": {"DonationCampaign": [{"Title": "Spring"}]},
        "transactions": {
            "Donation": [
                {
                    "Donor": {"ConsId": 1001001},
                    "CampaignId": 101,
                    "Payment": {"Amount": "25.00", "TenderType": "CREDIT_CARD"},
                }
            ],
            "ActionAlertResponse": [{"Constituent": {"ConsId": 1001001}, "AlertId": 3}],
        },
        "refunds": [{"transaction_id": 2001001, "amount": "5.00", "online": True}],
    }


class TestSeed:
    """One payload seeds users, partitions, constituents, lookups, transactions and refunds."""

    def test_seed_everything(self, services: WebServices) -> None:
        result = services.seed(seed_payload())
        assert result == {
            "api_users": ["sync-api"],
            "partitions": [1002],
            "constituents": [1001001, 5000],
            "associated": {"DonationCampaign": [101]},
            "transactions": {"Donation": [2001001], "ActionAlertResponse": [2001002]},
            "refunds": [
                {
                    "transaction_id": 2001001,
                    "full": False,
                    "online": True,
                    "amount": "5.00",
                    "remaining": "20.00",
                    "refund_id": 3001,
                }
            ],
        }
        state = services.snapshot()
        [donation] = state["transactions"]["Donation"]
        assert donation == {
            "TransactionId": 2001001,
            "Donor": {
                "ConsId": 1001001,
                "MemberId": None,
                "PrimaryEmail": "ann@example.org",
                "ConsName": {"FirstName": "Ann", "MiddleName": None, "LastName": None},
            },
            "CampaignId": 101,
            "FormId": None,
            "DonationLevelId": None,
            "TaxDeductibleValue": None,
            "Payment": {
                "Amount": "20.00",
                "OriginalAmount": "25.00",
                "PaymentDate": "2026-01-01T09:00:00Z",
                "ModifyDate": "2026-01-01T09:00:00Z",
                "CreationMethod": 1,
                "TenderType": "CREDIT_CARD",
                "ConfirmationCode": None,
                "BillingName": None,
                "DiscountId": None,
            },
        }
        [response] = state["transactions"]["ActionAlertResponse"]
        assert response["ResponseDate"] == "2026-01-01T09:00:00Z"
        assert [c["STATUS"] for c in state["constituents"]] == ["Active", "Removed"]
        assert state["refunds"][0]["OriginalTransactionId"] == 2001001
        assert state["partitions"][1] == {
            "PartitionId": 1002,
            "Name": "Nevada",
            "Description": "",
            "Rule": ["HomeAddress.State", "NV"],
        }
        assert state["api_users"] == [{"name": "sync-api", "created_at": "2026-01-01T09:00:00Z"}]

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"pledges": []}, "seed: unknown key 'pledges'"),
            ({"constituents": [{"Nick": "x"}]}, "constituents[0]: constituent: unknown"),
            ({"constituents": [{"PrimaryEmail": "bad"}]}, "constituents[0]: constituent:"),
            (
                {
                    "transactions": {
                        "Donation": [{"Donor": {"ConsId": 9}, "Payment": {"Amount": "1"}}]
                    }
                },
                "transactions.Donation[0]: Donation.Donor.ConsId: no constituent 9",
            ),
            (
                {"transactions": {"Donation": [{"Donor": {"ConsId": 1001001}}]}},
                "Donation.Payment.Amount is required",
            ),
            (
                {
                    "transactions": {
                        "Donation": [{"Donor": {"ConsId": 1001001}, "Payment": {"Amount": 2.5}}]
                    }
                },
                "Donation.Payment.Amount must be a decimal given as text",
            ),
            (
                {"transactions": {"Pledge": [{}]}},
                "transactions.Pledge[0]: record_type 'Pledge' is not a transaction type",
            ),
            (
                {"associated": {"DonationCampaign": [{"CampaignId": "x"}]}},
                "DonationCampaign.CampaignId must be a whole number",
            ),
            (
                {"refunds": [{"transaction_id": 2001001}]},
                "refunds[0]: needs transaction_id and online",
            ),
            ({"partitions": [{"name": "X", "rule": ["Nick", "x"]}]}, "'Nick' is not a single"),
            ({"api_users": [{"name": "a"}]}, "password"),
        ],
    )
    def test_bad_seed_names_the_record_and_field(
        self, services: WebServices, change: dict[str, Any], message: str
    ) -> None:
        payload = {"constituents": [{"PrimaryEmail": "ann@example.org"}]}
        services.seed(payload)
        with pytest.raises(AdminError) as caught:
            services.seed(change)
        assert message in str(caught.value)


class TestTransactions:
    """Admin-added transactions: created now, ids assigned, fields checked."""

    def test_every_type_with_its_own_ids(self, services: WebServices, clock: ManualClock) -> None:
        cons = services.add_constituent({"PrimaryEmail": "a@example.org"})
        clock.advance(hours=1)
        ids = {
            "PersonalFundraisingGift": services.add_transaction(
                "PersonalFundraisingGift",
                {
                    "Donor": {"ConsId": cons},
                    "PersonalFundraisingCampaignId": 4,
                    "Payment": {"Amount": "1"},
                },
            ),
            "ProductOrder": services.add_transaction(
                "ProductOrder",
                {
                    "Donor": {"ConsId": cons},
                    "ProductId": 1,
                    "ShipmentItemId": 2,
                    "Quantity": "3",
                    "Payment": {"Amount": "30", "PaymentDate": "2025-12-24T10:00:00Z"},
                },
            ),
            "TeamRaiserRegistration": services.add_transaction(
                "TeamRaiserRegistration",
                {
                    "Participant": {"ConsId": cons},
                    "EventId": 1,
                    "TeamId": 2,
                    "CompanyId": 3,
                    "ParticipationTypeId": 4,
                    "Payment": {"Amount": "25"},
                },
            ),
            "TicketPurchase": services.add_transaction(
                "TicketPurchase",
                {
                    "Purchaser": {"ConsId": cons},
                    "CalendarEventId": 8,
                    "Quantity": 2,
                    "Payment": {"Amount": "40"},
                },
            ),
            "TeamRaiserGift": services.add_transaction(
                "TeamRaiserGift",
                {
                    "Donor": {"ConsId": cons},
                    "EventId": 1,
                    "RecipientConsId": cons,
                    "Payment": {"Amount": "9"},
                },
            ),
        }
        assert sorted(ids.values()) == list(range(2001001, 2001006))
        state = services.snapshot()["transactions"]
        [order] = state["ProductOrder"]
        assert order["Quantity"] == 3
        assert order["Payment"]["PaymentDate"] == "2025-12-24T10:00:00Z"
        assert order["Payment"]["ModifyDate"] == "2026-01-01T10:00:00Z"
        assert state["TicketPurchase"][0]["Purchaser"]["ConsId"] == cons

    def test_transaction_errors(self, services: WebServices) -> None:
        cons = services.add_constituent({"PrimaryEmail": "a@example.org"})
        donor = {"Donor": {"ConsId": cons}}
        cases: list[tuple[dict[str, Any], str]] = [
            ({**donor, "Payment": {"Amount": "5"}, "Nick": 1}, "Donation: unknown element 'Nick'"),
            ({"Donor": {"ConsId": cons, "PrimaryEmail": "x"}}, "only ConsId is given"),
            ({"Payment": {"Amount": "5"}}, "Donation.Donor.ConsId is required"),
            ({**donor, "Payment": {"Amount": "-5"}}, "Amount must be positive"),
            (
                {**donor, "Payment": {"Amount": "5", "OriginalAmount": "9"}},
                "set by partial refunds",
            ),
            ({**donor, "Payment": {"Amount": "5", "PaymentDate": "yesterday"}}, "ISO 8601"),
            ({**donor, "Payment": {"Amount": "5", "PaymentDate": "2026-01-01T00:00"}}, "timezone"),
            ({**donor, "TransactionId": 0, "Payment": {"Amount": "5"}}, "must be positive"),
        ]
        for record, message in cases:
            with pytest.raises(AdminError) as caught:
                services.add_transaction("Donation", record)
            assert message in str(caught.value), record
        services.add_transaction(
            "Donation", {**donor, "TransactionId": 7, "Payment": {"Amount": "5"}}
        )
        with pytest.raises(AdminError, match="already used"):
            services.add_transaction(
                "Donation", {**donor, "TransactionId": 7, "Payment": {"Amount": "5"}}
            )
        with pytest.raises(AdminError, match="ActionAlertResponse: unknown element 'Payment'"):
            services.add_transaction(
                "ActionAlertResponse", {"Constituent": {"ConsId": cons}, "Payment": {"Amount": "1"}}
            )
        assert services.snapshot()["transactions"]["Donation"][0]["Payment"]["Amount"] == "5.00"

    def test_associated_errors(self, services: WebServices) -> None:
        with pytest.raises(AdminError, match="not an associated type"):
            services.add_associated("Donation", {})
        services.add_associated("Product", {"ProductId": 5, "Price": Decimal("9.99")})
        with pytest.raises(AdminError, match="already used"):
            services.add_associated("Product", {"ProductId": 5})
        with pytest.raises(AdminError, match=r"Product\.Name must be text, not dict"):
            services.add_associated("Product", {"Name": {"x": 1}})


class TestSiteAdmin:
    """A site admin edits and removes constituents; the changes are the admin's."""

    def test_modify_and_remove(self, services: WebServices) -> None:
        cons_id = services.add_constituent({"PrimaryEmail": "a@example.org"})
        services.modify_constituent(cons_id, {"ConsName": {"LastName": "Lee"}})
        services.remove_constituent(cons_id)
        [state] = services.snapshot()["constituents"]
        assert (state["LAST_NAME"], state["STATUS"]) == ("Lee", "Removed")
        assert [(e.kind, e.actor) for e in services.directory.log] == [
            ("insert", "admin"),
            ("update", "admin"),
            ("delete", "admin"),
        ]
        with pytest.raises(AdminError, match="Removed"):
            services.modify_constituent(cons_id, {"HomePhone": "1"})
        with pytest.raises(AdminError, match="Removed already"):
            services.remove_constituent(cons_id)
        with pytest.raises(AdminNotFound, match="no constituent 42"):
            services.modify_constituent(42, {"HomePhone": "1"})
        with pytest.raises(AdminNotFound):
            services.remove_constituent(42)

    def test_modify_errors_name_the_field(self, services: WebServices) -> None:
        cons_id = services.add_constituent({"PrimaryEmail": "a@example.org"})
        with pytest.raises(AdminError, match="PRIMARY_EMAIL 'nope' is not a valid"):
            services.modify_constituent(cons_id, {"PrimaryEmail": "nope"})
        with pytest.raises(AdminError, match=r"unknown Constituent element 'HomeAddress\.Planet'"):
            services.modify_constituent(cons_id, {"HomeAddress": {"Planet": "Mars"}})

    def test_partition_errors(self, services: WebServices) -> None:
        with pytest.raises(AdminError, match="exists already"):
            services.add_partition("All Constituents")
        with pytest.raises(AdminError, match="partition_id"):
            services.add_partition("X", partition_id=DEFAULT_PARTITION_ID)
        with pytest.raises(AdminError, match="single Constituent field"):
            services.add_partition("Y", rule=("ConsName", "x"))
        assert services.add_partition("Z", partition_id=7).partition_id == 7

    def test_reset_empties_the_site(self, services: WebServices) -> None:
        services.seed(seed_payload())
        services.reset()
        state = services.snapshot()
        assert state["constituents"] == []
        assert state["transactions"]["Donation"] == []
        assert state["refunds"] == []
        assert state["associated"]["DonationCampaign"] == []
        assert [p["PartitionId"] for p in state["partitions"]] == [DEFAULT_PARTITION_ID]
        assert state["api_users"] == []
        # ids start over
        assert services.seed(seed_payload())["transactions"]["Donation"] == [2001001]
