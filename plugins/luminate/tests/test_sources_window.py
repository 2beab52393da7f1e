"""The sync-window reader against a fake client: cursors, resuming, ending windows, batching,
associated records and queried refunds, at the awkward places a simulator run rarely hits."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from pydantic import ValidationError
from syncframe_luminate.sources import (
    BEGINNING,
    ConstituentSource,
    TransactionSource,
    WindowCursor,
    segment_of,
)

from plugins.luminate.tests.source_helpers import (
    START,
    FakeLuminate,
    context_for,
    read_all,
)
from syncframe.components import PermanentError, TransientError
from syncframe.records import Change, Operation

pytestmark = pytest.mark.anyio

END = START + timedelta(hours=1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def donations(count: int, first: int = 2001001, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "TransactionId": first + n,
            "Payment.Amount": Decimal("25.00"),
            "Payment.OriginalAmount": Decimal("0"),
            "Payment.ModifyDate": START + timedelta(seconds=n),
            **extra,
        }
        for n in range(count)
    ]


def source(fake: FakeLuminate, page_size: int = 200, **options: Any) -> TransactionSource:
    from syncframe_luminate.settings import LuminateSettings

    settings = LuminateSettings(
        url="http://luminate.simulator/1.0/syncframe",
        api_login="api",
        api_password="pw",  # type: ignore[arg-type]
        page_size=page_size,
    )
    values: dict[str, Any] = {"record_types": ["Donation", "Refund"], **options}
    return TransactionSource(
        context_for(settings), TransactionSource.Options(**values), client=fake
    )


def keys(changes: list[Change]) -> list[tuple[str, int]]:
    return [(c.entity, next(iter(c.keys.values()))) for c in changes]


def handed(batches: list[Any]) -> list[Change]:
    return [change for batch in batches for change in batch.changes]


# ---- windows and cursors ------------------------------------------------------------------


async def test_a_window_is_read_in_batches_and_ended_only_when_its_last_batch_is_acknowledged() -> (
    None
):
    fake = FakeLuminate(pages={("Donation", "inserts"): donations(5)}, now=END)
    reader = source(fake)

    batches: list[Any] = []
    async for batch in reader.read(None, 2):
        batches.append(batch)
        assert fake.count("end") == 0, "the window was ended before its last batch was taken"
        await reader.acknowledged(batch.cursor)

    assert [len(b.changes) for b in batches] == [2, 2, 1]
    assert [b.cursor.get("done") is not None for b in batches] == [False, False, True]
    assert batches[-1].cursor == {"done": {"partition": 1001, "end": END.isoformat()}}
    assert all(b.segment == segment_of(None, END) == "beginning_20250301T100000Z" for b in batches)
    assert fake.ended
    assert fake.active is None
    # The first window is sent with an explicit Start at the beginning of time, with Force.
    assert fake.calls[0] == ("start", (BEGINNING, None, True))
    first = handed(batches)[0]
    assert first.system == "lum"
    assert first.entity == "Donation"
    assert first.keys == {"TransactionId": 2001001}
    assert first.operation is Operation.INSERT
    assert first.occurred_at == START


async def test_an_unacknowledged_done_cursor_does_not_end_the_window() -> None:
    fake = FakeLuminate(pages={("Donation", "inserts"): donations(3)}, now=END)
    _batches, cursor = await read_all(source(fake), None, 10, acknowledge=False)
    assert "done" in cursor
    assert fake.count("end") == 0

    # The process died between commit and acknowledgement: the next run starts the next
    # window (Force replaces the one left open), from the end of this one.
    fake.now = END + timedelta(hours=1)
    fake.pages = {}
    await read_all(source(fake), cursor, 10)
    starts = [detail for name, detail in fake.calls if name == "start"]
    assert starts[-1] == (END, None, True)  # Start = the last End, server's End, Force
    assert fake.started[-1].end == fake.now


async def test_an_empty_window_is_ended_in_read_and_the_cursor_stays() -> None:
    fake = FakeLuminate(now=END)
    batches, cursor = await read_all(source(fake), None, 10)
    assert batches == []
    assert cursor is None
    assert fake.count("end") == 1
    assert fake.active is None


async def test_an_empty_window_after_a_done_one_keeps_the_done_cursor() -> None:
    fake = FakeLuminate(now=END + timedelta(hours=1))
    done = {"done": {"partition": 1001, "end": END.isoformat()}}
    batches, cursor = await read_all(source(fake), done, 10)
    assert batches == []
    assert cursor == done
    assert fake.started[-1].start == END


async def test_the_first_window_starts_at_first_window_start() -> None:
    fake = FakeLuminate(pages={("Donation", "inserts"): donations(1)}, now=END)
    batches, _ = await read_all(source(fake, first_window_start=START), None, 10)
    assert fake.started[0].start == START
    assert batches[0].segment == "20250301T090000Z_20250301T100000Z"


async def test_a_stop_mid_window_resumes_the_same_window_and_hands_nothing_on_twice() -> None:
    records = donations(7)
    fake = FakeLuminate(pages={("Donation", "inserts"): records}, now=END)
    first, cursor = await read_all(source(fake, page_size=3), None, 2, stop_after=2)
    assert "window" in cursor
    assert cursor["window"] == {"partition": 1001, "start": None, "end": END.isoformat()}

    fake.now = END + timedelta(hours=2)  # the site moved on; the window did not
    rest, last = await read_all(source(fake, page_size=3), cursor, 2)

    assert fake.started[-1].start == BEGINNING
    assert fake.started[-1].end == END
    read = [c.key for c in handed(first) + handed(rest)]
    assert read == [str(r["TransactionId"]) for r in records]
    assert last == {"done": {"partition": 1001, "end": END.isoformat()}}
    assert fake.count("end") == 1


@pytest.mark.parametrize("stop_after", [1, 2, 3])
async def test_resume_at_every_batch_boundary_over_pages_and_steps(stop_after: int) -> None:
    fake = FakeLuminate(
        pages={
            ("Donation", "inserts"): donations(4),
            ("Donation", "updates"): donations(3, first=1001),
            ("Donation", "deletes"): donations(2, first=5001),
            ("Refund", "inserts"): [{"RefundId": 3001 + n} for n in range(2)],
        },
        now=END,
    )
    expected = [c.key for c in handed((await read_all(source(fake, page_size=2), None, 3))[0])]
    assert len(expected) == 11

    fake = FakeLuminate(pages=fake.pages, now=END)
    first, cursor = await read_all(source(fake, page_size=2), None, 3, stop_after=stop_after)
    rest, _ = await read_all(source(fake, page_size=2), cursor, 3)
    assert [c.key for c in handed(first) + handed(rest)] == expected


async def test_a_resumed_window_with_nothing_left_hands_on_an_empty_batch_that_ends_it() -> None:
    fake = FakeLuminate(pages={("Donation", "inserts"): donations(2)}, now=END)
    cursor = WindowCursor(1001, None, END, step=5, page=1, offset=0).to_json()
    batches, last = await read_all(source(fake), cursor, 10)
    assert [b.changes for b in batches] == [[]]
    assert last == {"done": {"partition": 1001, "end": END.isoformat()}}
    assert fake.count("end") == 1


async def test_a_changed_page_size_resumes_at_the_same_record() -> None:
    records = donations(9)
    fake = FakeLuminate(pages={("Donation", "inserts"): records}, now=END)
    first, cursor = await read_all(source(fake, page_size=4), None, 3, stop_after=2)
    assert cursor["page"] == 2
    assert cursor["offset"] == 2
    assert cursor["page_size"] == 4
    rest, _ = await read_all(source(fake, page_size=5), cursor, 3)
    read = [c.key for c in handed(first) + handed(rest)]
    assert read == [str(r["TransactionId"]) for r in records]


async def test_a_cursor_of_another_partition_is_refused() -> None:
    fake = FakeLuminate(now=END)
    cursor = {"done": {"partition": 2002, "end": END.isoformat()}}
    with pytest.raises(PermanentError, match="partition 2002, but partition_id is 1001"):
        await read_all(source(fake), cursor, 10)


@pytest.mark.parametrize(
    "cursor", [{"nonsense": 1}, "abc", {"window": {"partition": 1001}, "step": 0}]
)
async def test_a_cursor_that_is_not_a_window_cursor_is_refused(cursor: Any) -> None:
    with pytest.raises(PermanentError, match="not a Luminate window cursor"):
        await read_all(source(FakeLuminate(now=END)), cursor, 10)


async def test_ending_a_window_that_is_gone_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeLuminate(now=END)
    reader = source(fake)
    await reader.acknowledged({"done": {"partition": 1001, "end": END.isoformat()}})
    assert "could not end the synchronization window" in caplog.text
    await reader.acknowledged({"window": {}, "step": 0})  # mid-window: nothing to do
    assert fake.count("end") == 1


async def _consume(
    reader: TransactionSource, cursor: Any, size: int, taken: list[Change], cursors: list[Any]
) -> None:
    async for batch in reader.read(cursor, size):
        taken.extend(batch.changes)
        cursors.append(batch.cursor)
        await reader.acknowledged(batch.cursor)


@pytest.mark.parametrize("batch_size", [2, 3])
async def test_a_transient_failure_mid_window_is_read_again_from_the_last_cursor(
    batch_size: int,
) -> None:
    """What the engine does: read(last cursor handed on) again on the same source instance.
    With batch size 3 the batch holding the campaign was built but never handed on: the
    campaign must still come, before the first donation."""
    fake = FakeLuminate(
        pages={("Donation", "inserts"): donations(6, CampaignId=101)},
        lookups={("DonationCampaign", 101): {"CampaignId": 101, "Title": "Spring"}},
        now=END,
    )
    reader = source(fake, page_size=4)
    # Page 2 (the short last page of the step) fails: pages 1 and 2 are read ahead together,
    # but the failure surfaces only once page 1 is handed on.
    fake.fail_pages[("Donation", "inserts", 2)] = TransientError("503 from the load balancer")
    taken: list[Change] = []
    cursors: list[Any] = [None]
    with pytest.raises(TransientError):
        await _consume(reader, None, batch_size, taken, cursors)
    assert len(cursors) == (2 if batch_size == 2 else 1)
    await _consume(reader, cursors[-1], batch_size, taken, cursors)
    assert keys(taken) == [("DonationCampaign", 101)] + [
        ("Donation", 2001001 + n) for n in range(6)
    ]
    assert fake.count("query") == 1  # cached for the run


# ---- batches, associated records, refunds --------------------------------------------------


async def test_associated_records_come_once_per_run_before_the_first_transaction() -> None:
    pages = donations(4, CampaignId=101)
    pages[1]["FormId"] = 7
    pages[3]["CampaignId"] = 102
    fake = FakeLuminate(
        pages={("Donation", "inserts"): pages},
        lookups={
            ("DonationCampaign", 101): {"CampaignId": 101, "Title": "Spring"},
            ("DonationCampaign", 102): {"CampaignId": 102, "Title": "Fall"},
        },
        now=END,
    )
    batches, _ = await read_all(source(fake), None, 3)

    assert [keys(b.changes) for b in batches] == [
        [("DonationCampaign", 101), ("Donation", 2001001), ("Donation", 2001002)],
        [("Donation", 2001003), ("DonationCampaign", 102), ("Donation", 2001004)],
    ]
    campaign = batches[0].changes[0]
    assert campaign.operation is Operation.UPDATE
    assert campaign.fields == {"CampaignId": 101, "Title": "Spring"}
    assert campaign.occurred_at == END
    # One Query per id (FormId 7 does not exist: asked once, nothing emitted).
    queries = [detail for name, detail in fake.calls if name == "query"]
    assert sorted(queries) == [
        "select CampaignId from DonationCampaign where CampaignId = 101",
        "select CampaignId from DonationCampaign where CampaignId = 102",
        "select FormId from DonationForm where FormId = 7",
    ]


async def test_associated_records_can_be_switched_off() -> None:
    fake = FakeLuminate(
        pages={("Donation", "inserts"): donations(2, CampaignId=101)},
        lookups={("DonationCampaign", 101): {"CampaignId": 101}},
        now=END,
    )
    batches, _ = await read_all(source(fake, associated=False), None, 10)
    assert keys(handed(batches)) == [("Donation", 2001001), ("Donation", 2001002)]
    assert fake.count("query") == 0


async def test_refunds_are_queried_for_partially_and_fully_refunded_transactions() -> None:
    inserts = donations(3)
    inserts[1]["Payment.OriginalAmount"] = Decimal("25.00")
    inserts[1]["Payment.Amount"] = Decimal("15.00")
    deleted = donations(1, first=2000500)
    refund = {"RefundId": 3001, "OriginalTransactionId": 2001002, "Payment.Amount": Decimal(10)}
    full = {"RefundId": 3002, "OriginalTransactionId": 2000500, "Payment.Amount": Decimal(25)}
    fake = FakeLuminate(
        pages={
            ("Donation", "inserts"): inserts,
            ("Donation", "deletes"): deleted,
            ("Refund", "inserts"): [refund, full],
        },
        refunds={2001002: [refund], 2000500: [full]},
        now=END,
    )
    # The sync starts at END: these gifts (no PaymentDate known) may have older refunds.
    batches, _ = await read_all(source(fake, first_window_start=END), None, 10)
    changes = handed(batches)
    assert [(c.entity, c.key, c.operation.value) for c in changes] == [
        ("Donation", "2001001", "insert"),
        ("Refund", "3001", "insert"),
        ("Donation", "2001002", "insert"),
        ("Donation", "2001003", "insert"),
        ("Refund", "3002", "insert"),
        ("Donation", "2000500", "delete"),
        ("Refund", "3001", "insert"),
        ("Refund", "3002", "insert"),
    ]
    assert changes[1].fields == changes[6].fields  # the same shape however it was read
    queries = [detail for name, detail in fake.calls if name == "query"]
    assert queries == [
        "select RefundId, Payment.Amount, Payment.OriginalAmount from Refund "
        "where OriginalTransactionId = 2001002",
        "select RefundId, Payment.Amount, Payment.OriginalAmount from Refund "
        "where OriginalTransactionId = 2000500",
    ]


async def test_refunds_are_not_queried_when_switched_off() -> None:
    inserts = donations(1, **{"Payment.OriginalAmount": Decimal("25.00")})
    fake = FakeLuminate(pages={("Donation", "inserts"): inserts}, refunds={}, now=END)
    await read_all(source(fake, query_refunds=False, first_window_start=END), None, 10)
    assert fake.count("query") == 0


async def test_refunds_are_not_queried_when_the_sync_starts_at_the_beginning() -> None:
    """Every online refund then comes once through the Refund inserts of its window."""
    inserts = donations(1, **{"Payment.OriginalAmount": Decimal("25.00")})
    fake = FakeLuminate(pages={("Donation", "inserts"): inserts}, refunds={}, now=END)
    await read_all(source(fake), None, 10)
    assert fake.count("query") == 0


async def test_only_refunds_older_than_the_first_window_are_taken_from_the_query() -> None:
    start = END - timedelta(minutes=30)
    paid_before = donations(1, **{"Payment.OriginalAmount": Decimal("25.00")})
    paid_before[0]["Payment.PaymentDate"] = start - timedelta(days=2)
    paid_after = donations(1, first=2001500, **{"Payment.OriginalAmount": Decimal("9.00")})
    paid_after[0]["Payment.PaymentDate"] = start + timedelta(minutes=1)
    old = {"RefundId": 3001, "OriginalTransactionId": 2001001, "RefundDate": start - timedelta(1)}
    new = {"RefundId": 3002, "OriginalTransactionId": 2001001, "RefundDate": start}
    fake = FakeLuminate(
        pages={("Donation", "inserts"): paid_before + paid_after},
        refunds={2001001: [old, new], 2001500: []},
        now=END,
    )
    batches, _ = await read_all(source(fake, first_window_start=start), None, 10)
    changes = [(c.entity, c.key) for c in handed(batches)]
    assert changes == [("Refund", "3001"), ("Donation", "2001001"), ("Donation", "2001500")]
    assert fake.count("query") == 1  # the gift paid after the start has no older refunds


async def test_a_batch_never_holds_more_than_batch_size_changes() -> None:
    pages = donations(5, CampaignId=101, FormId=7, DonationLevelId=9)
    for n, page in enumerate(pages):
        page["CampaignId"] = 101 + n  # new associated records before every donation
    lookups = {("DonationCampaign", 101 + n): {"CampaignId": 101 + n} for n in range(5)}
    lookups[("DonationForm", 7)] = {"FormId": 7}
    lookups[("DonationLevel", 9)] = {"DonationLevelId": 9}
    fake = FakeLuminate(pages={("Donation", "inserts"): pages}, lookups=lookups, now=END)
    for size in (1, 2, 3, 4, 7):
        fake.calls.clear()
        batches, _ = await read_all(source(fake), None, size)
        assert all(len(b.changes) <= size for b in batches), size
        changes = handed(batches)
        assert Counter(c.entity for c in changes) == {
            "Donation": 5,
            "DonationCampaign": 5,
            "DonationForm": 1,
            "DonationLevel": 1,
        }
        # Each associated record comes before the first donation referring to it.
        for index, change in enumerate(changes):
            if change.entity == "Donation":
                seen = {(c.entity, c.key) for c in changes[:index]}
                assert ("DonationCampaign", str(change.fields["CampaignId"])) in seen


async def test_a_stop_between_a_record_and_its_extras_hands_them_on_again() -> None:
    pages = donations(2)
    for page in pages:
        page["CampaignId"], page["FormId"] = 101, 7
    fake = FakeLuminate(
        pages={("Donation", "inserts"): pages},
        lookups={
            ("DonationCampaign", 101): {"CampaignId": 101},
            ("DonationForm", 7): {"FormId": 7},
        },
        now=END,
    )
    # batch_size 1: the campaign, the form, then the donation, each alone.
    first, cursor = await read_all(source(fake), None, 1, stop_after=1)
    assert keys(first[0].changes) == [("DonationCampaign", 101)]
    assert cursor["offset"] == 0  # still before the first donation
    rest, _ = await read_all(source(fake), cursor, 1)
    assert keys(handed(rest)) == [
        ("DonationCampaign", 101),
        ("DonationForm", 7),
        ("Donation", 2001001),
        ("Donation", 2001002),
    ]


async def test_pages_are_prefetched_within_a_step_and_handed_on_in_order() -> None:
    records = donations(23)
    fake = FakeLuminate(pages={("Donation", "inserts"): records}, now=END, yields=3)
    batches, _ = await read_all(source(fake, page_size=5, prefetch=3), None, 4)
    assert [c.key for c in handed(batches)] == [str(r["TransactionId"]) for r in records]
    pages = [
        detail[2]
        for name, detail in fake.calls
        if name == "page" and detail[:2] == ("Donation", "inserts")
    ]
    # Page 1 first; once it came back full, the next pages go out ahead; page 5 is short, so
    # at most the 2 calls already out past it (6, 7) are wasted, each page called once.
    assert pages[0] == 1
    assert set(range(1, 6)) <= set(pages) <= set(range(1, 8))
    assert len(pages) == len(set(pages))
    # Calls really were out together, never more than prefetch.
    assert fake.most_in_flight == 3
    assert fake.in_flight == 0


async def test_the_first_pages_of_the_next_steps_go_out_while_a_step_starts() -> None:
    fake = FakeLuminate(pages={("Donation", "inserts"): donations(3)}, now=END, yields=3)
    batches, _ = await read_all(source(fake, prefetch=4), None, 10)
    assert len(handed(batches)) == 3
    pages = [detail for name, detail in fake.calls if name == "page"]
    # Every step's first page at once (the steps of a window are mostly empty), in order.
    assert pages == [
        ("Donation", "inserts", 1),
        ("Donation", "updates", 1),
        ("Donation", "deletes", 1),
        ("Refund", "inserts", 1),
    ]
    assert fake.most_in_flight == 4


async def test_a_failed_call_past_the_end_of_a_step_is_not_a_failure() -> None:
    fake = FakeLuminate(pages={("Donation", "inserts"): donations(7)}, now=END, yields=3)
    fake.fail_pages[("Donation", "inserts", 3)] = TransientError("503 for a page never needed")
    batches, _ = await read_all(source(fake, page_size=5, prefetch=4), None, 10)
    assert keys(handed(batches)) == [("Donation", 2001001 + n) for n in range(7)]
    assert ("page", ("Donation", "inserts", 3)) in fake.calls


async def test_a_reader_that_stops_leaves_no_call_running() -> None:
    fake = FakeLuminate(pages={("Donation", "inserts"): donations(200)}, now=END, yields=5)
    batches, _ = await read_all(source(fake, page_size=10, prefetch=4), None, 10, stop_after=1)
    assert len(batches) == 1
    for _ in range(10):  # what was cancelled has had the chance to finish
        await anyio.lowlevel.checkpoint()
    assert fake.in_flight == 0
    called = fake.count("page")
    for _ in range(10):
        await anyio.lowlevel.checkpoint()
    assert fake.count("page") == called  # and nothing new is called
    # What was read (pages 1-2: a batch is handed on once the next one is built), the first
    # pages of the 3 other steps, then at most prefetch calls out and prefetch pages waiting.
    assert called <= 2 + 3 + 2 * 4


async def test_an_empty_step_costs_one_call() -> None:
    fake = FakeLuminate(pages={("Donation", "inserts"): donations(1)}, now=END)
    await read_all(source(fake, prefetch=8), None, 10)
    assert fake.count("page") == 4  # Donation inserts/updates/deletes, Refund inserts


# ---- constituents --------------------------------------------------------------------------


async def test_constituent_windows_name_their_partition_in_the_segment() -> None:
    fake = FakeLuminate(
        pages={
            ("Constituent", "inserts"): [
                {"ConsId": 1001001, "ModifyDate": START, "PrimaryEmail": "a@example.org"}
            ],
            ("Constituent", "deletes"): [{"ConsId": 1001002}],
        },
        now=END,
    )
    reader = ConstituentSource(
        context_for(),
        ConstituentSource.Options(partition_id=1001, fields=["PrimaryEmail"]),
        client=fake,
    )
    batches, _cursor = await read_all(reader, None, 10)
    assert [(c.entity, c.keys, c.operation) for c in handed(batches)] == [
        ("Constituent", {"ConsId": 1001001}, Operation.INSERT),
        ("Constituent", {"ConsId": 1001002}, Operation.DELETE),
    ]
    assert batches[0].segment == "p1001_beginning_20250301T100000Z"
    assert handed(batches)[1].occurred_at == END
    assert ("page", ("Constituent", "inserts", 1)) in fake.calls
    assert fake.count("fields") == 0  # fields given: ConsId added, the WSDL not asked


# ---- options --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"record_types": ["Gift"]}, "unknown record type 'Gift'; the transaction types are"),
        (
            {"record_types": ["DonationCampaign"]},
            "DonationCampaign is an associated type: it is read through Query/Find, with the "
            "transactions that refer to it",
        ),
        ({"record_types": ["Constituent"]}, "luminate_constituents"),
        ({"record_types": []}, "at least one"),
        ({"fields": {"Gift": ["X"]}}, "unknown record type 'Gift'"),
        ({"fields": {"Donation": []}}, "at least one field"),
        ({"prefetch": 0}, "prefetch"),
        ({"first_window_start": "2025-01-01T00:00:00"}, "timezone"),
        ({"window": 3}, "window"),
    ],
)
def test_bad_options_are_refused_clearly(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TransactionSource.Options(**values)
    assert message in str(caught.value)


def test_default_options_read_every_transaction_type() -> None:
    options = TransactionSource.Options()
    assert options.record_types == [
        "Donation",
        "PersonalFundraisingGift",
        "ProductOrder",
        "TeamRaiserGift",
        "TeamRaiserRegistration",
        "TicketPurchase",
        "ActionAlertResponse",
        "Refund",
    ]
    assert options.partition_id == 1001
    assert options.force
    assert options.prefetch == 4


def test_cursor_round_trip() -> None:
    end = datetime(2025, 3, 1, 10, tzinfo=UTC)
    cursor = WindowCursor(1001, START, end, step=3, page=2, offset=5, page_size=100)
    assert WindowCursor.from_json(cursor.to_json()) == cursor
    done = WindowCursor(1001, None, end, done=True)
    assert done.to_json() == {"done": {"partition": 1001, "end": "2025-03-01T10:00:00+00:00"}}
    assert WindowCursor.from_json(done.to_json()) == done
