"""What the Salesforce REST API answers, as pydantic models: the token endpoint's answer, query
pages, save results of sObject Collections and the error list.

Only the parts the connector reads are modelled; anything else in an answer is ignored, so a
newer API version adding keys changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = [
    "ApiErrorItem",
    "QueryPage",
    "SaveError",
    "SaveResult",
    "TokenAnswer",
    "describe_errors",
    "parse_datetime",
]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TokenAnswer(_Answer):
    """``POST /services/oauth2/token``: the session and where the org's API is."""

    access_token: SecretStr
    instance_url: str
    #: The identity URL ``.../id/<org id>/<user id>``: who the session runs as.
    id: str = ""
    token_type: str = "Bearer"

    @property
    def user_id(self) -> str | None:
        """The session user's id (the last segment of the identity URL), if given."""
        last = self.id.rstrip("/").rsplit("/", 1)[-1]
        return last if last.startswith("005") else None


class ApiErrorItem(_Answer):
    """One entry of the REST API's error list ``[{"message", "errorCode", "fields"}]``."""

    message: str = ""
    error_code: str = Field("UNKNOWN", alias="errorCode")
    fields: list[str] = Field(default_factory=list)

    def describe(self) -> str:
        where = f" (fields: {', '.join(self.fields)})" if self.fields else ""
        return f"{self.error_code}: {self.message}{where}"


class SaveError(_Answer):
    """One error of a save result (sObject Collections name the code ``statusCode``)."""

    status_code: str = Field("UNKNOWN", alias="statusCode")
    message: str = ""
    fields: list[str] = Field(default_factory=list)

    def describe(self) -> str:
        where = f" (fields: {', '.join(self.fields)})" if self.fields else ""
        return f"{self.status_code}: {self.message}{where}"


class SaveResult(_Answer):
    """The result of saving one record through sObject Collections."""

    id: str | None = None
    success: bool
    errors: list[SaveError] = Field(default_factory=list)
    #: Whether an upsert created the record (upsert results only).
    created: bool | None = None

    def describe_errors(self) -> str:
        return "; ".join(error.describe() for error in self.errors) or "refused without a reason"


class QueryPage(_Answer):
    """One page of a SOQL query result."""

    total_size: int = Field(alias="totalSize")
    done: bool
    next_records_url: str | None = Field(None, alias="nextRecordsUrl")
    records: list[dict[str, Any]]


def describe_errors(errors: list[ApiErrorItem]) -> str:
    """An error list as one line: ``CODE: message (fields: A); CODE2: ...``."""
    return "; ".join(item.describe() for item in errors) or "no error detail"


def parse_datetime(value: Any) -> datetime | None:
    """A Salesforce date-time (``2026-01-01T09:00:00.000+0000``) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
