"""Benchmark: the Luminate transaction sync, 100,000 transactions into SQLite, with and without
simulated latency, against the best a client can do.

A separate process builds a simulated Luminate site (``--transactions`` transactions of every
type, their lookups, refunds of every kind) and serves it on loopback with uvicorn, so the
simulator's own work does not run on the client's CPU. This process then runs the
``luminate_transactions`` -> ``luminate_sql`` flow through the engine, as ``syncframe run`` would,
once per scenario, each against a fresh site:

(a) no added latency: the client's and the simulator's own speed;
(b) ``--latency`` seconds added to every web-services call (the kit's latency fault).

For (b) the report compares the time with the best a client can do under the configured
``max_concurrency`` and ``page_size``: the calls the window needs at the least (Login,
StartSynchronization, every page of every type and kind up to the first short page, one Query
per lookup record, EndSynchronization), with Login and Start in sequence
and the rest ``max_concurrency`` at a time, each taking ``--latency``. The target is at least 80%
of that bound. Every run is checked: the database holds every transaction of the site.

Run on demand, not part of the test suite::

    python3 -m uv run python benchmarks/luminate_sync.py --write-doc

The figures go into docs/performance.md between ``<!-- luminate-sync:start -->`` and
``<!-- luminate-sync:end -->``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "performance.md"
START, END = "<!-- luminate-sync:start -->", "<!-- luminate-sync:end -->"
LOGIN, PASSWORD = "bench_api", "bench-password"

FLOW_FILE = """\
[state]
url = "sqlite:///state.db"

[connections.luminate]
system = "luminate"
url = "{url}/1.0/syncframe"
api_login = "{login}"
page_size = {page_size}
max_concurrency = {concurrency}
timeout = 120

[flows.sync]
batch_size = {batch_size}

[flows.sync.source]
type = "luminate_transactions"
connection = "luminate"
prefetch = {concurrency}

