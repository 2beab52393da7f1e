"""PledgeBox's data as pydantic models: the connection settings and the API's payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class PledgeBoxSettings(BaseSettings):
    """A PledgeBox account: where its API is and the key that opens it."""

    # The engine gives each connection its own prefix (SYNCFRAME_<CONNECTION>_): none here.
    model_config = SettingsConfigDict(extra="forbid")

    base_url: str = Field(
        "https://api.pledgebox.example", description="The API's address, without /v1."
    )
    api_key: SecretStr = Field(description="An API key from PledgeBox → Settings → API.")


class Pledge(BaseModel):
    """A pledge as PledgeBox returns it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    external_ref: str | None = None
    donor_email: str
    donor_name: str = ""
    amount_cents: int
    currency: str = "USD"
    status: str = "active"
    created_at: datetime
    updated_at: datetime

    def fields(self) -> dict[str, Any]:
        """Every field, JSON-ready: what a change of this pledge carries."""
        return self.model_dump(mode="json")


class PledgePage(BaseModel):
    """One page of ``GET /v1/pledges``: pledges oldest change first, and whether more follow."""

    data: list[Pledge]
    has_more: bool


class WriteResult(BaseModel):
    """What PledgeBox answers to a create or an update."""

    data: Pledge
    created: bool = False
    modified: bool = False


class PledgeWrite(BaseModel):
    """The fields of a pledge a client may set; a field left out is left as it is."""

    model_config = ConfigDict(extra="forbid")

    external_ref: str | None = None
    donor_email: str | None = None
    donor_name: str | None = None
    amount_cents: int | None = None
    currency: str | None = None
    status: str | None = None


class PledgeCursor(BaseModel):
    """Where reading resumes: after the pledge ``after_id`` changed at ``updated_since``."""

    updated_since: AwareDatetime | None = None
    after_id: str | None = None
