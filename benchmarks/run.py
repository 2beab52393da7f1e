"""The engine benchmark: syncframe against the bare standard library, singer-sdk and dlt.

Two pieces of work on one generated CSV of constituent-like rows (see generate.py):
(a) CSV -> JSONL file, (b) CSV -> SQLite table upserted by key. Every contender runs in its own
subprocess (singer-sdk: a tap process piped into a target process), so its wall time and peak
RSS are its own; every output is checked afterwards (row count and a digest of every value), so
a contender that wrote nothing or the wrong thing fails loudly instead of looking fast.

Run on demand, not part of the test suite::

    python3 -m uv run python benchmarks/run.py --rows 1000000 --rows 100000 --write-doc

singer-sdk and dlt are not syncframe dependencies: they are installed on first use into their
own venvs under benchmarks/.venvs/ (``uv venv`` + ``uv pip install``, unpinned; the versions
got are printed and written to the doc).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import os
import platform
import pstats
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from generate import COLUMNS, DATA_DIR, ensure_csv

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONTENDERS = HERE / "contenders"
VENVS = HERE / ".venvs"
WORK_ROOT = DATA_DIR / "work"
RESULTS = DATA_DIR / "results-latest.json"
PYCACHE = DATA_DIR / "pycache"
DOC = ROOT / "docs" / "performance.md"

WORKS = {
    "jsonl": "(a) CSV → JSONL file",
    "sqlite": "(b) CSV → SQLite table, upsert by key",
}
FAMILIES = ("floor", "floor-json", "syncframe", "singer-sdk", "dlt")
DEFAULT_ROWS = (1_000_000, 100_000)
DEFAULT_BATCH = 10_000
MiB = 2**20

# The targets, judged at the largest row count measured.
TARGET_RATE = {"jsonl": 200_000, "sqlite": 100_000}
TARGET_VS = {"singer-sdk": 5.0, "dlt": 3.0}
TARGET_PEAK_BYTES = 150 * 10**6  # 150 MB
# "Flat" peak RSS: the largest run's peak exceeds the smallest's by at most this much.
FLAT_SLACK_BYTES = 10 * MiB
FLAT_SLACK_SHARE = 0.10


class BenchmarkFailed(Exception):
    """A contender crashed, or its output is not the input (the message says how)."""


# ---- contender environments ------------------------------------------------------------------


def _uv() -> list[str]:
    # `uv run` exports UV (the uv binary); otherwise the uv on PATH, else `python3 -m uv`.
    found = os.environ.get("UV") or shutil.which("uv")
    return [found] if found else ["python3", "-m", "uv"]


@dataclass(frozen=True)
class Venv:
    """An isolated venv for one foreign contender, installed on first use."""

    name: str
    requirements: tuple[str, ...]
    distributions: tuple[str, ...]  # whose versions to report

    @property
    def path(self) -> Path:
        return VENVS / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def ensure(self) -> Path:
        """The venv's interpreter, after creating the venv and installing into it if needed."""
        marker = self.path / ".benchmark-installed"
        if marker.exists():
            return self.python
        print(f"setting up {self.path.relative_to(ROOT)}: {' '.join(self.requirements)}")
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        subprocess.run([*_uv(), "venv", "--python", version, str(self.path)], check=True)
        subprocess.run(
            [
                *_uv(),
                "pip",
                "install",
                "--compile-bytecode",
                "--python",
                str(self.python),
                *self.requirements,
            ],
            check=True,
        )
        marker.write_text("\n".join(self.requirements) + "\n")
        return self.python

    def versions(self) -> dict[str, str]:
        """Installed versions of the distributions worth reporting."""
        return _versions(str(self.python), self.distributions)


SINGER = Venv("singer", ("singer-sdk",), ("singer-sdk", "sqlalchemy"))
DLT = Venv("dlt", ("dlt[sqlalchemy]",), ("dlt", "sqlalchemy"))


def _versions(python: str, distributions: Iterable[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "print(json.dumps({d: m.version(d) for d in sys.argv[1:]}))"
    )
    done = subprocess.run(
        [python, "-c", code, *distributions], capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout))


# ---- what a contender runs and what it must have written ----------------------------------


@dataclass(frozen=True)
class Output:
    """Where a contender's result lands: JSONL files (a glob) or a SQLite table."""

    kind: str  # jsonl | sqlite
    directory: Path
    pattern: str  # a glob under directory (jsonl) or the database file name (sqlite)
    table: str = "constituents"


@dataclass
class Plan:
    """The processes of one contender run (a pipeline when several), and its output."""

    argvs: list[list[str]]
    output: Output
    check_stdout: Callable[[str, int], None] | None = None


