"""What the ``virtuous_import`` sink makes of a change before sending it: the Contact and Gift
Transactions (reference, name, primary phone/address/email, gift), and the refusal of fields it
cannot send, naming the field."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from syncframe_raisedonors_virtuous.virtuous_import import (
    ImportRecord,
    contact_transaction,
    gift_transaction,
)

DONOR: dict[str, Any] = {
    "donor_id": 42,
    "is_organization": False,
    "first_name": "Ann",
    "last_name": "Lee",
    "organization_name": None,
    "email": "ann@example.org",
    "phone": "555-0100",
    "address1": "1 Elm St",
    "address2": "",
    "city": "Springfield",
    "state": "IL",
    "postal_code": "62701",
    "country": "US",
    "virtuous_contact_id": None,
}


def test_a_donor_becomes_a_contact_transaction_with_our_reference() -> None:
    record = ImportRecord.model_validate(DONOR)

    assert contact_transaction(record) == {
        "referenceSource": "Legacy RaiseDonors",
        "referenceId": "42",
        "contactType": "Household",
        "firstName": "Ann",
        "lastName": "Lee",
        "emailType": "Home Email",
        "email": "ann@example.org",
        "phoneType": "Home Phone",
        "phone": "555-0100",
        "address1": "1 Elm St",
        "address2": "",
        "city": "Springfield",
        "state": "IL",
        "postal": "62701",
        "country": "US",
    }


def test_a_donor_without_an_address_or_phone_sends_none() -> None:
    record = ImportRecord.model_validate(
        {"donor_id": 3, "first_name": "Bo", "last_name": "Ng", "phone": "", "address1": None}
    )

    transaction = contact_transaction(record)

    assert set(transaction) == {
        "referenceSource",
        "referenceId",
        "contactType",
        "firstName",
        "lastName",
    }


def test_an_organization_sends_its_name() -> None:
    record = ImportRecord.model_validate(
        {"donor_id": "7", "is_organization": True, "organization_name": "Hope Trust"}
    )

    transaction = contact_transaction(record)

    assert transaction["contactType"] == "Organization"
    assert transaction["name"] == "Hope Trust"


def test_a_gift_becomes_a_gift_transaction_with_its_contact() -> None:
    record = ImportRecord.model_validate(
        {
            **DONOR,
            "gift_id": 901,
            "amount": "25.5",
            "gift_date": "2026-03-01",
            "project_code": "WELLS",
        }
    )

    transaction = gift_transaction(record, "Credit", date(2026, 3, 9))

    assert transaction == {
        "transactionSource": "Legacy RaiseDonors",
        "transactionId": "901",
        "contact": contact_transaction(record),
        "giftDate": "2026-03-01",
        "giftType": "Credit",
        "amount": 25.5,
        "designations": [{"code": "WELLS", "amountDesignated": 25.5}],
    }
    assert transaction["contact"]["referenceId"] == "42"


def test_a_gift_without_a_date_takes_the_day_it_happened() -> None:
    record = ImportRecord.model_validate({"donor_id": 1, "gift_id": 2, "amount": 10})

    assert gift_transaction(record, "Credit", date(2026, 3, 9))["giftDate"] == "2026-03-09"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1,250.50", Decimal("1250.50")), (25, Decimal("25.00")), ("3.333", Decimal("3.33"))],
)
def test_amounts_are_read_to_the_cent(value: Any, expected: Decimal) -> None:
    assert ImportRecord.model_validate({"donor_id": 1, "amount": value}).amount == expected


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"first_name": "Ann"}, "donor_id", "Field required"),
        ({"donor_id": ""}, "donor_id", ""),
        ({"donor_id": 1, "amount": "ten"}, "amount", "is not an amount"),
        ({"donor_id": 1, "amount": -5}, "amount", "not a positive amount"),
        ({"donor_id": 1, "gift_date": "next week"}, "gift_date", "is not a date"),
        ({"donor_id": 1, "contact_type": "Church"}, "contact_type", "is not a contact type"),
        ({"donor_id": 1, "reference_source": "Other"}, "reference_source", "only ReferenceSource"),
        ({"donor_id": 1, "favourite_colour": "blue"}, "favourite_colour", "Extra inputs"),
    ],
)
def test_fields_the_import_tool_cannot_take_are_named(
    fields: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ImportRecord.model_validate(fields)

    [error] = caught.value.errors(include_url=False)
    assert error["loc"] == (field,)
    assert fragment in error["msg"]
