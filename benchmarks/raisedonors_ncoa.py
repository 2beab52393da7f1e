"""Benchmark: an NCOA run moves 100,000 addresses in Virtuous CRM+; they flow to Legacy
RaiseDonors through its webhooks and ``syncframe serve``.

A separate process holds both simulators, served on loopback (``--contacts`` donors in
RaiseDonors, each linked to its contact in Virtuous, contact sync on, the webhook pointing at
``syncframe serve``), so their own work does not run on syncframe's CPU. A second process is
``syncframe serve`` on the example flow file (``examples/raisedonors_virtuous/flows.toml``),
pointed at them. The benchmark posts one NCOA file to Virtuous (every contact moves); Virtuous
delivers one ContactUpdate webhook per contact (``--webhook-concurrency`` at a time), and
``syncframe serve`` stores each event, runs the flow and updates the donor in RaiseDonors. It
measures the time from the NCOA post until Virtuous has every event delivered, checks that every
donor in RaiseDonors has its new address and that each was written once, and reads the peak RSS
of the ``syncframe serve`` process (``VmHWM``).

Run on demand, not part of the test suite::

    python3 -m uv run python benchmarks/raisedonors_ncoa.py --write-doc

The figures go into docs/performance.md between ``<!-- raisedonors-ncoa:start -->`` and
``<!-- raisedonors-ncoa:end -->``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from docblock import write_block  # benchmarks/docblock.py, beside this script

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.raisedonors_virtuous_linked import (  # noqa: E402
    SECRETS,
    WEBHOOK_FLOW,
)
from tests.e2e.raisedonors_virtuous_world import flow_file  # noqa: E402

DOC = REPO / "docs" / "performance.md"
START, END = "<!-- raisedonors-ncoa:start -->", "<!-- raisedonors-ncoa:end -->"
SYNC_CLIENT = "Virtuous CRM+ Sync"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# ---- the simulators' process -------------------------------------------------------------------
def serve_simulators(contacts: int, serve_port: int, concurrency: int, info: Path) -> None:
    """Build both simulators, serve them, write their addresses to ``info``, wait for stdin."""
    from datetime import UTC, datetime

    from raisedonors_simulator import RaiseDonorsSimulator
    from syncframe_simulators import serve_in_thread
    from virtuous_simulator import VirtuousSimulator

    from syncframe.clock import ManualClock, SystemClock
    from tests.e2e.raisedonors_virtuous_linked import linked_organization

    # RaiseDonors keeps real time, as syncframe serve does (its realm token is today's).
    clock = ManualClock(datetime(2026, 11, 23, 10, tzinfo=UTC))
    raisedonors = RaiseDonorsSimulator(clock=SystemClock(), journal_size=100)
    virtuous = VirtuousSimulator(
        clock=clock, journal_size=100, webhook_concurrency=concurrency, rate_limit_per_hour=10**9
    )
    pairs = linked_organization(
        raisedonors,
        virtuous,
        contacts,
        webhook_url=f"http://127.0.0.1:{serve_port}/webhooks/{WEBHOOK_FLOW}",
    )
    with serve_in_thread(raisedonors) as rd, serve_in_thread(virtuous) as vc:
        info.write_text(
            json.dumps({"raisedonors": rd.base_url, "virtuous": vc.base_url, "pairs": pairs}),
            encoding="utf-8",
        )
        sys.stdin.read()  # until the benchmark closes it


# ---- the benchmark -----------------------------------------------------------------------------
def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_for(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} ended early")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not answer within 120 s")


def run(contacts: int, concurrency: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCFRAME_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        info = folder / "simulators.json"
        serve_port = free_port()
        simulators = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-simulators",
                str(info),
                "--contacts",
                str(contacts),
                "--serve-port",
                str(serve_port),
                "--webhook-concurrency",
                str(concurrency),
            ],
            stdin=subprocess.PIPE,
            env=env,
        )
        serve: subprocess.Popen[bytes] | None = None
        try:
            deadline = time.monotonic() + 600
            while not info.exists() or not info.read_text():
                if simulators.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the simulators did not start")
                time.sleep(0.2)
            where = json.loads(info.read_text())
            flow_file(folder, raisedonors_url=where["raisedonors"], virtuous_url=where["virtuous"])
            serve = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "syncframe",
                    "serve",
                    "flows.toml",
                    "--port",
                    str(serve_port),
                    "--no-schedules",
                ],
                cwd=folder,
                env={**env, **SECRETS},
                stdout=subprocess.DEVNULL,
            )
            wait_for(f"http://127.0.0.1:{serve_port}/health", serve, "syncframe serve")
            from virtuous_simulator.sample import ncoa_moves

            pairs = [tuple(p) for p in where["pairs"]]
            moves = ncoa_moves([c for _, c in pairs], seed=11)
            admin = httpx.Client(timeout=600)
            v = where["virtuous"]
            started = time.perf_counter()
            admin.post(f"{v}/_admin/virtuous/ncoa", json={"updates": moves}).raise_for_status()
            posted = time.perf_counter()
            while True:
                counts = admin.get(f"{v}/_admin/virtuous/webhooks/events?limit=0").json()["counts"]
                if counts.get("delivered", 0) + counts.get("failed", 0) >= contacts and not (
                    counts.get("pending")
                ):
                    break
                time.sleep(0.5)
            elapsed = time.perf_counter() - started
            rss = peak_rss_mib(serve.pid)
            # Every donor has its new address, written once by the sync.
            rd = where["raisedonors"]
            state = admin.get(f"{rd}/_admin/state").json()
            writes: dict[int, int] = {}
            for item in state["activity"]:
                if item.get("actor") == SYNC_CLIENT:
                    writes[item["donorId"]] = writes.get(item["donorId"], 0) + 1
            moved = {c: m["address"]["address1"] for (_, c), m in zip(pairs, moves, strict=True)}
            contact_of = {d: c for d, c in pairs}
            wrong = [
                d["id"]
                for d in state["donors"]
                if d["primaryAddress"]["address1"] != moved[contact_of[d["id"]]]
            ]
            admin.close()
            return {
                "contacts": contacts,
                "webhook_concurrency": concurrency,
                "seconds": elapsed,
                "ncoa_post_seconds": posted - started,
                "per_second": contacts / elapsed,
                "peak_rss_mib": rss,
                "delivered": counts.get("delivered", 0),
                "failed": counts.get("failed", 0),
                "donors_not_moved": len(wrong),
                "donors_written_more_than_once": sum(1 for n in writes.values() if n > 1),
                "sync_writes": sum(writes.values()),
            }
        finally:
            if serve is not None:
                serve.terminate()
                serve.wait(timeout=60)
            if simulators.stdin is not None:
                simulators.stdin.close()
            simulators.wait(timeout=60)


def report(results: list[dict[str, Any]], command: str) -> str:
    lines = [
        START,
        "## RaiseDonors <-> Virtuous: an NCOA run of 100,000 addresses into RaiseDonors",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; the simulators run in their own process.",
        "",
        "| contacts | webhooks at once | seconds | addresses/s | syncframe serve peak RSS MiB "
        "| delivered | failed | donors not moved | written twice |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['contacts']:,} | {r['webhook_concurrency']} | {r['seconds']:.1f} "
            f"| {r['per_second']:,.0f} | {r['peak_rss_mib']:.0f} | {r['delivered']:,} "
            f"| {r['failed']:,} | {r['donors_not_moved']:,} "
            f"| {r['donors_written_more_than_once']:,} |"
        )
    lines += [
        "",
        "Each address is one Virtuous webhook delivery, one inbox event and one donor update in "
        "RaiseDonors (a read of the donor, of its activity on its first Virtuous event, and a "
        "PATCH). Deliveries that arrive while the flow runs are read by the next run, so runs "
        "carry many events each.",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, action="append")
    parser.add_argument("--webhook-concurrency", type=int, default=8)
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument("--serve-simulators", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = args.contacts or [100_000]
    if args.serve_simulators is not None:
        serve_simulators(sizes[0], args.serve_port, args.webhook_concurrency, args.serve_simulators)
        return
    results = []
    for size in sizes:
        result = run(size, args.webhook_concurrency)
        print(json.dumps(result), flush=True)
        results.append(result)
    command = "python3 -m uv run python benchmarks/raisedonors_ncoa.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:]
    )
    text = report(results, command.strip())
    print(text)
    if args.write_doc:
        write_block(DOC, START, END, text)


if __name__ == "__main__":
    main()
