"""``syncframe demo``: what a demo step gets, and the built-in step (CSV -> SQLite and JSONL).

The built-in step needs no network and no account. It generates a constituent export the way a
CRM produces one, with the usual dirt (missing emails, phone fields holding "n/a", the same
person twice under two ids), syncs it through two real flows (into a SQLite table, matched by id
then by email, and into a JSONL file), appends a "changed since" export and syncs again, then
reads back what landed.
"""

from __future__ import annotations

import csv
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from syncframe.clock import Clock
from syncframe.host import Host

if TYPE_CHECKING:
    from syncframe.engine import RunReport
    from syncframe.state.base import OutcomeRow, StateStore

__all__ = [
    "CONSTITUENT_FIELDS",
    "DemoContext",
    "append_changes",
    "constituents_demo",
    "generate_constituents",
]


@dataclass(slots=True)
class DemoContext:
    """What a demo step works with.

    ``workdir`` is the step's own empty folder (inside the demo's work directory); ``console``
    is where it may print; ``clock`` is the clock to give engines (a step that needs to move
    time makes its own :class:`~syncframe.clock.ManualClock`); ``host`` is the plugin host the
    command line runs with: pass it to :class:`syncframe.engine.Engine` so the runs show up.
    """

    workdir: Path
    console: Console
    clock: Clock
    host: Host


# --------------------------------------------------------------------------------------------
# Generated data

CONSTITUENT_FIELDS = ["id", "first_name", "last_name", "email", "city", "phone"]

# fmt: off
_FIRST = (
    "Ada", "Alan", "Amara", "Ana", "Ben", "Carmen", "Chen", "Chloe", "David", "Dina", "Elena",
    "Emeka", "Farah", "Grace", "Hana", "Ivan", "Jamal", "Jin", "Jonas", "Kai", "Lara", "Leila",
    "Lena", "Luis", "Maya", "Mei", "Nadia", "Noah", "Omar", "Priya", "Rafael", "Rosa", "Sam",
    "Sara", "Tariq", "Tomas", "Uma", "Yara", "Yusuf", "Zoe",
)
_LAST = (
    "Abbott", "Adeyemi", "Baker", "Bianchi", "Chen", "Costa", "Dubois", "Evans", "Fischer",
    "Garcia", "Haddad", "Hughes", "Ito", "Jensen", "Kowalski", "Kumar", "Larsen", "Lopez",
    "Martin", "Meyer", "Moreau", "Nakamura", "Novak", "Okafor", "Olsen", "Patel", "Quinn", "Rossi",
    "Santos", "Schmidt", "Silva", "Singh", "Tanaka", "Torres", "Walsh", "Weber", "Wong", "Young",
    "Zhang",
)
_CITIES = (
    "Boston", "Chicago", "Denver", "Portland", "Seattle", "Austin", "Atlanta", "Baltimore",
    "Madison", "Minneapolis", "Pittsburgh", "Sacramento", "Tucson", "Raleigh", "Richmond",
)
# fmt: on
_DOMAINS = ("example.org", "example.com", "example.net", "mail.example.org")

#: The dirt in the generated export: rows without email, rows whose phone is "n/a", and rows
#: for someone near the top of the file again under a second id (same name and email, newer
#: address).
MISSING_EMAIL = 4
BAD_PHONE = 2
DUPLICATE_EMAIL = 3

#: Rows per batch in the demo's flows. Duplicates reuse an email from the first batch and sit in
#: a later one, so the matcher finds the earlier record in the table (records of one batch are
#: written together, so they cannot find each other).
BATCH_SIZE = 500


