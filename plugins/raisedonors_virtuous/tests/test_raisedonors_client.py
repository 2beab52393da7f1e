"""The RaiseDonors client against the simulator (in-process): the legacy realm-token sign-in,
bearer tokens renewed before they expire and after a 401, ProblemDetails as the engine's error
kinds, and no secret in any message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError
from raisedonors_simulator import RaiseDonorsSimulator
from raisedonors_simulator import realm_token as simulator_realm_token
from syncframe_raisedonors_virtuous.raisedonors_client import (
    AuthenticationRefused,
    DuplicateEmail,
    NotFound,
    RaiseDonorsProblem,
    realm_token,
)
from syncframe_raisedonors_virtuous.raisedonors_settings import RaiseDonorsSettings
from syncframe_simulators import FaultRule

from plugins.raisedonors_virtuous.tests.raisedonors_helpers import (
    ADA,
    CLIENT_KEY,
    CLIENT_SECRET,
    HOPE_FUND,
    SYNC_USER,
    edit,
    give,
    open_account,
    rd_client,
)
from syncframe.clock import ManualClock
from syncframe.components import PermanentError, TransientError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim(raisedonors_simulator: RaiseDonorsSimulator) -> RaiseDonorsSimulator:
    """The fixture simulator with the sync's API client, contact sync on, Ada and a fund."""
    open_account(raisedonors_simulator, donors=[ADA, HOPE_FUND])
    return raisedonors_simulator


def _operations(sim: RaiseDonorsSimulator) -> list[tuple[str | None, int | None]]:
    return [(e.operation, e.status) for e in sim.journal.entries()]


def _clock(sim: RaiseDonorsSimulator) -> ManualClock:
    assert isinstance(sim.clock, ManualClock)
    return sim.clock


# ---- settings ----------------------------------------------------------------------------------


def test_settings_refuse_a_bad_address_and_page_size() -> None:
    with pytest.raises(ValidationError, match="base_url"):
        RaiseDonorsSettings(base_url="ftp://x", client_key="k", client_secret="s")
    with pytest.raises(ValidationError, match="page_size"):
        RaiseDonorsSettings(client_key="k", client_secret="s", page_size=501)
    with pytest.raises(ValidationError, match="client_token"):
        RaiseDonorsSettings(client_key="k", client_secret="s", client_token="x")  # type: ignore[call-arg]
    settings = RaiseDonorsSettings(
        base_url="https://api.raisedonors.com/",
        client_key="k",
        client_secret="s3",
    )
    assert settings.base_url == "https://api.raisedonors.com"
    assert "s3" not in repr(settings)


# ---- signing in --------------------------------------------------------------------------------


def test_realm_token_is_the_sdks() -> None:
    day = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    assert realm_token("key", "secret", day) == simulator_realm_token("key", "secret", day.date())
    # The UTC date counts, not the local one.
    late = datetime(2026, 3, 1, 20, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=5)))
    assert realm_token("key", "secret", late) == realm_token("key", "secret", day)


async def test_signs_in_and_reads_the_integration_settings(sim: RaiseDonorsSimulator) -> None:
    async with rd_client(sim) as client:
        settings = await client.integration_settings()

    assert settings.authorized_user == SYNC_USER
    assert settings.sync_contacts is True
    assert settings.contact_sync_enabled_at == sim.clock.now()
    assert _operations(sim) == [("Authorize", 200), ("GetVirtuousIntegration", 200)]


@pytest.mark.parametrize(
    ("overrides", "why"),
    [({"client_secret": "not-the-secret"}, "realm token"), ({"client_key": "nobody"}, "nobody")],
)
async def test_refused_credentials_are_permanent_and_secret_free(
    sim: RaiseDonorsSimulator, overrides: dict[str, str], why: str
) -> None:
    async with rd_client(sim, **overrides) as client:
        with pytest.raises(AuthenticationRefused) as caught:
            await client.integration_settings()

    message = str(caught.value)
    key = overrides.get("client_key", CLIENT_KEY)
    assert isinstance(caught.value, PermanentError)
    assert f"RaiseDonors refused API client {key!r}" in message
    assert why in message
    assert "client_secret" in message  # says what to check
    assert CLIENT_SECRET not in message
    assert "not-the-secret" not in message
    assert realm_token(key, "not-the-secret", sim.clock.now()).split(":")[1] not in message


async def test_an_expired_token_is_refreshed_before_use(sim: RaiseDonorsSimulator) -> None:
    async with rd_client(sim) as client:
        await client.integration_settings()
        _clock(sim).advance(hours=1)
        await client.integration_settings()

    assert _operations(sim) == [
        ("Authorize", 200),
        ("GetVirtuousIntegration", 200),
        ("RefreshToken", 200),
        ("GetVirtuousIntegration", 200),
    ]


async def test_a_refused_refresh_token_signs_in_again(sim: RaiseDonorsSimulator) -> None:
    async with rd_client(sim) as client:
        await client.integration_settings()
        # Two weeks on, the refresh token has expired too (and it is a new day: a new realm
        # token is computed).
        _clock(sim).advance(days=15)
        settings = await client.integration_settings()

    assert settings.sync_contacts is True
    assert _operations(sim)[2:] == [
        ("RefreshToken", 401),
        ("Authorize", 200),
        ("GetVirtuousIntegration", 200),
    ]


