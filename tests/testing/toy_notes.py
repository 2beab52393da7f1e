"""A toy connector and its simulator, to test the conformance suite itself.

"Notes" is a tiny REST service: notes with a reference, a text and a change sequence number.
The simulator (a kit :class:`Simulator`) serves, under ``/api`` and with ``X-Token``:

- ``GET /ping``
- ``GET /notes?after=&limit=``: notes changed after sequence ``after``, oldest change first
- ``PUT /notes/{ref}`` ``{"text": ...}``: create or update the note with this reference
- ``POST /notes`` ``{"ref": ..., "text": ...}``: create a note (always a new one)

An empty text is refused with 422 ``{"error": "text must not be empty"}``.

The connector comes in a conforming version (source and sink ``toy_notes``) and in broken
versions, each breaking one promise the suite checks: a source that forgets its cursor, a sink
that creates duplicates when a batch is written again, a sink that rejects without a reason, and
components whose client turns any error (a 503 too) into a permanent one.

This file is copied into ``pytester`` runs as the module ``toy_notes``; it imports nothing from
the test suite.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from syncframe_simulators import Simulator

from syncframe import (
    BatchResult,
    Change,
    ComponentContext,
    NoOptions,
    Operation,
    Outcome,
    PermanentError,
    Sink,
    Source,
    SourceBatch,
    WritePlan,
    hookimpl,
)
from syncframe.http import raise_for_status
from syncframe.webhooks import InboxEvent, WebhookDelivery, WebhookRefused, WebhookSource

TOKEN = "notes-token-0a1b2c"

# --------------------------------------------------------------------------------------------
# The simulator


class NotesSimulator(Simulator):
    """The Notes service: notes in memory, keyed by id, each with its last change's sequence."""

    name = "notes"

    def __init__(self, *, token: str = TOKEN, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.notes: dict[str, dict[str, Any]] = {}
        self._seq = 0

    # ---- what the kit asks of a simulator ------------------------------------------------------
    def api_routes(self) -> list[BaseRoute]:
        return [
            Route("/api/ping", self._ping, methods=["GET"]),
            Route("/api/notes", self._list, methods=["GET"]),
            Route("/api/notes", self._create, methods=["POST"]),
            Route("/api/notes/{ref}", self._upsert, methods=["PUT"]),
        ]

    def snapshot(self) -> dict[str, Any]:
        return {"notes": list(self.notes.values())}

    def seed_records(self, payload: dict[str, Any]) -> dict[str, Any]:
        made = [self.add(note["ref"], note.get("text", "seeded")) for note in payload["notes"]]
        return {"notes": made}

    def reset(self) -> None:
        self.notes.clear()
        self._seq = 0

    # ---- domain --------------------------------------------------------------------------------
    def add(self, ref: str, text: str) -> dict[str, Any]:
        """A note written by a person (not through the API)."""
        self._seq += 1
        note = {"id": f"n{len(self.notes) + 1}", "ref": ref, "text": text, "seq": self._seq}
        self.notes[note["id"]] = note
        return note

    def refs(self) -> list[str]:
        """The reference of every note held, duplicates included."""
        return [note["ref"] for note in self.notes.values()]

    # ---- endpoints -----------------------------------------------------------------------------
    def _refused(self, request: Request) -> Response | None:
        if request.headers.get("X-Token") != self.token:
            return JSONResponse({"error": "invalid token"}, 401)
        return None

    async def _ping(self, request: Request) -> Response:
        return self._refused(request) or JSONResponse({"ok": True})

    async def _list(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        after = int(request.query_params.get("after", "0"))
        limit = int(request.query_params.get("limit", "100"))
        changed = sorted((n for n in self.notes.values() if n["seq"] > after), key=_seq)
        return JSONResponse({"notes": changed[:limit]})

    async def _create(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        body = await request.json()
        if not body.get("text"):
            return JSONResponse({"error": "text must not be empty"}, 422)
        return JSONResponse(self.add(body["ref"], body["text"]), 201)

    async def _upsert(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        ref = request.path_params["ref"]
        body = await request.json()
        if not body.get("text"):
            return JSONResponse({"error": "text must not be empty"}, 422)
        existing = next((n for n in self.notes.values() if n["ref"] == ref), None)
        if existing is None:
            return JSONResponse(self.add(ref, body["text"]), 201)
        if existing["text"] != body["text"]:
            self._seq += 1
            existing.update(text=body["text"], seq=self._seq)
        return JSONResponse(existing, 200)


def _seq(note: dict[str, Any]) -> int:
    return int(note["seq"])


# --------------------------------------------------------------------------------------------
# The connector


class NotesSettings(BaseSettings):
    """A Notes account."""

    model_config = SettingsConfigDict(extra="forbid")

    base_url: str = Field(description="The service's address.")
    token: SecretStr = Field(description="The account's API token.")


class InvalidNote(Exception):
    """The service refused one note's data (422)."""


class NotesClient:
    """The calls the connector makes; ``brittle`` turns every error into a permanent one."""

    def __init__(self, context: ComponentContext, *, brittle: bool = False) -> None:
        settings = context.connection
        assert isinstance(settings, NotesSettings)
        self._http = context.http()
        self._base = settings.base_url.rstrip("/") + "/api"
        self._headers = {"X-Token": settings.token.get_secret_value()}
        self._brittle = brittle

    async def call(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        response = await self._http.request(
            method, self._base + path, headers=self._headers, **kwargs
        )
        if response.status_code == 422:
            raise InvalidNote(response.json()["error"])
        if self._brittle and not response.is_success:
            raise PermanentError(f"{what}: HTTP {response.status_code}")
        raise_for_status(response, what)
        return response


class NotesSource(Source[NoOptions]):
    """Notes changed since the last run; the cursor is the last change's sequence number."""

    system = "notes"
    entity = "note"
    forget_cursor: ClassVar[bool] = False
    brittle: ClassVar[bool] = False

    def __init__(self, context: ComponentContext, options: NoOptions) -> None:
        super().__init__(context, options)
        self.client = NotesClient(context, brittle=self.brittle)

    async def check(self) -> None:
        await self.client.call("GET", "/ping", "checking the Notes connection")

    async def read(self, cursor: Any, batch_size: int) -> AsyncIterator[SourceBatch]:
        after = 0 if (cursor is None or self.forget_cursor) else int(cursor)
        while True:
            response = await self.client.call(
                "GET", "/notes", "listing notes", params={"after": after, "limit": batch_size}
            )
            notes = response.json()["notes"]
            if not notes:
                return
            after = notes[-1]["seq"]
            changes = [
                Change(
                    self.context.connection_name,
                    "note",
                    {"id": note["id"]},
                    Operation.UPDATE,
                    note,
                )
                for note in notes
            ]
            yield SourceBatch(changes, after)


class NotesSink(Sink[NoOptions]):
    """Saves notes by reference (idempotent: PUT creates or updates)."""

    system = "notes"
    duplicate: ClassVar[bool] = False
    silent: ClassVar[bool] = False
    brittle: ClassVar[bool] = False

    def __init__(self, context: ComponentContext, options: NoOptions) -> None:
        super().__init__(context, options)
        self.client = NotesClient(context, brittle=self.brittle)

    async def check(self) -> None:
        await self.client.call("GET", "/ping", "checking the Notes connection")

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        result = BatchResult([])
        for i, change in enumerate(changes):
            ref, text = change.fields["ref"], change.fields.get("text", "")
            try:
                if self.duplicate:
                    response = await self.client.call(
                        "POST", "/notes", f"saving note {ref}", json={"ref": ref, "text": text}
                    )
                else:
                    response = await self.client.call(
                        "PUT", f"/notes/{ref}", f"saving note {ref}", json={"text": text}
                    )
            except InvalidNote as exc:
                result.outcomes.append(Outcome.REJECTED)
                if not self.silent:
                    result.reasons[i] = f"{change.describe()}: {exc}"
                continue
            created = response.status_code == 201
            result.outcomes.append(Outcome.CREATED if created else Outcome.UPDATED)
            result.target_keys[i] = response.json()["id"]
        return result


class ForgetfulSource(NotesSource):
    """Broken: reads every note from the start each run."""

    forget_cursor = True


class BrittleSource(NotesSource):
    """Broken: a 503 or 429 fails the run instead of being retried."""

    brittle = True


class DuplicatingSink(NotesSink):
    """Broken: creates a new note every time, so a batch written again makes duplicates."""

    duplicate = True


class SilentSink(NotesSink):
    """Broken: rejects refused notes without saying why."""

    silent = True


class BrittleSink(NotesSink):
    """Broken: a 503 or 429 fails the records instead of being retried."""

    brittle = True


class NoteHooks(WebhookSource[NoOptions]):
    """Notes the service pushes: ``{"id", "ref", "text"}`` signed with
    ``X-Notes-Signature: hex(HMAC-SHA256(token, body))`` (see :func:`push_notes`)."""

    system = "notes"
    entity = "note"

    async def check(self) -> None:
        await NotesClient(self.context).call("GET", "/ping", "ping")

    def accept(self, delivery: WebhookDelivery) -> list[tuple[str, Any]]:
        settings = self.context.connection
        assert isinstance(settings, NotesSettings)
        wanted = hmac.new(settings.token.get_secret_value().encode(), delivery.body, "sha256")
        if not hmac.compare_digest(
            delivery.headers.get("x-notes-signature", ""), wanted.hexdigest()
        ):
            raise WebhookRefused(401, "X-Notes-Signature does not match the body")
        note = json.loads(delivery.body)
        return [(f"note-{note['id']}", note)]

    def changes_of(self, event: InboxEvent) -> list[Change]:
        note = event.payload
        return [
            Change(
                "notes",
                "note",
                {"id": str(note["id"])},
                Operation.UPDATE,
                {"ref": note["ref"], "text": note["text"]},
                change_id=event.event_id,
            )
        ]


class TrustingNoteHooks(NoteHooks):
    """Broken: takes any delivery, signed or not."""

    def accept(self, delivery: WebhookDelivery) -> list[tuple[str, Any]]:
        note = json.loads(delivery.body)
        return [(f"note-{note['id']}", note)]


class UnstableNoteHooks(NoteHooks):
    """Broken: names each delivery anew, so a redelivery looks like a new event."""

    deliveries = 0

    def accept(self, delivery: WebhookDelivery) -> list[tuple[str, Any]]:
        [(event_id, note)] = super().accept(delivery)
        UnstableNoteHooks.deliveries += 1
        return [(f"{event_id}-{UnstableNoteHooks.deliveries}", note)]


async def push_notes(
    simulator: NotesSimulator, count: int, url: str, transport: httpx.AsyncBaseTransport
) -> list[str]:
    """Add ``count`` notes and deliver one signed webhook per note to ``url``."""
    start = len(simulator.notes)
    notes = [simulator.add(f"ref-{start + n}", f"note {n}") for n in range(count)]
    async with httpx.AsyncClient(transport=transport) as client:
        for note in notes:
            body = json.dumps({"id": note["id"], "ref": note["ref"], "text": note["text"]})
            signature = hmac.new(TOKEN.encode(), body.encode(), "sha256").hexdigest()
            await client.post(url, content=body, headers={"X-Notes-Signature": signature})
    return [str(note["id"]) for note in notes]


class NotesPlugin:
    """The toy plugin: the Notes system, its components (good and broken) and its simulator."""

    __name__ = "toy_notes"

    @hookimpl
    def syncframe_register_systems(self, register: Any) -> None:
        register("notes", NotesSettings)

    @hookimpl
    def syncframe_register_sources(self, register: Any) -> None:
        register("toy_notes", NotesSource)
        register("toy_notes_forgetful", ForgetfulSource)
        register("toy_notes_brittle", BrittleSource)
        register("toy_note_hooks", NoteHooks)
        register("toy_note_hooks_trusting", TrustingNoteHooks)
        register("toy_note_hooks_unstable", UnstableNoteHooks)

    @hookimpl
    def syncframe_register_sinks(self, register: Any) -> None:
        register("toy_notes", NotesSink)
        register("toy_notes_duplicating", DuplicatingSink)
        register("toy_notes_silent", SilentSink)
        register("toy_notes_brittle", BrittleSink)

    @hookimpl
    def syncframe_register_simulators(self, register: Any) -> None:
        register("notes", NotesSimulator, description="The toy Notes service.")


class NotesConformanceBase:
    """What a conformance test of a Notes connector says (mixed into the suite's classes)."""

    plugins: ClassVar[Sequence[object]] = [NotesPlugin()]
    system = "notes"
    simulator_name = "notes"
    bad_credentials_error = "HTTP 401"

    def connection_settings(self, simulator: NotesSimulator) -> dict[str, Any]:
        return {"base_url": simulator.base_url, "token": TOKEN}

    def bad_credentials(self, simulator: NotesSimulator) -> dict[str, Any]:
        return {"base_url": simulator.base_url, "token": "notes-wrong-9z8y"}

    def seed_source(self, simulator: NotesSimulator, count: int) -> list[str]:
        start = len(simulator.notes)
        return [simulator.add(f"ref-{start + n}", f"note {n}")["id"] for n in range(count)]

    def sink_records(self, count: int) -> dict[str, dict[str, Any]]:
        return {f"r{n}": {"ref": f"r{n}", "text": f"text {n}"} for n in range(count)}

    def landed(self, simulator: NotesSimulator) -> list[str]:
        return simulator.refs()

    def rejected_record(self) -> Any:
        from syncframe.testing import RejectedRecord

        return RejectedRecord("empty", {"ref": "empty", "text": ""}, "text must not be empty")