def _person(rng: random.Random, n: int) -> dict[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    email = f"{first}.{last}{n}@{rng.choice(_DOMAINS)}".lower()
    if rng.random() < 0.2:
        email = f" {email.upper()} "  # exports are messy; the mapping cleans this up
    phone = f"({rng.randint(200, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
    return {
        "id": f"C{n:05d}",
        "first_name": first if rng.random() > 0.1 else f"  {first.lower()}",
        "last_name": last,
        "email": email,
        "city": rng.choice(_CITIES),
        "phone": phone,
    }


def _constituents(count: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = [_person(rng, n) for n in range(1, count + 1)]
    dirty = rng.sample(range(BATCH_SIZE + 100, count), MISSING_EMAIL + BAD_PHONE + DUPLICATE_EMAIL)
    for i in dirty[:MISSING_EMAIL]:
        rows[i]["email"] = ""
    for i in dirty[MISSING_EMAIL : MISSING_EMAIL + BAD_PHONE]:
        rows[i]["phone"] = "n/a"
    for i, original in zip(
        dirty[MISSING_EMAIL + BAD_PHONE :], rng.sample(range(100), DUPLICATE_EMAIL), strict=True
    ):
        # The same person entered again under a new id, with a newer address and phone.
        rows[i].update(
            first_name=rows[original]["first_name"].strip().lower(),
            last_name=rows[original]["last_name"],
            email=rows[original]["email"].strip().upper(),
        )
    return rows


def generate_constituents(path: Path, count: int = 2000, *, seed: int = 2026) -> int:
    """Write ``count`` constituent rows (the same rows for the same seed) to a CSV file and
    return ``count``. Some rows are dirty on purpose (see :data:`MISSING_EMAIL` and below)."""
    if count < BATCH_SIZE + 100 + MISSING_EMAIL + BAD_PHONE + DUPLICATE_EMAIL:
        raise ValueError(f"the demo export needs at least {BATCH_SIZE + 110} rows")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CONSTITUENT_FIELDS)
        writer.writeheader()
        writer.writerows(_constituents(count, seed))
    return count


def append_changes(
    path: Path, *, moved: int = 25, added: int = 10, again: int = 15, seed: int = 7
) -> dict[str, int]:
    """Append what a "changed since the last export" file holds: people who moved city, new
    people, and people exported again without any change. Returns how many of each."""
    rng = random.Random(seed)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    emails = [r["email"].strip().lower() for r in rows]
    seen: dict[str, int] = {}
    for email in emails:
        seen[email] = seen.get(email, 0) + 1
    clean = [
        r
        for r, email in zip(rows, emails, strict=True)
        if email and seen[email] == 1 and r["phone"] != "n/a"
    ]
    picked = rng.sample(clean, moved + again)
    appended = [
        {**row, "city": rng.choice([c for c in _CITIES if c != row["city"]])}
        for row in picked[:moved]
    ]
    appended += picked[moved:]
    appended += [_person(rng, n) for n in range(len(rows) + 1, len(rows) + 1 + added)]
    with path.open("a", newline="", encoding="utf-8") as handle:
        csv.DictWriter(handle, fieldnames=CONSTITUENT_FIELDS).writerows(appended)
    return {"moved": moved, "added": added, "again": again}


# --------------------------------------------------------------------------------------------
# The built-in demo step

WAREHOUSE_FLOW = "constituents_to_warehouse"
EXPORT_FLOW = "constituents_export"

FLOW_FILE = f"""\
# Written by `syncframe demo`: two flows reading the same CRM export.
[state]
url = "sqlite:///state.db"

[flows.{WAREHOUSE_FLOW}]
description = "CRM export -> SQLite table, matched by constituent id, then by email"
batch_size = {BATCH_SIZE}

[flows.{WAREHOUSE_FLOW}.source]
type = "csv"
path = "constituents.csv"
key = "id"
entity = "constituent"
system = "crm"

[flows.{WAREHOUSE_FLOW}.mapping.fields]
constituent_id = "id"
first_name = {{ from = "first_name", convert = ["strip", "title"] }}
last_name = {{ from = "last_name", convert = "strip" }}
email = {{ from = "email", convert = ["strip", "lower"], required = true }}
city = "city"
phone = {{ from = "phone", convert = "phone_digits" }}

[[flows.{WAREHOUSE_FLOW}.matchers]]
type = "key_cascade"
keys = [
  {{ source = "constituent_id", target = "constituent_id" }},
  {{ source = "email", target = "email", normalize = "lower" }},
]

[flows.{WAREHOUSE_FLOW}.sink]
type = "sql_table"
url = "sqlite:///warehouse.db"
table = "constituents"
key = "constituent_id"
indexes = ["email"]

[flows.{EXPORT_FLOW}]
description = "CRM export -> JSON Lines change log for the mailing tool"
batch_size = {BATCH_SIZE}

[flows.{EXPORT_FLOW}.source]
type = "csv"
path = "constituents.csv"
key = "id"
entity = "constituent"
system = "crm"

[flows.{EXPORT_FLOW}.mapping]
unmapped = "keep"

[flows.{EXPORT_FLOW}.mapping.fields]
email = {{ from = "email", convert = ["strip", "lower"] }}

[flows.{EXPORT_FLOW}.sink]
type = "jsonl"
path = "export.jsonl"
"""


async def constituents_demo(ctx: DemoContext) -> str:
    """A CRM export synced into SQLite and JSONL, then a change export synced on top."""
    from syncframe.config import load_config
    from syncframe.engine import Engine

    out = ctx.console
    workdir = ctx.workdir
    csv_path = workdir / "constituents.csv"
    rows = generate_constituents(csv_path)
    flow_path = workdir / "flows.toml"
    flow_path.write_text(FLOW_FILE, encoding="utf-8")
    out.print(
        f"wrote {rows:,} constituents to constituents.csv ({MISSING_EMAIL} without email, "
        f"{BAD_PHONE} with phone 'n/a', {DUPLICATE_EMAIL} people twice under a second id) "
        "and two flows to flows.toml; first run:",
        highlight=False,
    )
    config = load_config(flow_path, ctx.host.registry)
    with Engine(config, ctx.host, clock=ctx.clock) as engine:
        first = _succeeded(await engine.run())
        changed = append_changes(csv_path)
        out.print(
            f"appended a change export: {changed['moved']} people moved city, "
            f"{changed['added']} new people, {changed['again']} exported again unchanged; "
            "second run (the source resumes after the rows it already read):",
            highlight=False,
        )
        second = _succeeded(await engine.run())
        history = _outcomes(engine.state, first[WAREHOUSE_FLOW])
    warehouse = _read_table(workdir / "warehouse.db", "constituents")
    export_lines = _count_lines(workdir / "export.jsonl")
    rejected = [row for row in history if row.outcome == "rejected"]
    merged = [row for row in history if row.outcome == "updated"]
    _show_landed(out, warehouse, export_lines, rejected, merged)
    created = first[WAREHOUSE_FLOW].summary.counts.get("created", 0)
    again = second[WAREHOUSE_FLOW].summary.counts
    return (
        f"{rows:,} rows -> {created:,} new records ({len(rejected)} rejected with a reason, "
        f"{len(merged)} duplicates merged by email); change export: "
        f"{again.get('updated', 0)} updated, {again.get('created', 0)} created, "
        f"{again.get('unchanged', 0)} unchanged; SQLite table now {warehouse['rows']:,} rows, "
        f"JSONL export {export_lines:,} lines"
    )


def _succeeded(reports: list[RunReport]) -> dict[str, RunReport]:
    for report in reports:
        if report.summary.status != "succeeded":
            summary = report.summary
            raise RuntimeError(f"flow {report.flow} {summary.status}: {summary.error}")
    return {report.flow: report for report in reports}


def _outcomes(state: StateStore, report: RunReport) -> list[OutcomeRow]:
    return list(state.run_outcomes(report.run_id))


def _read_table(path: Path, table: str) -> dict[str, Any]:
    """Row count, a few rows and the biggest cities, read straight from the SQLite file."""
    db = sqlite3.connect(path)
    try:
        db.row_factory = sqlite3.Row
        count = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        sample = [dict(r) for r in db.execute(f'SELECT * FROM "{table}" ORDER BY 1 LIMIT 3')]
        cities = db.execute(
            f'SELECT city, count(*) AS n FROM "{table}" GROUP BY city ORDER BY n DESC LIMIT 3'
        ).fetchall()
    finally:
        db.close()
    return {"rows": count, "sample": sample, "cities": [(c["city"], c["n"]) for c in cities]}


def _count_lines(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def _show_landed(
    out: Console,
    warehouse: dict[str, Any],
    export_lines: int,
    rejected: list[OutcomeRow],
    merged: list[OutcomeRow],
) -> None:
    table = Table(title="What landed", title_justify="left")
    table.add_column("where")
    table.add_column("what")
    table.add_row(
        "warehouse.db, table constituents",
        f"{warehouse['rows']:,} rows; most people in "
        + ", ".join(f"{city} ({n})" for city, n in warehouse["cities"]),
    )
    table.add_row("export.jsonl", f"{export_lines:,} lines, one per change read")
    out.print(table)
    if warehouse["sample"]:
        sample = Table(title="The first warehouse rows", title_justify="left")
        columns = list(warehouse["sample"][0])
        for column in columns:
            sample.add_column(column)
        for row in warehouse["sample"]:
            sample.add_row(*[Text(str(row[c])) for c in columns])
        out.print(sample)
    if merged:
        why = Table(title="Duplicates merged into the existing record", title_justify="left")
        why.add_column("record")
        why.add_column("how")
        for row in merged:
            why.add_row(Text(row.record), Text(row.reason or ""))
        out.print(why)
    if rejected:
        why = Table(title="Rejected, kept as failed records", title_justify="left")
        why.add_column("record")
        why.add_column("reason")
        for row in rejected:
            why.add_row(Text(row.record), Text(row.reason or ""))
        out.print(why)