@dataclass(frozen=True)
class Contender:
    """One way of doing the work."""

    family: str
    label: str
    works: tuple[str, ...]
    plan: Callable[[str, Path, Path, int], Plan]
    batch_size: int


def _floor_plan(json_lib: str) -> Callable[[str, Path, Path, int], Plan]:
    def plan(work: str, source: Path, workdir: Path, batch: int) -> Plan:
        out = "out.jsonl" if work == "jsonl" else "target.db"
        argv = [sys.executable, str(CONTENDERS / "floor.py"), work, "--csv", str(source)]
        argv += ["--out", str(workdir / out), "--batch-size", str(batch), "--json", json_lib]
        return Plan([argv], Output(work, workdir, out), _expect_rows_line)

    return plan


def _expect_rows_line(stdout: str, rows: int) -> None:
    if f"rows={rows}" not in stdout:
        raise BenchmarkFailed(f"the floor reported {stdout.strip()!r}, expected rows={rows}")


def _toml_string(value: object) -> str:
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _syncframe_plan(work: str, source: Path, workdir: Path, batch: int) -> Plan:
    if work == "jsonl":
        sink = f'type = "jsonl"\npath = {_toml_string(workdir / "out.jsonl")}\n'
        output = Output("jsonl", workdir, "out.jsonl")
    else:
        url = f"sqlite:///{workdir / 'target.db'}"
        sink = (
            f'type = "sql_table"\nurl = {_toml_string(url)}\ntable = "constituents"\nkey = "id"\n'
        )
        output = Output("sqlite", workdir, "target.db")
    flow_file = workdir / "flow.toml"
    flow_file.write_text(
        "# Written by benchmarks/run.py\n"
        f"[state]\nurl = {_toml_string('sqlite:///' + str(workdir / 'state.db'))}\n\n"
        f"[flows.bench]\nbatch_size = {batch}\n\n"
        f'[flows.bench.source]\ntype = "csv"\npath = {_toml_string(source)}\nkey = "id"\n\n'
        f"[flows.bench.sink]\n{sink}",
        encoding="utf-8",
    )
    argv = [sys.executable, str(CONTENDERS / "syncframe_flow.py"), str(flow_file), "bench"]
    return Plan([argv], output, _expect_syncframe_report)


def _expect_syncframe_report(stdout: str, rows: int) -> None:
    lines = stdout.strip().splitlines()
    if not lines:
        raise BenchmarkFailed("syncframe printed no report")
    report = json.loads(lines[-1])
    written = report["counts"].get("created", 0) + report["counts"].get("updated", 0)
    if report["status"] != "succeeded" or written != rows:
        raise BenchmarkFailed(f"syncframe reported {report}, expected {rows:,} changes written")


def _singer_plan(work: str, source: Path, workdir: Path, batch: int) -> Plan:
    python = str(SINGER.ensure())
    tap_config = workdir / "tap.json"
    tap_config.write_text(json.dumps({"path": str(source)}))
    target_config = workdir / "target.json"
    if work == "jsonl":
        target_config.write_text(json.dumps({"path": str(workdir / "out.jsonl")}))
        output = Output("jsonl", workdir, "out.jsonl")
    else:
        url = f"sqlite:///{workdir / 'target.db'}"
        target_config.write_text(json.dumps({"sqlalchemy_url": url}))
        output = Output("sqlite", workdir, "target.db")
    tap = [python, str(CONTENDERS / "singer_tap.py"), "--config", str(tap_config)]
    target = [python, str(CONTENDERS / "singer_target.py"), work, "--config", str(target_config)]
    return Plan([tap, target], output)


def _dlt_plan(work: str, source: Path, workdir: Path, batch: int) -> Plan:
    python = str(DLT.ensure())
    argv = [python, str(CONTENDERS / "dlt_pipeline.py"), work, "--csv", str(source)]
    argv += ["--out", str(workdir), "--batch-size", str(batch)]
    if work == "jsonl":
        output = Output("jsonl", workdir, "files/bench/constituents/*.jsonl")
    else:
        # dlt's sqlalchemy destination keeps each dataset of a SQLite database in its own
        # attached file, <db>__<dataset>.db.
        output = Output("sqlite", workdir, "target__bench.db")
    return Plan([argv], output)


