"""email_status in RE NXT terms, as pure rules: what is read from consents, solicit codes and
the email's do_not_email, and what is written for each status (nothing when RE already says
it, nothing over a newer response)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from syncframe_smartsync.re_nxt_consent import (
    ConsentPolicy,
    ConsentWrite,
    SolicitCodeEnd,
    SolicitCodeWrite,
    consent_plan,
    email_status_of,
)
from syncframe_smartsync.re_nxt_models import (
    ConsentRead,
    EmailAddressRead,
    EmailStatus,
    SolicitCodeRead,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = ConsentPolicy()


def consent(
    response: str, *, category: str | None = None, days_ago: int = 1, channel: str = "Email"
) -> ConsentRead:
    when = NOW - timedelta(days=days_ago)
    return ConsentRead(
        id=f"c-{response}-{category}-{days_ago}",
        channel=channel,
        category=category,
        constituent_consent_response=response,
        consent_date=when,
        date_added=when,
    )


def code(name: str = "Do not email", *, ended: bool = False) -> SolicitCodeRead:
    return SolicitCodeRead(
        id="s-1", solicit_code=name, end_date=NOW - timedelta(days=1) if ended else None
    )


EMAIL = EmailAddressRead(id="e-1", address="ada@example.org", primary=True)
BOUNCED = EmailAddressRead(id="e-1", address="ada@example.org", primary=True, do_not_email=True)


@pytest.mark.parametrize(
    ("consents", "codes", "email", "expected"),
    [
        ([], [], EMAIL, None),
        ([consent("NoResponse")], [], EMAIL, None),
        ([consent("OptIn", category="all communications")], [], EMAIL, "subscribed"),
        ([consent("OptIn", category="Newsletters")], [], EMAIL, None),
        ([consent("OptIn", channel="SMS")], [], EMAIL, None),
        ([consent("OptIn", days_ago=5), consent("OptOut", days_ago=2)], [], EMAIL, "unsubscribed"),
        ([consent("OptIn")], [code()], EMAIL, "unsubscribed"),
        ([consent("OptIn")], [code(ended=True)], EMAIL, "subscribed"),
        ([consent("OptIn")], [code("Do not mail")], EMAIL, "subscribed"),
        ([consent("OptIn")], [], BOUNCED, "cleaned"),
        ([consent("OptOut")], [], BOUNCED, "unsubscribed"),
    ],
)
def test_the_status_read(
    consents: list[ConsentRead],
    codes: list[SolicitCodeRead],
    email: EmailAddressRead,
    expected: str | None,
) -> None:
    assert email_status_of(consents, codes, email, POLICY, NOW) == expected


def test_a_first_opt_in_is_two_consents() -> None:
    plan = consent_plan("subscribed", [], [], POLICY, occurred_at=NOW, now=NOW)

    assert plan.consents == [
        ConsentWrite("OptIn", "All communications"),
        ConsentWrite("OptIn", None),
    ]
    assert (plan.solicit_codes, plan.do_not_email, plan.note) == ([], False, None)


def test_an_opt_in_already_held_writes_no_consent_but_ends_the_code() -> None:
    held = [consent("OptIn", category="All communications"), consent("OptIn")]

    plan = consent_plan("subscribed", held, [code()], POLICY, occurred_at=NOW, now=NOW)

    assert plan.consents == []
    assert plan.solicit_codes == [SolicitCodeEnd("s-1", "Do not email")]


def test_an_unsubscribe_is_one_opt_out_and_the_code_unless_held() -> None:
    held = [consent("OptIn", category="All communications", days_ago=9)]

    first = consent_plan("unsubscribed", held, [], POLICY, occurred_at=NOW, now=NOW)
    again = consent_plan(
        "unsubscribed",
        [*held, consent("OptOut", days_ago=0)],
        [code()],
        POLICY,
        occurred_at=NOW,
        now=NOW,
    )

    assert first.consents == [ConsentWrite("OptOut", None)]
    assert first.solicit_codes == [SolicitCodeWrite("Do not email")]
    assert (again.consents, again.solicit_codes) == ([], [])


def test_an_unsubscribe_after_a_newer_category_opt_in_opts_out_again() -> None:
    # The channel's opt-out is older than a category opt-in: the newest says subscribed.
    held = [consent("OptOut", days_ago=9), consent("OptIn", category="All communications")]

    plan = consent_plan("unsubscribed", held, [code()], POLICY, occurred_at=NOW, now=NOW)

    assert plan.consents == [ConsentWrite("OptOut", None)]
    assert plan.solicit_codes == []


def test_a_newer_response_in_re_is_not_overridden() -> None:
    held = [consent("OptIn", days_ago=1)]

    plan = consent_plan(
        "unsubscribed", held, [], POLICY, occurred_at=NOW - timedelta(days=2), now=NOW
    )

    assert (plan.consents, plan.solicit_codes) == ([], [])
    assert plan.note is not None
    assert plan.note.startswith("email_status unsubscribed not written: RE NXT holds a newer OptIn")


def test_no_solicit_code_when_the_policy_has_none() -> None:
    policy = ConsentPolicy(solicit_code=None)

    plan = consent_plan("unsubscribed", [], [code()], policy, occurred_at=NOW, now=NOW)

    assert plan.solicit_codes == []
    assert email_status_of([consent("OptIn")], [code()], EMAIL, policy, NOW) == "subscribed"


@pytest.mark.parametrize(
    ("status", "flag", "note"),
    [
        ("cleaned", True, None),
        ("pending", None, "email_status pending: nothing is written until it is confirmed"),
    ],
)
def test_cleaned_and_pending_write_no_consent(
    status: EmailStatus, flag: bool | None, note: str | None
) -> None:
    plan = consent_plan(status, [consent("OptIn")], [], POLICY, occurred_at=NOW, now=NOW)

    assert (plan.consents, plan.solicit_codes) == ([], [])
    assert (plan.do_not_email, plan.note) == (flag, note)
