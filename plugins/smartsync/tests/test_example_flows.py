"""examples/smartsync/flows.toml loads as written and means what its comments say."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from syncframe_smartsync.steps import SmartsyncFlowOptions
from typer.testing import CliRunner

from syncframe.cli import build_app
from syncframe.config import load_config
from syncframe.host import Host

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "smartsync" / "flows.toml"
ENVIRON = {
    "SYNCFRAME_RAISERS_EDGE_CLIENT_SECRET": "app-secret",
    "SYNCFRAME_RAISERS_EDGE_REFRESH_TOKEN": "refresh-token",
    "SYNCFRAME_RAISERS_EDGE_SUBSCRIPTION_KEY": "subscription-key",
    "SYNCFRAME_MAILCHIMP_API_KEY": "0123456789abcdef0123456789abcdef-us6",
    "SYNCFRAME_SALESFORCE_CLIENT_SECRET": "consumer-secret",
    "SYNCFRAME_ACCOUNT_API_KEY": "api-key-123456",
    "SYNCFRAME_ACCOUNT_API_SECRET": "api-secret-123456",
}


def test_the_example_loads_with_its_documented_meaning() -> None:
    config = load_config(EXAMPLE, Host().registry, environ=ENVIRON)

    flows = config.flows
    assert list(flows) == ["re_to_mailchimp", "mailchimp_to_re", "salesforce_to_re", "signup_to_re"]
    ids = {}
    for name, flow in flows.items():
        assert isinstance(flow.kind_options, SmartsyncFlowOptions)
        ids[name] = flow.kind_options.flow_id
        assert [g.component.name for g in flow.loop_guards] == ["one_way_window"]
    assert ids == {
        "re_to_mailchimp": 68,
        "mailchimp_to_re": 69,
        "salesforce_to_re": 70,
        "signup_to_re": 71,
    }
    every = {
        name: flow.config.schedule.every if flow.config.schedule else None
        for name, flow in flows.items()
    }
    assert every == {
        "re_to_mailchimp": timedelta(minutes=30),  # Raiser's Edge: within 30 minutes
        "mailchimp_to_re": timedelta(minutes=5),
        "salesforce_to_re": timedelta(minutes=5),
        "signup_to_re": None,  # started by the real-time API
    }
    assert flows["mailchimp_to_re"].sink.options.list_id == "mailing-list"  # type: ignore[attr-defined]
    assert [m.options.on_no_match for m in flows["salesforce_to_re"].matchers] == [  # type: ignore[attr-defined]
        "next",
        "skip",
    ]


def test_validate_names_each_search_step(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "300")  # one table row per flow

    result = CliRunner().invoke(build_app(Host()), ["validate", str(EXAMPLE)])

    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if "re_to_mailchimp" in line]
    # Two steps of one type, told apart by the names the operator gave them.
    assert "Find member by CONSID (key_cascade), Find member by email (key_cascade)" in row
    assert "loop protection (one_way_window)" in row
