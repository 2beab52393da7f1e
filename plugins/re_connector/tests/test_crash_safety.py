"""A cycle killed at any point and run again sends nothing twice and loses nothing.

The upload cycle is stopped (a ``BaseException``, as a kill leaves things) at each of its steps
in turn: before and after every ledger save, before and after every file sent to the FTP
server, and between each batch's staging and its commit. Luminate takes whatever manifested
files are on the server, then the cycle is run again (Luminate's retry of the same result, or
its next result) and Luminate takes the rest. Every RE constituent and code must reach Luminate
exactly once, in files whose names never change once fixed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from syncframe_re_connector.cycles import ConnectorCycles, CycleAnswer
from syncframe_re_connector.ftp import FtpSession
from syncframe_re_connector.ledger import Ledger
from syncframe_re_connector.setup import ConnectorSetup

from plugins.re_connector.tests.helpers import (
    FtpSimulator,
    LuminateSide,
    add_constituent,
    flow_file,
    make_engine,
    new_re,
)
from syncframe.engine import Engine

pytestmark = pytest.mark.anyio

CONSTITUENTS = 5


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Killed(BaseException):
    """The process died here."""


class Steps:
    """Counts the cycle's steps and kills it at step ``kill_at`` (0: never)."""

    def __init__(self, kill_at: int = 0) -> None:
        self.kill_at = kill_at
        self.seen: list[str] = []

    def step(self, label: str) -> None:
        self.seen.append(label)
        if len(self.seen) == self.kill_at:
            raise Killed(label)


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> Steps:
    plan = Steps()
    save = Ledger.save
    upload = FtpSession.upload

    def counted_save(self: Ledger, data: Any) -> None:
        plan.step("before a ledger save")
        save(self, data)
        plan.step("after a ledger save")

    async def counted_upload(self: FtpSession, folder: str, name: str, data: Any) -> None:
        plan.step(f"before sending {name}")
        await upload(self, folder, name, data)
        plan.step(f"after sending {name}")

    monkeypatch.setattr(Ledger, "save", counted_save)
    monkeypatch.setattr(FtpSession, "upload", counted_upload)
    return plan


class World:
    """RE with constituents and codes, the FTP server, the connector's folder."""

    def __init__(self, folder: Path) -> None:
        self.ftp = FtpSimulator()
        self.re = new_re()
        self.ids = [add_constituent(self.re, n) for n in range(CONSTITUENTS)]
        with self.re.lock:
            for code in ("A", "B", "C"):
                self.re.database.set_code("Fund", code, f"Fund {code}")
        self.path = flow_file(folder, self.ftp, self.re, batch_size=2)
        self.luminate = LuminateSide(self.ftp)

    async def cycle(self, result_id: int, steps: Steps) -> CycleAnswer:
        with make_engine(self.path, self.re) as engine:
            cycles = ConnectorCycles(
                ConnectorSetup.of(engine.config), engine.state, engine.run_flow, engine.clock
            )
            _kill_between_staging_and_commit(engine, steps)
            return await cycles.upload(result_id, "re_sync_v52.xml")


def _kill_between_staging_and_commit(engine: Engine, steps: Steps) -> None:
    commit = engine.state.commit_batch

    def counted(batch: Any) -> None:
        if batch.move_cursor:
            steps.step(f"before committing batch {batch.batch_seq} of {batch.flow}")
        commit(batch)

    engine.state.commit_batch = counted  # type: ignore[method-assign]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path)
    try:
        yield made
    finally:
        made.ftp.stop()


async def test_a_clean_cycle_has_the_steps_the_kill_tests_stop_at(
    world: World, steps: Steps
) -> None:
    answer = await world.cycle(17, steps)

    assert answer == CycleAnswer(["re_17_constituents.csv", "re_17_codetables.csv"], [])
    assert Counter(steps.seen) == {
        "before a ledger save": 7,
        "after a ledger save": 7,
        "before committing batch 1 of re_constituents": 1,
        "before committing batch 2 of re_constituents": 1,
        "before committing batch 3 of re_constituents": 1,
        "before committing batch 1 of re_code_tables": 1,
        "before committing batch 2 of re_code_tables": 1,
        "before sending re_17_constituents.csv": 1,
        "after sending re_17_constituents.csv": 1,
        "before sending re_17_constituents.manifest": 1,
        "after sending re_17_constituents.manifest": 1,
        "before sending re_17_codetables.csv": 1,
        "after sending re_17_codetables.csv": 1,
        "before sending re_17_codetables.manifest": 1,
        "after sending re_17_codetables.manifest": 1,
    }
    assert len(steps.seen) == STEPS_OF_A_CYCLE


#: Ledger saves (start, fixing the files, two per file, end), commits, four per file sent.
STEPS_OF_A_CYCLE = 7 * 2 + 5 + 8


@pytest.mark.parametrize("rerun_as", [17, 18], ids=["same result", "next result"])
@pytest.mark.parametrize("kill_at", range(1, STEPS_OF_A_CYCLE + 1))
async def test_a_cycle_killed_and_run_again_sends_each_record_once(
    world: World, steps: Steps, kill_at: int, rerun_as: int
) -> None:
    steps.kill_at = kill_at
    with pytest.raises(Killed) as killed:
        await world.cycle(17, steps)
    where = str(killed.value)
    first = world.luminate.take()  # Luminate takes what was complete when it died

    steps.kill_at = 0
    answer = await world.cycle(rerun_as, steps)
    second = world.luminate.take()

    assert answer.problems == [], where
    assert set(answer.files) == set(second), f"killed {where}: answered {answer.files}"
    rows = world.luminate.rows("constituents")
    assert Counter(r["EXCHANGE_ID"] for r in rows) == Counter(world.ids), (
        f"killed {where}: Luminate got {[r['EXCHANGE_ID'] for r in rows]}"
    )
    codes = world.luminate.rows("codetables")
    assert sorted(r["CODE"] for r in codes) == ["A", "B", "C"], f"killed {where}: {codes}"
    # A file whose rows were fixed before the kill keeps its name.
    names = set(first) | set(second)
    assert names <= {
        f"re_{n}_{f}.csv" for n in (17, rerun_as) for f in ("constituents", "codetables")
    }
    assert world.ftp.names("upload") == [], f"killed {where}: left {world.ftp.names('upload')}"
