"""The csv and jsonl sources and sinks: reading, resuming, replacement, exactly-once files."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from syncframe.builtins.files import CsvSink, CsvSource, JsonlSink, JsonlSource
from syncframe.components import Outcome, PermanentError, WritePlan
from syncframe.records import Change, Operation

from .conftest import Build

pytestmark = pytest.mark.anyio


async def read_all(
    source: Any, cursor: Any = None, batch_size: int = 1000
) -> tuple[list[Change], list[Any]]:
    changes: list[Change] = []
    cursors: list[Any] = []
    async for batch in source.read(cursor, batch_size):
        assert 0 < len(batch.changes) <= batch_size
        changes.extend(batch.changes)
        cursors.append(batch.cursor)
    return changes, cursors


def write_bytes(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.write_bytes(text.encode(encoding))


PEOPLE = (
    "id,name,note\r\n"
    "1,Ada,plain\r\n"
    '2,Grace,"two\r\nlines"\r\n'
    '3,"Hopper, Grace","say ""hi"""\r\n'
    '4,Alan,"three\nlines\nhere"\n'
    "5,Edsger,last\n"
)


# ---- csv source ----------------------------------------------------------------------------


async def test_csv_rows_become_upserts_with_keys(tmp_path: Path, build: Build) -> None:
    write_bytes(tmp_path / "people.csv", PEOPLE)
    source = build(CsvSource, connection_name="csv", path="people.csv", key="id", entity="person")

    changes, cursors = await read_all(source)

    assert [c.keys for c in changes] == [{"id": str(i)} for i in range(1, 6)]
    assert changes[1].fields == {"id": "2", "name": "Grace", "note": "two\r\nlines"}
    assert changes[2].fields["name"] == "Hopper, Grace"
    assert changes[2].fields["note"] == 'say "hi"'
    assert changes[3].fields["note"] == "three\nlines\nhere"
    assert {c.operation for c in changes} == {Operation.UPDATE}
    assert {(c.system, c.entity) for c in changes} == {("csv", "person")}
    assert cursors[-1]["offset"] == (tmp_path / "people.csv").stat().st_size
    assert cursors[-1]["line"] == 9  # the header and 8 physical lines of rows


async def test_csv_system_option_names_the_changes_system(tmp_path: Path, build: Build) -> None:
    write_bytes(tmp_path / "p.csv", "id\n1\n")
    source = build(CsvSource, connection_name="csv", path="p.csv", key="id", system="shop")
    changes, _ = await read_all(source)
    assert changes[0].system == "shop"


async def test_csv_resumes_from_every_cursor_even_inside_multiline_rows(
    tmp_path: Path, build: Build
) -> None:
    write_bytes(tmp_path / "people.csv", PEOPLE)
    source = build(CsvSource, path="people.csv", key="id")
    everything, _ = await read_all(source)

    # Batches of two: each cursor must resume exactly after its batch.
    _, cursors = await read_all(source, batch_size=2)
    assert len(cursors) == 3
    for n, cursor in enumerate(cursors, start=1):
        rest, _ = await read_all(source, cursor)
        assert rest == everything[2 * n :]
    # The cursor after the 2nd row points past its quoted newline.
    data = (tmp_path / "people.csv").read_bytes()
    assert data[: cursors[0]["offset"]].endswith(b'lines"\r\n')
    assert cursors[0]["line"] == 4


async def test_csv_reads_only_rows_appended_since_the_cursor(tmp_path: Path, build: Build) -> None:
    path = tmp_path / "p.csv"
    write_bytes(path, "id,v\n1,a\n2,b\n")
    source = build(CsvSource, path="p.csv", key="id")
    _, cursors = await read_all(source)

    with path.open("ab") as f:
        f.write(b"3,c\n4,d\n")
    more, _ = await read_all(source, cursors[-1])

    assert [c.fields for c in more] == [{"id": "3", "v": "c"}, {"id": "4", "v": "d"}]