def contenders(only: set[str], batch_sizes: list[int]) -> list[Contender]:
    """The contenders to run, floor first (the ratios need it)."""
    primary = batch_sizes[0]
    found = [
        Contender("floor", "stdlib floor", ("jsonl", "sqlite"), _floor_plan("orjson"), primary),
        Contender("floor-json", "stdlib floor, json", ("jsonl",), _floor_plan("json"), primary),
        Contender("syncframe", "syncframe", ("jsonl", "sqlite"), _syncframe_plan, primary),
    ]
    found += [
        Contender(
            "syncframe", f"syncframe, batch {size:,}", ("jsonl", "sqlite"), _syncframe_plan, size
        )
        for size in batch_sizes[1:]
    ]
    found += [
        Contender("singer-sdk", "singer-sdk", ("jsonl", "sqlite"), _singer_plan, primary),
        Contender("dlt", "dlt", ("jsonl", "sqlite"), _dlt_plan, primary),
    ]
    return [c for c in found if c.family in only]


# ---- measuring --------------------------------------------------------------------------------


@dataclass
class Measurement:
    """One run of one contender: wall seconds and each process's peak RSS."""

    seconds: float
    cpu: float  # user + system seconds of all the pipeline's processes
    peaks: list[int]  # bytes, one per process of the pipeline
    stdout: str


def measure(argvs: list[list[str]], cwd: Path, logs: Path) -> Measurement:
    """Run a pipeline of processes (stdout -> next stdin), timing it as a whole from here.

    Each process's peak RSS is its ru_maxrss, got from wait4 on that process alone.
    """
    logs.mkdir(parents=True, exist_ok=True)
    errs = [(logs / f"{i}.stderr").open("wb") for i in range(len(argvs))]
    last_out = (logs / "stdout").open("wb")
    env = dict(os.environ)
    # Cached bytecode for every contender alike (the warm-up run writes it), as an installed
    # package has; kept under benchmarks/data/ so neither the source tree nor the venvs change.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    procs: list[subprocess.Popen[bytes]] = []
    start = time.perf_counter()
    try:
        upstream: Any = None
        for i, argv in enumerate(argvs):
            last = i == len(argvs) - 1
            proc = subprocess.Popen(
                argv,
                stdin=upstream if upstream is not None else subprocess.DEVNULL,
                stdout=last_out if last else subprocess.PIPE,
                stderr=errs[i],
                cwd=cwd,
                env=env,
            )
            if upstream is not None:
                upstream.close()  # so the writer gets EPIPE if the reader dies
            upstream = proc.stdout
            procs.append(proc)
        peaks = []
        cpu = 0.0
        for proc in procs:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            peaks.append(usage.ru_maxrss * 1024)  # KiB on Linux
            cpu += usage.ru_utime + usage.ru_stime
        seconds = time.perf_counter() - start
    finally:
        for handle in [*errs, last_out]:
            handle.close()
    failed = [(i, p.returncode) for i, p in enumerate(procs) if p.returncode != 0]
    if failed:
        tails = "\n".join(
            f"--- {shlex.join(argvs[i])} exited {code}; stderr ends:\n"
            + "\n".join((logs / f"{i}.stderr").read_text(errors="replace").splitlines()[-25:])
            for i, code in failed
        )
        raise BenchmarkFailed(tails)
    return Measurement(seconds, cpu, peaks, (logs / "stdout").read_text(errors="replace"))


# ---- checking outputs ---------------------------------------------------------------------

_MASK = 2**64 - 1


def _digest(rows: Iterable[tuple[str, ...]]) -> tuple[int, int]:
    """(count, order-independent digest of every row's values)."""
    count = 0
    total = 0
    for row in rows:
        count += 1
        total = (total + hash(row)) & _MASK
    return count, total


def source_digest(path: Path) -> tuple[int, int]:
    """The digest every output must match."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        return _digest(tuple(row) for row in reader)


def _jsonl_rows(paths: list[Path]) -> Iterator[tuple[str, ...]]:
    for path in paths:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                record = orjson.loads(line)
                try:
                    yield tuple(str(record[c]) for c in COLUMNS)
                except KeyError as missing:
                    raise BenchmarkFailed(
                        f"{path}:{number}: no {missing} in {line[:200]!r}"
                    ) from None


def _sqlite_rows(path: Path, table: str) -> Iterator[tuple[str, ...]]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        columns = ", ".join(f'"{c}"' for c in COLUMNS)
        for row in connection.execute(f'SELECT {columns} FROM "{table}"'):
            yield tuple(str(v) for v in row)
    finally:
        connection.close()


def verify(output: Output, expected: tuple[int, int]) -> None:
    """Check the output holds exactly the source's rows (count and every value)."""
    if output.kind == "jsonl":
        paths = sorted(output.directory.glob(output.pattern))
        if not paths:
            raise BenchmarkFailed(f"no output file matches {output.directory / output.pattern}")
        count, digest = _digest(_jsonl_rows(paths))
        where = ", ".join(str(p) for p in paths)
    else:
        path = output.directory / output.pattern
        if not path.exists():
            raise BenchmarkFailed(f"no database at {path}")
        try:
            count, digest = _digest(_sqlite_rows(path, output.table))
        except sqlite3.Error as exc:
            raise BenchmarkFailed(f"{path}: {exc}") from None
        where = f"{path} table {output.table}"
    if count != expected[0]:
        raise BenchmarkFailed(f"{where}: {count:,} rows, expected {expected[0]:,}")
    if digest != expected[1]:
        raise BenchmarkFailed(f"{where}: {count:,} rows but their values differ from the CSV's")


