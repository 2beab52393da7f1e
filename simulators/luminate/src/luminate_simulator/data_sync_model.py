"""The Raiser's Edge connector data sync as Luminate Online's admin sees it: the operation in
Data Management > Import/Export > **All Data Sync Operations** (its Operation File Name, schedule,
connector machine, FTP account and On Demand settings) and the **Operation Results** list (status,
messages and Available Files of every run).

Only the records live here; the run is :mod:`luminate_simulator.data_sync`. The wording of the
three documented errors (seed 000) is fixed in this module; every other message is ours and is
listed in ``docs/simulators/luminate-data-sync.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, Final, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = [
    "MISSING_TR_SOLICITOR_IMPORT_ID",
    "NO_FILES_GENERATED",
    "RESULT_STATUSES",
    "SERVER_NOT_AVAILABLE",
    "TRIGGERS",
    "AvailableFile",
    "DataSyncOperation",
    "FileDirection",
    "FtpAccount",
    "FtpAccountEdit",
    "FtpAccountIn",
    "OperationEdit",
    "OperationIn",
    "OperationResult",
    "ResultStatus",
    "Schedule",
    "SettingsEdit",
    "SyncSettings",
    "Trigger",
    "connector_address",
]

# -- the documented messages (seed 000), word for word ----------------------------------------

#: The connector machine could not be reached (``address`` = host:port of its URL).
SERVER_NOT_AVAILABLE: Final = 'Server is not available (Failed to connect to address "{address}".)'
#: The connector answered the upload call without generating any file.
NO_FILES_GENERATED: Final = "Not initiating download since no files were generated"
#: TeamRaiser transactions held back because their solicitor has no RE Import ID.
MISSING_TR_SOLICITOR_IMPORT_ID: Final = (
    "Number of transactions not downloaded due to missing ImportID for TR solicitor: {count}"
)

ResultStatus = Literal["Running", "Completed", "Completed with errors", "Failed"]
RESULT_STATUSES: Final[tuple[ResultStatus, ...]] = (
    "Running",
    "Completed",
    "Completed with errors",
    "Failed",
)

#: What started a run: the schedule, an admin's "run now", or one of the On Demand triggers.
Trigger = Literal[
    "schedule",
    "run_now",
    "profile_viewed",
    "profile_modified",
    "new_registration",
    "cross_reference_mapping",
    "group_segment",
]
TRIGGERS: Final[tuple[Trigger, ...]] = (
    "schedule",
    "run_now",
    "profile_viewed",
    "profile_modified",
    "new_registration",
    "cross_reference_mapping",
    "group_segment",
)

#: Where an Available File came from: the connector's ``/upload/`` folder, Luminate's own files
#: for RE in ``/download/``, or a report Luminate wrote for the admin (never on the FTP server).
FileDirection = Literal["upload", "download", "report"]

_OPERATION_FILE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.xml")
_MAX_INTERVAL_MINUTES: Final = 7 * 24 * 60


def connector_address(url: str) -> str:
    """``host:port`` of a connector URL, the port defaulted from the scheme (as Luminate shows
    it in "Failed to connect to address ...")."""
    parsed = httpx.URL(url)
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    return f"{parsed.host}:{port}"


# -- input (admin API) ---------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Schedule(_Body):
    """When the operation runs on the simulator clock: every N minutes, or daily at HH:MM (UTC).

    Give exactly one of the two. The first run of ``every_minutes`` is one interval after the
    schedule was set; the first of ``daily_at`` the next HH:MM at or after that moment.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    every_minutes: int | None = Field(None, ge=1, le=_MAX_INTERVAL_MINUTES)
    daily_at: time | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        if (self.every_minutes is None) == (self.daily_at is None):
            raise ValueError("give either every_minutes or daily_at (HH:MM)")
        if self.daily_at is not None and self.daily_at.tzinfo is not None:
            raise ValueError("daily_at is a time of the simulator clock (UTC), without a zone")
        return self

    def first_due(self, since: datetime) -> datetime:
        """The first run time of a schedule set at ``since``."""
        if self.every_minutes is not None:
            return since + timedelta(minutes=self.every_minutes)
        assert self.daily_at is not None
        candidate = self._at_day(since)
        return candidate if candidate >= since else candidate + timedelta(days=1)

    def next_due(self, due: datetime, now: datetime) -> datetime:
        """The first run time after ``now`` on the schedule's grid (``due`` = the run that fired).

        A simulator clock moved on by days fires one run, not one per missed slot (what a
        scheduler that was down does when it comes back).
        """
        if self.every_minutes is not None:
            step = timedelta(minutes=self.every_minutes)
            return due + step * ((now - due) // step + 1)
        candidate = self._at_day(now)
        return candidate if candidate > now else candidate + timedelta(days=1)

    def _at_day(self, moment: datetime) -> datetime:
        assert self.daily_at is not None
        at = self.daily_at
        return moment.replace(hour=at.hour, minute=at.minute, second=at.second, microsecond=0)

    def to_json(self) -> dict[str, Any]:
        if self.every_minutes is not None:
            return {"every_minutes": self.every_minutes}
        assert self.daily_at is not None
        return {"daily_at": self.daily_at.strftime("%H:%M:%S" if self.daily_at.second else "%H:%M")}


class SyncSettings(_Body):
    """The operation's settings. Every On Demand switch is off unless set (seed 000: never
    assume a client has them all on)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Also send TeamRaiser registrations (off by default, as in the connector's settings).
    teamraiser_registrations: bool = False
    #: On Demand: a constituent profile viewed or modified in Constituent360.
    profile_viewed_or_modified: bool = False
    #: On Demand: a client administrator adds a new cross-reference mapping.
    cross_reference_mapping: bool = False
    #: On Demand: a client admin maps a Luminate group to an offline segment.
    group_offline_segment: bool = False
    #: On Demand: a new constituent registers in Luminate.
    new_registration: bool = False
    #: PREDUP_MATCH_ENABLED: new registrations wait in Resolve New Registrations until resolved.
    predup_match_enabled: bool = False


class SettingsEdit(_Body):
    """A partial change of :class:`SyncSettings` (absent = unchanged)."""

    teamraiser_registrations: bool | None = None
    profile_viewed_or_modified: bool | None = None
    cross_reference_mapping: bool | None = None
    group_offline_segment: bool | None = None
    new_registration: bool | None = None
    predup_match_enabled: bool | None = None


class FtpAccountIn(_Body):
    """The site's ``shortname_ds`` FTP account the exchange goes through."""

    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(21, ge=1, le=65535)
    user: str = Field(min_length=1)
    password: SecretStr
    timeout: float = Field(30.0, gt=0, le=600)


class FtpAccountEdit(_Body):
    host: str | None = Field(None, min_length=1)
    port: int | None = Field(None, ge=1, le=65535)
    user: str | None = Field(None, min_length=1)
    password: SecretStr | None = None
    timeout: float | None = Field(None, gt=0, le=600)


def _check_connector_url(value: str) -> str:
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as error:
        raise ValueError(f"{value!r} is not a URL ({error})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{value!r} is not an http(s) URL of the connector machine")
    return value.rstrip("/")


def _check_operation_file(value: str) -> str:
    if not _OPERATION_FILE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a plain file name ending in .xml (e.g. re_sync_v52.xml)"
        )
    return value


