"""The ``api`` event step: a flow started by the real-time API with the data POSTed to it.

The real-time API (:mod:`syncframe_smartsync.realtime_api`) checks the request's key, checksum and
timestamp, then hands the data to the flow through the serve app's webhook machinery: the data
becomes one event in the flow's inbox (its id is the request's checksum, so an exact replay of a
request is recognised and never applied twice) and the flow runs at once. This source turns that
event into one change. Deliveries reach it only from the real-time API of the same process: each
carries a token known to this process alone, so a POST to ``/webhooks/<flow>`` from outside is
refused.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field

from syncframe.records import Change, Operation
from syncframe.state.base import InboxEvent
from syncframe.webhooks import WebhookDelivery, WebhookRefused, WebhookSource

__all__ = ["API_TOKEN_HEADER", "ApiEventOptions", "ApiEventSource", "api_delivery"]

#: The header that proves a delivery came from this process's real-time API.
API_TOKEN_HEADER: Final = "x-smartsync-api-token"
# Made fresh for every process: nothing outside it can know it.
_PROCESS_TOKEN: Final = secrets.token_hex(32)


def api_delivery(flow: str, request_id: str, data: Mapping[str, str]) -> WebhookDelivery:
    """The delivery the real-time API hands to ``flow``: its data as one event."""
    body = json.dumps({"event_id": request_id, "data": dict(data)}).encode()
    return WebhookDelivery(
        method="POST",
        path=f"/apis/execute.php?flow={flow}",
        query={},
        headers={API_TOKEN_HEADER: _PROCESS_TOKEN, "content-type": "application/json"},
        body=body,
    )


class ApiEventOptions(BaseModel):
    """Options of the ``smartsync_api`` event step (source)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(
        "email",
        min_length=1,
        description="The data field that identifies the record (required in every request).",
    )
    system: str = Field(
        "api",
        min_length=1,
        description="The system name the changes report (run history, loop protection).",
    )
    entity: str = Field("record", min_length=1, description="The entity the data is.")


class ApiEventSource(WebhookSource[ApiEventOptions]):
    """Data POSTed to the real-time API: one change per request, fields as given."""

    Options: ClassVar[type[BaseModel]] = ApiEventOptions
    system: ClassVar[str | None] = None

    def accept(self, delivery: WebhookDelivery) -> list[tuple[str, Any]]:
        token = delivery.headers.get(API_TOKEN_HEADER, "")
        if not hmac.compare_digest(token, _PROCESS_TOKEN):
            raise WebhookRefused(
                401,
                "this flow is started by the real-time API (/apis/execute.php), not by webhooks",
            )
        body = json.loads(delivery.body)
        data = body["data"]
        key = self.options.key
        if not str(data.get(key) or "").strip():
            raise WebhookRefused(
                400,
                f"the data has no {key!r} field: the flow's event step identifies records by it",
            )
        return [(str(body["event_id"]), data)]

    def changes_of(self, event: InboxEvent) -> list[Change]:
        data = dict(event.payload)
        key = self.options.key
        return [
            Change(
                self.options.system,
                self.options.entity,
                {key: str(data[key])},
                Operation.UPDATE,
                data,
                occurred_at=event.received_at,
                change_id=event.event_id,
            )
        ]
