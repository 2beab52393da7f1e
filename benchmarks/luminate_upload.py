"""Benchmark: Luminate's standard constituent upload against a large Constituent360.

Builds a directory of ``--existing`` constituents (seeded, not timed), then times
``ConstituentImport.run`` over a generated upload CSV of ``--rows`` rows with a realistic mix:
CONS_ID updates, MEMBER_ID updates, blank-MEMBER_ID + email fallbacks, email matches (some in
another case, some matching several records), new records, and rejects (Removed records,
ambiguous MEMBER_IDs, unknown CONS_IDs, bad values). Each measurement runs in its own process, so
its peak RSS (``ru_maxrss``) is its own; the process also reports its RSS right after building the
directory, so the share of memory the upload adds is visible. Every run is checked: the report's
counts must add up and equal what the generator planned.

Run on demand, not part of the test suite::

    python3 -m uv run python benchmarks/luminate_upload.py --write-doc

The figures go into docs/performance.md between ``<!-- luminate-upload:start -->`` and
``<!-- luminate-upload:end -->`` (``benchmarks/run.py --write-doc`` keeps that block).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import io
import json
import os
import platform
import random
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from docblock import write_block  # benchmarks/docblock.py, beside this script

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA_DIR = HERE / "data"
DOC = ROOT / "docs" / "performance.md"
BLOCK_START = "<!-- luminate-upload:start -->"
BLOCK_END = "<!-- luminate-upload:end -->"
# Bump when the generated content changes, so stale cached files are not reused.
FORMAT_VERSION = 1
SEED = 20261123
FIRST_CONS_ID = 1001001
TARGET_RATE = 150_000
MiB = 2**20

_FIRST = [
    "Alexander",
    "Abigail",
    "Benjamin",
    "Charlotte",
    "Daniel",
    "Emily",
    "Gabriel",
    "Hannah",
    "Isaac",
    "Julia",
    "Liam",
    "Mia",
    "Noah",
    "Olivia",
    "Ryan",
    "Sofia",
    "Thomas",
    "Victoria",
    "William",
    "Zoe",
    "Amara",
    "Kenji",
    "Priya",
    "Mateo",
    "Aisha",
    "Chen",
]
_LAST = [
    "Anderson",
    "Brown",
    "Clark",
    "Davis",
    "Evans",
    "Garcia",
    "Harris",
    "Jackson",
    "Johnson",
    "King",
    "Lee",
    "Lopez",
    "Martin",
    "Miller",
    "Moore",
    "Nguyen",
    "Patel",
    "Robinson",
    "Smith",
    "Taylor",
    "Thomas",
    "Walker",
    "White",
    "Williams",
    "Wilson",
    "Young",
    "Okafor",
]
_STREETS = [
    "Main",
    "Oak",
    "Pine",
    "Maple",
    "Cedar",
    "Elm",
    "Lake",
    "Hill",
    "Park",
    "River",
    "Washington",
    "Church",
]
_KINDS = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr")
_CITIES = (
    ("Boston", "MA", "021"),
    ("Austin", "TX", "787"),
    ("Denver", "CO", "802"),
    ("Seattle", "WA", "981"),
    ("Chicago", "IL", "606"),
    ("Atlanta", "GA", "303"),
    ("Portland", "OR", "972"),
    ("Phoenix", "AZ", "850"),
)


# ---- the existing constituents: a pure function of the index, so the upload can aim at them --


def existing_member_id(i: int) -> str:
    """70% of records carry a MEMBER_ID; every 500th shares its neighbour's (ambiguous)."""
    if i % 500 == 11:
        i -= 1
    return f"RE{i + 1:08d}" if i % 10 < 7 else ""


def existing_email(i: int) -> str:
    """Unique per record, except every 50th shares the previous record's address."""
    if i % 50 == 7:
        i -= 1
    return f"supporter{i}@example.org"


def existing_removed(i: int) -> bool:
    return i % 100 == 3


def _person(rng: random.Random) -> list[str]:
    """FIRST_NAME .. ACCEPTS_EMAIL of a plausible US supporter (11 cells)."""
    city, state, zip3 = rng.choice(_CITIES)
    return [
        rng.choice(_FIRST),
        "" if rng.random() < 0.8 else rng.choice(_FIRST)[0],
        rng.choice(_LAST),
        f"{rng.randint(1, 9999)} {rng.choice(_STREETS)} {rng.choice(_KINDS)}",
        "" if rng.random() < 0.9 else f"Apt {rng.randint(1, 400)}",
        city,
        state,
        f"{zip3}{rng.randint(0, 99):02d}",
        "United States",
        f"{rng.randint(200, 989)}-555-{rng.randint(0, 9999):04d}",
        rng.choice(("TRUE", "FALSE", "")),
    ]