class OperationIn(_Body):
    """A new RE connector operation (``POST /_admin/luminate/data-sync/operations``)."""

    name: str = Field("Raiser's Edge Connector", min_length=1, max_length=100)
    operation_file_name: str
    schedule: Schedule | None = None
    connector_url: str
    connector_key: SecretStr | None = None
    ftp: FtpAccountIn
    settings: SyncSettings = SyncSettings()

    _file = field_validator("operation_file_name")(_check_operation_file)
    _url = field_validator("connector_url")(_check_connector_url)


class OperationEdit(_Body):
    """A change to an operation (``PATCH``): absent fields are unchanged; ``schedule: null``
    stops scheduled runs and ``connector_key: null`` removes the key."""

    name: str | None = Field(None, min_length=1, max_length=100)
    operation_file_name: str | None = None
    schedule: Schedule | None = None
    connector_url: str | None = None
    connector_key: SecretStr | None = None
    ftp: FtpAccountEdit | None = None
    settings: SettingsEdit | None = None

    @field_validator("operation_file_name")
    @classmethod
    def _file(cls, value: str | None) -> str | None:
        return None if value is None else _check_operation_file(value)

    @field_validator("connector_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_connector_url(value)


# -- the records -----------------------------------------------------------------------------


@dataclass(slots=True)
class FtpAccount:
    host: str
    port: int
    user: str
    password: SecretStr
    timeout: float = 30.0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password_set": bool(self.password.get_secret_value()),
            "timeout": self.timeout,
        }


