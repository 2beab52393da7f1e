"""Fault injection in-process: what the client sees for each kind, which requests a rule hits,
and the same faults again under the same seed."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from syncframe_simulators import FaultInjector, FaultKind, FaultRule

from simulators.kit.tests.ledger import TOKEN, LedgerSimulator

pytestmark = pytest.mark.anyio


def statuses(sim: LedgerSimulator) -> list[tuple[int | None, str | None]]:
    return [(entry.status, entry.fault) for entry in sim.journal.entries()]


class TestWhatTheClientSees:
    """Each fault kind, in-process, as the client gets it; each shows in the journal."""

    async def test_latency_answers_late_with_the_real_answer(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        ledger.faults.add(FaultRule(kind="latency", latency=0.05))
        started = time.perf_counter()
        response = await api.get("/accounts/1")
        assert time.perf_counter() - started >= 0.05
        assert response.json()["name"] == "Ada"
        [entry] = ledger.journal.entries()
        assert (entry.status, entry.fault, entry.fault_id) == (200, "latency", "f1")
        assert entry.duration_ms >= 50

    async def test_error_uses_the_rules_status(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        ledger.faults.add(FaultRule(kind="error", status=500))
        response = await api.post("/accounts/1/entries", json={"amount": "5"})
        assert (response.status_code, response.json()) == (500, {"error": "Internal Server Error"})
        assert ledger.entries == []  # the real handler never ran
        assert statuses(ledger) == [(500, "error")]

    @pytest.mark.parametrize(("retry_after", "header"), [(2.0, "2"), (0.25, "0.25")])
    async def test_rate_limit_is_429_with_retry_after_in_seconds(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient, retry_after: float, header: str
    ) -> None:
        ledger.faults.add(FaultRule(kind="rate_limit", retry_after=retry_after))
        response = await api.get("/accounts")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == header
        assert statuses(ledger) == [(429, "rate_limit")]

    async def test_timeout_gives_the_client_a_read_timeout(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        ledger.faults.add(FaultRule(kind="timeout", hang=30))
        started = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            await api.get("/accounts", timeout=0.1)
        assert time.perf_counter() - started < 5
        [entry] = ledger.journal.entries()
        assert (entry.status, entry.fault, entry.response_bytes) == (None, "timeout", 0)

    async def test_timeout_without_client_timeout_ends_in_504_after_hang(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        ledger.faults.add(FaultRule(kind="timeout", hang=0.05))
        response = await api.get("/accounts", timeout=None)
        assert (response.status_code, response.json()) == (504, {"error": "Gateway Timeout"})
        assert statuses(ledger) == [(504, "timeout")]

    async def test_a_slow_answer_beyond_the_read_timeout_also_times_out(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        ledger.faults.add(FaultRule(kind="latency", latency=5))
        with pytest.raises(httpx.ReadTimeout):
            await api.get("/accounts", timeout=0.05)

    async def test_disconnect_is_a_remote_protocol_error(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        ledger.faults.add(FaultRule(kind="disconnect"))
        with pytest.raises(httpx.RemoteProtocolError):
            await api.post("/accounts/1/entries", json={"amount": "5"})
        assert ledger.entries == []
        assert statuses(ledger) == [(None, "disconnect")]

    async def test_malformed_is_200_with_a_broken_body(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        ledger.faults.add(FaultRule(kind="malformed"))
        response = await api.get("/accounts")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        with pytest.raises(json.JSONDecodeError):
            response.json()
        assert statuses(ledger) == [(200, "malformed")]

    async def test_journal_counts_bytes_and_names_the_operation(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        response = await api.post("/accounts/2/entries", json={"amount": "1.5"})
        [entry] = ledger.journal.entries()
        assert (entry.method, entry.path, entry.operation) == (
            "POST",
            "/accounts/2/entries",
            "PostEntry",
        )
        assert entry.request_bytes == len(b'{"amount":"1.5"}')
        assert entry.response_bytes == len(response.content)
        assert (entry.status, entry.fault) == (201, None)


class XmlLedger(LedgerSimulator):
    """A ledger that renders faults its own way (as Luminate renders SOAP faults)."""

    def fault_response(self, kind: FaultKind, rule: FaultRule, operation: str | None) -> Response:
        if kind == "error":
            return Response(f"<fault op='{operation}'/>", rule.status, media_type="text/xml")
        if kind == "rate_limit":
            return Response("<slow-down/>", 429, media_type="text/xml")  # forgets Retry-After
        return super().fault_response(kind, rule, operation)


async def test_a_simulator_renders_faults_in_its_own_format() -> None:
    sim = XmlLedger()
    sim.seed_records({"accounts": [{"name": "Ada"}]})
    sim.faults.add(FaultRule(kind="error", status=500, times=1))
    sim.faults.add(FaultRule(kind="rate_limit", retry_after=3, times=1))
    sim.faults.add(FaultRule(kind="malformed", times=1))
    async with sim.client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        error = await client.get("/accounts/1")
        limited = await client.get("/accounts/1")
        cut = await client.get("/accounts/1")
    assert (error.status_code, error.text) == (500, "<fault op='GetAccount'/>")
    # The kit adds the Retry-After a simulator's own 429 forgot.
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert cut.text == '{"data": [{"id": 1, "name": "Ada Lovel'


class TestWhichRequestsARuleHits:
    """path, method, operation, after, times and probability."""

    async def test_path_glob_and_method(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        ledger.faults.add(FaultRule(kind="error", path="/accounts/*", method="post"))
        assert (await api.get("/accounts/1")).status_code == 200
        assert (await api.get("/accounts")).status_code == 200
        assert (await api.post("/accounts/1/entries", json={"amount": 1})).status_code == 503
        assert (await api.post("/accounts", json={"name": "Mo"})).status_code == 201

    async def test_operation_name_glob(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        ledger.faults.add(FaultRule(kind="error", operation="Get*"))
        assert (await api.get("/accounts")).status_code == 200
        assert (await api.get("/accounts/1")).status_code == 503
        assert [e.operation for e in ledger.journal.entries()] == ["ListAccounts", "GetAccount"]

    async def test_after_lets_requests_through_then_times_limits_it(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        rule_id = ledger.faults.add(FaultRule(kind="error", after=2, times=2))
        codes = [(await api.get("/accounts")).status_code for _ in range(6)]
        assert codes == [200, 200, 503, 503, 200, 200]
        [status] = ledger.faults.status()
        assert (status.id, status.fired, status.spent) == (rule_id, 2, True)
        async with ledger.admin() as admin:
            [shown] = await admin.faults()
        assert (shown["id"], shown["seen"], shown["fired"], shown["spent"]) == ("f1", 4, 2, True)

    async def test_the_first_rule_that_fires_wins(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        ledger.faults.add(FaultRule(kind="error", status=500, times=1))
        ledger.faults.add(FaultRule(kind="rate_limit", times=1))
        codes = [(await api.get("/accounts")).status_code for _ in range(3)]
        assert codes == [500, 429, 200]
        assert [e.fault_id for e in ledger.journal.entries()] == ["f1", "f2", None]

    async def test_probability_zero_never_and_a_share_sometimes(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        ledger.faults.add(FaultRule(kind="error", probability=0.0, status=500))
        ledger.faults.add(FaultRule(kind="error", probability=0.3))
        codes = [(await api.get("/accounts")).status_code for _ in range(200)]
        assert 500 not in codes
        assert 30 <= codes.count(503) <= 90

    async def test_removing_and_clearing_rules(
        self, ledger: LedgerSimulator, api: httpx.AsyncClient
    ) -> None:
        async with ledger.admin() as admin:
            first = await admin.add_fault(FaultRule(kind="error"))
            second = await admin.add_fault(kind="rate_limit")
            await admin.remove_fault(first)
            assert [f["id"] for f in await admin.faults()] == [second]
            assert (await api.get("/accounts")).status_code == 429
            await admin.clear_faults()
            assert (await api.get("/accounts")).status_code == 200
            # Ids are never reused, so an old id cannot remove a new rule.
            assert await admin.add_fault(kind="error") == "f3"


async def fault_pattern(seed: int, *, reseed_to: int | None = None) -> list[int]:
    sim = LedgerSimulator(seed=seed)
    sim.seed_records({"accounts": [{"name": "Ada"}]})
    async with sim.admin() as admin:
        await admin.add_fault(kind="error", probability=0.5)
        await admin.add_fault(kind="rate_limit", probability=0.2)
        if reseed_to is not None:
            await admin.seed_faults(reseed_to)
    async with sim.client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        return [(await client.get("/accounts/1")).status_code for _ in range(40)]


class TestDeterminism:
    """The same seed and requests give the same faults; another seed gives others."""

    async def test_same_seed_same_faults(self) -> None:
        first = await fault_pattern(seed=7)
        assert set(first) == {200, 429, 503}
        assert await fault_pattern(seed=7) == first
        assert await fault_pattern(seed=8) != first

    async def test_reseeding_through_the_admin_api_replays(self) -> None:
        assert await fault_pattern(seed=1, reseed_to=7) == await fault_pattern(seed=7)

    def test_a_certain_rule_does_not_shift_the_others_draws(self) -> None:
        def pattern(extra: bool) -> list[bool]:
            injector = FaultInjector(seed=3)
            if extra:
                injector.add(FaultRule(kind="error", path="/elsewhere"))
            injector.add(FaultRule(kind="error", probability=0.5))
            return [injector.decide("GET", "/x") is not None for _ in range(50)]

        assert pattern(extra=True) == pattern(extra=False)


class TestFaultRule:
    """Rules validate their fields and say which field is wrong."""

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"kind": "explode"}, "kind"),
            ({"kind": "error", "status": 200}, "status"),
            ({"kind": "error", "times": 0}, "times"),
            ({"kind": "error", "after": -1}, "after"),
            ({"kind": "timeout", "hang": 0}, "hang"),
            ({"kind": "rate_limit", "retry_after": -1}, "retry_after"),
        ],
    )
    def test_bad_fields(self, fields: dict[str, Any], field: str) -> None:
        with pytest.raises(ValidationError) as refused:
            FaultRule.model_validate(fields)
        assert refused.value.errors()[0]["loc"] == (field,)

    def test_method_is_matched_in_any_case(self) -> None:
        rule = FaultRule(kind="error", method="get")
        assert rule.method == "GET"
        assert rule.matches("get", "/a", None)
        assert not rule.matches("POST", "/a", None)

    def test_operation_rule_needs_an_operation(self) -> None:
        rule = FaultRule(kind="error", operation="Login")
        assert rule.matches("POST", "/soap", "Login")
        assert not rule.matches("POST", "/soap", None)


class PickyLedger(LedgerSimulator):
    """A ledger whose operation parser chokes on some bodies (as a SOAP parser would)."""

    async def operation_of(self, request: Request) -> str | None:
        if (await request.body()).startswith(b"<"):
            raise ValueError("not JSON")
        return await super().operation_of(request)


async def test_an_operation_parser_that_fails_does_not_fail_the_request() -> None:
    sim = PickyLedger()
    sim.faults.add(FaultRule(kind="error", operation="*"))
    async with sim.client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        response = await client.post("/accounts", content=b"<xml/>")
    # The imitated API refuses the body itself; no operation, so the operation rule did not fire.
    assert (response.status_code, response.json()["error"]) == (
        400,
        "the request body is not valid JSON: Expecting value: line 1 column 1 (char 0)",
    )
    [entry] = sim.journal.entries()
    assert (entry.operation, entry.status, entry.fault) == (None, 400, None)
    assert entry.request_bytes == len(b"<xml/>")


async def test_add_fault_takes_a_rule_or_fields_not_both(ledger: LedgerSimulator) -> None:
    async with ledger.admin() as admin:
        with pytest.raises(TypeError, match="not both"):
            await admin.add_fault(FaultRule(kind="error"), times=1)
