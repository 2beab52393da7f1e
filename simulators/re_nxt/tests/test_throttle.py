"""The per-second rate limit (429 + Retry-After) and the daily quota (403 + Retry-After), counted
per subscription key on the simulator clock."""

from __future__ import annotations

import httpx
import pytest
from re_nxt_simulator import ReNxtSimulator

from simulators.re_nxt.tests.conftest import C
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


async def test_the_rate_limit_refuses_the_call_over_it_until_the_next_second(
    api: httpx.AsyncClient, sim: ReNxtSimulator, clock: ManualClock
) -> None:
    sim.configure(rate_limit_per_second=3)
    statuses = [(await api.get(f"{C}/genders")).status_code for _ in range(3)]
    refused = await api.get(f"{C}/genders")
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json() == {
        "statusCode": 429,
        "message": "Rate limit is exceeded. Try again in 1 seconds.",
    }
    clock.advance(seconds=1)
    assert (await api.get(f"{C}/genders")).status_code == 200
    usage = sim.snapshot()["throttle"]["usage"][0]
    assert (usage["calls_today"], usage["refused_429"]) == (4, 1)


async def test_the_daily_quota_refuses_until_utc_midnight(
    api: httpx.AsyncClient, sim: ReNxtSimulator, clock: ManualClock
) -> None:
    sim.configure(daily_quota=2)
    for _ in range(2):
        assert (await api.get(f"{C}/genders")).status_code == 200
    clock.advance(hours=1)
    api.headers.update(sim.api_headers())
    refused = await api.get(f"{C}/genders")
    assert refused.status_code == 403
    # 10:00 UTC: 14 hours to midnight.
    assert refused.headers["Retry-After"] == str(14 * 3600)
    assert refused.json()["message"] == (
        "Out of call volume quota. Quota will be replenished in 14:00:00."
    )
    clock.advance(hours=14)
    api.headers.update(sim.api_headers())
    assert (await api.get(f"{C}/genders")).status_code == 200


async def test_limits_count_per_subscription_key_and_not_the_token_endpoint(
    sim: ReNxtSimulator,
) -> None:
    sim.configure(rate_limit_per_second=1)
    async with sim.admin() as admin:
        await admin.post("/re_nxt/subscription-keys", {"key": "second-key"})
    async with (
        sim.api_client() as first,
        sim.api_client(headers={"Bb-Api-Subscription-Key": "second-key"}) as second,
    ):
        assert (await first.get(f"{C}/genders")).status_code == 200
        assert (await second.get(f"{C}/genders")).status_code == 200
        assert (await first.get(f"{C}/genders")).status_code == 429
        # Issuing tokens (the OAuth server) is not throttled.
        for _ in range(3):
            answer = await first.post("/token", data={"grant_type": "password"})
            assert answer.status_code == 400


async def test_limits_are_settings_of_the_admin_api(sim: ReNxtSimulator) -> None:
    async with sim.admin() as admin:
        changed = await admin.post(
            "/re_nxt/settings", {"rate_limit_per_second": 5, "daily_quota": 25000}
        )
        assert changed == {
            "list_latency": 0.0,
            "rate_limit_per_second": 5,
            "daily_quota": 25000,
            "access_token_lifetime": 3600,
        }
        off = await admin.post("/re_nxt/settings", {"rate_limit_per_second": None})
        assert off["rate_limit_per_second"] is None
        assert off["daily_quota"] == 25000
        with pytest.raises(Exception, match="daily_quota"):
            await admin.post("/re_nxt/settings", {"daily_quota": 0})
        await admin.reset()
        assert (await admin.get("/re_nxt/settings"))["daily_quota"] is None
