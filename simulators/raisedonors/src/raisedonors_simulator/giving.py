"""The giving form (``POST /api/Raise/give``): what a donor fills in, and the gifts it makes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from raisedonors_simulator.donors import (
    AddressFields,
    DonorFields,
    iso,
    parse_address,
    parse_donor_fields,
    parse_phone,
)
from raisedonors_simulator.errors import FieldErrors, InvalidFields

__all__ = ["FIRST_GIFT_ID", "GIFT_FIELDS", "Gift", "GiftForm", "gift_json", "parse_gift_form"]

#: Gift ids are given out from here.
FIRST_GIFT_ID: Final = 500_001

#: The fields of the giving form.
GIFT_FIELDS: Final = (
    "email",
    "firstName",
    "lastName",
    "amount",
    "billingAddress",
    "phone",
    "projectCode",
)
_PROJECT_CODE_LIMIT: Final = 50
_LARGEST_GIFT: Final = Decimal("1000000000")


@dataclass(frozen=True, slots=True)
class GiftForm:
    """A validated giving form."""

    email: str
    first_name: str
    last_name: str
    amount: Decimal
    billing_address: AddressFields
    phone: str | None
    project_code: str | None

    def donor_fields(self) -> DonorFields:
        """The contact details a new donor is created with."""
        sent = {"email", "firstName", "lastName", "primaryAddress"}
        if self.phone is not None:
            sent.add("phone")
        return DonorFields(
            sent=frozenset(sent),
            first_name=self.first_name,
            last_name=self.last_name,
            email=self.email,
            phone=self.phone,
            primary_address=self.billing_address,
        )

    def overwrites(self) -> DonorFields:
        """What the form overwrites on an existing donor: the primary address (with the billing
        address) and, when given, the primary phone. Names and email stay as they are."""
        sent = {"primaryAddress"}
        if self.phone is not None:
            sent.add("phone")
        return DonorFields(
            sent=frozenset(sent), phone=self.phone, primary_address=self.billing_address
        )


@dataclass(frozen=True, slots=True)
class Gift:
    """One gift made through the giving form."""

    id: int
    donor_id: int
    amount: Decimal
    date: datetime
    project_code: str | None
    billing_address: AddressFields


def gift_json(gift: Gift) -> dict[str, Any]:
    return {
        "id": gift.id,
        "donorId": gift.donor_id,
        # JSON numbers, as the .NET API writes decimals; two places always round-trip a float.
        "amount": float(gift.amount),
        "date": iso(gift.date),
        "projectCode": gift.project_code,
        "billingAddress": gift.billing_address.to_json(),
    }


def _amount(errors: FieldErrors, value: object) -> Decimal | None:
    if value is None:
        errors.add("amount", "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        errors.add("amount", f"must be a number, not {value!r}")
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        errors.add("amount", f"{value!r} is not a number")
        return None
    if not amount.is_finite() or amount <= 0 or amount >= _LARGEST_GIFT:
        errors.add("amount", f"must be more than 0 and less than {_LARGEST_GIFT}, not {value}")
        return None
    if amount != amount.quantize(Decimal("0.01")):
        errors.add("amount", f"has more than two decimal places: {value}")
        return None
    return amount.quantize(Decimal("0.01"))


def parse_gift_form(body: Mapping[str, Any]) -> GiftForm:
    """Validate a giving form: email, first and last name, amount and billing address are
    required; phone and project code are optional. Every problem is reported at once."""
    errors = FieldErrors()
    for key in body:
        if key not in GIFT_FIELDS:
            errors.add(key, f"is not a field of the giving form (fields: {', '.join(GIFT_FIELDS)})")
    contact: DonorFields | None = None
    try:
        contact = parse_donor_fields(
            {key: body.get(key) for key in ("email", "firstName", "lastName")}
        )
    except InvalidFields as exc:
        for name, messages in exc.errors.items():
            for message in messages:
                errors.add(name, message)
    if contact is not None:
        for name, value in (
            ("email", contact.email),
            ("firstName", contact.first_name),
            ("lastName", contact.last_name),
        ):
            if value is None:
                errors.add(name, "is required")
    amount = _amount(errors, body.get("amount"))
    problems = len(errors.errors)
    billing = parse_address(errors, "billingAddress", body.get("billingAddress"))
    if billing is None and len(errors.errors) == problems:
        errors.add("billingAddress", "is required")
    phone = parse_phone(errors, "phone", body.get("phone"))
    project = body.get("projectCode")
    if project is not None and (not isinstance(project, str) or len(project) > _PROJECT_CODE_LIMIT):
        errors.add("projectCode", f"must be text of at most {_PROJECT_CODE_LIMIT} characters")
    errors.raise_if_any()
    # Each of these added an error above when missing.
    assert contact is not None
    assert contact.email is not None
    assert contact.first_name is not None
    assert contact.last_name is not None
    assert amount is not None
    assert billing is not None
    return GiftForm(
        email=contact.email,
        first_name=contact.first_name,
        last_name=contact.last_name,
        amount=amount,
        billing_address=billing,
        phone=phone,
        project_code=(project.strip() or None) if isinstance(project, str) else None,
    )
