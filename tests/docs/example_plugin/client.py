"""A thin client of the PledgeBox REST API, on the HTTP client the engine provides.

It never builds its own ``httpx.AsyncClient``: the engine's one carries the connection's timeout,
concurrency and rate limits, and in tests a transport that serves the fake API in-process. Error
responses become the engine's error types through :func:`syncframe.http.raise_for_status`, so
429s and 5xx are retried by the engine and other 4xx fail the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from syncframe.http import raise_for_status

from .models import Pledge, PledgeBoxSettings, PledgePage, PledgeWrite, WriteResult

#: PledgeBox accepts at most this many values in one search.
SEARCH_LIMIT = 100


class InvalidPledge(Exception):
    """PledgeBox refused one pledge's data (HTTP 422): a problem of that record only."""


class PledgeBoxClient:
    """The calls syncframe makes to PledgeBox."""

    def __init__(self, http: httpx.AsyncClient, settings: PledgeBoxSettings) -> None:
        self._http = http
        self._base = settings.base_url.rstrip("/") + "/v1"
        # The key goes in a header only; raise_for_status never puts headers in messages.
        self._headers = {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}

    async def _call(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        response = await self._http.request(
            method, self._base + path, headers=self._headers, **kwargs
        )
        if response.status_code == 422:
            raise InvalidPledge(f"{what}: {_error_of(response)}")
        raise_for_status(response, what)
        return response

    async def ping(self) -> None:
        """Check the address and the key."""
        await self._call("GET", "/ping", "checking the PledgeBox connection")

    async def changed_since(
        self, updated_since: datetime | None, after_id: str | None, limit: int
    ) -> PledgePage:
        """Pledges changed after (``updated_since``, ``after_id``), oldest change first."""
        params: dict[str, str | int] = {"limit": limit}
        if updated_since is not None:
            params["updated_since"] = updated_since.isoformat()
        if after_id is not None:
            params["after_id"] = after_id
        response = await self._call("GET", "/pledges", "listing changed pledges", params=params)
        return PledgePage.model_validate_json(response.content)

    async def search(self, field: str, values: Sequence[str]) -> list[Pledge]:
        """Pledges whose ``field`` (``external_ref`` or ``donor_email``) is one of ``values``."""
        found: list[Pledge] = []
        for start in range(0, len(values), SEARCH_LIMIT):
            chunk = list(values[start : start + SEARCH_LIMIT])
            response = await self._call(
                "POST",
                "/pledges/search",
                f"searching pledges by {field}",
                json={"field": field, "values": chunk},
            )
            found.extend(PledgePage.model_validate_json(response.content).data)
        return found

    async def upsert_by_ref(self, external_ref: str, pledge: PledgeWrite) -> WriteResult:
        """Create the pledge with this external reference, or update the one that has it.

        Sending it twice changes nothing the second time: what makes the sink idempotent.
        """
        response = await self._call(
            "PUT",
            f"/pledges/by-ref/{quote(external_ref, safe='')}",
            f"saving pledge {external_ref}",
            json=pledge.model_dump(exclude_none=True),
        )
        return WriteResult.model_validate_json(response.content)

    async def update(self, pledge_id: str, pledge: PledgeWrite) -> WriteResult:
        """Update an existing pledge."""
        response = await self._call(
            "PATCH",
            f"/pledges/{pledge_id}",
            f"updating pledge {pledge_id}",
            json=pledge.model_dump(exclude_none=True),
        )
        return WriteResult.model_validate_json(response.content)

    async def delete(self, pledge_id: str) -> bool:
        """Delete a pledge; ``False`` if it was already gone."""
        response = await self._http.request(
            "DELETE", f"{self._base}/pledges/{pledge_id}", headers=self._headers
        )
        if response.status_code == 404:
            return False
        raise_for_status(response, f"deleting pledge {pledge_id}")
        return True


def _error_of(response: httpx.Response) -> str:
    """PledgeBox's own explanation of a refusal (``{"error": "..."}``), or the body."""
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return response.text[:300]