# ---- results ------------------------------------------------------------------------------


@dataclass
class Result:
    """A contender's figures for one piece of work at one row count."""

    work: str
    family: str
    label: str
    rows: int
    batch_size: int
    seconds: list[float]
    cpu: list[float]
    peaks: list[list[int]]  # per repetition, per process

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)

    @property
    def rate(self) -> float:
        return self.rows / self.median_seconds

    @property
    def peak(self) -> int:
        """Peak RSS in bytes: the pipeline's processes together (they run at the same time)."""
        return max(sum(p) for p in self.peaks)


@dataclass
class Profile:
    """cProfile's top functions for one syncframe run."""

    work: str
    rows: int
    seconds: float
    by_tottime: str
    by_cumtime: str


@dataclass
class Session:
    """Everything one benchmark invocation measured, plus where and how."""

    meta: dict[str, Any]
    results: list[Result] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)

    def find(self, work: str, label: str, rows: int) -> Result | None:
        for r in self.results:
            if (r.work, r.label, r.rows) == (work, label, rows):
                return r
        return None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> Session:
        data = json.loads(path.read_text())
        return cls(
            meta=data["meta"],
            results=[Result(**r) for r in data["results"]],
            profiles=[Profile(**p) for p in data.get("profiles", [])],
        )


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    with Path("/proc/cpuinfo").open() as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with Path("/proc/meminfo").open() as info:
        for line in info:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }


def syncframe_source() -> dict[str, str]:
    """Which syncframe code was measured: the commit, whether src/ differs from it, and a
    digest of src/ as it was (the engine may change between two runs of the same commit)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "unknown"

    return {
        "commit": git("rev-parse", "--short=12", "HEAD"),
        "src changed since commit": "yes" if git("status", "--porcelain", "--", "src") else "no",
        "src digest": digest.hexdigest()[:12],
    }


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def ratio(a: Result | None, b: Result | None) -> float | None:
    """How many times a's rate is b's."""
    return None if a is None or b is None else a.rate / b.rate


def _fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def table_rows(session: Session) -> list[list[str]]:
    """The results table: one line per work, contender and row count."""
    lines = []
    for r in session.results:
        floor = session.find(r.work, "stdlib floor", r.rows)
        lines.append(
            [
                r.work,
                r.label,
                f"{r.rows:,}",
                f"{r.median_seconds:.2f}",
                f"{r.median_cpu:.2f}",
                f"{r.rate:,.0f}",
                f"{r.peak / MiB:.0f}"
                + (
                    f" ({'+'.join(f'{p / MiB:.0f}' for p in r.peaks[0])})"
                    if len(r.peaks[0]) > 1
                    else ""
                ),
                _fmt_ratio(ratio(r, floor)),
            ]
        )
    return lines


HEADER = ["work", "contender", "rows", "seconds", "CPU s", "changes/s", "peak MiB", "vs floor"]


def comparisons(session: Session) -> list[list[str]]:
    """syncframe's rate over singer-sdk's and dlt's, per work and row count."""
    lines = []
    for r in session.results:
        if r.label != "syncframe":
            continue
        lines.append(
            [
                r.work,
                f"{r.rows:,}",
                _fmt_ratio(ratio(r, session.find(r.work, "singer-sdk", r.rows))),
                _fmt_ratio(ratio(r, session.find(r.work, "dlt", r.rows))),
                _fmt_ratio(ratio(r, session.find(r.work, "stdlib floor", r.rows))),
            ]
        )
    return lines


COMPARE_HEADER = ["work", "rows", "syncframe / singer-sdk", "syncframe / dlt", "syncframe / floor"]