async def test_a_401_renews_the_token_and_repeats_the_call_once(
    sim: RaiseDonorsSimulator,
) -> None:
    async with rd_client(sim) as client:
        await client.integration_settings()
        sim.faults.add(FaultRule(kind="error", status=401, operation="GetDonor", times=1))
        donor = await client.donor(100_001)

    assert donor is not None
    assert donor.last_name == "Lovelace"
    assert _operations(sim)[2:] == [("GetDonor", 401), ("RefreshToken", 200), ("GetDonor", 200)]


async def test_a_second_401_is_refused_credentials(sim: RaiseDonorsSimulator) -> None:
    async with rd_client(sim) as client:
        sim.faults.add(FaultRule(kind="error", status=401, operation="GetDonor", times=2))
        with pytest.raises(AuthenticationRefused, match="reading donor 100001"):
            await client.donor(100_001)

    assert [op for op, _ in _operations(sim)] == [
        "Authorize",
        "GetDonor",
        "RefreshToken",
        "GetDonor",
    ]


# ---- errors ------------------------------------------------------------------------------------


async def test_problem_details_name_the_donor_and_field(sim: RaiseDonorsSimulator) -> None:
    async with rd_client(sim) as client:
        with pytest.raises(RaiseDonorsProblem) as bad_phone:
            await client.update_donor(100_001, {"phone": "12"})
        with pytest.raises(DuplicateEmail) as taken:
            await client.create_donor({"email": "ADA@example.org", "lastName": "Byron"})
        with pytest.raises(NotFound) as missing:
            await client.update_donor(999_999, {"lastName": "Nobody"})
        assert await client.donor(999_999) is None

    assert str(bad_phone.value) == (
        "updating donor 100001: phone: '12' is not a phone number (7 to 15 digits, e.g. "
        "(512) 555-0100) (HTTP 400)"
    )
    assert bad_phone.value.errors == {
        "phone": ["'12' is not a phone number (7 to 15 digits, e.g. (512) 555-0100)"]
    }
    assert "already belongs to donor 100001" in str(taken.value)
    assert taken.value.status == 409
    assert "updating donor 999999: There is no donor with id 999999." in str(missing.value)


@pytest.mark.parametrize(
    ("rule", "retry_after"),
    [
        (FaultRule(kind="error", status=503, times=1), None),
        (FaultRule(kind="error", status=500, times=1), None),
        (FaultRule(kind="rate_limit", retry_after=7, times=1), 7.0),
    ],
)
async def test_overload_and_rate_limits_are_transient(
    sim: RaiseDonorsSimulator, rule: FaultRule, retry_after: float | None
) -> None:
    async with rd_client(sim) as client:
        await client.integration_settings()
        sim.faults.add(rule.model_copy(update={"operation": "ListActivity"}))
        with pytest.raises(TransientError) as caught:
            await client.activity(0, 10)
        page = await client.activity(0, 10)

    assert caught.value.retry_after == retry_after
    assert (
        f"reading recent activity after id 0: HTTP {rule.status if rule.kind == 'error' else 429}"
        in str(caught.value)
    )
    assert page.items == []


async def test_a_cut_off_answer_is_transient(sim: RaiseDonorsSimulator) -> None:
    async with rd_client(sim) as client:
        await client.integration_settings()
        sim.faults.add(FaultRule(kind="malformed", operation="ListActivity", times=1))
        with pytest.raises(TransientError, match="not valid JSON"):
            await client.activity(0, 10)


# ---- reading and writing -----------------------------------------------------------------------


async def test_activity_pages_after_an_id_oldest_first(sim: RaiseDonorsSimulator) -> None:
    for n in range(5):
        await edit(sim, 100_001, phone=f"(512) 555-011{n}")
    await give(
        sim,
        email="grace@example.org",
        firstName="Grace",
        lastName="Hopper",
        amount=25.5,
        billingAddress={"address1": "1 Navy Way", "city": "Arlington", "postalCode": "22202"},
        projectCode="WELLS",
    )

    async with rd_client(sim) as client:
        first = await client.activity(0, 4)
        rest = await client.activity(first.items[-1].id, 4)

    assert [i.id for i in first.items] == [1, 2, 3, 4]
    assert [i.id for i in rest.items] == [5, 6]
    assert [i.channel for i in first.items] == ["AdminPortal"] * 4
    gift = rest.items[-1]
    assert (gift.type, gift.channel) == ("GiftCreated", "Gift")
    assert gift.gift is not None
    assert gift.gift.amount == Decimal("25.5")
    assert gift.gift.project_code == "WELLS"
    assert gift.donor is not None
    assert gift.donor.email == "grace@example.org"
    assert first.items[0].changes == {"phone": {"old": "(512) 555-0100", "new": "(512) 555-0110"}}


async def test_writes_and_searches(sim: RaiseDonorsSimulator) -> None:
    async with rd_client(sim) as client:
        created = await client.create_donor(
            {"email": "grace@example.org", "firstName": "Grace", "lastName": "Hopper"}
        )
        updated = await client.update_donor(created.id, {"virtuousContactId": "V-77"})
        found = await client.search_donors("GRACE@example.org")
        page = await client.list_donors(1, 2)

    assert updated.virtuous_contact_id == "V-77"
    assert [d.id for d in found] == [created.id]
    assert [d.id for d in page.items] == [100_002, created.id]
    assert page.total == 3
