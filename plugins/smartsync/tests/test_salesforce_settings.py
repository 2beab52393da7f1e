"""The settings of a Salesforce connection: the two OAuth flows and what each needs, the API
version, the External ID field, the polling period, and secrets kept out of sight."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from syncframe_smartsync.salesforce_settings import SalesforceSettings

BASE: dict[str, Any] = {"client_id": "3MVG9key", "client_secret": "s3cret"}


def refusal(**values: Any) -> tuple[tuple[str | int, ...], str]:
    """Where and why ``values`` are refused (the first error)."""
    with pytest.raises(ValidationError) as caught:
        SalesforceSettings(**values)
    error = caught.value.errors()[0]
    return error["loc"], error["msg"]


def test_defaults_are_the_production_login_host_version_59_and_a_5_minute_poll() -> None:
    settings = SalesforceSettings(**BASE)

    assert settings.grant == "client_credentials"
    assert settings.token_url == "https://login.salesforce.com/services/oauth2/token"
    assert settings.api_version == "59.0"
    assert settings.external_id_field == "RE_Constituent_ID__c"
    assert settings.poll_every == timedelta(minutes=5)
    assert settings.login_form() == {
        "grant_type": "client_credentials",
        "client_id": "3MVG9key",
        "client_secret": "s3cret",
    }


def test_the_password_flow_sends_the_password_followed_by_the_security_token() -> None:
    settings = SalesforceSettings(
        **BASE, grant="password", username=" api@example.org ", password="pw", security_token="TK"
    )

    assert settings.login_form() == {
        "grant_type": "password",
        "client_id": "3MVG9key",
        "client_secret": "s3cret",
        "username": "api@example.org",
        "password": "pwTK",
    }
    assert settings.login_name() == "user 'api@example.org'"


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"grant": "password", "password": "pw"}, "username", "needs the integration user's"),
        ({"grant": "password", "username": "a@b.org"}, "password", "needs the integration user's"),
        ({"username": "a@b.org"}, "username", "runs as the connected app's Run As user"),
        ({"password": "pw"}, "password", "takes no password"),
        ({"grant": "jwt"}, "grant", "'client_credentials' or 'password'"),
    ],
)
def test_each_flow_needs_its_credentials_and_no_others(
    values: dict[str, Any], field: str, message: str
) -> None:
    loc, msg = refusal(**BASE, **values)

    assert loc == (field,)
    assert message in msg


@pytest.mark.parametrize(
    ("given", "kept"), [("59.0", "59.0"), ("v62.0", "62.0"), ("46", "46.0"), (" 65.0 ", "65.0")]
)
def test_api_versions_are_normalised(given: str, kept: str) -> None:
    assert SalesforceSettings(**BASE, api_version=given).api_version == kept


@pytest.mark.parametrize(
    ("given", "message"), [("45.0", "too old"), ("59.5", "not an API version"), ("x", "not an")]
)
def test_old_or_malformed_versions_are_refused(given: str, message: str) -> None:
    loc, msg = refusal(**BASE, api_version=given)

    assert loc == ("api_version",)
    assert message in msg


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("ftp://login.salesforce.com", "not an http(s) address"),
        ("https://login.salesforce.com/services/oauth2/token", "without a path"),
        ("login.salesforce.com", "not an http(s) address"),
    ],
)
def test_the_login_url_is_a_host(given: str, message: str) -> None:
    loc, msg = refusal(**BASE, login_url=given)

    assert loc == ("login_url",)
    assert message in msg


def test_a_sandbox_login_host_keeps_no_trailing_slash() -> None:
    settings = SalesforceSettings(**BASE, login_url="https://test.salesforce.com/")

    assert settings.token_url == "https://test.salesforce.com/services/oauth2/token"


def test_the_external_id_field_is_a_custom_field() -> None:
    assert SalesforceSettings(**BASE, external_id_field="RE_ID__c").external_id_field == "RE_ID__c"
    loc, msg = refusal(**BASE, external_id_field="Email")
    assert loc == ("external_id_field",)
    assert "not a custom field's API name" in msg


@pytest.mark.parametrize(("given", "every"), [("90s", 90), ("1h", 3600), (600, 600)])
def test_the_polling_period_takes_durations(given: Any, every: int) -> None:
    assert SalesforceSettings(**BASE, poll_every=given).poll_every == timedelta(seconds=every)


def test_a_zero_polling_period_is_refused() -> None:
    loc, msg = refusal(**BASE, poll_every=0)

    assert loc == ("poll_every",)
    assert "more than 0" in msg


def test_secrets_never_show() -> None:
    settings = SalesforceSettings(
        **BASE, grant="password", username="a@b.org", password="pw-123", security_token="TK-456"
    )

    shown = repr(settings) + str(settings)
    for secret in ("s3cret", "pw-123", "TK-456"):
        assert secret not in shown
    assert isinstance(settings.security_token, SecretStr)