def build_directory(existing: int, seed: int) -> Any:
    """A ConstituentDirectory holding ``existing`` constituents (every 100th Removed).

    The values go through a CSV round trip first, so every record owns its strings as it would
    after being loaded from real data (shared string objects would flatter the memory figures).
    """
    from luminate_simulator.constituents import UPLOAD_COLUMNS, ConstituentDirectory

    from syncframe.clock import ManualClock

    rng = random.Random(seed)
    directory = ConstituentDirectory(ManualClock(), first_cons_id=FIRST_CONS_ID)
    # Every upload column but the ids the directory assigns or that the rows leave out.
    columns = tuple(c for c in UPLOAD_COLUMNS if c not in ("CONS_ID", "USER_NAME"))
    chunk = 10_000
    for first in range(0, existing, chunk):
        text = io.StringIO()
        writer = csv.writer(text)
        for i in range(first, min(first + chunk, existing)):
            writer.writerow([existing_member_id(i), existing_email(i), *_person(rng)])
        text.seek(0)
        for i, values in enumerate(csv.reader(text), start=first):
            cons = directory.create(dict(zip(columns, values, strict=True)), "seed")
            if existing_removed(i):
                directory.remove(cons, "seed")
    return directory


# ---- the upload -------------------------------------------------------------------------------

# What the generator expects each planned row to end as.
_PLAN_KINDS = ("updated", "created", "rejected")


def upload_path(existing: int, rows: int, seed: int) -> Path:
    return DATA_DIR / f"luminate-upload-v{FORMAT_VERSION}-{existing}-{rows}-{seed}.csv"


def generate_upload(existing: int, rows: int, seed: int, path: Path) -> dict[str, int]:
    """Write the upload CSV; returns the planned outcome counts (before in-file interactions).

    The mix: 30% CONS_ID, 25% MEMBER_ID, 5% new MEMBER_ID + email of a record with none (the
    blank-MEMBER_ID fallback), 20% PRIMARY_EMAIL only (a tenth in upper case), 17% new records,
    3% bad rows.
    """
    from luminate_simulator.constituents import UPLOAD_COLUMNS

    rng = random.Random(seed * 7919 + rows)
    planned: Counter[str] = Counter()
    fallen_back: set[int] = set()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(UPLOAD_COLUMNS)
        for j in range(rows):
            roll = rng.random()
            person = _person(rng)
            user_name = ""
            i = rng.randrange(existing)
            if roll < 0.30:
                if rng.random() < 0.003:  # far above any id the upload creates
                    cons_id, outcome = str(900_000_000 + j), "rejected"
                else:
                    cons_id = str(FIRST_CONS_ID + i)
                    outcome = "rejected" if existing_removed(i) else "updated"
                keys = [cons_id, "", existing_email(i)]
            elif roll < 0.55:
                while not existing_member_id(i):
                    i = rng.randrange(existing)
                member_id = existing_member_id(i)
                if i % 500 in (10, 11):
                    outcome = "rejected"  # two records share this MEMBER_ID
                elif existing_removed(i):
                    outcome = "rejected"
                else:
                    outcome = "updated"
                keys = ["", member_id, existing_email(i)]
            elif roll < 0.60:
                # once given a MEMBER_ID a record no longer qualifies: aim at fresh ones
                while existing_member_id(i) or i % 50 in (6, 7) or i in fallen_back:
                    i = rng.randrange(existing)
                fallen_back.add(i)
                outcome = "rejected" if existing_removed(i) else "updated"
                keys = ["", f"NEWRE{j:08d}", existing_email(i)]
            elif roll < 0.80:
                email = existing_email(i)
                if rng.random() < 0.1:
                    email = email.upper()
                removed = existing_removed(i)
                if i % 50 in (6, 7):  # two records share the address: the first is updated
                    removed = existing_removed(i - (i % 50) + 6)
                outcome = "rejected" if removed else "updated"
                keys = ["", "", email]
            elif roll < 0.97:
                outcome = "created"
                if rng.random() < 0.05:
                    keys = ["", "", ""]  # a name alone creates a record
                elif rng.random() < 0.5:
                    keys = ["", f"NEWRE{j:08d}", f"new{j}@example.net"]
                else:
                    keys = ["", "", f"new{j}@example.net"]
                if rng.random() < 0.02:
                    user_name = f"newuser{j}"
            else:
                outcome = "rejected"
                keys = ["", "", f"supporter{i}@example.org"]
                bad = rng.randrange(4)
                if bad == 0:
                    keys[2] = "not an email"
                elif bad == 1:
                    person[10] = "maybe"
                elif bad == 2:
                    person[7] = "9" * 41  # HOME_ZIP is 40 characters at most
                else:
                    keys = ["", "", ""]
                    person[0] = person[2] = ""
            planned[outcome] += 1
            # UPLOAD_COLUMNS order: CONS_ID, MEMBER_ID, USER_NAME, PRIMARY_EMAIL, names...
            writer.writerow([keys[0], keys[1], user_name, keys[2], *person])
    os.replace(tmp, path)
    counts = {kind: planned[kind] for kind in _PLAN_KINDS}
    path.with_suffix(".json").write_text(json.dumps(counts), encoding="utf-8")
    return counts


