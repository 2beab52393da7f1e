"""Shared fixtures of the Mailchimp simulator tests: an authenticated in-process client and a
webhook receiver standing in for the app that Mailchimp posts to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from mailchimp_simulator import (
    DEFAULT_API_KEY,
    DEFAULT_LIST_ID,
    MailchimpSimulator,
    subscriber_hash,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

LIST = DEFAULT_LIST_ID
#: Basic auth as the SDK sends it: any user name, the API key as password.
AUTH = ("anystring", DEFAULT_API_KEY)
HOOK_URL = "https://receiver.example.org/hooks/mailchimp?secret=s3cret"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim(mailchimp_simulator: MailchimpSimulator) -> MailchimpSimulator:
    """The registered simulator from the kit's fixture (on the test's ``sim_clock``)."""
    return mailchimp_simulator


@pytest.fixture
def api(sim: MailchimpSimulator) -> httpx.AsyncClient:
    """An in-process client of the imitated API with the default API key (closed by the
    simulator fixture)."""
    return sim.client(auth=AUTH)


def member_url(email: str, list_id: str = LIST) -> str:
    return f"/3.0/lists/{list_id}/members/{subscriber_hash(email)}"


async def put_member(api: httpx.AsyncClient, email: str, **body: Any) -> dict[str, Any]:
    """PUT a member (``status_if_new`` subscribed unless given); the answer, which must be 200."""
    body.setdefault("status_if_new", "subscribed")
    answer = await api.put(member_url(email), json={"email_address": email, **body})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def problem(answer: httpx.Response) -> dict[str, Any]:
    """The problem+json body of a refusal (checking the media type and the common keys)."""
    assert answer.headers["content-type"] == "application/problem+json; charset=utf-8"
    body: dict[str, Any] = answer.json()
    assert body["type"] == "https://mailchimp.com/developer/marketing/docs/errors/"
    assert body["status"] == answer.status_code
    assert body["instance"]
    return body


@dataclass
class Received:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


class WebhookReceiver:
    """An app that records what Mailchimp sends it. GETs (the URL check) answer
    ``verify_status``; POSTs answer the next of ``post_statuses`` (200 once they run out)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.verify_status = 200
        self.post_statuses: list[int] = []

        async def hook(request: Request) -> Response:
            self.received.append(
                Received(
                    request.method,
                    str(request.url),
                    dict(request.headers),
                    await request.body(),
                )
            )
            if request.method == "GET":
                return PlainTextResponse("ok", status_code=self.verify_status)
            status = self.post_statuses.pop(0) if self.post_statuses else 200
            return PlainTextResponse("nope" if status >= 300 else "ok", status_code=status)

        self.app = Starlette(routes=[Route("/hooks/mailchimp", hook, methods=["GET", "POST"])])

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)

    def posts(self) -> list[dict[str, str]]:
        return [r.form() for r in self.received if r.method == "POST"]


@pytest.fixture
def receiver(sim: MailchimpSimulator) -> WebhookReceiver:
    """A receiver wired as the simulator's webhook transport."""
    hooks = WebhookReceiver()
    sim.webhook_transport = hooks.transport()
    return hooks