def targets(session: Session) -> list[list[str]]:
    """The issue's targets, each with the measured figure and pass / fail / not measured."""
    measured_rows = sorted({r.rows for r in session.results})
    lines: list[list[str]] = []
    if not measured_rows:
        return lines
    top, low = measured_rows[-1], measured_rows[0]

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("pass" if ok else "**FAIL**")

    for work in [w for w in WORKS if any(r.work == w for r in session.results)]:
        sf = session.find(work, "syncframe", top)
        goal = TARGET_RATE[work]
        lines.append(
            [
                f"({'a' if work == 'jsonl' else 'b'}) {work}: syncframe changes/s at {top:,} rows",
                f"≥ {goal:,}",
                "—" if sf is None else f"{sf.rate:,.0f}",
                verdict(None if sf is None else sf.rate >= goal),
            ]
        )
        for other, times in TARGET_VS.items():
            value = ratio(sf, session.find(work, other, top))
            lines.append(
                [
                    f"{work}: syncframe / {other} at {top:,} rows",
                    f"≥ {times:g}x",
                    _fmt_ratio(value),
                    verdict(None if value is None else value >= times),
                ]
            )
        for rows in measured_rows:
            sf_rows = session.find(work, "syncframe", rows)
            lines.append(
                [
                    f"{work}: syncframe peak RSS at {rows:,} rows",
                    "< 150 MB (143 MiB)",
                    "—" if sf_rows is None else f"{sf_rows.peak / MiB:.0f} MiB",
                    verdict(None if sf_rows is None else sf_rows.peak < TARGET_PEAK_BYTES),
                ]
            )
        small, big = session.find(work, "syncframe", low), session.find(work, "syncframe", top)
        flat: bool | None = None
        figure = "—"
        if small is not None and big is not None and low != top:
            slack = max(FLAT_SLACK_BYTES, FLAT_SLACK_SHARE * small.peak)
            flat = big.peak - small.peak <= slack
            figure = f"{small.peak / MiB:.0f} → {big.peak / MiB:.0f} MiB"
        lines.append(
            [
                f"{work}: syncframe peak RSS flat, {low:,} → {top:,} rows",
                "growth ≤ max(10 MiB, 10%)",
                figure,
                verdict(flat),
            ]
        )
    return lines


TARGET_HEADER = ["target", "goal", "measured", "verdict"]


def text_table(header: list[str], lines: list[list[str]]) -> str:
    """A plain aligned table for the terminal."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]
    out = [
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def md_table(header: list[str], lines: list[list[str]]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


# ---- profiling ----------------------------------------------------------------------------


def profile_syncframe(work: str, rows: int, batch: int, workroot: Path) -> Profile:
    """Run syncframe's flow under cProfile and keep its top functions."""
    source = ensure_csv(rows)
    workdir = workroot / f"profile-{work}-{rows}"
    workdir.mkdir(parents=True)
    plan = _syncframe_plan(work, source, workdir, batch)
    stats_file = workdir / "syncframe.prof"
    plan.argvs[0] += ["--profile", str(stats_file)]
    measurement = measure(plan.argvs, workdir, workdir / "logs")
    verify(plan.output, source_digest(source))

    def top(order: str, *restrictions: str) -> str:
        buffer = io.StringIO()
        stats = pstats.Stats(str(stats_file), stream=buffer)
        stats.sort_stats(order).print_stats(*restrictions, 25)
        text = buffer.getvalue()
        # Shorten paths: the repository root and site-packages say nothing useful.
        text = text.replace(str(ROOT) + "/", "")
        text = text.replace(str(Path(sys.prefix)), "<venv>")
        body = text[text.index("   ncalls") :] if "   ncalls" in text else text
        return body.rstrip()

    # Cumulative times: syncframe's own functions only (the event loop's frames enclose all).
    return Profile(
        work, rows, measurement.seconds, top("tottime"), top("cumulative", "src/syncframe/")
    )


# ---- the doc ------------------------------------------------------------------------------