[flows.sync.sink]
type = "luminate_sql"
url = "sqlite:///luminate.db"
"""


# ---------------------------------------------------------------------------------------------
# The site, in its own process


def serve(transactions: int, seed: int) -> None:
    """Build the site, serve it, print its address and what a client needs, then wait."""
    from luminate_simulator.app import LuminateSimulator
    from luminate_simulator.sample import add_refunds, populate
    from syncframe_simulators import serve_in_thread

    from syncframe.clock import ManualClock

    clock = ManualClock()
    simulator = LuminateSimulator(clock=clock, seed=seed)
    simulator.services.add_api_user(LOGIN, PASSWORD)
    site = populate(simulator.services, constituents=2000, transactions=transactions, seed=seed)
    stories = add_refunds(simulator.services, site, seed=seed)
    clock.advance(minutes=1)
    store = simulator.services.transactions
    per_type: dict[str, dict[str, int]] = {}
    for tx in store.live.values():
        counts = per_type.setdefault(tx.record_type, {"inserts": 0, "deletes": 0})
        counts["inserts"] += 1
    for tx in store.audit.values():
        per_type.setdefault(tx.record_type, {"inserts": 0, "deletes": 0})["deletes"] += 1
    # Gifts whose refunds the source queries: partially refunded (live) or fully (audit).
    refunded = len(store.audit) + sum(
        1 for tx in store.live.values() if tx.payment is not None and tx.payment["OriginalAmount"]
    )
    lookups = sum(len(ids) for ids in site.associated.values())
    with serve_in_thread(simulator) as server:
        print(
            json.dumps(
                {
                    "url": server.base_url,
                    "per_type": per_type,
                    "refunds": len(store.refunds),
                    "refunded": refunded,
                    "lookups": lookups,
                    "stories": len(stories),
                }
            ),
            flush=True,
        )
        sys.stdin.read()  # until the parent closes our stdin


# ---------------------------------------------------------------------------------------------
# The client, in this process


def _admin(url: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{url}{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()


def fewest_calls(site: dict[str, Any], page_size: int) -> tuple[int, int]:
    """The calls a window needs at the least: (in sequence, in parallel)."""
    steps = []
    for record_type, counts in site["per_type"].items():
        if record_type == "ActionAlertResponse":
            steps.append(counts["inserts"])
        else:
            # Created in the window: inserts; fully refunded in it: deletes only; no updates.
            steps += [counts["inserts"], 0, counts["deletes"]]
    steps.append(site["refunds"])  # Refund inserts
    pages = sum(n // page_size + 1 for n in steps)  # up to the first short (or empty) page
    parallel = pages + site["lookups"]  # (from the beginning of time: no refund Query)
    return 3, parallel  # Login and StartSynchronization before, EndSynchronization after


def bound_seconds(site: dict[str, Any], page_size: int, concurrency: int, latency: float) -> float:
    """The best time a client can do: the fewest calls, ``concurrency`` at a time, each taking
    ``latency`` (the service answers instantly)."""
    serial, parallel = fewest_calls(site, page_size)
    return float((serial + math.ceil(parallel / concurrency)) * latency)


def bound_with_service(
    site: dict[str, Any], page_size: int, concurrency: int, latency: float, service: float
) -> float:
    """The same against a service that also needs ``service`` CPU seconds in all, one call at
    a time (the simulator answers under one lock): each call takes latency + its share of
    ``service``, and the calls cannot end sooner than the service can answer them all."""
    serial, parallel = fewest_calls(site, page_size)
    calls = serial + parallel
    per_call = service / calls
    return float(
        max(
            serial * (latency + per_call)
            + math.ceil(parallel / concurrency) * latency
            + parallel * per_call / concurrency,
            service + serial * latency,
        )
    )


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux: /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_flow(folder: Path) -> tuple[float, dict[str, int]]:
    from syncframe.config import load_config
    from syncframe.engine import Engine
    from syncframe.host import Host

    host = Host()
    config = load_config(
        folder / "flows.toml", host.registry, environ={"SYNCFRAME_LUMINATE_API_PASSWORD": PASSWORD}
    )
    with Engine(config, host) as engine:
        started = time.perf_counter()
        report = await engine.run_flow("sync")
        elapsed = time.perf_counter() - started
    if report.summary.status != "succeeded":
        raise SystemExit(f"the run {report.summary.status}: {report.summary.error}")
    return elapsed, dict(report.summary.counts)


def scenario(
    args: argparse.Namespace,
    latency: float,
    concurrency: int,
    transactions: int | None = None,
) -> dict[str, Any]:
    count = transactions or args.transactions
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--transactions", str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        site = json.loads(child.stdout.readline())
        url = site["url"]
        if latency:
            _admin(url, "/_admin/faults", {"kind": "latency", "latency": latency})
        with tempfile.TemporaryDirectory(prefix="luminate-bench-") as tmp:
            folder = Path(tmp)
            (folder / "flows.toml").write_text(
                FLOW_FILE.format(
                    url=url,
                    login=LOGIN,
                    page_size=args.page_size,
                    concurrency=concurrency,
                    batch_size=args.batch_size,
                )
            )
            server_before, client_before = _cpu_of(child.pid), _own_cpu()
            elapsed, counts = asyncio.run(run_flow(folder))
            server_cpu = _cpu_of(child.pid) - server_before
            client_cpu = _own_cpu() - client_before
            db = sqlite3.connect(folder / "luminate.db")
            try:
                held = sum(
                    db.execute(f'SELECT count(*) FROM "luminate_{t.lower()}"').fetchone()[0]
                    for t in site["per_type"]
                )
            finally:
                db.close()
        expected = sum(c["inserts"] + c["deletes"] for c in site["per_type"].values())
        if held != expected:
            raise SystemExit(f"the database holds {held} transactions, not {expected}")
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=30)
    bound = bound_seconds(site, args.page_size, concurrency, latency) if latency else None
    served = (
        bound_with_service(site, args.page_size, concurrency, latency, server_cpu)
        if latency
        else None
    )
    return {
        "latency": latency,
        "concurrency": concurrency,
        "seconds": elapsed,
        "transactions": expected,
        "per_second": expected / elapsed,
        "changes": sum(counts.values()),
        "bound": bound,
        "client_cpu": client_cpu,
        "server_cpu": server_cpu,
        "share_of_bound": (bound / elapsed) if bound else None,
        "bound_served": served,
        "share_of_served": (served / elapsed) if served else None,
    }


def _verdict(results: list[dict[str, Any]]) -> str:
    """What the figures say about the target, in words."""
    plain, slows = results[0], results[1:]
    served = ", ".join(
        f"{r['share_of_served']:.0%} at max_concurrency {r['concurrency']}" for r in slows
    )
    met = [r["concurrency"] for r in slows if r["share_of_bound"] >= 0.8]
    missed = [r for r in slows if r["share_of_bound"] < 0.8]
    said = []
    if met:
        said.append(
            "Target met at max_concurrency " + ", ".join(map(str, met)) + " (latency dominates)."
        )
    if not missed:
        return " ".join(said) + f" Against the best this simulator allows: {served}."
    slow = max(missed, key=lambda r: r["concurrency"])
    bound, share = slow["bound"], slow["share_of_bound"]
    return " ".join(said) + (
        f" **Target not met at max_concurrency {slow['concurrency']}: (b) reaches {share:.0%} "
        "of the best possible.** There the sync is bound by "
        f"CPU, not by the calls' latency: with no latency at all (a) takes {plain['seconds']:.2f} "
        f"s, and 20 ms per call adds only {slow['seconds'] - plain['seconds']:.2f} s, because "
        "pages are fetched ahead while earlier ones are written. The client process needs "
        f"{slow['client_cpu']:.2f} CPU s (parsing the SOAP pages, building changes, the engine, "
        "the SQLite writes and refund states) and the simulator "
        f"{slow['server_cpu']:.2f} CPU s (rendering the pages), each more than the "
        f"{bound:.2f} s bound, on a machine with {os.cpu_count()} CPUs shared by both. Against "
        "the real service the second figure is Luminate's, not ours; the first is what to "
        "shrink to get closer (see docs/luminate.md, Performance). Against the best this "
        f"simulator allows (its own service time counted): {served}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.020)
    parser.add_argument(
        "--concurrency",
        type=int,
        action="append",
        help="max_concurrency of scenario (b); repeat to measure several (default: 4)",
    )
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()
    if args.serve:
        serve(args.transactions, seed=2026)
        return
    # A small run first, not reported: the lazy imports (zeep, SQLAlchemy...) are then loaded
    # and compiled, and do not count against scenario (a).
    levels = args.concurrency or [4]
    scenario(args, 0.0, max(levels), transactions=2000)
    results = [scenario(args, 0.0, max(levels))]
    results += [scenario(args, args.latency, level) for level in levels]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "| scenario | max_concurrency | transactions | changes | seconds | transactions/s "
        "| client CPU s | simulator CPU s | best possible | share "
        "| best against this simulator | share |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        name = f"(b) {r['latency'] * 1000:.0f} ms per call" if r["latency"] else "(a) no latency"
        best = f"{r['bound']:.2f} s" if r["bound"] else "-"
        share = f"{r['share_of_bound']:.0%}" if r["share_of_bound"] else "-"
        served = f"{r['bound_served']:.2f} s" if r["bound_served"] else "-"
        served_share = f"{r['share_of_served']:.0%}" if r["share_of_served"] else "-"
        lines.append(
            f"| {name} | {r['concurrency']} | {r['transactions']:,} | {r['changes']:,} | "
            f"{r['seconds']:.2f} | "
            f"{r['per_second']:,.0f} | {r['client_cpu']:.2f} | {r['server_cpu']:.2f} | "
            f"{best} | {share} | {served} | {served_share} |"
        )
    command = "python3 -m uv run python benchmarks/luminate_sync.py " + shlex.join(sys.argv[1:])
    block = "\n".join(
        [
            START,
            "### Luminate transaction sync (issue 5)",
            "",
            f"`{command.strip()}` — {platform.python_implementation()} "
            f"{platform.python_version()}, {os.cpu_count()} CPUs; page size {args.page_size}, "
            f"batch size {args.batch_size}; client peak RSS {peak:.0f} MiB (every run).",
            "",
            *lines,
            "",
            '"best possible" = the fewest web-services calls the window needs, '
            "max_concurrency at a time, each taking the added latency (Login and "
            "StartSynchronization first, EndSynchronization last); share = best possible / "
            'measured (target: at least 80%). "best against this simulator" adds what the '
            "simulator itself needs to answer (its CPU seconds in the run, one call at a time, "
            "shared out over the calls): no client can be faster than the service answers.",
            "",
            _verdict(results),
            END,
        ]
    )
    print(block)
    if args.write_doc:
        text = DOC.read_text(encoding="utf-8")
        if START in text:
            head, _, rest = text.partition(START)
            _, _, tail = rest.partition(END)
            text = head + block + tail
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
