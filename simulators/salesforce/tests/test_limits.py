"""The daily API request limit: Sforce-Limit-Info, the limits resource, REQUEST_LIMIT_EXCEEDED
over a rolling 24 hours, and the admin knobs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from salesforce_simulator import SalesforceSimulator

from simulators.salesforce.tests.conftest import Org, error_of
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


async def test_every_call_carries_the_usage_header(org: Org) -> None:
    first = await org.get("/sobjects/Contact/describe")
    second = await org.query("SELECT Id FROM Contact")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    assert second.headers["Sforce-Limit-Info"] == "api-usage=2/100000"
    refused = await org.query("SELECT Nope FROM Contact")
    assert refused.status_code == 400
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=3/100000"


async def test_calls_that_do_not_count(org: Org) -> None:
    await org.http.get("/services/data/")
    await org.http.post("/services/oauth2/token", data={"grant_type": "password"})
    await org.http.get("/services/data/v59.0/limits")  # no token: refused before counting
    assert org.sim.snapshot()["api_usage"]["used"] == 0


async def test_the_limits_resource(org: Org) -> None:
    await org.get("/sobjects/Contact/describe")
    answer = await org.get("/limits/")
    assert answer.json() == {"DailyApiRequests": {"Max": 100000, "Remaining": 99998}}


async def test_a_used_up_allocation_refuses_calls_until_the_window_rolls(
    org: Org, sim_clock: ManualClock
) -> None:
    async with org.sim.admin() as admin:
        limits = await admin.request(
            "PUT", "/salesforce/limits", json={"daily_api_requests": 3, "used": 1}
        )
    assert limits.json() == {"daily_api_requests": 3, "used": 1, "remaining": 2}
    sim_clock.advance(hours=1)
    await org.get("/limits")
    await org.get("/limits")
    refused = await org.get("/sobjects/Contact/describe")
    assert error_of(refused) == (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=3/3"
    assert org.sim.snapshot()["api_usage"] == {"daily_api_requests": 3, "used": 3}
    # The call made an hour before the other two leaves the window first.
    sim_clock.advance(hours=23)
    await org.log_in_again()
    assert (await org.get("/sobjects/Contact/describe")).status_code == 200
    assert error_of(await org.get("/limits"))[1] == "REQUEST_LIMIT_EXCEEDED"
    sim_clock.advance(hours=1)
    await org.log_in_again()
    answer = await org.get("/limits")
    assert answer.json()["DailyApiRequests"] == {"Max": 3, "Remaining": 1}


async def test_the_limit_is_a_constructor_setting(
    simulator_factory: Callable[..., SalesforceSimulator],
) -> None:
    sim = simulator_factory("salesforce", daily_api_requests=15_000)
    async with sim.admin() as admin:
        assert await admin.get("/salesforce/limits") == {
            "daily_api_requests": 15000,
            "used": 0,
            "remaining": 15000,
        }