NOTES = """\
## How each contender does the work

Every contender reads the same cached CSV (`benchmarks/data/`, generated by
`benchmarks/generate.py`: seeded, ids 1..N, unique emails, ~120 bytes a row) and writes into a
fresh directory; each runs as its own process (singer-sdk: a tap process piped into a target
process, as Singer runs), timed from the parent from spawn to exit, so interpreter start-up and
imports count. Peak RSS is each process's `ru_maxrss` from `wait4`; for singer-sdk it is tap +
target (they run at the same time; the table shows both). After each run the output is read
back and must hold exactly the CSV's rows: same count, same values (an order-independent digest
of every row); a contender that wrote nothing or the wrong thing fails the benchmark.
An untimed warm-up run of every contender on 1,000 rows comes first; every contender runs with
cached bytecode (`PYTHONPYCACHEPREFIX=benchmarks/data/pycache`, written by the warm-up), as an
installed package would, so compiling sources never counts. Repetitions go round all
contenders in turn.

- **stdlib floor** (`benchmarks/contenders/floor.py`): (a) `csv.DictReader` → `orjson.dumps` →
  one line a row; (b) `csv.reader` → `sqlite3` `executemany` of `INSERT … ON CONFLICT(id) DO
  UPDATE` into a table whose primary key is `id`, one transaction per batch of rows.
  **stdlib floor, json** is (a) with the standard library's `json` instead of orjson.
- **syncframe** (`benchmarks/contenders/syncframe_flow.py`): a flow file written by the
  benchmark (`csv` source keyed by `id` → `jsonl` sink, or → `sql_table` sink on
  `sqlite:///target.db`, table `constituents`, key `id`), run through
  `open_engine(flow_file)` / `engine.run_flow("bench")` with a SQLite state store, so
  checkpointing and the exactly-once bookkeeping (in-flight marker, sink position, per-change
  outcomes in the run history) are on, as in production.
- **singer-sdk** (`benchmarks/contenders/singer_tap.py`, `singer_target.py`): a minimal
  singer-sdk tap (one stream, key `id`, all columns strings) piped into a minimal singer-sdk
  target: (a) a `BatchSink` appending JSON lines; (b) singer-sdk's own `SQLTarget` /
  `SQLSink` / `SQLConnector` on SQLite, with the insert statement swapped for SQLite's
  `INSERT … ON CONFLICT (id) DO UPDATE` (the SDK's default SQL sink only appends). Default
  batch size (10,000) and default message reader/writer.
- **dlt** (`benchmarks/contenders/dlt_pipeline.py`): a `@dlt.resource` reading the CSV with
  `csv.DictReader` and yielding lists of 10,000 dicts (dlt's recommended form) through
  `pipeline.run`: (a) the `filesystem` destination on a local path, loader format `jsonl`,
  compression off; (b) the `sqlalchemy` destination on SQLite, `write_disposition="merge"`,
  `primary_key="id"` (dlt's delete-insert merge through a staging dataset; dlt keeps each
  dataset in its own attached SQLite file, `target__bench.db`). Every run loads into an empty
  target, like the other contenders.
"""


def render_doc(session: Session) -> str:
    """docs/performance.md from one session's figures."""
    meta = session.meta
    m = meta["machine"]
    versions = "\n".join(
        f"- {owner}: " + ", ".join(f"{k} {v}" for k, v in sorted(found.items()))
        for owner, found in meta["versions"].items()
    )
    parts = [
        "# Engine performance",
        "",
        "Generated by `benchmarks/run.py --write-doc` (see `benchmarks/README.md`); do not edit "
        "by hand, rerun it.",
        "",
        f"- Date: {meta['date']}",
        f"- Machine: {m['nproc']} CPUs, {m['cpu']}, {m['memory']} RAM; {m['platform']}",
        f"- Python {m['python']}, SQLite {m['sqlite']}",
        "- syncframe measured: "
        + ", ".join(f"{k} {v}" for k, v in meta.get("syncframe_source", {}).items())
        + (
            " (**src/ changed during the run: the figures mix versions**)"
            if meta.get("source_changed")
            else ""
        ),
        f"- Command: `{meta['command']}`",
        f"- Repetitions per figure: {meta['repeat']} (median seconds, highest peak RSS)",
        f"- Load average (1, 5, 15 min) before: {meta.get('load_before', '?')}, after: "
        f"{meta.get('load_after', '?')} (the machine is shared; CPU s is less sensitive to "
        "that than wall seconds)",
        "",
        "Versions (unpinned; what `uv pip install` got):",
        "",
        versions,
        "",
        "## Targets",
        "",
        md_table(TARGET_HEADER, targets(session)),
        "",
        "## Results",
        "",
        "changes/s = rows ÷ whole-process wall seconds (median); CPU s = user + system seconds "
        "of the contender's processes; vs floor = the contender's changes/s over the stdlib "
        "floor's for the same work; peak MiB for singer-sdk is tap + target.",
        "",
        md_table(HEADER, table_rows(session)),
        "",
        "## syncframe against the others",
        "",
        md_table(COMPARE_HEADER, comparisons(session)),
        "",
        NOTES,
    ]
    if meta.get("observations"):
        source = meta.get("observations_file", "")
        parts += ["## Observations", ""]
        if source:
            parts += [f"From `{source}` (`--observations`).", ""]
        parts += [meta["observations"].strip(), ""]
    for p in session.profiles:
        parts += [
            f"## Where syncframe's time goes: {WORKS[p.work]}, {p.rows:,} rows",
            "",
            f"cProfile of the syncframe subprocess, every thread merged ({p.seconds:.1f} s "
            "under the profiler, which slows pure-Python code down). Lock `acquire`, "
            "`epoll.poll` and socket `send` are threads waiting for one another (a sink that "
            "writes through `anyio.to_thread`), not work. By own time:",
            "",
            "```",
            p.by_tottime,
            "```",
            "",
            "syncframe's own functions by cumulative time:",
            "",
            "```",
            p.by_cumtime,
            "```",
            "",
        ]
    return "\n".join(parts).rstrip() + "\n"


