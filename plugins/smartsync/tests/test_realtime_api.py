"""The real-time API (``/apis/execute.php``) and the account settings that enable it: the
checksum of the reference, GET and POST (form and JSON) runs through a runner, every refusal with
its status and text, the timestamp window on a manual clock, and secrets kept out of every answer
and log line."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from syncframe_smartsync.account import AccountSettings, register_systems
from syncframe_smartsync.realtime_api import (
    EXECUTE_PATH,
    MAX_BODY_BYTES,
    RealtimeRefused,
    RealtimeResult,
    checksum,
    realtime_routes,
    sign,
)

from syncframe import hookimpl
from syncframe.clock import ManualClock
from syncframe.config import ConfigError, load_config
from syncframe.host import Host
from syncframe.registry import SystemRegistrar

pytestmark = pytest.mark.anyio

# The reference's example key and secret.
KEY = "sdfjh435hh345454"
SECRET = "dfhfdjsghs"
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
NOW = 1767258000  # START as Unix time
POLL_FLOW = 69  # "re_to_mailchimp": polls RE NXT, takes no data
API_FLOW = 70  # "signup_to_re": its event step is the real-time API
FAILING_FLOW = 71  # "broken": its runs fail
RAISING_FLOW = 72  # "crashing": the runner raises


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class FakeRunner:
    """Flows by Flow ID; records each run it is asked for and answers from the data given."""

    flows: dict[int, str] = field(
        default_factory=lambda: {
            POLL_FLOW: "re_to_mailchimp",
            API_FLOW: "signup_to_re",
            FAILING_FLOW: "broken",
            RAISING_FLOW: "crashing",
        }
    )
    data_flows: frozenset[str] = frozenset({"signup_to_re"})
    runs: list[tuple[str, dict[str, str] | None, str]] = field(default_factory=list)

    def flow_name(self, flow_id: int) -> str | None:
        return self.flows.get(flow_id)

    def takes_data(self, flow: str) -> bool:
        return flow in self.data_flows

    async def run(
        self, flow: str, data: Mapping[str, str] | None, request_id: str
    ) -> RealtimeResult:
        self.runs.append((flow, dict(data) if data is not None else None, request_id))
        run_id = f"r-{len(self.runs):06d}"
        if flow == "crashing":
            raise RuntimeError(f"target refused the login {KEY}:{SECRET}")
        if flow == "broken":
            return RealtimeResult(
                run_id, "failed", {}, [], error="Mailchimp answered 503 after 5 tries"
            )
        if data is None:
            return RealtimeResult(run_id, "succeeded", {"unchanged": 0}, [])
        if not data.get("email"):
            raise RealtimeRefused(400, "the data has no email, the field that identifies it")
        record = {"email": data.get("email", "")}
        steps = [
            {"step": "search_re", "outcome": "no_match"},
            {"step": "create_constituent", "outcome": "created"},
        ]
        return RealtimeResult(
            run_id, "succeeded", {"created": 1}, [{"record": record, "steps": steps}]
        )


class Api:
    """The routes served in-process, with the account, runner and clock they were given."""

    def __init__(self, account: AccountSettings | None) -> None:
        self.account = account
        self.runner = FakeRunner()
        self.clock = ManualClock(START)
        app = Starlette(routes=realtime_routes(lambda: self.account, self.runner, self.clock))
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://smartsync.test"
        )
        self.answers: list[httpx.Response] = []

    def signed(self, flow: int = POLL_FLOW, ts: int | None = None, **data: str) -> dict[str, str]:
        return sign({"flow": flow, **data}, KEY, SECRET, ts if ts is not None else NOW)

    async def get(self, params: Mapping[str, str] | str) -> httpx.Response:
        query = params if isinstance(params, str) else urlencode(params)
        return self._kept(await self.client.get(f"{EXECUTE_PATH}?{query}"))

    async def post(self, **kwargs: Any) -> httpx.Response:
        return self._kept(await self.client.post(EXECUTE_PATH, **kwargs))

    def _kept(self, response: httpx.Response) -> httpx.Response:
        self.answers.append(response)
        return response


def enabled(**values: Any) -> AccountSettings:
    return AccountSettings(api_enabled=True, api_key=KEY, api_secret=SECRET, **values)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    served = Api(enabled())
    async with served.client:
        yield served


def refusal(response: httpx.Response, status: int) -> str:
    """The error text of a refused request, after checking its status and shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["success"] is False
    assert isinstance(body["error"], str)
    return str(body["error"])


