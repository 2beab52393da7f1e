"""The vocabulary's ``email_status`` in Raiser's Edge NXT terms: consents and solicit codes.

RE NXT keeps email consent as a history of responses per channel and category (the
Communication Preference API) and, beside it, solicit codes such as *Do not email*. SmartSYNC
writes a Mailchimp status there (``shared/reference/smartsync.md`` §1); this module decides what
to write (:func:`consent_plan`) and how to read a status back (:func:`email_status_of`), with the
same rules so that a status written and read back is the status sent:

=============== ====================================================================================
status          written as
=============== ====================================================================================
subscribed      an *Email > All communications* category opt-in, and an *Email* channel opt-in
                unless the channel's newest response already is one; the *Do not email* solicit
                code ended (end date now) if current; the email address's ``do_not_email`` cleared
unsubscribed    one *Email* channel opt-out (unless the newest response is an opt-out) and the
                *Do not email* solicit code (unless current)
cleaned         the email address's ``do_not_email`` set (the address bounced; no consent record:
                the person did not withdraw consent)
pending         nothing (Mailchimp's double opt-in is not confirmed yet)
=============== ====================================================================================

Read back: a current *Do not email* code or an opt-out as the newest response -> unsubscribed;
else the primary address's ``do_not_email`` -> cleaned; else an opt-in as the newest response ->
subscribed; else no status (``None``). Only the configured channel, with no category or with the
configured category, counts; ``NoResponse`` answers are ignored.

A change never overrides a newer response: when RE NXT's newest relevant response is later than
the change itself (``occurred_at``) and says otherwise, nothing is written for the status and
the plan says why. Channel, category, source and solicit code names are options, since every RE
database has its own code tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from syncframe_smartsync.re_nxt_models import (
    ConsentRead,
    EmailAddressRead,
    EmailStatus,
    SolicitCodeRead,
)

__all__ = [
    "OPT_IN",
    "OPT_OUT",
    "ConsentPlan",
    "ConsentPolicy",
    "ConsentWrite",
    "SolicitCodeEnd",
    "SolicitCodeWrite",
    "consent_plan",
    "email_status_of",
]

OPT_IN: Final = "OptIn"
OPT_OUT: Final = "OptOut"


@dataclass(frozen=True, slots=True)
class ConsentPolicy:
    """The code-table entries the status is written with and read from."""

    channel: str = "Email"
    category: str = "All communications"
    source: str | None = None
    solicit_code: str | None = "Do not email"

    def relevant(self, consent: ConsentRead) -> bool:
        """Whether a response speaks about email consent as this policy reads it."""
        if consent.constituent_consent_response not in (OPT_IN, OPT_OUT):
            return False
        if consent.channel.casefold() != self.channel.casefold():
            return False
        return consent.category is None or consent.category.casefold() == self.category.casefold()

    def is_code(self, code: SolicitCodeRead) -> bool:
        return (
            self.solicit_code is not None
            and code.solicit_code.casefold() == self.solicit_code.casefold()
        )


@dataclass(frozen=True, slots=True)
class ConsentWrite:
    """A consent response to add."""

    response: Literal["OptIn", "OptOut"]
    category: str | None

    def body(self, constituent_id: str, policy: ConsentPolicy, when: datetime) -> dict[str, Any]:
        body: dict[str, Any] = {
            "constituent_id": constituent_id,
            "channel": policy.channel,
            "constituent_consent_response": self.response,
            "consent_date": when.isoformat(),
        }
        if self.category is not None:
            body["category"] = self.category
        if policy.source is not None:
            body["source"] = policy.source
        return body

    def describe(self, policy: ConsentPolicy) -> str:
        scope = f"{policy.channel} > {self.category}" if self.category else policy.channel
        return f"{scope} {self.response} consent"


@dataclass(frozen=True, slots=True)
class SolicitCodeWrite:
    """A solicit code to add."""

    solicit_code: str


@dataclass(frozen=True, slots=True)
class SolicitCodeEnd:
    """A current solicit code to end (its end date set to now)."""

    code_id: str
    solicit_code: str


@dataclass(slots=True)
class ConsentPlan:
    """What to write for a status: consents, solicit codes, the email address's
    ``do_not_email`` (``None``: leave it), and a note when the status was left alone."""

    consents: list[ConsentWrite] = field(default_factory=list)
    solicit_codes: list[SolicitCodeWrite | SolicitCodeEnd] = field(default_factory=list)
    do_not_email: bool | None = None
    note: str | None = None

    @property
    def writes_consent(self) -> bool:
        """Whether the plan writes a consent or a solicit code."""
        return bool(self.consents or self.solicit_codes)


def _newest(consents: Sequence[ConsentRead]) -> ConsentRead | None:
    if not consents:
        return None
    return max(consents, key=lambda c: (c.consent_date, c.date_added or c.consent_date, c.id))


def _newest_of(
    consents: Sequence[ConsentRead], policy: ConsentPolicy, category: str | None
) -> ConsentRead | None:
    def same(consent: ConsentRead) -> bool:
        if category is None:
            return consent.category is None
        return consent.category is not None and consent.category.casefold() == category.casefold()

    return _newest([c for c in consents if policy.relevant(c) and same(c)])


def email_status_of(
    consents: Sequence[ConsentRead],
    solicit_codes: Sequence[SolicitCodeRead],
    email: EmailAddressRead | None,
    policy: ConsentPolicy,
    now: datetime,
) -> EmailStatus | None:
    """The vocabulary's status of a constituent (``None``: RE NXT says nothing about it)."""
    if any(policy.is_code(code) and code.current_at(now) for code in solicit_codes):
        return "unsubscribed"
    newest = _newest([c for c in consents if policy.relevant(c)])
    if newest is not None and newest.constituent_consent_response == OPT_OUT:
        return "unsubscribed"
    if email is not None and email.do_not_email:
        return "cleaned"
    if newest is not None and newest.constituent_consent_response == OPT_IN:
        return "subscribed"
    return None