# Blocks other benchmarks write into the same doc (e.g. benchmarks/luminate_upload.py): kept
# as they are when this one rewrites it.
OTHER_BLOCKS = ("luminate-upload", "luminate-sync", "raisedonors-ncoa", "smartsync-re-mailchimp")


def keep_other_blocks(text: str) -> str:
    """``text`` with every other benchmark's block from the current doc appended unchanged."""
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    for name in OTHER_BLOCKS:
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        first, last = current.find(start), current.find(end)
        if 0 <= first < last:
            text = text.rstrip("\n") + "\n\n" + current[first : last + len(end)] + "\n"
    return text


# ---- main -----------------------------------------------------------------------------------


def _csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="syncframe engine benchmark against the stdlib floor, singer-sdk and dlt",
    )
    parser.add_argument(
        "--rows",
        type=int,
        action="append",
        help="row count (repeatable; default 1,000,000 and 100,000)",
    )
    parser.add_argument(
        "--only",
        type=_csv_list,
        default=list(FAMILIES),
        help=f"contenders, comma-separated, from {','.join(FAMILIES)}",
    )
    parser.add_argument(
        "--work", type=_csv_list, default=list(WORKS), help="work, comma-separated: jsonl,sqlite"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        action="append",
        help="syncframe batch size "
        "(repeatable; the first is used for every contender and the ratios, the "
        "others run syncframe only; default 10000)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure (median)")
    parser.add_argument(
        "--profile-rows",
        type=int,
        help="also profile syncframe at this many rows (cProfile) and show its top functions",
    )
    parser.add_argument("--write-doc", action="store_true", help=f"rewrite {DOC.relative_to(ROOT)}")
    parser.add_argument(
        "--from-results",
        type=Path,
        help="skip measuring: use the figures of an earlier run (every run writes "
        f"benchmarks/data/results-<time>.json and {RESULTS.relative_to(ROOT)}, the default)",
        nargs="?",
        const=RESULTS,
    )
    parser.add_argument(
        "--observations",
        type=Path,
        help="a Markdown file whose text goes into the doc's Observations section",
    )
    parser.add_argument(
        "--keep", action="store_true", help=f"keep outputs under {WORK_ROOT.relative_to(ROOT)}"
    )
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(FAMILIES)
    if unknown:
        parser.error(f"unknown contender(s) {', '.join(sorted(unknown))}; use {FAMILIES}")
    if set(args.work) - set(WORKS):
        parser.error(f"unknown work {args.work}; use {list(WORKS)}")
    args.rows = args.rows or list(DEFAULT_ROWS)
    args.batch_size = args.batch_size or [DEFAULT_BATCH]
    return args


WARM_UP_ROWS = 1_000


def run_once(
    contender: Contender, work: str, rows: int, expected: tuple[int, int], workdir: Path
) -> Measurement:
    """Run one contender once and check what it wrote; its files stay in ``workdir``."""
    workdir.mkdir(parents=True)
    try:
        plan = contender.plan(work, ensure_csv(rows), workdir, contender.batch_size)
        got = measure(plan.argvs, workdir, workdir / "logs")
        if plan.check_stdout is not None:
            plan.check_stdout(got.stdout, rows)
        verify(plan.output, expected)
    except BenchmarkFailed as failure:
        raise BenchmarkFailed(
            f"{contender.label}, {work}, {rows:,} rows (its files are kept in {workdir}):\n"
            f"{failure}"
        ) from None
    return got


