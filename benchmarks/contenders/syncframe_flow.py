"""The syncframe contender: one flow of a flow file run through the engine's API.

Runs in syncframe's own environment. Usage::

    python syncframe_flow.py FLOW_FILE FLOW [--profile OUT.prof]

Prints the run's report as one JSON line (status, counts, batches) and exits non-zero unless
the run succeeded. ``--profile`` runs the flow under cProfile (every thread's calls, merged) and
writes its stats to OUT.prof.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any


def _profiled(function: Callable[[], Any], out: Path) -> Any:
    """Call ``function`` under cProfile, worker threads included (sinks that write through
    ``anyio.to_thread`` do their work there), and write the merged stats to ``out``."""
    profilers: list[cProfile.Profile] = []

    def start_in_thread(frame: FrameType, event: str, arg: object) -> None:
        # Called once on a new thread's first event: replace this hook by a real profiler.
        sys.setprofile(None)
        profiler = cProfile.Profile()
        profilers.append(profiler)
        profiler.enable()

    threading.setprofile(start_in_thread)  # type: ignore[arg-type]
    main = cProfile.Profile()
    try:
        result = main.runcall(function)
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    stats = pstats.Stats(main)
    for profiler in profilers:
        stats.add(profiler)
    stats.dump_stats(out)
    return result


def main() -> None:
    """Run the flow and print its report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("flow_file", type=Path)
    parser.add_argument("flow")
    parser.add_argument("--profile", type=Path, help="write cProfile stats to this file")
    args = parser.parse_args()

    import anyio

    from syncframe.engine import open_engine

    def run() -> object:
        with open_engine(args.flow_file) as engine:
            return anyio.run(engine.run_flow, args.flow)

    report = _profiled(run, args.profile) if args.profile else run()
    summary = report.summary  # type: ignore[attr-defined]
    print(
        json.dumps(
            {
                "status": summary.status,
                "counts": summary.counts,
                "batches": summary.batches,
                "seconds": summary.seconds,
                "error": summary.error,
            }
        )
    )
    if summary.status != "succeeded":
        sys.exit(1)


if __name__ == "__main__":
    main()
