"""A registry of small test components, independent of the built-in plugin's names."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic_settings import BaseSettings

from syncframe.components import (
    BatchResult,
    Filter,
    GuardVerdict,
    LoopGuard,
    MatchDecision,
    Matcher,
    Sink,
    Source,
    SourceBatch,
    TargetLookup,
    TargetRecord,
    WritePlan,
)
from syncframe.records import Change
from syncframe.registry import (
    ComponentRegistrar,
    ConverterRegistrar,
    Registry,
    SystemRegistrar,
)


class CrmSettings(BaseSettings):
    """A CRM reached over HTTP."""

    url: str
    user: str
    password: SecretStr
    page_size: int = 100
    tags: list[str] = []


class MailSettings(BaseSettings):
    """A mailing-list service."""

    api_key: SecretStr
    server: str = "us1"


class FileOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    key: str = "id"


class CsvSource(Source[FileOptions]):
    """Reads rows of a CSV file."""

    Options = FileOptions

    async def read(self, cursor: Any, batch_size: int) -> AsyncIterator[SourceBatch]:
        yield SourceBatch([], cursor)


class ContactOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: str = "contact"
    since_days: int = 30


class CrmContacts(Source[ContactOptions]):
    """Reads CRM contacts changed since a cursor."""

    Options = ContactOptions
    system = "crm"

    async def read(self, cursor: Any, batch_size: int) -> AsyncIterator[SourceBatch]:
        yield SourceBatch([], cursor)


class _Writes(Sink[Any]):
    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        return BatchResult([])


class CsvSink(_Writes):
    """Appends rows to a CSV file (cannot look up)."""

    Options = FileOptions


class JsonlSink(_Writes):
    """Appends JSON lines to a file (cannot look up)."""

    Options = FileOptions


class _Finder(TargetLookup):
    async def find(self, field: str, values: Sequence[str]) -> dict[str, list[TargetRecord]]:
        return {}


class TableOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table: str
    key: str = "id"


class SqlTableSink(_Writes):
    """Upserts rows of a table (can look up)."""

    Options = TableOptions

    def lookup(self) -> TargetLookup | None:
        return _Finder()


class MembersOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    list_id: str


class MailMembers(_Writes):
    """Upserts list members (can look up)."""

    Options = MembersOptions
    system = "mail"

    def lookup(self) -> TargetLookup | None:
        return _Finder()


class CascadeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[str]
    on_many: str = "reject"


class KeyCascade(Matcher[CascadeOptions]):
    """Matches on the first key that finds exactly one record."""

    Options = CascadeOptions

    async def decide(
        self, changes: Sequence[Change], target: TargetLookup | None
    ) -> list[MatchDecision | None]:
        return [None for _ in changes]


class Echo(LoopGuard[Any]):
    """Blocks changes the flow itself wrote."""

    async def screen(self, changes: Sequence[Change]) -> list[GuardVerdict | None]:
        return [None for _ in changes]


class StatusOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = "status"
    keep: list[str] = ["active"]


class OnlyActive(Filter[StatusOptions]):
    """Keeps changes whose status is one of ``keep``."""

    Options = StatusOptions

    def reason_to_drop(self, change: Change) -> str | None:
        return None


def build_registry() -> Registry:
    """The test registry: two systems, a few of every kind of component, two converters."""
    registry = Registry()
    plugin = "tests"
    SystemRegistrar(registry, plugin)("crm", CrmSettings)
    SystemRegistrar(registry, plugin)("mail", MailSettings)
    sources = ComponentRegistrar(registry, "source", Source, registry.sources, plugin)
    sources("csv", CsvSource)
    sources("crm_contacts", CrmContacts)
    sinks = ComponentRegistrar(registry, "sink", Sink, registry.sinks, plugin)
    sinks("csv", CsvSink)
    sinks("jsonl", JsonlSink)
    sinks("sql_table", SqlTableSink)
    sinks("mail_members", MailMembers)
    ComponentRegistrar(registry, "matcher", Matcher, registry.matchers, plugin)(
        "key_cascade", KeyCascade
    )
    ComponentRegistrar(registry, "loop guard", LoopGuard, registry.loop_guards, plugin)(
        "echo", Echo
    )
    ComponentRegistrar(registry, "filter", Filter, registry.filters, plugin)(
        "only_active", OnlyActive
    )
    converters = ConverterRegistrar(registry, plugin)
    converters("strip", str.strip, description="Strip surrounding spaces.")
    converters("lower", str.lower, description="Lower-case text.")
    return registry


@pytest.fixture
def registry() -> Registry:
    return build_registry()


@pytest.fixture(autouse=True)
def _no_process_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep SYNCFRAME_CRM_* / SYNCFRAME_MAIL_* of the developer's shell out of the tests."""
    import os

    for name in list(os.environ):
        if name.upper().startswith(("SYNCFRAME_CRM_", "SYNCFRAME_MAIL_")):
            monkeypatch.delenv(name)
