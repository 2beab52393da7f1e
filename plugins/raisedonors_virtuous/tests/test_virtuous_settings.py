"""The ``virtuous`` system's settings: one way to sign in, secrets kept secret, the hourly limit
(5,000 by default, the older 1,500 settable), and flow-file errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import syncframe_raisedonors_virtuous.plugin as plugin
from pydantic import ValidationError
from syncframe_raisedonors_virtuous.virtuous_settings import VirtuousSettings

from syncframe.config import load_config
from syncframe.config.resolved import ConfigError
from syncframe.host import Host

SECRET = "whsec-5f0c1e"


def problem_of(exc: ValidationError) -> tuple[str, str]:
    """(field, message) of the only problem."""
    [error] = exc.errors(include_url=False)
    return ".".join(str(step) for step in error["loc"]), str(error["msg"])


def test_a_sync_user_with_its_password() -> None:
    settings = VirtuousSettings(username="sync@org.example", password="pw", webhook_secret=SECRET)

    assert settings.username == "sync@org.example"
    assert settings.password is not None
    assert settings.password.get_secret_value() == "pw"
    assert not settings.uses_api_key
    assert settings.base_url == "https://api.virtuoussoftware.com"
    assert settings.rate_limit_per_hour == 5000


def test_an_api_key_instead() -> None:
    settings = VirtuousSettings(api_key="vk-123", webhook_secret=SECRET)

    assert settings.uses_api_key
    assert settings.username is None


def test_the_older_hourly_limit_can_be_set() -> None:
    settings = VirtuousSettings(api_key="vk", webhook_secret=SECRET, rate_limit_per_hour=1500)

    assert settings.rate_limit_per_hour == 1500


@pytest.mark.parametrize(
    ("values", "field", "fragment"),
    [
        ({}, "api_key", "no credentials"),
        ({"username": "sync"}, "password", "without its password"),
        ({"password": "pw"}, "password", "without username"),
        ({"username": "sync", "password": "pw", "api_key": "vk"}, "api_key", "not both"),
        ({"api_key": ""}, "api_key", "empty"),
        ({"api_key": "vk", "rate_limit_per_hour": 0}, "rate_limit_per_hour", "greater than"),
        ({"api_key": "vk", "base_url": "ftp://x"}, "base_url", "http(s)"),
    ],
)
def test_refused_settings_name_the_setting(
    values: dict[str, object], field: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        VirtuousSettings(webhook_secret=SECRET, **values)  # type: ignore[arg-type]

    where, message = problem_of(caught.value)
    assert where == field
    assert fragment in message


def test_the_webhook_secret_is_required() -> None:
    with pytest.raises(ValidationError) as caught:
        VirtuousSettings(api_key="vk")

    assert problem_of(caught.value)[0] == "webhook_secret"


def test_secrets_never_show() -> None:
    settings = VirtuousSettings(
        username="sync", password="hunter2-pw", api_key=None, webhook_secret=SECRET
    )

    shown = repr(settings) + str(settings)
    assert "hunter2-pw" not in shown
    assert SECRET not in shown


def test_a_flow_file_error_names_the_file_and_setting(tmp_path: Path) -> None:
    flows = tmp_path / "flows.toml"
    flows.write_text(
        """
[connections.virtuous]
system = "virtuous"
username = "sync@org.example"

[flows.in.source]
type = "virtuous_webhook"
connection = "virtuous"

[flows.in.sink]
type = "jsonl"
path = "out.jsonl"
""",
        encoding="utf-8",
    )
    host = Host(plugins=[plugin], entry_points=False)

    with pytest.raises(ConfigError) as caught:
        load_config(flows, host.registry, environ={"SYNCFRAME_VIRTUOUS_WEBHOOK_SECRET": SECRET})

    paths = {problem.path: problem.message for problem in caught.value.problems}
    assert "without its password" in paths["connections.virtuous.password"]


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    flows = tmp_path / "flows.toml"
    flows.write_text(
        """
[connections.virtuous]
system = "virtuous"
username = "sync@org.example"
rate_limit_per_hour = 1500

[flows.in.source]
type = "virtuous_webhook"
connection = "virtuous"

[flows.in.sink]
type = "jsonl"
path = "out.jsonl"
""",
        encoding="utf-8",
    )
    host = Host(plugins=[plugin], entry_points=False)
    environ = {
        "SYNCFRAME_VIRTUOUS_PASSWORD": "pw-from-env",
        "SYNCFRAME_VIRTUOUS_WEBHOOK_SECRET": SECRET,
    }

    config = load_config(flows, host.registry, environ=environ)

    settings = config.connections["virtuous"].settings
    assert isinstance(settings, VirtuousSettings)
    assert settings.password is not None
    assert settings.password.get_secret_value() == "pw-from-env"
    assert settings.rate_limit_per_hour == 1500
