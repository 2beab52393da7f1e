"""How long a 200-record page of Donations takes to parse: lxml into flat records (what the
client does) against zeep's own deserialising (what it would cost to let zeep parse).

Run on demand (not part of the test suite; nothing about time is asserted)::

    python3 -m uv run pytest -q -s -p no:cacheprovider benchmarks/luminate/bench_page_parsing.py
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from lxml import etree
from syncframe_luminate.client import LuminateClient

from plugins.luminate.tests.client_helpers import add_donations, make_simulator, settings_for

pytestmark = pytest.mark.anyio

PAGE = 200
ROUNDS = 20


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Recording(httpx.AsyncBaseTransport):
    """Keeps the last answer's body, to time its parsing apart from the call."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.last = b""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.last = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=self.last)


def _best(run: Any) -> float:
    """Best of ROUNDS, in ms (the least disturbed by the rest of the machine)."""
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


async def test_a_page_of_200_donations_parses_in_a_few_ms() -> None:
    sim = make_simulator()
    sim.clock.advance(timedelta(minutes=1))
    add_donations(sim, PAGE)
    sim.clock.advance(timedelta(minutes=1))
    recording = _Recording(sim.transport())
    async with httpx.AsyncClient(transport=recording, base_url=sim.base_url) as http:
        client = LuminateClient(settings_for(sim), http)
        await client.start_synchronization(1001)
        fields = await client.fields("Donation")
        schema = await client.schema("Donation")

        started = time.perf_counter()
        records = await client.get_incremental(
            "inserts", "Donation", partition_id=1001, page=1, page_size=PAGE, fields=fields
        )
        whole_call = (time.perf_counter() - started) * 1000
        body = recording.last
        wsdl = await client._wsdl()

    assert len(records) == PAGE
    assert len(body) > 100_000

    def with_lxml() -> list[dict[str, Any]]:
        root = etree.fromstring(body)
        answer = root[0][0]
        return [schema.flatten(element, fields) for element in answer]

    operation = wsdl.zeep.service._binding._operations["GetIncrementalInserts"]

    def with_zeep() -> Any:
        return operation.process_reply(etree.fromstring(body))

    assert with_lxml() == records
    assert len(with_zeep()) == PAGE
    lxml_ms = _best(with_lxml)
    zeep_ms = _best(with_zeep)
    print(
        f"\n200 Donations ({len(body) / 1024:.0f} KiB, {len(fields)} fields): "
        f"lxml flat {lxml_ms:.1f} ms, zeep objects {zeep_ms:.1f} ms "
        f"(x{zeep_ms / lxml_ms:.1f}); whole call in-process {whole_call:.1f} ms"
    )