# ---- the checksum ------------------------------------------------------------------------------


class TestChecksum:
    """The MD5 of the sorted values, joined with '|', then '|' and the secret."""

    def test_the_reference_example_gives_its_computed_digest(self) -> None:
        params = {"flow": "69", "key": "sdfjh435hh345454", "ts": "9348579834"}

        assert checksum(params, "dfhfdjsghs") == "03d0065b2655eed0f4612cc7277c5e60"
        assert (
            checksum(params, "dfhfdjsghs")
            == hashlib.md5(b"69|sdfjh435hh345454|9348579834|dfhfdjsghs").hexdigest()
        )

    def test_values_go_in_the_order_of_their_names_and_check_is_left_out(self) -> None:
        given = {"ts": "3", "check": "ignored", "email": "ann@example.org", "flow": "70"}
        expected = hashlib.md5(b"ann@example.org|70|3|s3cret").hexdigest()

        assert checksum(given, "s3cret") == expected
        assert checksum(dict(reversed(given.items())), "s3cret") == expected

    def test_sign_adds_key_ts_and_check_for_a_moment(self) -> None:
        signed = sign({"flow": 69}, KEY, SECRET, START + timedelta(microseconds=900))

        assert signed == {
            "flow": "69",
            "key": KEY,
            "ts": str(NOW),
            "check": hashlib.md5(f"69|{KEY}|{NOW}|{SECRET}".encode()).hexdigest(),
        }


# ---- runs --------------------------------------------------------------------------------------


class TestRuns:
    """A signed request runs its flow once and answers with the run's result."""

    async def test_a_get_runs_a_flow_without_data(self, api: Api) -> None:
        params = api.signed()

        response = await api.get(params)

        assert response.status_code == 200
        assert response.json() == {
            "success": True,
            "flow": POLL_FLOW,
            "run_id": "r-000001",
            "status": "succeeded",
            "counts": {"unchanged": 0},
            "results": [],
        }
        assert response.headers["cache-control"] == "no-store"
        assert api.runner.runs == [("re_to_mailchimp", None, params["check"])]

    async def test_a_form_post_hands_its_data_fields_to_the_flow(self, api: Api) -> None:
        params = api.signed(API_FLOW, email="ann@example.org", first_name="Ann", nickname="")

        response = await api.post(data=params)

        assert response.status_code == 200
        body = response.json()
        assert body["success"] is True
        assert body["flow"] == API_FLOW
        assert body["counts"] == {"created": 1}
        assert body["results"] == [
            {
                "record": {"email": "ann@example.org"},
                "steps": [
                    {"step": "search_re", "outcome": "no_match"},
                    {"step": "create_constituent", "outcome": "created"},
                ],
            }
        ]
        assert api.runner.runs == [
            (
                "signup_to_re",
                {"email": "ann@example.org", "first_name": "Ann", "nickname": ""},
                params["check"],
            )
        ]

    async def test_a_json_post_takes_strings_and_whole_numbers(self, api: Api) -> None:
        params = api.signed(API_FLOW, email="bo@example.org", postal_code="90210")
        body: dict[str, Any] = {**params, "flow": API_FLOW, "postal_code": 90210}

        response = await api.post(json=body)

        assert response.status_code == 200, response.text
        [(flow, data, _)] = api.runner.runs
        assert (flow, data) == ("signup_to_re", {"email": "bo@example.org", "postal_code": "90210"})

    async def test_signing_parameters_may_be_in_the_query_and_data_in_the_body(
        self, api: Api
    ) -> None:
        params = api.signed(API_FLOW, email="cy@example.org")
        data = {"email": params.pop("email")}

        response = await api.post(params=params, data=data)

        assert response.status_code == 200, response.text
        assert api.runner.runs[0][1] == {"email": "cy@example.org"}

    async def test_the_order_of_the_parameters_does_not_matter(self, api: Api) -> None:
        params = api.signed(API_FLOW, email="di@example.org", city="Leeds")
        shuffled = "&".join(f"{name}={params[name]}" for name in reversed(sorted(params)))

        form = await api.post(
            content=shuffled, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )

        assert form.status_code == 200, form.text
        assert api.runner.runs[0][1] == {"email": "di@example.org", "city": "Leeds"}

    async def test_check_is_accepted_in_capitals_and_the_request_id_is_lower_case(
        self, api: Api
    ) -> None:
        params = api.signed()
        lower = params["check"]

        response = await api.get({**params, "check": lower.upper()})

        assert response.status_code == 200
        assert api.runner.runs == [("re_to_mailchimp", None, lower)]

    async def test_an_exact_replay_carries_the_same_request_id(self, api: Api) -> None:
        params = api.signed(API_FLOW, email="ed@example.org")
        other = api.signed(API_FLOW, email="fay@example.org")

        await api.post(data=params)
        await api.post(data=params)
        await api.post(data=other)

        ids = [request_id for _, _, request_id in api.runner.runs]
        assert ids == [params["check"], params["check"], other["check"]]