def consent_plan(
    status: EmailStatus,
    consents: Sequence[ConsentRead],
    solicit_codes: Sequence[SolicitCodeRead],
    policy: ConsentPolicy,
    *,
    occurred_at: datetime | None,
    now: datetime,
) -> ConsentPlan:
    """What to write so that RE NXT says ``status``; nothing when it already does."""
    if status == "pending":
        return ConsentPlan(note="email_status pending: nothing is written until it is confirmed")
    if status == "cleaned":
        return ConsentPlan(do_not_email=True)
    wanted = OPT_IN if status == "subscribed" else OPT_OUT
    newest = _newest([c for c in consents if policy.relevant(c)])
    if (
        newest is not None
        and occurred_at is not None
        and newest.consent_date > occurred_at
        and newest.constituent_consent_response != wanted
    ):
        return ConsentPlan(
            note=(
                f"email_status {status} not written: RE NXT holds a newer "
                f"{newest.constituent_consent_response} response (consent {newest.id} of "
                f"{newest.consent_date.isoformat()}) than this change "
                f"({occurred_at.isoformat()})"
            )
        )
    current = [c for c in solicit_codes if policy.is_code(c) and c.current_at(now)]
    plan = ConsentPlan()
    if status == "subscribed":
        plan.do_not_email = False
        channel = _newest_of(consents, policy, None)
        category = _newest_of(consents, policy, policy.category)
        if category is None or category.constituent_consent_response != OPT_IN:
            plan.consents.append(ConsentWrite(OPT_IN, policy.category))
        if channel is None or channel.constituent_consent_response != OPT_IN:
            plan.consents.append(ConsentWrite(OPT_IN, None))
        plan.solicit_codes.extend(SolicitCodeEnd(c.id, c.solicit_code) for c in current)
        return plan
    if newest is None or newest.constituent_consent_response != OPT_OUT:
        plan.consents.append(ConsentWrite(OPT_OUT, None))
    if policy.solicit_code is not None and not current:
        plan.solicit_codes.append(SolicitCodeWrite(policy.solicit_code))
    return plan
