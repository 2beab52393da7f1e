"""The ``mailchimp`` connection's settings and what the plugin registers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from syncframe_smartsync import plugin
from syncframe_smartsync.mailchimp_members import MemberSource
from syncframe_smartsync.mailchimp_settings import MailchimpSettings
from syncframe_smartsync.mailchimp_sink import MemberSink
from syncframe_smartsync.mailchimp_webhook import MemberWebhookSource

from plugins.smartsync.tests.mailchimp_helpers import MailchimpPlugin
from syncframe.config import load_config
from syncframe.config.resolved import ConfigError
from syncframe.host import Host

KEY = "0123456789abcdef0123456789abcdef-us19"


def settings(**values: Any) -> MailchimpSettings:
    return MailchimpSettings(**{"api_key": KEY, "list_id": "a1b2c3d4e5", **values})


def test_the_data_center_comes_from_the_api_key() -> None:
    made = settings()

    assert made.data_center == "us19"
    assert made.api_root == "https://us19.api.mailchimp.com/3.0"
    assert settings(base_url="http://mailchimp.simulator/3.0/").api_root == (
        "http://mailchimp.simulator/3.0"
    )


def test_defaults() -> None:
    made = settings()

    assert made.constituent_id_merge_tag == "CONSID"
    assert made.address_merge_tag == "ADDRESS"
    assert made.poll_every == timedelta(minutes=5)
    assert made.webhook_secret is None
    assert made.webhook_url_parameter == "secret"
    assert made.field_tags() == {
        "first_name": "FNAME",
        "last_name": "LNAME",
        "phone": "PHONE",
        "constituent_id": "CONSID",
    }


def test_merge_fields_add_to_the_defaults_and_can_unmap_one() -> None:
    made = settings(
        merge_fields={"nickname": "nickname", "phone": ""}, constituent_id_merge_tag="re_id"
    )

    assert made.field_tags() == {
        "first_name": "FNAME",
        "last_name": "LNAME",
        "nickname": "NICKNAME",
        "constituent_id": "RE_ID",
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"api_key": "0123456789abcdef"}, "looks like <32 letters or digits>-<data center>"),
        ({"list_id": "a1-b2"}, "not an audience id"),
        ({"base_url": "mailchimp.example"}, "not an http(s) address"),
        ({"constituent_id_merge_tag": "CONSTITUENT_ID"}, "not a merge tag"),
        ({"merge_fields": {"email": "MAIL"}}, "email is not kept in a merge field"),
        ({"merge_fields": {"city": "TOWN"}}, "goes to the address merge field"),
        ({"merge_fields": {"Nick Name": "NICK"}}, "is not a field name"),
        ({"merge_fields": {"nickname": "FNAME"}}, "merge tag FNAME is given to both"),
        ({"poll_every": "0s"}, "longer than zero"),
    ],
)
def test_bad_settings_say_what_is_wrong(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        settings(**values)


def test_a_bad_key_is_reported_without_showing_it(tmp_path: Path) -> None:
    flows = tmp_path / "flows.toml"
    flows.write_text(
        '[connections.mc]\nsystem = "mailchimp"\nlist_id = "a1b2c3d4e5"\n'
        '[flows.f]\nsource = { type = "mailchimp_members", connection = "mc" }\n'
        'sink = { type = "jsonl", path = "out.jsonl" }\n',
        encoding="utf-8",
    )
    registry = Host(plugins=[MailchimpPlugin()], entry_points=False).registry

    with pytest.raises(ConfigError) as raised:
        load_config(flows, registry, environ={"SYNCFRAME_MC_API_KEY": "s3cretk3y-not-valid"})

    message = str(raised.value)
    assert "connections.mc.api_key" in message
    assert "data center" in message
    assert "s3cretk3y" not in message


def test_durations_and_secrets() -> None:
    made = settings(poll_every="10m", webhook_secret="hook-secret")

    assert made.poll_every == timedelta(minutes=10)
    assert "hook-secret" not in repr(made)
    assert KEY not in repr(made)


def test_the_plugin_registers_the_mailchimp_components() -> None:
    registry = Host(plugins=[plugin], entry_points=False).registry

    assert registry.systems["mailchimp"].settings is MailchimpSettings
    assert registry.sources["mailchimp_members"].cls is MemberSource
    assert registry.sources["mailchimp_webhook"].cls is MemberWebhookSource
    assert registry.sinks["mailchimp_members"].cls is MemberSink
