"""THE LUMINATE KILL TEST: ``kill -9`` of ``syncframe run`` in the middle of a sync window, again
and again while the site keeps changing, then a run to the end.

The simulator is served on a real socket by this process (so it outlives the killed runs); each
run is the ``syncframe`` command line in a subprocess, killed after a random number of the
window's download calls. At the end the SQL sink's database equals the simulator's own view:
every transaction once with its current amounts, fully refunded ones marked, every refund once
and every gift's refund state as the simulator's bookkeeping implies.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import syncframe_luminate.plugin as luminate_plugin
from luminate_simulator.app import LuminateSimulator
from luminate_simulator.sample import add_refunds, populate
from syncframe_simulators import FaultRule, serve_in_thread

from syncframe.clock import ManualClock
from syncframe.host import Host
from tests.e2e.luminate_world import (
    API_LOGIN,
    API_PASSWORD,
    DB_FLOW,
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


def _run(folder: Path, path: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCFRAME_")}
    return subprocess.Popen(
        [sys.executable, "-m", "syncframe", "run", str(path), "--flow", DB_FLOW],
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


def test_kill_9_in_the_middle_of_windows_then_rerun(
    tmp_path: Path, served: tuple[LuminateSimulator, str]
) -> None:
    simulator, base_url = served
    services = simulator.services
    clock = simulator.clock
    assert isinstance(clock, ManualClock)
    rng = random.Random(2026)
    path = flow_file(tmp_path, base_url, page_size=20, batch_size=20)
    # Every download call takes 15 ms: a window of ~1,000 records lasts long enough to be hit.
    simulator.faults.add(FaultRule(kind="latency", latency=0.015, operation="GetIncremental*"))
    site = populate(services, constituents=40, transactions=900)
    add_refunds(services, site)
    stderr: list[str] = []
    kills = 0
    for round_no in range(KILLS):
        clock.advance(timedelta(minutes=1))
        before = _downloads(simulator)
        kill_after = rng.randint(2, 25)
        proc = _run(tmp_path, path)
        try:
            deadline = time.monotonic() + 60
            while _downloads(simulator) - before < kill_after and proc.poll() is None:
                assert time.monotonic() < deadline, "the run made no progress in 60 s"
                time.sleep(0.005)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        stderr.append(err)
        if proc.returncode == -signal.SIGKILL:
            kills += 1
        else:
            assert proc.returncode == 0, f"round {round_no}: run ended {proc.returncode}\n{err}"
        # The site keeps changing between runs: new gifts, partial and full refunds.
        more = populate(services, constituents=3, transactions=40, seed=round_no)
        add_refunds(services, more, seed=round_no)
    assert kills >= KILLS - 1, f"only {kills} of {KILLS} runs were killed"

    clock.advance(timedelta(minutes=1))
    final = _run(tmp_path, path)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, f"final run failed:\n{out}\n{err}"
    clock.advance(timedelta(minutes=1))
    again = _run(tmp_path, path)  # a last window picks up the last round's changes
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, f"last run failed:\n{out}\n{err}"

    assert_db_matches(services, tmp_path / "luminate.db")
    for text in [*stderr, out, err]:
        assert API_PASSWORD not in text
    windows = services.snapshot()["sync_log"]
    assert windows[-1]["status"] == "ended"


def test_host_loads_the_plugin() -> None:
    """The subprocess runs find the plugin through its entry point, as an operator's would."""
    host = Host()
    assert "luminate" in host.registry.systems
    assert host.registry.systems["luminate"].plugin
    assert luminate_plugin.SYSTEM == "luminate"
