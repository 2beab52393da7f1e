"""THE LUMINATE KILL TEST: ``kill -9`` of ``syncframe run`` in the middle of a sync window, again
and again while the site keeps changing, then a run to the end.

The simulator is served on a real socket by this process (so it outlives the killed runs); each
run is the ``syncframe`` command line in a subprocess, killed after a random number of the
window's download calls. At the end the SQL sink's database equals the simulator's own view:
every transaction once with its current amounts, fully refunded ones marked, every refund once
and every gift's refund state as the simulator's bookkeeping implies.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import syncframe_luminate.plugin as luminate_plugin
from luminate_simulator.app import LuminateSimulator
from luminate_simulator.sample import add_refunds, populate
from syncframe_simulators import FaultRule, serve_in_thread

from syncframe.clock import ManualClock
from syncframe.host import Host
from tests.e2e.luminate_kill_plugin import KILL_ENV
from tests.e2e.luminate_world import (
    API_LOGIN,
    API_PASSWORD,
    DB_FLOW,
    FILES_FLOW,
    flow_file,
)
from tests.e2e.test_luminate import assert_db_matches

pytestmark = pytest.mark.slow

KILLS = 6


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LuminateSimulator, str]]:
    simulator = LuminateSimulator(clock=ManualClock(), seed=5)
    simulator.services.add_api_user(API_LOGIN, API_PASSWORD)
    with serve_in_thread(simulator) as server:
        yield simulator, server.base_url


REPO = Path(__file__).resolve().parents[2]


def _run(
    folder: Path, path: Path, flow: str = DB_FLOW, kill_after_writes: int = 0
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCFRAME_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["SYNCFRAME_PLUGINS_EXTRA"] = "tests.e2e.luminate_kill_plugin"
    env[KILL_ENV] = str(kill_after_writes)
    return subprocess.Popen(
        [sys.executable, "-m", "syncframe", "run", str(path), "--flow", flow],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _downloads(simulator: LuminateSimulator) -> int:
    return sum(
        1
        for e in simulator.journal.entries()
        if e.operation is not None and e.operation.startswith(("GetIncremental", "Query"))
    )


def kill_campaign(
    simulator: LuminateSimulator, folder: Path, path: Path, flow: str, rounds: int
) -> list[str]:
    """Runs of ``flow`` killed — every other one after a random number of download calls, the
    others by the sink itself right after a write and before the engine's commit (the worst
    moment) — the site changing between them, then two runs to the end; returns everything the
    runs wrote."""
    services = simulator.services
    clock = simulator.clock
    assert isinstance(clock, ManualClock)
    rng = random.Random(2026)
    # Every download call takes 15 ms: a window of ~1,000 records lasts long enough to be hit.
    simulator.faults.add(FaultRule(kind="latency", latency=0.015, operation="GetIncremental*"))
    site = populate(services, constituents=40, transactions=900)
    add_refunds(services, site)
    output: list[str] = []
    kills = 0
    for round_no in range(rounds):
        clock.advance(timedelta(minutes=1))
        before = _downloads(simulator)
        kill_after = rng.randint(2, 25)
        at_write = round_no % 2 == 1
        proc = _run(folder, path, flow, rng.randint(1, 6) if at_write else 0)
        try:
            deadline = time.monotonic() + 60
            while (at_write or _downloads(simulator) - before < kill_after) and proc.poll() is None:
                assert time.monotonic() < deadline, "the run made no progress in 60 s"
                time.sleep(0.005)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        output.append(err)
        if proc.returncode == -signal.SIGKILL:
            kills += 1
        else:
            assert proc.returncode == 0, f"round {round_no}: run ended {proc.returncode}\n{err}"
        # The site keeps changing between runs: new gifts, partial and full refunds.
        more = populate(services, constituents=3, transactions=40, seed=round_no)
        add_refunds(services, more, seed=round_no)
    assert kills >= rounds - 1, f"only {kills} of {rounds} runs were killed"
    for _ in range(2):  # the rest of the interrupted window, then the changes after it
        clock.advance(timedelta(minutes=1))
        final = _run(folder, path, flow)
        out, err = final.communicate(timeout=120)
        assert final.returncode == 0, f"a last run failed:\n{out}\n{err}"
        output += [out, err]
    windows = services.snapshot()["sync_log"]
    assert windows[-1]["status"] == "ended"
    return output


def test_kill_9_in_the_middle_of_windows_then_rerun(
    tmp_path: Path, served: tuple[LuminateSimulator, str]
) -> None:
    simulator, base_url = served

    path = flow_file(
        tmp_path, base_url, page_size=20, batch_size=20, db_sink="killing_luminate_sql"
    )

    output = kill_campaign(simulator, tmp_path, path, DB_FLOW, KILLS)

    assert_db_matches(simulator.services, tmp_path / "luminate.db")
    for text in output:
        assert API_PASSWORD not in text


def test_kill_9_while_writing_window_files_then_rerun(
    tmp_path: Path, served: tuple[LuminateSimulator, str]
) -> None:
    """The file sink under kills: every window's file holds each record once, and the last
    line of each transaction across the windows is its state in the simulator."""
    simulator, base_url = served

    path = flow_file(
        tmp_path, base_url, page_size=20, batch_size=20, files_sink="killing_luminate_files"
    )

    kill_campaign(simulator, tmp_path, path, FILES_FLOW, 6)

    store = simulator.services.transactions
    latest: dict[tuple[str, str], dict[str, str]] = {}
    files = list((tmp_path / "outbox").glob("*.csv"))
    assert files
    # Windows in time order: the first starts at "beginning", the others at a UTC timestamp.
    ordered = sorted(files, key=lambda p: "" if "beginning" in p.name else p.stem.split("_")[1])
    for file in ordered:
        entity = file.stem.split("_", 1)[0]
        with file.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        id_field = (
            "RefundId"
            if entity == "Refund"
            else ("ResponseId" if entity == "ActionAlertResponse" else "TransactionId")
        )
        ids = [row[id_field] for row in rows]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        assert not twice, f"{file.name} holds {twice} more than once"
        for row in rows:
            latest[(entity, row[id_field])] = row
    for tid, tx in store.live.items():
        row = latest.get((tx.record_type, str(tid)))
        assert row is not None, f"{tx.record_type} {tid} is in no file"
        if tx.payment is not None:
            assert Decimal(row["Payment.Amount"]) == tx.payment["Amount"], (tid, row)
    for tid, tx in store.audit.items():
        row = latest[(tx.record_type, str(tid))]
        assert row["_operation"] == "delete", (tid, row["_operation"])
    refunds = {key for key in latest if key[0] == "Refund"}
    assert refunds == {("Refund", str(r)) for r in store.refunds}


def test_host_loads_the_plugin() -> None:
    """The subprocess runs find the plugin through its entry point, as an operator's would."""
    host = Host()
    assert "luminate" in host.registry.systems
    assert host.registry.systems["luminate"].plugin
    assert luminate_plugin.SYSTEM == "luminate"