@dataclass(slots=True)
class DataSyncOperation:
    """One row of All Data Sync Operations: the RE connector's data sync."""

    operation_id: int
    name: str
    operation_file_name: str
    schedule: Schedule | None
    connector_url: str
    connector_key: SecretStr | None
    ftp: FtpAccount
    settings: SyncSettings
    created_at: datetime
    next_run_at: datetime | None = None
    last_result_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """As the admin API shows it: the key and the FTP password are never echoed."""
        return {
            "operation_id": self.operation_id,
            "name": self.name,
            "operation_file_name": self.operation_file_name,
            "schedule": None if self.schedule is None else self.schedule.to_json(),
            "next_run_at": self.next_run_at,
            "connector_url": self.connector_url,
            "connector_key_set": self.connector_key is not None,
            "ftp": self.ftp.to_json(),
            "settings": self.settings.model_dump(),
            "created_at": self.created_at,
            "last_result_id": self.last_result_id,
        }


@dataclass(frozen=True, slots=True)
class AvailableFile:
    """A file of an Operation Result the admin can download (kept by the simulator)."""

    name: str
    direction: FileDirection
    path: Path
    size: int


@dataclass(slots=True)
class OperationResult:
    """One row of Operation Results: one run or On Demand push."""

    result_id: int
    operation_id: int
    trigger: Trigger
    started_at: datetime
    finished_at: datetime | None = None
    status: ResultStatus = "Running"
    messages: list[str] = field(default_factory=list)
    files: list[AvailableFile] = field(default_factory=list)
    #: What the connector answered it collected from ``/download/`` (its ``collected`` list).
    collected: list[str] = field(default_factory=list)
    # Set by problem messages: decides "Completed with errors" over "Completed".
    had_problems: bool = False
    failed: bool = False

    def note(self, message: str) -> None:
        """A message that reports what happened (no problem)."""
        self.messages.append(message)

    def problem(self, message: str) -> None:
        """A message about something that went wrong but did not stop the run."""
        self.messages.append(message)
        self.had_problems = True

    def fail(self, message: str) -> None:
        """A message about what stopped the run."""
        self.messages.append(message)
        self.failed = True

    def add_file(self, name: str, direction: FileDirection, path: Path) -> None:
        self.files.append(AvailableFile(name, direction, path, path.stat().st_size))

    def file(self, name: str) -> AvailableFile | None:
        return next((f for f in self.files if f.name == name), None)

    def finish(self, at: datetime) -> None:
        self.finished_at = at
        if self.failed:
            self.status = "Failed"
        elif self.had_problems:
            self.status = "Completed with errors"
        else:
            self.status = "Completed"

    def to_json(self, url_prefix: str) -> dict[str, Any]:
        return {
            "result_id": self.result_id,
            "operation_id": self.operation_id,
            "trigger": self.trigger,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "messages": list(self.messages),
            "available_files": [
                {
                    "name": f.name,
                    "direction": f.direction,
                    "size": f.size,
                    "url": f"{url_prefix}/results/{self.result_id}/files/{f.name}",
                }
                for f in self.files
            ],
            "collected": list(self.collected),
        }