# ---- refusals ----------------------------------------------------------------------------------


class TestAccess:
    """Without an enabled account the API runs nothing (403)."""

    async def test_no_account_connection(self) -> None:
        served = Api(None)
        async with served.client:
            text = refusal(await served.get(served.signed()), 403)

        assert "not set up" in text
        assert 'system = "smartsync_account"' in text
        assert "api_enabled = true" in text
        assert served.runner.runs == []

    async def test_api_disabled(self) -> None:
        served = Api(AccountSettings(api_key=KEY, api_secret=SECRET))
        async with served.client:
            text = refusal(await served.post(data=served.signed()), 403)

        assert text == (
            "the real-time API is disabled for this account: set api_enabled = true on its "
            "smartsync_account connection (Admin > Account > API Access > Enable?)"
        )
        assert served.runner.runs == []

    async def test_other_methods_than_get_and_post(self, api: Api) -> None:
        for method in ("HEAD", "PUT", "DELETE"):
            response = await api.client.request(method, f"{EXECUTE_PATH}?{urlencode(api.signed())}")

            assert response.status_code == 405
            assert response.headers["allow"] == "GET, POST"
        assert api.runner.runs == []


class TestParameters:
    """Missing or malformed parameters are named (400), all at once."""

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("flow", "missing parameter flow: give the Flow ID, a whole number such as 69"),
            ("key", "missing parameter key: give the account's API Key"),
            ("ts", "missing parameter ts: give the current Unix time in whole seconds"),
            ("check", "missing parameter check: give the checksum, 32 hex digits (an MD5)"),
        ],
    )
    async def test_each_missing_parameter_is_named(self, api: Api, name: str, message: str) -> None:
        params = api.signed()
        del params[name]

        assert message in refusal(await api.get(params), 400)
        assert api.runner.runs == []

    @pytest.mark.parametrize(
        ("name", "value", "message"),
        [
            ("flow", "six", "parameter flow must be the Flow ID, a whole number such as 69 "),
            ("ts", "1767258000.5", "parameter ts must be the current Unix time in whole seconds"),
            ("check", "03d0065b", "parameter check must be the checksum, 32 hex digits"),
            ("check", "z" * 32, "parameter check must be the checksum, 32 hex digits"),
            ("key", "  ", "missing parameter key"),
        ],
    )
    async def test_a_malformed_parameter_is_named_with_its_value(
        self, api: Api, name: str, value: str, message: str
    ) -> None:
        text = refusal(await api.get({**api.signed(), name: value}), 400)

        assert message in text
        if name != "key":
            assert repr(value) in text

    async def test_every_problem_is_told_at_once(self, api: Api) -> None:
        text = refusal(await api.get({"flow": "x", "key": KEY}), 400)

        assert text == (
            "parameter flow must be the Flow ID, a whole number such as 69 (got 'x'); "
            "missing parameter ts: give the current Unix time in whole seconds, e.g. "
            "1767258000; missing parameter check: give the checksum, 32 hex digits (an MD5)"
        )

    async def test_a_parameter_given_twice_is_refused(self, api: Api) -> None:
        params = api.signed(API_FLOW, email="gil@example.org")

        in_query = refusal(await api.get(urlencode(params) + "&email=x@example.org"), 400)
        in_both = refusal(await api.post(params=params, data={"email": "x@example.org"}), 400)

        assert "parameter email is given more than once (in the query)" in in_query
        assert "parameter email is given more than once (in the query and the body)" in in_both
        assert api.runner.runs == []

    @pytest.mark.parametrize(
        ("kwargs", "status", "message"),
        [
            (
                {"content": b"email=a@b.org", "headers": {"Content-Type": "text/plain"}},
                415,
                "a body of type text/plain cannot be read: send the data fields form-encoded",
            ),
            (
                {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
                400,
                "the body is not JSON",
            ),
            ({"json": ["flow", "69"]}, 400, "the JSON body is a list: send an object of fields"),
            ({"json": {"address": {"city": "Leeds"}}}, 400, "JSON field 'address' is an object"),
            ({"json": {"amount": 1.5}}, 400, "JSON field 'amount' is a decimal number"),
            ({"json": {"opted_in": True}}, 400, "JSON field 'opted_in' is true or false"),
            ({"json": {"phone": None}}, 400, "JSON field 'phone' is null"),
            (
                {
                    "content": b"\xff\xfe",
                    "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                },
                400,
                "the body is not UTF-8 text",
            ),
            (
                {
                    "content": b"email",
                    "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                },
                400,
                "the body is not form-encoded",
            ),
            (
                {"content": b"x" * (MAX_BODY_BYTES + 1)},
                413,
                f"the body is larger than {MAX_BODY_BYTES} bytes",
            ),
        ],
    )
    async def test_unreadable_bodies_are_refused(
        self, api: Api, kwargs: dict[str, Any], status: int, message: str
    ) -> None:
        text = refusal(await api.post(params=api.signed(API_FLOW), **kwargs), status)

        assert message in text
        assert api.runner.runs == []


class TestAuthentication:
    """An unknown key, a wrong checksum or a ts outside the window is refused (401)."""

    async def test_an_unknown_key(self, api: Api) -> None:
        params = sign({"flow": POLL_FLOW}, "not-the-key-at-all", SECRET, NOW)

        text = refusal(await api.get(params), 401)

        assert text.startswith("unknown API key: send the account's API Key as key")
        assert "not-the-key-at-all" not in text
        assert api.runner.runs == []

    async def test_a_checksum_signed_with_another_secret(self, api: Api) -> None:
        params = sign({"flow": POLL_FLOW}, KEY, "another-secret", NOW)

        text = refusal(await api.get(params), 401)

        assert text.startswith(
            "check does not match this request: it must be the lowercase hex MD5 of the values "
            "of flow, key, ts (every parameter but check"
        )
        assert checksum({"flow": str(POLL_FLOW), "key": KEY, "ts": str(NOW)}, SECRET) not in text
        assert api.runner.runs == []

    async def test_a_tampered_data_field_fails_the_checksum(self, api: Api) -> None:
        params = api.signed(API_FLOW, email="hal@example.org")

        text = refusal(await api.post(data={**params, "email": "mallory@example.org"}), 401)

        assert "the values of email, flow, key, ts" in text
        assert api.runner.runs == []

    async def test_an_unsigned_added_field_fails_the_checksum(self, api: Api) -> None:
        params = api.signed(API_FLOW, email="ida@example.org")

        text = refusal(await api.post(data={**params, "email_status": "unsubscribed"}), 401)

        assert "the values of email, email_status, flow, key, ts" in text
        assert api.runner.runs == []

    @pytest.mark.parametrize("skew", [-300, -1, 0, 1, 300])
    async def test_ts_within_the_window_either_way_is_accepted(self, api: Api, skew: int) -> None:
        response = await api.get(api.signed(ts=NOW + skew))

        assert response.status_code == 200, response.text
        assert len(api.runner.runs) == 1

    async def test_a_stale_ts(self, api: Api) -> None:
        text = refusal(await api.get(api.signed(ts=NOW - 301)), 401)

        assert text == (
            f"ts {NOW - 301} is stale: 301 seconds before the server's time {NOW} "
            "(2026-01-01T09:00:00+00:00), and requests are accepted within 300 seconds of it; "
            "sign the request again with the current Unix time"
        )
        assert api.runner.runs == []

    async def test_a_ts_in_the_future(self, api: Api) -> None:
        text = refusal(await api.get(api.signed(ts=NOW + 301)), 401)

        assert text.startswith(f"ts {NOW + 301} is in the future: 301 seconds after the server's")
        assert "within 300 seconds" in text
        assert api.runner.runs == []

    async def test_a_request_goes_stale_as_the_clock_moves(self, api: Api) -> None:
        params = api.signed()

        api.clock.advance(seconds=300)
        assert (await api.get(params)).status_code == 200
        api.clock.advance(seconds=1)
        text = refusal(await api.get(params), 401)

        assert text.startswith(f"ts {NOW} is stale: 301 seconds before the server's time")
        assert len(api.runner.runs) == 1

    async def test_the_window_is_the_accounts(self) -> None:
        served = Api(enabled(timestamp_window="1m"))
        async with served.client:
            inside = await served.get(served.signed(ts=NOW - 60))
            text = refusal(await served.get(served.signed(ts=NOW - 61)), 401)

        assert inside.status_code == 200
        assert "61 seconds before" in text
        assert "accepted within 60 seconds" in text

    async def test_the_account_is_read_on_every_request(self, api: Api) -> None:
        params = api.signed()
        api.account = AccountSettings(api_key=KEY, api_secret=SECRET)

        refusal(await api.get(params), 403)
        api.account = enabled()
        assert (await api.get(params)).status_code == 200


class TestFlows:
    """Unknown flows (404), data a flow cannot take (400), and runs that fail (500)."""

    async def test_an_unknown_or_disabled_flow(self, api: Api) -> None:
        text = refusal(await api.get(api.signed(404)), 404)

        assert text == (
            "no enabled flow has Flow ID 404: check the Flow ID, and that the flow is enabled"
        )
        assert api.runner.runs == []

    async def test_data_posted_to_a_flow_that_takes_none(self, api: Api) -> None:
        params = api.signed(POLL_FLOW, email="jo@example.org", last_name="Jones")

        text = refusal(await api.post(data=params), 400)

        assert text == (
            "flow 69 (re_to_mailchimp) takes no data: its event step is not the real-time API, "
            "so the fields email, last_name cannot be given to it; call it with flow, key, ts "
            "and check only"
        )
        assert api.runner.runs == []

    async def test_a_flow_that_takes_data_called_without_any(self, api: Api) -> None:
        text = refusal(await api.get(api.signed(API_FLOW)), 400)

        assert text.startswith("flow 70 (signup_to_re) runs on the record it is given")
        assert api.runner.runs == []

    async def test_a_failed_run_answers_500_with_its_error(self, api: Api) -> None:
        response = await api.get(api.signed(FAILING_FLOW))

        assert response.status_code == 500
        assert response.json() == {
            "success": False,
            "flow": FAILING_FLOW,
            "run_id": "r-000001",
            "status": "failed",
            "counts": {},
            "results": [],
            "error": "flow 71 (broken) run r-000001 failed: Mailchimp answered 503 after 5 tries",
        }

    async def test_a_runner_may_refuse_the_request_with_its_own_status(self, api: Api) -> None:
        text = refusal(await api.post(data=api.signed(API_FLOW, first_name="Lee")), 400)

        assert text == "the data has no email, the field that identifies it"
        assert api.runner.runs == [("signup_to_re", {"first_name": "Lee"}, api.runner.runs[0][2])]

    def test_a_refusal_has_an_error_status(self) -> None:
        with pytest.raises(ValueError, match="error status"):
            RealtimeRefused(200, "fine")

    async def test_a_runner_that_raises_answers_500_without_the_secrets(self, api: Api) -> None:
        text = refusal(await api.get(api.signed(RAISING_FLOW)), 500)

        assert text == (
            "flow 72 (crashing) could not run: RuntimeError: target refused the login ***:***"
        )


# ---- secrets -----------------------------------------------------------------------------------


async def test_the_key_and_secret_never_appear_in_an_answer_or_the_log(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await api.get(api.signed())
    await api.post(data=api.signed(API_FLOW, email="kim@example.org"))
    await api.post(json=api.signed(API_FLOW, email="kim@example.org"))
    await api.get({**api.signed(), "key": "wrong-key-123"})
    await api.get(sign({"flow": POLL_FLOW}, KEY, "wrong-secret", NOW))
    await api.get(api.signed(ts=NOW - 1000))
    await api.get(api.signed(404))
    await api.get(api.signed(FAILING_FLOW))
    await api.get(api.signed(RAISING_FLOW))
    await api.get({"flow": "69"})
    api.account = AccountSettings(api_key=KEY, api_secret=SECRET)
    await api.get(api.signed())

    statuses = sorted({a.status_code for a in api.answers})
    assert statuses == [200, 400, 401, 403, 404, 500]
    for answer in api.answers:
        assert SECRET not in answer.text
        assert KEY not in answer.text
        assert not any(SECRET in v or KEY in v for v in answer.headers.values())
    # The server's log (the test client's own log shows the URLs it sent, key included).
    logged = "\n".join(
        r.getMessage() + (r.exc_text or "")
        for r in caplog.records
        if r.name == "syncframe_smartsync.realtime_api"
    )
    assert "refused with 401" in logged
    assert "RuntimeError: target refused the login ***:***" in logged
    assert SECRET not in logged
    assert KEY not in logged


# ---- the account settings ----------------------------------------------------------------------


class _AccountPlugin:
    """Registers the account system the way the smartsync plugin does."""

    @hookimpl
    def syncframe_register_systems(self, register: SystemRegistrar) -> None:
        register_systems(register)


def write_account(tmp_path: Path, body: str) -> Path:
    flow_file = tmp_path / "flows.toml"
    flow_file.write_text(f'[connections.smartsync]\nsystem = "smartsync_account"\n{body}')
    return flow_file


class TestAccountSettings:
    """``smartsync_account``: off until enabled, credentials from the environment."""

    def test_the_api_is_off_until_enabled_and_the_window_is_300_seconds(self) -> None:
        settings = AccountSettings()

        assert settings.api_enabled is False
        assert settings.api_key is None
        assert settings.api_secret is None
        assert settings.timestamp_window == timedelta(seconds=300)

    def test_registered_as_smartsync_account(self) -> None:
        system = Host([_AccountPlugin()], entry_points=False).registry.systems["smartsync_account"]

        assert system.settings is AccountSettings
        assert "real-time API" in system.description

    def test_key_and_secret_come_from_the_environment(self, tmp_path: Path) -> None:
        flow_file = write_account(tmp_path, 'api_enabled = true\ntimestamp_window = "2m"\n')
        (tmp_path / ".env").write_text(f"SYNCFRAME_SMARTSYNC_API_SECRET={SECRET}\n")
        registry = Host([_AccountPlugin()], entry_points=False).registry

        config = load_config(
            flow_file, registry, environ={"SYNCFRAME_SMARTSYNC_API_KEY": f" {KEY}\n"}
        )

        settings = config.connections["smartsync"].settings
        assert isinstance(settings, AccountSettings)
        assert settings.api_enabled is True
        assert settings.api_key is not None
        assert settings.api_key.get_secret_value() == KEY
        assert settings.api_secret is not None
        assert settings.api_secret.get_secret_value() == SECRET
        assert settings.timestamp_window == timedelta(minutes=2)

    def test_enabled_without_credentials_names_the_variables(self, tmp_path: Path) -> None:
        flow_file = write_account(tmp_path, "api_enabled = true\n")
        registry = Host([_AccountPlugin()], entry_points=False).registry

        with pytest.raises(ConfigError) as refused:
            load_config(flow_file, registry, environ={})

        assert (
            "connections.smartsync: api_enabled is true but the account has no API Key and no "
            "API Secret: set SYNCFRAME_SMARTSYNC_API_KEY and SYNCFRAME_SMARTSYNC_API_SECRET in "
            "the environment or .env (or set api_enabled = false)"
        ) in str(refused.value)

    def test_enabled_without_the_secret_outside_the_loader(self) -> None:
        with pytest.raises(ValidationError) as refused:
            AccountSettings(api_enabled=True, api_key=KEY)

        [problem] = refused.value.errors()
        assert problem["loc"] == ()
        assert "has no API Secret: set SYNCFRAME_<CONNECTION>_API_SECRET" in problem["msg"]
        assert KEY not in str(refused.value)

    @pytest.mark.parametrize(
        ("values", "field", "message"),
        [
            ({"timestamp_window": "0s"}, "timestamp_window", "must be more than 0 seconds"),
            ({"timestamp_window": "2h"}, "timestamp_window", "must be 1h or less"),
            ({"timestamp_window": "soon"}, "timestamp_window", "is not a duration"),
            ({"api_secret": "short"}, "api_secret", "must be at least 8 characters"),
            ({"api_key": "   "}, "api_key", "must be at least 8 characters"),
        ],
    )
    def test_bad_settings_name_the_setting(
        self, values: dict[str, Any], field: str, message: str
    ) -> None:
        with pytest.raises(ValidationError) as refused:
            AccountSettings(**values)

        [problem] = refused.value.errors()
        assert problem["loc"] == (field,)
        assert message in problem["msg"]

    def test_a_refused_secret_is_not_repeated(self) -> None:
        with pytest.raises(ValidationError) as refused:
            AccountSettings(api_key=KEY, api_secret="abc1234")

        assert "abc1234" not in str(refused.value)
        assert KEY not in str(refused.value)


# ---- the documentation -------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[3] / "docs" / "smartsync" / "realtime-api.md"


def documented() -> str:
    """docs/smartsync/realtime-api.md, with the table's escaped bars as plain ones."""
    return DOC.read_text(encoding="utf-8").replace("\\|", "|")


def test_the_documented_worked_example_is_what_sign_computes() -> None:
    get = sign({"flow": 69}, KEY, SECRET, NOW)
    post = sign({"flow": 70, "email": "ann@example.org", "first_name": "Ann"}, KEY, SECRET, NOW)

    text = documented()
    assert f"?flow=69&key={KEY}&ts={NOW}&check={get['check']}" in text
    assert f"&first_name=Ann&check={post['check']}" in text
    assert f"| `{post['check']}` |" in text


async def test_the_documented_error_texts_are_the_answers(api: Api) -> None:
    requests = [
        api.get(api.signed(ts=NOW - 301)),
        api.get(api.signed(ts=NOW + 301)),
        api.get(sign({"flow": POLL_FLOW}, "not-the-key-at-all", SECRET, NOW)),
        api.post(data=sign({"flow": 70, "email": "a@b.org"}, KEY, "other-secret", NOW)),
        api.get(api.signed(404)),
        api.post(data=api.signed(POLL_FLOW, email="jo@example.org", last_name="Jones")),
        api.get(api.signed(API_FLOW)),
        api.client.put(EXECUTE_PATH),
        api.post(params=api.signed(API_FLOW), content=b"x", headers={"Content-Type": "text/plain"}),
    ]
    errors = [(await request).json()["error"] for request in requests]
    api.account = AccountSettings()
    errors.append((await api.get(api.signed())).json()["error"])
    api.account = None
    errors.append((await api.get(api.signed())).json()["error"])

    text = documented()
    assert [error for error in errors if f"`{error}`" not in text] == []
