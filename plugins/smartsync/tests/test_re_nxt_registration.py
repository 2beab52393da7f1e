"""What the RE NXT connection registers, its settings, and how its components meet the engine's
ledger (so the core loop guards recognise records the sink wrote when the source reads them)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from re_nxt_simulator import ReNxtSimulator
from syncframe_smartsync.re_nxt_settings import ReNxtSettings
from syncframe_smartsync.re_nxt_sink import ReNxtConstituentSink
from syncframe_smartsync.re_nxt_source import ReNxtConstituentSource

from plugins.smartsync.tests.re_nxt_helpers import (
    CONNECTION,
    FlowHarness,
    add_constituent,
    change,
    make_simulator,
    read_flow,
    write_flow,
)
from syncframe.clock import ManualClock
from syncframe.config import load_config
from syncframe.host import Host
from syncframe.records import Operation

SECRETS = {
    "client_id": "my-app",
    "client_secret": "app-secret-123",
    "refresh_token": "refresh-456",
    "subscription_key": "key-789",
}


def test_the_installed_plugin_registers_the_system_source_and_sink() -> None:
    registry = Host().registry

    assert registry.systems["re_nxt"].settings is ReNxtSettings
    assert registry.sources["re_nxt_constituents"].cls is ReNxtConstituentSource
    assert registry.sinks["re_nxt_constituents"].cls is ReNxtConstituentSink
    assert registry.sources["re_nxt_constituents"].plugin == "smartsync"


def test_settings_default_to_blackbaud_and_a_30_minute_poll() -> None:
    settings = ReNxtSettings(**SECRETS)

    assert settings.api_url == "https://api.sky.blackbaud.com"
    assert settings.token_url == "https://oauth2.sky.blackbaud.com/token"
    assert settings.poll_every == timedelta(minutes=30)
    assert settings.page_size == 500
    for name in ("client_secret", "refresh_token", "subscription_key"):
        assert isinstance(getattr(settings, name), SecretStr)
        assert SECRETS[name] not in repr(settings)


@pytest.mark.parametrize(("given", "expected"), [("45m", 45 * 60), (90, 90), ("1h", 3600)])
def test_poll_every_takes_durations(given: object, expected: int) -> None:
    settings = ReNxtSettings(**SECRETS, poll_every=given)

    assert settings.poll_every == timedelta(seconds=expected)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("poll_every", "0s", "must be more than 0 seconds"),
        ("api_url", "api.sky.blackbaud.com", "is not an http(s) address"),
        ("oauth_url", "https://oauth2.sky.blackbaud.com/?x=1", "has a query or fragment"),
        ("page_size", 0, "greater than or equal to 1"),
        ("client_secret", "", "must not be empty"),
    ],
)
def test_bad_settings_name_the_setting(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ReNxtSettings(**{**SECRETS, field: value})

    [problem] = refused.value.errors()
    assert problem["loc"] == (field,)
    assert message in str(problem["msg"])


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    flow_file = tmp_path / "flows.toml"
    flow_file.write_text(
        """
[connections.raisers_edge]
system = "re_nxt"
client_id = "my-app"
poll_every = "20m"

[flows.re_out.source]
type = "re_nxt_constituents"
connection = "raisers_edge"

[flows.re_out.sink]
type = "jsonl"
path = "out.jsonl"
""",
        encoding="utf-8",
    )
    environ = {
        "SYNCFRAME_RAISERS_EDGE_CLIENT_SECRET": "app-secret-123",
        "SYNCFRAME_RAISERS_EDGE_REFRESH_TOKEN": "refresh-456",
        "SYNCFRAME_RAISERS_EDGE_SUBSCRIPTION_KEY": "key-789",
    }

    config = load_config(flow_file, Host().registry, environ=environ)

    settings = config.connections["raisers_edge"].settings
    assert isinstance(settings, ReNxtSettings)
    assert settings.refresh_token.get_secret_value() == "refresh-456"
    assert settings.poll_every == timedelta(minutes=20)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_what_the_sink_wrote_comes_back_blocked_by_the_one_way_window(
    tmp_path: Path,
) -> None:
    sim: ReNxtSimulator = make_simulator()
    clock = sim.clock
    assert isinstance(clock, ManualClock)
    harness = FlowHarness(sim, tmp_path)
    flows = {
        **write_flow(),
        **read_flow({}),
    }
    flows["read"]["loop_guards"] = [{"type": "one_way_window"}]
    try:
        edited_in_re = add_constituent(sim, first="Edited", lookup_id="8002").id
        harness.queue(
            [change("m-1", Operation.INSERT, clock.now(), email="g@example.org", last_name="G")]
        )
        written = await harness.run(flows, "write")
        [(_, _, written_id)] = harness.outcomes(written).values()
        clock.advance(timedelta(minutes=10))
        back = await harness.run(flows, "read")
        read_back = harness.outcomes(back)
        ledger = harness.state.ledger_get(CONNECTION, "constituent", [str(written_id)])
    finally:
        harness.close()

    # The sink's writes are recorded under the entity the source reads back.
    assert ledger[str(written_id)].source_system == "crm"
    assert read_back[str(written_id)][0] == "blocked"
    assert "blocked by loop protection" in str(read_back[str(written_id)][1])
    assert read_back[edited_in_re][0] == "created"
