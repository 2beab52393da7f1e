"""The salesforce_contacts sink against the simulator: upserts by the External ID field,
updates by Id of what a matcher found, creates, UNCHANGED when nothing differs (and no write),
email opt-out from email_status, blanks, Salesforce's refusals as REJECTED with their reason,
deletes, dry runs, and batches larger than one sObject Collections call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from salesforce_simulator import SalesforceSimulator
from syncframe_smartsync.salesforce_sink import (
    SalesforceContactSink,
    SalesforceContactSinkOptions,
)

from plugins.smartsync.tests.salesforce_helpers import (
    RecordingTransport,
    by_constituent,
    change,
    component_context,
    live_contacts,
    make_simulator,
    plan,
)
from syncframe.components import Outcome, TransientError
from syncframe.records import Operation

pytestmark = pytest.mark.anyio

ANN: dict[str, Any] = {
    "constituent_id": "10042",
    "email": "ann.lee@example.org",
    "first_name": "Ann",
    "last_name": "Lee",
    "nickname": "Annie",
    "address1": "1 High Street",
    "city": "Leeds",
    "state": "West Yorkshire",
    "postal_code": "LS1 4AB",
    "country": "United Kingdom",
    "phone": "+44 113 496 0000",
    "email_status": "subscribed",
}
EXT = "RE_Constituent_ID__c"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> SalesforceSimulator:
    return make_simulator()


@pytest.fixture
def wire(sim: SalesforceSimulator) -> RecordingTransport:
    return RecordingTransport(sim)


@pytest.fixture
async def http(wire: RecordingTransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=wire) as client:
        yield client


@pytest.fixture
def sink(sim: SalesforceSimulator, http: httpx.AsyncClient) -> SalesforceContactSink:
    return sink_of(sim, http)


def sink_of(
    sim: SalesforceSimulator, http: httpx.AsyncClient, **options: Any
) -> SalesforceContactSink:
    return SalesforceContactSink(
        component_context(sim, http), SalesforceContactSinkOptions(**options)
    )


def writes(sim: SalesforceSimulator) -> list[str | None]:
    """The write operations the org was asked for (reads and logins left out)."""
    reads = {"OAuthToken", "Query", "QueryMore"}
    return [e.operation for e in sim.journal.entries() if e.operation not in reads]


def only(sim: SalesforceSimulator) -> dict[str, Any]:
    [contact] = live_contacts(sim)
    return contact


# ---- upsert by the External ID -----------------------------------------------------------------


async def test_a_new_constituent_is_created_by_upsert_on_the_external_id(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    result = await sink.write([change(ANN)], plan())

    contact = only(sim)
    assert result.outcomes == [Outcome.CREATED]
    assert result.target_keys == {0: contact["Id"]}
    assert {k: contact[k] for k in (EXT, "Email", "FirstName", "LastName", "Phone")} == {
        EXT: "10042",
        "Email": "ann.lee@example.org",
        "FirstName": "Ann",
        "LastName": "Lee",
        "Phone": "+44 113 496 0000",
    }
    assert (contact["MailingStreet"], contact["MailingCity"], contact["MailingState"]) == (
        "1 High Street",
        "Leeds",
        "West Yorkshire",
    )
    assert (contact["MailingPostalCode"], contact["MailingCountry"]) == (
        "LS1 4AB",
        "United Kingdom",
    )
    assert contact["HasOptedOutOfEmail"] is False
    assert writes(sim) == ["CollectionUpsert"]


async def test_the_same_change_again_is_unchanged_and_writes_nothing(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    await sink.write([change(ANN)], plan())
    stamp = only(sim)["SystemModstamp"]
    sim.clock.advance(minutes=5)

    again = await sink.write([change(ANN)], plan())

    assert again.outcomes == [Outcome.UNCHANGED]
    assert again.target_keys == {0: only(sim)["Id"]}
    assert only(sim)["SystemModstamp"] == stamp
    assert writes(sim) == ["CollectionUpsert"]


async def test_only_the_fields_that_differ_are_sent(
    sim: SalesforceSimulator, sink: SalesforceContactSink, wire: RecordingTransport
) -> None:
    record_id = sim.add_contact(
        {EXT: "10042", "LastName": "Lee", "FirstName": "Ann", "Title": "Trustee"}
    )

    result = await sink.write(
        [change({"constituent_id": "10042", "last_name": "Lee", "city": "York"})], plan()
    )

    assert result.outcomes == [Outcome.UPDATED]
    assert result.target_keys == {0: record_id}
    [body] = wire.bodies("PATCH", f"/composite/sobjects/Contact/{EXT}")
    assert body["records"] == [
        {"attributes": {"type": "Contact"}, EXT: "10042", "MailingCity": "York"}
    ]
    assert (only(sim)["MailingCity"], only(sim)["Title"]) == ("York", "Trustee")


async def test_external_ids_match_without_case(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    sim.add_contact({EXT: "re-77", "LastName": "Case"})

    result = await sink.write([change({"constituent_id": "RE-77", "last_name": "Case"})], plan())

    assert result.outcomes == [Outcome.UNCHANGED]
    assert only(sim)[EXT] == "re-77"


async def test_two_changes_of_one_constituent_in_a_batch_apply_in_order(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    first = change({"constituent_id": "5", "last_name": "Old", "city": "Leeds"})
    second = change({"constituent_id": "5", "last_name": "New", "city": "Leeds"})

    result = await sink.write([first, second], plan())

    assert result.outcomes == [Outcome.CREATED, Outcome.UPDATED]
    assert result.target_keys[0] == result.target_keys[1] == only(sim)["Id"]
    assert only(sim)["LastName"] == "New"
    assert writes(sim) == ["CollectionUpsert", "CollectionUpsert"]


async def test_a_batch_larger_than_one_collection_call_lands_whole(
    sim: SalesforceSimulator, sink: SalesforceContactSink, wire: RecordingTransport
) -> None:
    changes = [change({"constituent_id": str(n), "last_name": f"Donor{n}"}) for n in range(250)]

    result = await sink.write(changes, plan())

    assert result.counts() == {"created": 250}
    assert sorted(by_constituent(sim), key=int) == [str(n) for n in range(250)]
    sizes = [len(b["records"]) for b in wire.bodies("PATCH", f"/composite/sobjects/Contact/{EXT}")]
    assert sizes == [200, 50]


async def test_a_constituent_id_several_contacts_share_is_not_guessed() -> None:
    sim = make_simulator(unique_external_id=False)
    sim.add_contact({EXT: "9", "LastName": "One"})
    sim.add_contact({EXT: "9", "LastName": "Two"})
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        result = await sink_of(sim, http).write(
            [change({"constituent_id": "9", "last_name": "Three"})], plan()
        )

    assert result.outcomes == [Outcome.REJECTED]
    assert "2 Contacts hold RE_Constituent_ID__c 9" in result.reasons[0]
    assert sorted(c["LastName"] for c in live_contacts(sim)) == ["One", "Two"]


# ---- update by Id (a matcher's target) ---------------------------------------------------------


async def test_a_matched_contact_is_updated_by_id_and_bound_to_the_constituent(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    record_id = sim.add_contact({"LastName": "Lee", "Email": "ann.lee@example.org"})

    result = await sink.write([change(ANN)], plan([record_id]))

    assert result.outcomes == [Outcome.UPDATED]
    assert result.target_keys == {0: record_id}
    assert (only(sim)["Id"], only(sim)[EXT], only(sim)["FirstName"]) == (record_id, "10042", "Ann")
    assert writes(sim) == ["CollectionUpdate"]


async def test_a_match_named_by_its_15_character_id_is_the_same_contact(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    record_id = sim.add_contact({"LastName": "Lee"})

    result = await sink.write([change(ANN)], plan([record_id[:15]]))
    again = await sink.write([change(ANN), change({**ANN, "Id": record_id[:15]})], plan())

    assert result.outcomes == [Outcome.UPDATED]
    assert result.target_keys == {0: record_id}
    assert again.outcomes == [Outcome.UNCHANGED, Outcome.UNCHANGED]
    assert only(sim)["Id"] == record_id


async def test_a_match_bound_to_another_constituent_is_not_rebound(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    record_id = sim.add_contact({"LastName": "Lee", EXT: "555"})

    result = await sink.write([change(ANN)], plan([record_id]))

    assert result.outcomes == [Outcome.REJECTED]
    assert (
        f"the matched Contact {record_id} holds RE_Constituent_ID__c 555, not 10042"
        in (result.reasons[0])
    )
    assert only(sim)[EXT] == "555"
    assert writes(sim) == []


async def test_a_matched_contact_deleted_since_is_recreated_by_its_constituent_id(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    gone = sim.add_contact({"LastName": "Lee"})
    sim.delete_contact(gone)

    result = await sink.write(
        [change(ANN), change({"email": "x@example.org", "last_name": "X"})], plan([gone, gone])
    )

    assert result.outcomes == [Outcome.CREATED, Outcome.REJECTED]
    assert f"Contact {gone} does not exist" in result.reasons[1]
    assert only(sim)[EXT] == "10042"


async def test_setting_a_constituent_id_another_contact_holds_is_duplicate_value(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    holder = sim.add_contact({"LastName": "Holder", EXT: "10042"})
    other = sim.add_contact({"LastName": "Other"})

    result = await sink.write([change(ANN)], plan([other]))

    assert result.outcomes == [Outcome.REJECTED]
    reason = result.reasons[0]
    assert reason.startswith("re_nxt.constituent[id=10042]: DUPLICATE_VALUE: ")
    assert (
        f"duplicate value found: RE_Constituent_ID__c duplicates value on record with id: {holder}"
        in (reason)
    )


# ---- create ------------------------------------------------------------------------------------


async def test_a_change_without_keys_creates_a_contact(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    result = await sink.write([change({"email": "new@example.org", "last_name": "New"})], plan())

    assert result.outcomes == [Outcome.CREATED]
    assert (only(sim)["Email"], only(sim)[EXT]) == ("new@example.org", None)
    assert writes(sim) == ["CollectionCreate"]


async def test_a_change_without_keys_finds_the_contact_its_email_names(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    # A replayed batch (or a Contact typed in since the matcher looked) is not created twice.
    new = change({"email": "new@example.org", "last_name": "New"})
    first = await sink.write([new], plan())
    again = await sink.write([new, change({**new.fields, "city": "Hull"})], plan())

    assert first.outcomes == [Outcome.CREATED]
    assert again.outcomes == [Outcome.UNCHANGED, Outcome.UPDATED]
    assert again.target_keys == {0: only(sim)["Id"], 1: only(sim)["Id"]}
    assert only(sim)["MailingCity"] == "Hull"


async def test_a_change_without_keys_is_not_guessed_among_contacts_sharing_its_email(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    sim.add_contact({"LastName": "Lee", "Email": "family@example.org"})
    sim.add_contact({"LastName": "Lee", "Email": "Family@example.org"})

    result = await sink.write([change({"email": "family@example.org", "last_name": "Lee"})], plan())

    assert result.outcomes == [Outcome.REJECTED]
    assert "2 Contacts have email family@example.org: refusing to guess" in result.reasons[0]
    assert len(live_contacts(sim)) == 2


async def test_create_missing_off_rejects_what_was_not_found(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    sink = sink_of(sim, http, create_missing=False)
    result = await sink.write(
        [change(ANN), change({"email": "new@example.org", "last_name": "New"})], plan()
    )

    assert result.outcomes == [Outcome.REJECTED, Outcome.REJECTED]
    assert (
        "no Contact holds RE_Constituent_ID__c 10042 and create_missing is off"
        in (result.reasons[0])
    )
    assert "no Contact was found and create_missing is off" in result.reasons[1]
    assert live_contacts(sim) == []


# ---- email status and blanks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "before", "after", "outcome"),
    [
        ("unsubscribed", False, True, Outcome.UPDATED),
        ("subscribed", True, False, Outcome.UPDATED),
        ("pending", True, True, Outcome.UNCHANGED),  # unconfirmed: no decision yet
        ("pending", False, False, Outcome.UNCHANGED),
        ("cleaned", False, False, Outcome.UNCHANGED),  # a bounce is not a consent decision
        (None, True, True, Outcome.UNCHANGED),
    ],
)
async def test_email_status_sets_email_opt_out(
    sim: SalesforceSimulator,
    sink: SalesforceContactSink,
    status: str | None,
    before: bool,
    after: bool,
    outcome: Outcome,
) -> None:
    sim.add_contact({EXT: "10042", "LastName": "Lee", "HasOptedOutOfEmail": before})

    result = await sink.write([change({"constituent_id": "10042", "email_status": status})], plan())

    assert result.outcomes == [outcome]
    assert only(sim)["HasOptedOutOfEmail"] is after


async def test_subscribing_clears_email_opt_out_and_cleaned_can_set_it(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    sim.add_contact({EXT: "1", "LastName": "Lee"})

    cleaned = change({"constituent_id": "1", "email_status": "cleaned"})
    unchanged = await sink_of(sim, http).write([cleaned], plan())
    opted = await sink_of(sim, http, cleaned_opts_out=True).write([cleaned], plan())

    assert unchanged.outcomes == [Outcome.UNCHANGED]
    assert opted.outcomes == [Outcome.UPDATED]
    assert only(sim)["HasOptedOutOfEmail"] is True


async def test_an_unknown_email_status_is_rejected(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    result = await sink.write([change({**ANN, "email_status": "archived"})], plan())

    assert result.outcomes == [Outcome.REJECTED]
    assert (
        "email_status 'archived' is not one of subscribed, unsubscribed, cleaned, pending"
        in (result.reasons[0])
    )


async def test_blanks_keep_what_salesforce_holds_unless_told_to_clear(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    sim.add_contact({EXT: "1", "LastName": "Lee", "Phone": "0113", "MailingCity": "Leeds"})
    blank = change({"constituent_id": "1", "phone": None, "city": ""})

    kept = await sink_of(sim, http).write([blank], plan())
    assert kept.outcomes == [Outcome.UNCHANGED]
    assert (only(sim)["Phone"], only(sim)["MailingCity"]) == ("0113", "Leeds")

    cleared = await sink_of(sim, http, clear_blank_fields=True).write([blank], plan())
    assert cleared.outcomes == [Outcome.UPDATED]
    assert (only(sim)["Phone"], only(sim)["MailingCity"]) == (None, None)


# ---- refusals ----------------------------------------------------------------------------------


async def test_salesforces_field_errors_reject_one_record_and_the_others_land(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    changes = [
        change({"constituent_id": "1", "last_name": "Good"}),
        change({"constituent_id": "2", "last_name": "Bad", "email": "not-an-email"}),
        change({"constituent_id": "3", "first_name": "NoLastName"}),
        change({"constituent_id": "4", "last_name": "Long", "first_name": "F" * 41}),
        change({"constituent_id": "5", "last_name": "AlsoGood"}),
    ]

    result = await sink.write(changes, plan())

    assert result.outcomes == [
        Outcome.CREATED,
        Outcome.REJECTED,
        Outcome.REJECTED,
        Outcome.REJECTED,
        Outcome.CREATED,
    ]
    assert (
        "re_nxt.constituent[id=2]: INVALID_EMAIL_ADDRESS: Email: invalid email address"
        in (result.reasons[1])
    )
    assert (
        "REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] (fields: LastName)"
        in result.reasons[2]
    )
    assert "STRING_TOO_LONG" in result.reasons[3]
    assert "(fields: FirstName)" in result.reasons[3]
    assert sorted(by_constituent(sim)) == ["1", "5"]


async def test_unknown_fields_are_ignored_or_reject_the_change(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    fields = {"constituent_id": "1", "last_name": "Lee", "Title": "Dr", "lookup_idd": "x"}

    rejected = await sink_of(sim, http, unknown_fields="reject").write([change(fields)], plan())
    written = await sink_of(sim, http).write([change(fields)], plan())

    assert rejected.outcomes == [Outcome.REJECTED]
    assert (
        "no Contact field for lookup_idd (sink option unknown_fields = 'reject')"
        in (rejected.reasons[0])
    )
    assert written.outcomes == [Outcome.CREATED]
    assert only(sim)["Title"] == "Dr"  # a Contact field by its own name passes through


async def test_a_record_lock_is_retried_as_a_transient_error(
    sim: SalesforceSimulator, sink: SalesforceContactSink, wire: RecordingTransport
) -> None:
    lock = {"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access"}
    wire.answer_next(f"/Contact/{EXT}", 200, [{"success": False, "errors": [lock]}])

    with pytest.raises(TransientError, match="UNABLE_TO_LOCK_ROW"):
        await sink.write([change(ANN)], plan())
    retried = await sink.write([change(ANN)], plan())

    assert retried.outcomes == [Outcome.CREATED]
    assert only(sim)[EXT] == "10042"


async def test_after_a_keyless_create_a_record_lock_is_a_rejection(
    sim: SalesforceSimulator, sink: SalesforceContactSink, wire: RecordingTransport
) -> None:
    # The third change waits for the first two to be written (it changes the Contact the
    # second creates); the lock then hits it after a Contact was created without any key (no
    # constituent id, no email), which a retry of the batch would create again: so it is
    # rejected, not retried.
    changes = [
        change({"last_name": "Keyless", "phone": "0113 496 0000"}, key="walk-in"),
        change({"constituent_id": "7", "last_name": "First"}),
        change({"constituent_id": "7", "last_name": "Second"}),
    ]
    lock = {"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access"}
    wire.answer_next(f"/Contact/{EXT}", 200, [{"success": False, "errors": [lock]}], after=1)

    result = await sink.write(changes, plan())

    assert result.outcomes == [Outcome.CREATED, Outcome.CREATED, Outcome.REJECTED]
    assert "UNABLE_TO_LOCK_ROW: unable to obtain exclusive access" in result.reasons[2]
    assert sorted(c["LastName"] for c in live_contacts(sim)) == ["First", "Keyless"]


# ---- deletes and dry runs ----------------------------------------------------------------------


async def test_deletes_are_skipped_unless_asked_for(
    sim: SalesforceSimulator, http: httpx.AsyncClient
) -> None:
    sim.add_contact({EXT: "10042", "LastName": "Lee"})
    deletion = change({"constituent_id": "10042"}, Operation.DELETE)

    skipped = await sink_of(sim, http).write([deletion], plan())
    deleted = await sink_of(sim, http, deletes="delete").write([deletion], plan())
    again = await sink_of(sim, http, deletes="delete").write([deletion], plan())

    assert skipped.outcomes == [Outcome.SKIPPED]
    assert "deletes are not applied (sink option deletes = 'skip')" in skipped.reasons[0]
    assert deleted.outcomes == [Outcome.DELETED]
    assert live_contacts(sim) == []
    assert again.outcomes == [Outcome.UNCHANGED]
    assert "no such Contact (already deleted)" in again.reasons[0]


async def test_a_dry_run_says_what_it_would_do_and_writes_nothing(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    existing = sim.add_contact({EXT: "1", "LastName": "Lee"})
    changes = [
        change({"constituent_id": "1", "last_name": "Lee", "city": "York"}),
        change({"constituent_id": "1", "last_name": "Lee"}),
        change({"constituent_id": "2", "last_name": "New"}),
    ]

    result = await sink.write(changes, plan(dry_run=True))

    assert result.outcomes == [Outcome.UPDATED, Outcome.UNCHANGED, Outcome.CREATED]
    assert result.target_keys == {0: existing, 1: existing}
    assert writes(sim) == []
    assert only(sim)["MailingCity"] is None


async def test_a_dry_run_compares_later_changes_with_what_earlier_ones_would_write(
    sim: SalesforceSimulator, sink: SalesforceContactSink
) -> None:
    new = change({"constituent_id": "2", "last_name": "New"})
    moved = change({**new.fields, "city": "Hull"})

    result = await sink.write([new, new, moved], plan(dry_run=True))

    assert result.outcomes == [Outcome.CREATED, Outcome.UNCHANGED, Outcome.UPDATED]
    assert result.target_keys == {}
    assert live_contacts(sim) == []
