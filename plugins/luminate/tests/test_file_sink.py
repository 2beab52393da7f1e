"""The luminate_files sink: one file per type per window, values as text, exactly once."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from syncframe_luminate.file_sink import (
    LuminateFileSink,
    LuminateFilesOptions,
    file_name,
    text_value,
)

from plugins.luminate.tests.sink_helpers import (
    T0,
    campaign,
    context,
    donation,
    later,
    memory_state,
    refund,
)
from syncframe.clock import ManualClock
from syncframe.components import Outcome, PermanentError, WritePlan
from syncframe.records import Change, Operation
from syncframe.state import StateStore

pytestmark = pytest.mark.anyio

W1 = "beginning_20250301T120000Z"
W2 = "20250301T120000Z_20250302T120000Z"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def state() -> Iterator[StateStore]:
    yield from memory_state(ManualClock(T0))


class Files:
    """Builds sinks on one folder and writes batches the way the engine does."""

    def __init__(self, tmp_path: Path, state: StateStore) -> None:
        self.tmp_path = tmp_path
        self.state = state
        self.seq = 0
        self.sinks: list[LuminateFileSink] = []

    async def sink(self, position: Any = None, **options: Any) -> LuminateFileSink:
        sink = LuminateFileSink(
            context(self.tmp_path, ManualClock(T0), self.state),
            LuminateFilesOptions.model_validate({"folder": "out", **options}),
        )
        await sink.open(position)
        self.sinks.append(sink)
        return sink

    async def write(
        self, sink: LuminateFileSink, segment: str | None, *changes: Change, dry: bool = False
    ) -> Any:
        self.seq += 1
        result = await sink.write(
            list(changes), WritePlan(f"f:r:{self.seq}", dry_run=dry, segment=segment)
        )
        assert result.outcomes == [Outcome.CREATED] * len(changes)
        return result.position

    def names(self) -> list[str]:
        folder = self.tmp_path / "out"
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    def rows(self, name: str) -> list[dict[str, str]]:
        text = (self.tmp_path / "out" / name).read_text()
        return list(csv.DictReader(io.StringIO(text)))

    def text(self, name: str) -> str:
        return (self.tmp_path / "out" / name).read_text()


@pytest.fixture
async def files(tmp_path: Path, state: StateStore) -> Any:
    made = Files(tmp_path, state)
    yield made
    for sink in made.sinks:
        await sink.aclose()


async def test_one_file_per_type_per_window(files: Files) -> None:
    sink = await files.sink()
    position = await files.write(
        sink,
        W1,
        campaign(101, "Spring"),
        donation(2001001, "100.00"),
        donation(2001002, "50.50"),
        refund(3001, 2001001, "30.00", before="100.00", when=later(5)),
    )
    assert files.names() == [
        f"DonationCampaign_{W1}.csv",
        f"Donation_{W1}.csv",
        f"Refund_{W1}.csv",
    ]
    rows = files.rows(f"Donation_{W1}.csv")
    assert [r["TransactionId"] for r in rows] == ["2001001", "2001002"]
    first = rows[0]
    assert list(first)[:2] == ["_operation", "TransactionId"]
    assert first["_operation"] == "insert"
    assert first["Payment.Amount"] == "100.00"
    assert first["Payment.OriginalAmount"] == "0"
    assert first["Payment.ModifyDate"] == "2025-03-01T12:00:00Z"
    assert first["Donor.ConsName.MiddleName"] == ""
    assert first["Payment.CreationMethod"] == "1"
    refund_row = files.rows(f"Refund_{W1}.csv")[0]
    assert (refund_row["Online"], refund_row["FullRefund"]) == ("true", "false")
    assert refund_row["RefundDate"] == "2025-03-01T12:05:00Z"
    assert position == {
        "segment": W1,
        "files": {
            f"DonationCampaign_{W1}.csv": len(files.text(f"DonationCampaign_{W1}.csv")),
            f"Donation_{W1}.csv": len(files.text(f"Donation_{W1}.csv")),
            f"Refund_{W1}.csv": len(files.text(f"Refund_{W1}.csv")),
        },
    }

    # The next batch of the window appends, deletes included (a full refund), no second header.
    await files.write(sink, W1, donation(2001002, "50.50", operation=Operation.DELETE))
    rows = files.rows(f"Donation_{W1}.csv")
    assert [r["_operation"] for r in rows] == ["insert", "insert", "delete"]

    # The next window: new files; the position lists only them.
    position = await files.write(sink, W2, donation(2001003, "7.00", operation=Operation.UPDATE))
    assert position == {
        "segment": W2,
        "files": {f"Donation_{W2}.csv": len(files.text(f"Donation_{W2}.csv"))},
    }
    assert files.rows(f"Donation_{W2}.csv")[0]["_operation"] == "update"
    assert len(files.rows(f"Donation_{W1}.csv")) == 3


async def test_jsonl(files: Files) -> None:
    sink = await files.sink(format="jsonl")
    await files.write(sink, W1, donation(2001001, "100.10"), donation(2001002, "5.00"))
    lines = files.text(f"Donation_{W1}.jsonl").splitlines()
    assert len(lines) == 2
    record = json.loads(lines[0])
    assert next(iter(record)) == "_operation"
    assert record["_operation"] == "insert"
    assert record["Payment.Amount"] == "100.10"  # exact: a string, not a float
    assert record["Payment.ModifyDate"] == "2025-03-01T12:00:00Z"
    assert record["Donor.ConsName.MiddleName"] is None
    assert record["TransactionId"] == 2001001


async def test_retried_records_go_to_their_own_file(files: Files) -> None:
    sink = await files.sink()
    await files.write(sink, W1, donation(2001001, "1.00"))
    position = await files.write(sink, None, donation(2001002, "2.00"))
    assert "Donation_retried.csv" in files.names()
    assert set(position["files"]) == {f"Donation_{W1}.csv", "Donation_retried.csv"}
    assert position["segment"] == W1
    # A new window keeps the retry files in the position (their sizes must stay restorable).
    position = await files.write(sink, W2, donation(2001003, "3.00"))
    assert set(position["files"]) == {f"Donation_{W2}.csv", "Donation_retried.csv"}
    # Retries of a later run append to the committed retry file.
    again = await files.sink(position)
    await files.write(again, None, donation(2001004, "4.00"))
    assert [r["TransactionId"] for r in files.rows("Donation_retried.csv")] == [
        "2001002",
        "2001004",
    ]


async def test_crash_between_write_and_commit_is_undone(files: Files) -> None:
    sink = await files.sink()
    committed = await files.write(sink, W1, donation(2001001, "1.00"))
    before = files.text(f"Donation_{W1}.csv")
    # A batch written, never committed: more lines, and a new file of the window.
    await files.write(
        sink, W1, donation(2001002, "2.00"), refund(3001, 2001001, "1.00", before="1.00")
    )
    await files.write(sink, None, donation(2001005, "5.00"))
    await sink.aclose()
    assert f"Refund_{W1}.csv" in files.names()

    restarted = await files.sink(committed)
    assert files.text(f"Donation_{W1}.csv") == before
    assert files.names() == [f"Donation_{W1}.csv"]
    # The batch is written again, once.
    position = await files.write(
        restarted, W1, donation(2001002, "2.00"), refund(3001, 2001001, "1.00", before="1.00")
    )
    assert [r["TransactionId"] for r in files.rows(f"Donation_{W1}.csv")] == [
        "2001001",
        "2001002",
    ]
    assert len(files.rows(f"Refund_{W1}.csv")) == 1
    assert position["files"][f"Donation_{W1}.csv"] == len(files.text(f"Donation_{W1}.csv"))


async def test_crash_in_the_first_batch_of_a_window(files: Files) -> None:
    sink = await files.sink()
    committed = await files.write(sink, W1, donation(2001001, "1.00"))
    await files.write(sink, W2, donation(2001002, "2.00"))  # not committed
    await sink.aclose()
    restarted = await files.sink(committed)
    await files.write(restarted, W2, donation(2001002, "2.00"))
    assert len(files.rows(f"Donation_{W2}.csv")) == 1  # started afresh, not appended
    assert len(files.rows(f"Donation_{W1}.csv")) == 1


async def test_first_run_replaces_old_files(files: Files) -> None:
    folder = files.tmp_path / "out"
    folder.mkdir()
    (folder / f"Donation_{W1}.csv").write_text("_operation,old\ninsert,1\n")
    (folder / "notes.txt").write_text("keep me")
    sink = await files.sink(None)
    await files.write(sink, W1, donation(2001001, "1.00"))
    assert len(files.rows(f"Donation_{W1}.csv")) == 1
    assert (folder / "notes.txt").read_text() == "keep me"


async def test_open_keeps_foreign_files(files: Files) -> None:
    sink = await files.sink()
    committed = await files.write(sink, W1, donation(2001001, "1.00"))
    folder = files.tmp_path / "out"
    (folder / f"my_notes_{W1}.csv").write_text("x")  # not a name this sink writes
    (folder / "readme.md").write_text("x")
    await files.sink(committed)
    assert {f"my_notes_{W1}.csv", "readme.md"} <= set(files.names())


async def test_new_fields_later_in_a_file_are_left_out_with_a_warning(
    files: Files, caplog: pytest.LogCaptureFixture
) -> None:
    sink = await files.sink()
    committed = await files.write(sink, W1, donation(2001001, "1.00"))
    await sink.aclose()
    restarted = await files.sink(committed)  # the header is read back from the file
    change = donation(2001002, "2.00")
    change.fields["Extra.Field"] = "x"
    with caplog.at_level(logging.WARNING):
        await files.write(restarted, W1, change)
    assert "no column for field(s) Extra.Field" in caplog.text
    rows = files.rows(f"Donation_{W1}.csv")
    assert len(rows) == 2
    assert "Extra.Field" not in rows[1]


async def test_dry_run_writes_nothing(files: Files) -> None:
    sink = await files.sink()
    position = await files.write(sink, W1, donation(2001001, "1.00"), dry=True)
    assert files.names() == []
    assert position == {"segment": None, "files": {}}


async def test_bad_positions_and_files(files: Files) -> None:
    with pytest.raises(PermanentError, match="not one the luminate_files sink wrote"):
        await files.sink({"offset": 3})
    folder = files.tmp_path / "out"
    folder.mkdir()
    (folder / f"Donation_{W1}.csv").write_text("id,name\n1,x\n")
    sink = await files.sink({"segment": W1, "files": {f"Donation_{W1}.csv": 12}})
    with pytest.raises(PermanentError, match="not a luminate_files CSV"):
        await files.write(sink, W1, donation(2001001, "1.00"))


async def test_shorter_file_than_committed_warns(
    files: Files, caplog: pytest.LogCaptureFixture
) -> None:
    sink = await files.sink()
    committed = await files.write(sink, W1, donation(2001001, "1.00"))
    await sink.aclose()
    (files.tmp_path / "out" / f"Donation_{W1}.csv").unlink()
    with caplog.at_level(logging.WARNING):
        restarted = await files.sink(committed)
    assert "is missing" in caplog.text
    await files.write(restarted, W1, donation(2001002, "2.00"))
    assert len(files.rows(f"Donation_{W1}.csv")) == 1


def test_names_and_values() -> None:
    assert file_name("Donation", W2, "csv") == f"Donation_{W2}.csv"
    assert file_name("Donation", None, "jsonl") == "Donation_retried.jsonl"
    assert file_name("../x_y", "a/b", "csv") == "---x-y_a-b.csv"
    assert file_name("Constituent", "p1001_beginning_x", "csv") == (
        "Constituent_p1001_beginning_x.csv"
    )
    assert text_value(D("12.30")) == "12.30"
    assert text_value(datetime(2025, 3, 1, 12, 0, 0, 5, tzinfo=UTC)) == (
        "2025-03-01T12:00:00.000005Z"
    )
    assert text_value(datetime(2025, 3, 1, 12)) == "2025-03-01T12:00:00Z"
    assert text_value(True) == "true"
    assert text_value(None) == ""
    assert text_value(7) == "7"
    assert text_value({"a": 1}) == '{"a": 1}'
    with pytest.raises(ValidationError):
        LuminateFilesOptions(format="xml")  # type: ignore[arg-type]
