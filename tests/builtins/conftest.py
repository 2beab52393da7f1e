"""Fixtures for the built-in components: a manual clock, a state store and component builders."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from syncframe.clock import ManualClock
from syncframe.components import ComponentContext
from syncframe.state import BatchCommit, LedgerEntry, Link, RunRecord, StateStore, open_state


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def state(clock: ManualClock) -> Iterator[StateStore]:
    store = open_state("sqlite://:memory:", clock=clock)
    store.start_run(RunRecord("run-1", "earlier", "/flows/sync.toml", clock.now()))
    yield store
    store.close()


class StateWriter:
    """Puts ledger entries and links into the state store the way the engine does."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.seq = 0

    def commit(self, *, ledger: Sequence[LedgerEntry] = (), links: Sequence[Link] = ()) -> None:
        self.seq += 1
        self.store.commit_batch(
            BatchCommit(
                flow="earlier",
                run_id="run-1",
                batch_seq=self.seq,
                cursor={"n": self.seq},
                sink_position=None,
                outcomes=[],
                ledger=list(ledger),
                links=list(links),
            )
        )


@pytest.fixture
def writer(state: StateStore) -> StateWriter:
    return StateWriter(state)


Build = Callable[..., Any]


@pytest.fixture
def build(tmp_path: Path, clock: ManualClock, state: StateStore) -> Iterator[Build]:
    """``build(ComponentClass, connection_name="crm", **options)``: a component as the engine
    would build it, reading files relative to ``tmp_path``; closed at the end of the test."""
    built: list[Any] = []

    def _build(
        cls: type[Any], *, connection_name: str = "files", flow: str = "flow", **options: Any
    ) -> Any:
        model: type[BaseModel] = cls.Options
        context = ComponentContext(
            flow=flow,
            connection_name=connection_name,
            connection=None,
            clock=clock,
            state=state,
            logger=logging.getLogger(f"syncframe.test.{cls.__name__}"),
            config_dir=str(tmp_path),
        )
        component = cls(context, model.model_validate(options))
        built.append(component)
        return component

    yield _build
    for component in built:
        anyio.run(component.aclose)


def ledger(
    key: str,
    values: dict[str, Any],
    *,
    system: str = "crm",
    entity: str = "contact",
    source_system: str = "shop",
    source_changed_at: datetime,
    written_at: datetime | None = None,
    flow: str = "shop-to-crm",
) -> LedgerEntry:
    return LedgerEntry(
        system=system,
        entity=entity,
        key=key,
        values=values,
        source_system=source_system,
        source_key=f"s-{key}",
        flow=flow,
        run_id="run-1",
        source_changed_at=source_changed_at,
        written_at=written_at or source_changed_at,
    )
