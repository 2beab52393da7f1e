"""The smartsync flow kind: event, search and action steps expanded into core flows."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from syncframe.config import ConfigError, LoadedConfig, load_config
from syncframe.host import Host

ENVIRON = {
    "SYNCFRAME_RE_CLIENT_SECRET": "s",
    "SYNCFRAME_RE_REFRESH_TOKEN": "r",
    "SYNCFRAME_RE_SUBSCRIPTION_KEY": "k",
    "SYNCFRAME_MC_API_KEY": "0123456789abcdef0123456789abcdef-us6",
}

CONNECTIONS = """
[connections.re]
system = "re_nxt"
client_id = "app"
{re_extra}

[connections.mc]
system = "mailchimp"
list_id = "aud1"
"""

RE_TO_MC = """
[flows.re_to_mc]
kind = "smartsync"
flow_id = 68
{flow_extra}

[[flows.re_to_mc.steps]]
step = "event"
name = "RE changed"
type = "re_nxt_constituents"
connection = "re"
{event_extra}

[[flows.re_to_mc.steps]]
step = "search"
name = "by CONSID"
by = "constituent_id"

[[flows.re_to_mc.steps]]
step = "search"
name = "by email"
by = "email"
normalize = "lower"
{search_extra}

[[flows.re_to_mc.steps]]
step = "action"
name = "upsert member"
type = "mailchimp_members"
connection = "mc"
{action_extra}
"""


def load(tmp_path: Path, text: str = "", **parts: str) -> LoadedConfig:
    values = {
        "re_extra": "",
        "flow_extra": "",
        "event_extra": "",
        "search_extra": "",
        "action_extra": "",
    }
    values.update(parts)
    path = tmp_path / "flows.toml"
    body = CONNECTIONS.format(**values) + (text or RE_TO_MC.format(**values))
    path.write_text(textwrap.dedent(body))
    return load_config(path, Host().registry, environ=ENVIRON)


def problems(tmp_path: Path, **parts: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, **parts)
    return {p.path: p.message for p in caught.value.problems}


def test_steps_become_source_matchers_guard_and_sink(tmp_path: Path) -> None:
    flow = load(tmp_path).flows["re_to_mc"]

    assert flow.kind == "smartsync"
    assert flow.kind_options is not None
    assert flow.kind_options.flow_id == 68  # type: ignore[attr-defined]
    assert flow.config.step_log is True
    assert (flow.source.component.name, flow.source.step, flow.source.path) == (
        "re_nxt_constituents",
        "RE changed",
        "flows.re_to_mc.steps[0]",
    )
    keys = [(m.options.keys[0].source, m.options.on_no_match) for m in flow.matchers]  # type: ignore[attr-defined]
    assert keys == [("constituent_id", "next"), ("email", "create")]
    assert [m.step for m in flow.matchers] == ["by CONSID", "by email"]
    guard = flow.loop_guards[0]
    assert (guard.component.name, guard.step) == ("one_way_window", "loop protection")
    assert (guard.options.window, guard.options.scope) == (timedelta(hours=1), "record")  # type: ignore[attr-defined]
    assert (flow.sink.component.name, flow.sink.step) == ("mailchimp_members", "upsert member")


def test_polling_period_comes_from_the_connection(tmp_path: Path) -> None:
    assert load(tmp_path).flows["re_to_mc"].config.schedule.every == timedelta(minutes=30)  # type: ignore[union-attr]
    faster = load(tmp_path, re_extra='poll_every = "10m"').flows["re_to_mc"]
    assert faster.config.schedule.every == timedelta(minutes=10)  # type: ignore[union-attr]
    own = load(tmp_path, event_extra='every = "2m"').flows["re_to_mc"]
    assert own.config.schedule.every == timedelta(minutes=2)  # type: ignore[union-attr]


def test_actions_decide_what_an_unmatched_change_becomes(tmp_path: Path) -> None:
    update = load(tmp_path, action_extra='action = "update"').flows["re_to_mc"]
    assert [m.options.on_no_match for m in update.matchers] == ["next", "skip"]  # type: ignore[attr-defined]
    create = load(tmp_path, action_extra='action = "create"').flows["re_to_mc"]
    assert [m.options.on_match for m in create.matchers] == ["skip", "skip"]  # type: ignore[attr-defined]
    skip = load(tmp_path, action_extra='action = "skip"').flows["re_to_mc"]
    assert skip.matchers[-1].component.name == "smartsync_skip"
    consent = load(tmp_path, action_extra='action = "set_consent"').flows["re_to_mc"]
    assert consent.config.mapping is not None
    assert sorted(consent.config.mapping.fields) == ["constituent_id", "email", "email_status"]


def test_loop_protection_is_configurable(tmp_path: Path) -> None:
    flow = load(
        tmp_path, flow_extra='loop_protection = { window = "30m", scope = "system" }'
    ).flows["re_to_mc"]
    options = flow.loop_guards[0].options
    assert (options.window, options.scope, options.other_system) == (  # type: ignore[attr-defined]
        timedelta(minutes=30),
        "system",
        "mc",
    )
    off = load(tmp_path, flow_extra="loop_protection = { enabled = false }").flows["re_to_mc"]
    assert off.loop_guards == []


def test_within_list_restricts_the_action_targets_lookups(tmp_path: Path) -> None:
    flow = load(tmp_path, search_extra='within_list = "L1"').flows["re_to_mc"]
    assert flow.sink.options.list_id == "L1"  # type: ignore[attr-defined]


def test_problems_name_the_step_and_its_key(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        flow_extra="flow_idd = 3",
        search_extra='if_not_found = "create"\nbogus = 1',
        action_extra='action = "update"\nconnection_x = "mc"',
    )
    assert found["flows.re_to_mc.flow_idd"] == "unknown key"
    assert found["flows.re_to_mc.steps[2].bogus"].startswith("unknown key(s) of a search step")
    assert found["flows.re_to_mc.steps[3].connection_x"].startswith("unknown key")
    assert any(path.startswith("flows.re_to_mc.steps[2]") for path in found)


def test_a_flow_needs_one_event_and_one_action(tmp_path: Path) -> None:
    text = """
    [flows.bad]
    kind = "smartsync"

    [[flows.bad.steps]]
    step = "search"
    by = "email"

    [[flows.bad.steps]]
    step = "acton"
    """
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text=text)
    messages = [(p.path, p.message) for p in caught.value.problems]
    assert any(
        path == "flows.bad.steps[1].step" and text.startswith("unknown step 'acton'")
        for path, text in messages
    )
    assert ("flows.bad.steps", "a smartsync flow has exactly one event step (0 given)") in messages
    assert ("flows.bad.steps", "a smartsync flow has exactly one action step (0 given)") in messages
