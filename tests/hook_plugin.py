"""A test plugin: a webhook source ``signed_hooks`` (system ``hooks``) for the serve tests.

A delivery is JSON ``{"events": [{"id", "type", "key", "fields"}]}`` signed with
``X-Signature: hex(HMAC-SHA256(secret, body))``. Events of type ``"ping"`` are ignored by
``accept``; events of type ``"note"`` are stored but carry no change; every other event is one
change of ``hooks.contact[id=key]``. Paired with the memory sink of ``tests.e2e.memory_plugin``.
Loaded in a subprocess with ``SYNCFRAME_PLUGINS_EXTRA=tests.hook_plugin,tests.e2e.memory_plugin``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, ClassVar

from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from syncframe import Change, Operation, hookimpl
from syncframe.registry import ComponentRegistrar, SystemRegistrar
from syncframe.webhooks import InboxEvent, WebhookDelivery, WebhookRefused, WebhookSource


class HookSettings(BaseSettings):
    """The sender's signing secret."""

    model_config = SettingsConfigDict(extra="forbid")

    secret: SecretStr


def sign(secret: str, body: bytes) -> str:
    """The signature header value of ``body``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_body(*events: dict[str, Any]) -> bytes:
    """A delivery's body."""
    return json.dumps({"events": list(events)}).encode()


class SignedHooks(WebhookSource[BaseModel]):
    """Signed JSON deliveries of contact events."""

    system: ClassVar[str | None] = "hooks"
    entity: ClassVar[str] = "contact"

    def accept(self, delivery: WebhookDelivery) -> list[tuple[str, Any]]:
        settings = self.context.connection
        assert isinstance(settings, HookSettings)
        wanted = sign(settings.secret.get_secret_value(), delivery.body)
        if not hmac.compare_digest(delivery.headers.get("x-signature", ""), wanted):
            raise WebhookRefused(401, "X-Signature does not match the body")
        try:
            events = json.loads(delivery.body)["events"]
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRefused(400, f"body is not a JSON delivery: {exc}") from None
        return [(str(e["id"]), e) for e in events if e.get("type") != "ping"]

    def changes_of(self, event: InboxEvent) -> list[Change]:
        payload = event.payload
        if payload.get("type") == "note":
            return []
        return [
            Change(
                "hooks",
                "contact",
                {"id": str(payload["key"])},
                Operation.UPDATE,
                dict(payload["fields"]),
                change_id=event.event_id,
            )
        ]


@hookimpl
def syncframe_register_systems(register: SystemRegistrar) -> None:
    register("hooks", HookSettings, description="a signed webhook sender (tests)")


@hookimpl
def syncframe_register_sources(register: ComponentRegistrar) -> None:
    register("signed_hooks", SignedHooks)