def ensure_upload(existing: int, rows: int, seed: int) -> tuple[Path, dict[str, int]]:
    path = upload_path(existing, rows, seed)
    plan = path.with_suffix(".json")
    if path.exists() and plan.exists():
        counts: dict[str, int] = json.loads(plan.read_text(encoding="utf-8"))
        return path, counts
    print(f"generating {path.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
    return path, generate_upload(existing, rows, seed, path)


# ---- one measurement (child process) ----------------------------------------------------------


def _rss_now() -> int:
    with Path("/proc/self/statm").open() as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def child(args: argparse.Namespace) -> int:
    from luminate_simulator.constituent_import import ConstituentImport

    started = time.perf_counter()
    directory = build_directory(args.existing, args.seed)
    gc.collect()
    build_seconds = time.perf_counter() - started
    rss_built = _rss_now()
    peak_built = _peak_rss()
    log_before = len(directory.log)
    with tempfile.TemporaryDirectory() as work:
        errors = Path(work) / "errors.csv"
        importer = ConstituentImport(directory)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            report = profiler.runcall(importer.run, args.csv, errors)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
        else:
            report = importer.run(args.csv, errors)
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        error_lines = 0
        if report.errors_path is not None:
            with report.errors_path.open(encoding="utf-8", newline="") as stream:
                error_lines = sum(1 for _ in csv.reader(stream)) - 1
    result = {
        "existing": args.existing,
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "rejected": report.rejected,
        "aborted": report.aborted,
        "error_lines": error_lines,
        "constituents_after": len(directory),
        "log_entries_added": len(directory.log) - log_before,
        "build_seconds": build_seconds,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rss_built": rss_built,
        "peak_built": peak_built,
        "rss_after": _rss_now(),
        "peak": _peak_rss(),
    }
    print(json.dumps(result))
    return 0


# ---- the parent: run, check, report -----------------------------------------------------------


def measure(existing: int, rows: int, seed: int, profile: bool) -> dict[str, Any]:
    path, planned = ensure_upload(existing, rows, seed)
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--existing",
        str(existing),
        "--seed",
        str(seed),
        "--csv",
        str(path),
    ]
    if profile:
        argv.append("--profile")
    load_before = _load_average()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if profile or done.returncode != 0:
        print(done.stderr, file=sys.stderr)
    if done.returncode != 0:
        raise SystemExit(f"the measurement process failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["planned"] = planned
    result["load"] = f"{load_before} → {_load_average()}"
    check(result, rows, planned)
    return result


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time, carrying the highest peak RSS of all of them."""
    ordered = sorted(runs, key=lambda run: run["seconds"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["peak"] = max(run["peak"] for run in runs)
    chosen["all_seconds"] = [run["seconds"] for run in runs]
    return chosen


def check(result: dict[str, Any], rows: int, planned: dict[str, int]) -> None:
    """The import must have done what the generator planned, row for row."""
    problems = []
    if result["aborted"]:
        problems.append(f"aborted: {result['aborted']}")
    if result["rows"] != rows:
        problems.append(f"{result['rows']} rows read, {rows} written")
    if result["created"] + result["updated"] + result["rejected"] != result["rows"]:
        problems.append("created + updated + rejected != rows")
    if result["error_lines"] != result["rejected"]:
        problems.append(
            f"errors.csv has {result['error_lines']} rows, {result['rejected']} rejected"
        )
    for kind in _PLAN_KINDS:
        if result[kind] != planned[kind]:
            problems.append(f"{kind}: {result[kind]}, planned {planned[kind]}")
    if result["constituents_after"] != result["existing"] + result["created"]:
        problems.append("the directory did not grow by the records created")
    if result["log_entries_added"] != result["created"] + result["updated"]:
        problems.append("the change log did not get one entry per applied row")
    if problems:
        raise SystemExit("BENCHMARK FAILED: " + "; ".join(problems))


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    cpu = "unknown CPU"
    with Path("/proc/cpuinfo").open() as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with Path("/proc/meminfo").open() as info:
        for line in info:
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    return (
        f"{os.cpu_count()} CPUs, {cpu}, {memory} RAM; {platform.platform()}; "
        f"Python {platform.python_version()}"
    )


def _mib(value: int) -> str:
    return f"{value / MiB:,.0f}"


def render_block(results: list[dict[str, Any]], command: str) -> str:
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        BLOCK_START,
        "## Luminate simulator: standard constituent upload",
        "",
        "Generated by `benchmarks/luminate_upload.py --write-doc` (see `benchmarks/README.md`); "
        "`benchmarks/run.py --write-doc` keeps this block.",
        "",
        f"- Date: {today}",
        f"- Machine: {machine()}",
        f"- Command: `{command}`",
        "- Upload: all 15 standard columns; 30% CONS_ID updates, 25% MEMBER_ID updates, 5% "
        "new MEMBER_ID + email of a record without one (fallback update), 20% PRIMARY_EMAIL "
        "matches (a tenth in upper case, some on addresses two records share), 17% new records, "
        "3% bad values; with the Removed and ambiguous records that makes ~6% rejects, each "
        "written to errors.csv. Every run's counts are checked against the generator's plan.",
        "- Existing constituents are built in the same process before the clock starts (not "
        "timed); *RSS built* is the process's RSS then, *peak* its `ru_maxrss` at the end.",
        "- Each size is run in fresh processes; with several runs the table gives the run with "
        "the median wall time and the highest peak of all (all runs' seconds: "
        + "; ".join(
            f"{r['rows']:,} rows: " + ", ".join(f"{s:.2f}" for s in r.get("all_seconds", []))
            for r in results
        )
        + ").",
        "",
        "| existing | upload rows | seconds | CPU s | rows/s | rows/CPU s | created | updated | "
        "rejected | RSS built MiB | peak MiB | peak − built MiB | load (1, 5, 15 min) | target |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| --- | --- |",
    ]
    for r in results:
        rate = r["rows"] / r["seconds"]
        verdict = "met" if rate >= TARGET_RATE else "**missed**"
        lines.append(
            f"| {r['existing']:,} | {r['rows']:,} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} "
            f"| {rate:,.0f} | {r['rows'] / r['cpu_seconds']:,.0f} | {r['created']:,} "
            f"| {r['updated']:,} | {r['rejected']:,} | {_mib(r['rss_built'])} "
            f"| {_mib(r['peak'])} | {_mib(r['peak'] - r['rss_built'])} | {r['load']} "
            f"| ≥ {TARGET_RATE:,} rows/s: {verdict} |"
        )
    lines += ["", *NOTES, *[_growth(r) for r in results], "", BLOCK_END]
    return "\n".join(lines)


NOTES = [
    "What the memory figures say: the process holds the directory (records, their indexes "
    "and the change log); the upload is streamed and nothing is kept per row read. What an "
    "upload adds is what it adds to the directory: the records it creates (each costs about "
    "what an existing one does) and one change-log entry per applied row (~33 bytes; the log "
    "is kept in columns). So peak − built follows the records created, not the rows read:",
    "",
]
LOG_ENTRY_BYTES = 33


def _growth(r: dict[str, Any]) -> str:
    per_record = r["rss_built"] / r["existing"]
    expected = r["created"] * per_record + r["log_entries_added"] * LOG_ENTRY_BYTES
    return (
        f"- {r['rows']:,} rows: {r['created']:,} records created × {per_record:,.0f} B "
        f"(RSS built ÷ existing) + {r['log_entries_added']:,} log entries × "
        f"{LOG_ENTRY_BYTES} B ≈ {_mib(int(expected))} MiB; measured peak − built: "
        f"{_mib(r['peak'] - r['rss_built'])} MiB."
    )


def write_doc(block: str) -> None:
    write_block(DOC, BLOCK_START, BLOCK_END, block)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--existing", type=int, default=1_000_000, help="constituents to build")
    parser.add_argument(
        "--rows", type=int, action="append", help="upload rows (repeatable; 1M and 100k)"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per size (median wall time, highest peak)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the import (stderr)")
    parser.add_argument("--write-doc", action="store_true", help=f"update {DOC.relative_to(ROOT)}")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    sizes = args.rows or [1_000_000, 100_000]
    results = []
    for rows in sizes:
        runs = []
        for _ in range(args.repeat):
            run = measure(args.existing, rows, args.seed, args.profile)
            rate = run["rows"] / run["seconds"]
            print(
                f"{args.existing:,} existing, {rows:,} rows: {run['seconds']:.2f} s, "
                f"{rate:,.0f} rows/s; created {run['created']:,}, updated "
                f"{run['updated']:,}, rejected {run['rejected']:,}; RSS built "
                f"{_mib(run['rss_built'])} MiB, peak {_mib(run['peak'])} MiB "
                f"(build {run['build_seconds']:.1f} s)",
                flush=True,
            )
            runs.append(run)
        results.append(median_run(runs))
    if args.write_doc:
        command = "python3 -m uv run python benchmarks/luminate_upload.py " + shlex.join(
            argv if argv is not None else sys.argv[1:]
        )
        write_doc(render_block(results, command.strip()))
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
