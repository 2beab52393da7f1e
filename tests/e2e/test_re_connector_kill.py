"""kill -9 of the connector machine in the middle of Luminate's data sync, several times, then
scheduled cycles to the end: every RE constituent is in Constituent360 exactly once, every
Luminate transaction lands in RE exactly once, nothing was lost.

The connector (``syncframe serve``) runs in a subprocess; RE answers its pages slowly (a latency
fault), so a kill lands while the upload call reads RE and stages rows, between pages whose
batches are committed and the files being published. On the way back, RE's import area answers
slowly, so a kill lands while the download call moves Luminate's files into it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.re_connector_world import ConnectorWorld

pytestmark = pytest.mark.slow

CONSTITUENTS = 240
PAGE = 20
KILLS = 3
DONORS = 30


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConnectorWorld]:
    made = ConnectorWorld(tmp_path / "connector")
    flows = made.folder / "flows.toml"
    text = flows.read_text(encoding="utf-8")
    text = text.replace("batch_size = 1000", f"batch_size = {PAGE}")
    text = text.replace('user = "supervisor"', f'user = "supervisor"\npage_size = {PAGE}')
    flows.write_text(text, encoding="utf-8")
    yield made
    made.close()


def run_in_background(world: ConnectorWorld) -> tuple[threading.Thread, list[Any]]:
    """The scheduled run, fired on its own thread (Luminate's admin call waits for the end)."""
    world.advance(60)
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(world.run_due()), daemon=True)
    thread.start()
    return thread, answers


def re_pages_read(world: ConnectorWorld) -> int:
    return sum(1 for e in world.re.journal.entries() if e.operation == "ListConstituents")


def kill_when(world: ConnectorWorld, ready: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        assert time.monotonic() < deadline, f"never reached: {what}"
        process = world.connector.process
        assert process is not None
        assert process.poll() is None, "the connector ended before it could be killed"
        time.sleep(0.005)
    world.connector.stop(kill=True)


def test_kill_9_mid_cycle_then_reruns_leave_no_duplicates_on_either_side(
    world: ConnectorWorld,
) -> None:
    for n in range(CONSTITUENTS):
        world.re_constituent(f"First{n}", f"Last{n}", f"person{n}@example.org")
    world.re_post("/faults", {"kind": "latency", "latency": 0.05, "operation": "ListConstituents"})

    # Upload side: killed after 2, 4, 6 ... pages of RE were read.
    for kill in range(KILLS):
        world.connector.start()
        pages_before = re_pages_read(world)
        thread, answers = run_in_background(world)
        kill_when(
            world, lambda b=pages_before, k=kill: re_pages_read(world) >= b + 2 + k, "RE pages"
        )
        thread.join(timeout=60)
        (results,) = answers
        assert [r["status"] for r in results] == ["Failed"]
    world.connector.start()
    while len(world.lo_constituents()) < CONSTITUENTS:
        assert world.scheduled_cycle()["status"] == "Completed"
    world.connector.stop()

    people = world.lo_constituents()
    member_ids = Counter(c["MEMBER_ID"] for c in people)
    assert len(people) == CONSTITUENTS
    assert max(member_ids.values()) == 1
    re_people = {c["constituent_id"]: c["import_id"] for c in world.re_constituents()}
    assert {c["MEMBER_ID"]: c["EXCHANGE_ID"] for c in people} == re_people

    # Download side: Luminate's gifts, the connector killed while it fills RE's import area.
    form = world.associated("DonationForm", {"Title": "Give"})
    world.map_cross_reference("DonationForm", form, "ANNUAL", "GEN", "WEB")
    gifts = {
        world.transaction(
            "Donation",
            {"Donor": {"ConsId": c["CONS_ID"]}, "FormId": form, "Payment": {"Amount": "5.00"}},
        )
        for c in people[:DONORS]
    }
    world.re_post("/faults", {"kind": "latency", "latency": 0.3, "operation": "PutImportFile"})
    download = world.ftp.home("mysite_ds") / "download"
    world.connector.start()
    thread, answers = run_in_background(world)
    kill_when(world, lambda: any(download.glob("*.manifest")), "Luminate's files on the FTP")
    thread.join(timeout=60)
    world.connector.start()
    for _ in range(2):
        world.scheduled_cycle()
    assert sorted(download.iterdir()) == []
    world.import_everything()
    landed = Counter(g["attributes"]["Luminate Online Gift ID"] for g in world.re_gifts())
    assert set(landed) == {str(g) for g in gifts}
    assert max(landed.values()) == 1
    # A second import of everything changes nothing (the client imports twice by mistake).
    for name in [f["name"] for f in world.import_area()]:
        world.re_post(f"/import-area/{name}/import")
    assert len(world.re_gifts()) == DONORS
    assert len(world.re_constituents()) == CONSTITUENTS