def run_benchmark(args: argparse.Namespace) -> Session:
    """Measure every chosen contender on every work and row count."""
    chosen = contenders(set(args.only), args.batch_size)
    # Install the foreign contenders up front, so set-up time never lands in a measurement.
    versions: dict[str, dict[str, str]] = {
        "syncframe": _versions(sys.executable, ("syncframe", "anyio", "orjson", "pydantic")),
    }
    if "singer-sdk" in args.only:
        SINGER.ensure()
        versions["singer-sdk venv"] = SINGER.versions()
    if "dlt" in args.only:
        DLT.ensure()
        versions["dlt venv"] = DLT.versions()
    for owner, found in versions.items():
        print(f"{owner}: " + ", ".join(f"{k} {v}" for k, v in found.items()))
    session = Session(
        meta={
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "command": "python3 -m uv run python benchmarks/run.py " + shlex.join(sys.argv[1:]),
            "repeat": args.repeat,
            "load_before": _load_average(),
            "syncframe_source": syncframe_source(),
            "versions": versions,
        }
    )
    workroot = WORK_ROOT / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        # An untimed warm-up of every contender on a small file: it fails fast on a broken
        # contender, and leaves bytecode caches and the page cache warm for every contender alike.
        ensure_csv(WARM_UP_ROWS)
        warm_expected = source_digest(ensure_csv(WARM_UP_ROWS))
        for work in args.work:
            for contender in chosen:
                if work in contender.works:
                    slug = f"warm-up-{work}-{contender.label}"
                    workdir = workroot / slug.replace(" ", "").replace(",", "_")
                    run_once(contender, work, WARM_UP_ROWS, warm_expected, workdir)
        print(f"warm-up on {WARM_UP_ROWS:,} rows: every contender ok", flush=True)
        for rows in args.rows:
            expected = source_digest(ensure_csv(rows))
            results = {}
            for work in args.work:
                for contender in chosen:
                    if work in contender.works:
                        results[work, contender] = Result(
                            work,
                            contender.family,
                            contender.label,
                            rows,
                            contender.batch_size,
                            [],
                            [],
                            [],
                        )
            # Repetitions go round every contender in turn, so a spell of load from elsewhere
            # on the machine lands on several contenders rather than on all runs of one.
            for attempt in range(args.repeat):
                for (work, contender), result in results.items():
                    slug = f"{rows}-{work}-{contender.label}-{attempt}"
                    workdir = workroot / slug.replace(" ", "").replace(",", "_")
                    got = run_once(contender, work, rows, expected, workdir)
                    result.seconds.append(got.seconds)
                    result.cpu.append(got.cpu)
                    result.peaks.append(got.peaks)
                    print(
                        f"  {work:6} {contender.label:24} {rows:>9,} rows  "
                        f"{got.seconds:7.2f} s ({got.cpu:6.2f} CPU s)  "
                        f"{rows / got.seconds:>9,.0f}/s  "
                        f"{sum(got.peaks) / MiB:5.0f} MiB  ok",
                        flush=True,
                    )
                    if not args.keep:
                        shutil.rmtree(workdir)  # outputs of 1M rows take room
            session.results.extend(results.values())
        if args.profile_rows:
            for work in args.work:
                print(f"profiling syncframe, {work}, {args.profile_rows:,} rows", flush=True)
                session.profiles.append(
                    profile_syncframe(work, args.profile_rows, args.batch_size[0], workroot)
                )
    except BenchmarkFailed:
        raise  # keep the work directory: the failing contender's files and logs are in it
    else:
        if not args.keep:
            shutil.rmtree(workroot, ignore_errors=True)
    session.meta["load_after"] = _load_average()
    if syncframe_source() != session.meta["syncframe_source"]:
        session.meta["source_changed"] = True
        print("WARNING: syncframe's source changed during the run; the figures mix versions")
    # Every run keeps its own file too, so a quick partial run cannot lose a long one's figures.
    session.save(DATA_DIR / f"results-{workroot.name}.json")
    session.save(RESULTS)
    return session


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or reload its results), print the tables, maybe write the doc."""
    args = parse_args(argv)
    if args.from_results:
        session = Session.load(args.from_results)
    else:
        try:
            session = run_benchmark(args)
        except BenchmarkFailed as failure:
            print(f"BENCHMARK FAILED: {failure}", file=sys.stderr)
            return 1
    if args.observations:
        session.meta["observations"] = args.observations.read_text(encoding="utf-8")
        session.meta["observations_file"] = str(args.observations)
    print()
    print(text_table(HEADER, table_rows(session)))
    print()
    print(text_table(COMPARE_HEADER, comparisons(session)))
    print()
    print(text_table(TARGET_HEADER, targets(session)))
    for p in session.profiles:
        print(f"\nsyncframe profile, {p.work}, {p.rows:,} rows, by own time:\n{p.by_tottime}")
    if args.write_doc:
        DOC.write_text(keep_other_blocks(render_doc(session)), encoding="utf-8")
        print(f"\nwrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