async def test_csv_replaced_file_is_read_again_from_the_start(
    tmp_path: Path, build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.csv"
    write_bytes(path, "id,v\n1,a\n2,b\n")
    source = build(CsvSource, path="p.csv", key="id")
    _, cursors = await read_all(source)

    # Same size and longer, but other content: a new export replaced the file.
    write_bytes(path, "id,v\n7,x\n8,y\n9,z\n")
    with caplog.at_level(logging.WARNING):
        again, _ = await read_all(source, cursors[-1])

    assert [c.key for c in again] == ["7", "8", "9"]
    assert "p.csv was replaced since the last run" in caplog.text


async def test_csv_truncated_file_is_read_again_from_the_start(
    tmp_path: Path, build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.csv"
    write_bytes(path, "id,v\n1,a\n2,b\n3,c\n")
    source = build(CsvSource, path="p.csv", key="id")
    _, cursors = await read_all(source)

    write_bytes(path, "id,v\n1,a\n")
    with caplog.at_level(logging.WARNING):
        again, _ = await read_all(source, cursors[-1])

    assert [c.key for c in again] == ["1"]
    assert "shorter" in caplog.text


async def test_csv_row_without_key_is_kept_with_its_line(tmp_path: Path, build: Build) -> None:
    write_bytes(tmp_path / "p.csv", 'id,note\n1,"a\nb"\n,no key here\n3,c\n')
    source = build(CsvSource, path="p.csv", key="id")

    changes, _ = await read_all(source)

    assert [c.keys for c in changes] == [{"id": "1"}, {"id": "", "_line": 4}, {"id": "3"}]
    assert changes[1].describe() == "files.record[id=, _line=4]"


async def test_csv_operation_column_is_read_and_taken_out(tmp_path: Path, build: Build) -> None:
    write_bytes(tmp_path / "p.csv", "id,op,v\n1,insert,a\n2,DELETE,b\n3,,c\n4,upsert,d\n")
    source = build(CsvSource, path="p.csv", key="id", operation_field="op")

    changes, _ = await read_all(source)

    assert [c.operation for c in changes] == [
        Operation.INSERT,
        Operation.DELETE,
        Operation.UPDATE,
        Operation.UPDATE,
    ]
    assert changes[0].fields == {"id": "1", "v": "a"}


async def test_csv_bad_operation_names_file_and_line(tmp_path: Path, build: Build) -> None:
    write_bytes(tmp_path / "p.csv", "id,op\n1,insert\n2,frobnicate\n")
    source = build(CsvSource, path="p.csv", key="id", operation_field="op")

    with pytest.raises(PermanentError, match=r"p\.csv, line 3: op 'frobnicate'"):
        await read_all(source)


async def test_csv_occurred_at_is_parsed(tmp_path: Path, build: Build) -> None:
    write_bytes(
        tmp_path / "p.csv", "id,at\n1,2026-01-02T03:04:05Z\n2,2026-01-02 03:04:05\n3,\n4,soon\n"
    )
    source = build(CsvSource, path="p.csv", key="id", occurred_at_field="at")

    with pytest.raises(PermanentError, match=r"line 5: at 'soon' is not an ISO 8601 time"):
        await read_all(source)

    write_bytes(tmp_path / "p.csv", "id,at\n1,2026-01-02T03:04:05Z\n2,2026-01-02 03:04:05\n3,\n")
    changes, _ = await read_all(source)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [c.occurred_at for c in changes] == [when, when, None]


async def test_csv_missing_key_column_is_a_clear_error(tmp_path: Path, build: Build) -> None:
    write_bytes(tmp_path / "p.csv", "ID,name\n1,a\n")
    source = build(CsvSource, path="p.csv", key="id")
    with pytest.raises(PermanentError, match=r"p\.csv, line 1: no column 'id' .*ID, name"):
        await read_all(source)


async def test_csv_missing_file_is_a_clear_error(tmp_path: Path, build: Build) -> None:
    source = build(CsvSource, path="nope.csv", key="id")
    with pytest.raises(PermanentError, match=r"nope\.csv: no such file"):
        await source.check()
    with pytest.raises(PermanentError, match=r"nope\.csv: no such file"):
        await read_all(source)


async def test_csv_blank_lines_uneven_rows_bom_and_compound_keys(
    tmp_path: Path, build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    write_bytes(tmp_path / "p.csv", "\ufeffa;b;c\n1;x;y\n\n2;x\n3;y;z;extra\n")
    source = build(CsvSource, path="p.csv", key=["b", "a"], delimiter=";")

    with caplog.at_level(logging.WARNING):
        changes, cursors = await read_all(source)

    assert [c.keys for c in changes] == [
        {"b": "x", "a": "1"},
        {"b": "x", "a": "2"},
        {"b": "y", "a": "3"},
    ]
    assert changes[1].fields == {"a": "2", "b": "x"}
    assert changes[2].fields == {"a": "3", "b": "y", "c": "z"}
    assert "line 5: 4 values for 3 columns" in caplog.text
    assert cursors[-1]["line"] == 5
    # Uneven rows in any batch, read in small batches or resumed, give the same changes.
    for size in (1, 2):
        small, small_cursors = await read_all(source, batch_size=size)
        assert small == changes
        resumed, _ = await read_all(source, small_cursors[0])
        assert resumed == changes[1:]


async def test_csv_other_encoding(tmp_path: Path, build: Build) -> None:
    write_bytes(tmp_path / "p.csv", "id,name\n1,Zoë\n", encoding="latin-1")
    source = build(CsvSource, path="p.csv", key="id", encoding="latin-1")
    changes, _ = await read_all(source)
    assert changes[0].fields["name"] == "Zoë"

    source = build(CsvSource, path="p.csv", key="id")
    with pytest.raises(PermanentError, match=r"p\.csv, line 2: .*can't decode"):
        await read_all(source)


def test_csv_options_are_validated(build: Build) -> None:
    with pytest.raises(ValueError, match="unknown encoding"):
        build(CsvSource, path="p.csv", key="id", encoding="klingon")
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        build(CsvSource, path="p.csv", key="id", keys="id")


async def test_csv_empty_file_yields_nothing(tmp_path: Path, build: Build) -> None:
    write_bytes(tmp_path / "p.csv", "")
    assert await read_all(build(CsvSource, path="p.csv", key="id")) == ([], [])


# ---- jsonl source --------------------------------------------------------------------------


async def test_jsonl_objects_become_changes(tmp_path: Path, build: Build) -> None:
    write_bytes(
        tmp_path / "g.jsonl",
        '{"id": 1, "amount": 10.5, "tags": ["a"]}\n\n{"id": "2", "amount": null}\n',
    )
    source = build(JsonlSource, connection_name="gifts", path="g.jsonl", key="id", entity="gift")

    changes, cursors = await read_all(source)

    assert [c.keys for c in changes] == [{"id": "1"}, {"id": "2"}]
    assert changes[0].fields == {"id": 1, "amount": 10.5, "tags": ["a"]}
    assert (changes[0].system, changes[0].entity) == ("gifts", "gift")
    assert cursors[-1] == {
        "offset": (tmp_path / "g.jsonl").stat().st_size,
        "line": 3,
        "fingerprint": cursors[-1]["fingerprint"],
    }


async def test_jsonl_resumes_and_leaves_an_unfinished_last_line(
    tmp_path: Path, build: Build
) -> None:
    path = tmp_path / "g.jsonl"
    write_bytes(path, '{"id": 1}\n{"id": 2}\n{"id": 3')
    source = build(JsonlSource, path="g.jsonl", key="id")

    changes, cursors = await read_all(source, batch_size=1)
    assert [c.key for c in changes] == ["1", "2"]

    with path.open("ab") as f:
        f.write(b', "v": "done"}\n{"id": 4}\n')
    more, _ = await read_all(source, cursors[-1])
    assert [c.fields for c in more] == [{"id": 3, "v": "done"}, {"id": 4}]


async def test_jsonl_bad_line_names_file_and_line(tmp_path: Path, build: Build) -> None:
    write_bytes(tmp_path / "g.jsonl", '{"id": 1}\n{"id": 2,}\n')
    with pytest.raises(PermanentError, match=r"g\.jsonl, line 2: not valid JSON"):
        await read_all(build(JsonlSource, path="g.jsonl", key="id"))

    write_bytes(tmp_path / "g.jsonl", '{"id": 1}\n[1, 2]\n')
    with pytest.raises(PermanentError, match=r"line 2: expected a JSON object, found list"):
        await read_all(build(JsonlSource, path="g.jsonl", key="id"))


async def test_jsonl_operation_field_and_missing_key(tmp_path: Path, build: Build) -> None:
    write_bytes(tmp_path / "g.jsonl", '{"id": 1, "_op": "delete"}\n{"_op": "insert", "v": 1}\n')
    source = build(JsonlSource, path="g.jsonl", key="id", operation_field="_op")

    changes, _ = await read_all(source)

    assert [c.operation for c in changes] == [Operation.DELETE, Operation.INSERT]
    assert changes[1].keys == {"id": "", "_line": 2}
    assert changes[1].fields == {"v": 1}


# ---- jsonl sink ----------------------------------------------------------------------------


def change(key: str, op: Operation = Operation.UPDATE, **fields: Any) -> Change:
    return Change("shop", "order", {"id": key}, op, {"id": key, **fields})


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def test_jsonl_sink_appends_fields_and_reports_the_offset(
    tmp_path: Path, build: Build
) -> None:
    sink = build(JsonlSink, path="out/orders.jsonl")
    await sink.open(None)

    first = await sink.write([change("1", total=5), change("2", total=7.5)], WritePlan("f:1"))
    second = await sink.write(
        [change("3", when=datetime(2026, 1, 2, tzinfo=UTC))], WritePlan("f:2")
    )

    path = tmp_path / "out" / "orders.jsonl"
    assert lines(path) == [
        {"id": "1", "total": 5},
        {"id": "2", "total": 7.5},
        {"id": "3", "when": "2026-01-02T00:00:00+00:00"},
    ]
    assert first.outcomes == [Outcome.CREATED, Outcome.CREATED]
    assert second.position == {"offset": path.stat().st_size}
    assert first.position["offset"] < second.position["offset"]


async def test_jsonl_sink_open_cuts_off_an_uncommitted_batch(tmp_path: Path, build: Build) -> None:
    """The exactly-once mechanism: a batch written but never committed is written again, once."""
    sink = build(JsonlSink, path="o.jsonl")
    await sink.open(None)
    committed = (await sink.write([change("1")], WritePlan("f:1"))).position
    await sink.write([change("2")], WritePlan("f:2"))  # crash before the engine commits this
    await sink.aclose()

    restarted = build(JsonlSink, path="o.jsonl")
    await restarted.open(committed)
    await restarted.write([change("2")], WritePlan("f:2"))
    await restarted.write([change("3")], WritePlan("f:3"))

    assert [line["id"] for line in lines(tmp_path / "o.jsonl")] == ["1", "2", "3"]


async def test_jsonl_sink_modes_without_a_committed_position(tmp_path: Path, build: Build) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(b'{"id": "old"}\n')

    appending = build(JsonlSink, path="o.jsonl", mode="append")
    await appending.open(None)
    result = await appending.write([change("1")], WritePlan("f:1"))
    await appending.aclose()
    assert [line["id"] for line in lines(path)] == ["old", "1"]
    assert result.position == {"offset": path.stat().st_size}

    replacing = build(JsonlSink, path="o.jsonl")
    await replacing.open(None)
    await replacing.write([change("2")], WritePlan("f:1"))
    await replacing.aclose()
    assert [line["id"] for line in lines(path)] == ["2"]


async def test_jsonl_sink_dry_run_leaves_the_file_alone(tmp_path: Path, build: Build) -> None:
    path = tmp_path / "o.jsonl"
    path.write_bytes(b'{"id": "old"}\n')
    sink = build(JsonlSink, path="o.jsonl")
    await sink.open(None)  # mode replace: would empty the file on the first real write

    result = await sink.write([change("1"), change("2")], WritePlan("f:1", dry_run=True))

    assert result.outcomes == [Outcome.CREATED, Outcome.CREATED]
    assert path.read_bytes() == b'{"id": "old"}\n'


async def test_jsonl_sink_deletes_need_the_envelope(tmp_path: Path, build: Build) -> None:
    plain = build(JsonlSink, path="plain.jsonl")
    await plain.open(None)
    result = await plain.write([change("1"), change("2", Operation.DELETE)], WritePlan("f:1"))
    assert result.outcomes == [Outcome.CREATED, Outcome.SKIPPED]
    assert result.reasons == {1: "file sink without envelope cannot express deletes"}
    assert lines(tmp_path / "plain.jsonl") == [{"id": "1"}]

    wrapped = build(JsonlSink, path="env.jsonl", envelope=True)
    await wrapped.open(None)
    result = await wrapped.write(
        [change("1", Operation.INSERT, v=1), change("2", Operation.DELETE)], WritePlan("f:1")
    )
    assert result.outcomes == [Outcome.CREATED, Outcome.CREATED]
    assert lines(tmp_path / "env.jsonl") == [
        {"_op": "insert", "_keys": {"id": "1"}, "id": "1", "v": 1},
        {"_op": "delete", "_keys": {"id": "2"}, "id": "2"},
    ]


async def test_jsonl_sink_to_jsonl_source_round_trip(tmp_path: Path, build: Build) -> None:
    sink = build(JsonlSink, path="o.jsonl", envelope=True)
    await sink.open(None)
    await sink.write(
        [change("1", Operation.INSERT, v="a"), change("2", Operation.DELETE)], WritePlan("f:1")
    )
    source = build(JsonlSource, path="o.jsonl", key="id", operation_field="_op")
    changes, _ = await read_all(source)
    assert [(c.key, c.operation) for c in changes] == [
        ("1", Operation.INSERT),
        ("2", Operation.DELETE),
    ]


# ---- csv sink ------------------------------------------------------------------------------


async def test_csv_sink_writes_a_header_then_rows(tmp_path: Path, build: Build) -> None:
    sink = build(CsvSink, path="o.csv")
    await sink.open(None)
    await sink.write([change("1", name="Ada"), change("2", name='say "hi"\nbye')], WritePlan("f:1"))
    result = await sink.write([change("3", name="Alan", extra="dropped")], WritePlan("f:2"))

    path = tmp_path / "o.csv"
    assert path.read_bytes() == (b'id,name\r\n1,Ada\r\n2,"say ""hi""\nbye"\r\n3,Alan\r\n')
    assert result.position == {"offset": path.stat().st_size}
    # What it wrote reads back through the csv source.
    changes, _ = await read_all(build(CsvSource, path="o.csv", key="id"))
    assert [c.fields["name"] for c in changes] == ["Ada", 'say "hi"\nbye', "Alan"]


async def test_csv_sink_resumes_under_the_existing_header(tmp_path: Path, build: Build) -> None:
    sink = build(CsvSink, path="o.csv", columns=["id", "name"])
    await sink.open(None)
    committed = (await sink.write([change("1", name="Ada")], WritePlan("f:1"))).position
    await sink.write([change("2", name="lost")], WritePlan("f:2"))
    await sink.aclose()

    restarted = build(CsvSink, path="o.csv")
    await restarted.open(committed)
    await restarted.write([change("2", name="Grace")], WritePlan("f:2"))

    assert (tmp_path / "o.csv").read_text() == "id,name\n1,Ada\n2,Grace\n"


async def test_csv_sink_envelope_and_column_mismatch(tmp_path: Path, build: Build) -> None:
    sink = build(CsvSink, path="o.csv", envelope=True, columns=["id"])
    await sink.open(None)
    position = (
        await sink.write([change("1"), change("2", Operation.DELETE)], WritePlan("f:1"))
    ).position
    await sink.aclose()
    assert (tmp_path / "o.csv").read_text() == "_op,id\nupdate,1\ndelete,2\n"

    other = build(CsvSink, path="o.csv", envelope=True, columns=["id", "name"])
    await other.open(position)
    with pytest.raises(PermanentError, match=r"o\.csv, line 1: the file's columns \(id\)"):
        await other.write([change("3")], WritePlan("f:2"))
