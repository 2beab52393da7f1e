"""Create / Update / Delete of constituents: per-record result codes, matching, limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from luminate_simulator.constituents import ConstituentDirectory
from luminate_simulator.services import (
    DEFAULT_PARTITION_ID,
    RESULT_CODES,
    ApiUser,
    LuminateFault,
    RecordResult,
    WebServices,
)

from syncframe.clock import ManualClock

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def directory(clock: ManualClock) -> ConstituentDirectory:
    return ConstituentDirectory(clock)


@pytest.fixture
def services(clock: ManualClock, directory: ConstituentDirectory) -> WebServices:
    web = WebServices(clock, directory)
    web.add_api_user("sync-api", "s3cret")
    return web


@pytest.fixture
def user(services: WebServices) -> ApiUser:
    return services.session_user(services.login("sync-api", "s3cret"))


def one(results: list[RecordResult]) -> RecordResult:
    assert len(results) == 1
    return results[0]


def codes(results: list[RecordResult]) -> list[str]:
    return [r.code for r in results]


class TestCreate:
    """Create adds constituents; each record gets its own result."""

    def test_create_ok(
        self, services: WebServices, user: ApiUser, directory: ConstituentDirectory
    ) -> None:
        result = one(
            services.create(
                user,
                "Constituent",
                [
                    {
                        "MemberId": "RE-1",
                        "PrimaryEmail": "ann@example.org",
                        "ConsName": {"FirstName": "Ann", "LastName": "Lee"},
                        "HomeAddress": {"City": "Reno"},
                        "AcceptsEmail": "true",
                    }
                ],
            )
        )
        assert (result.code, result.number, result.message) == ("OK", 0, "")
        cons_id = result.record["ConsId"] if result.record else None
        assert result.record == {
            "ConsId": cons_id,
            "MemberId": "RE-1",
            "PrimaryEmail": "ann@example.org",
        }
        cons = directory.get(cons_id or 0)
        assert cons is not None
        assert (cons.first_name, cons.last_name, cons.city, cons.accepts_email) == (
            "Ann",
            "Lee",
            "Reno",
            True,
        )
        assert cons.created_at == START

    def test_without_accepts_email_the_record_is_opted_out(
        self, services: WebServices, user: ApiUser, directory: ConstituentDirectory
    ) -> None:
        result = one(services.create(user, "Constituent", [{"PrimaryEmail": "a@example.org"}]))
        assert result.record is not None
        cons = directory.get(result.record["ConsId"])
        assert cons is not None
        assert cons.accepts_email is False

    @pytest.mark.parametrize(
        "record",
        [
            {"ConsName": {"FirstName": "Ann", "LastName": "Lee"}},
            {"ConsName": {"LastName": "Lee"}},  # last name without MemberId
            {"MemberId": "RE-9"},  # MemberId without last name
            {"PrimaryEmail": "", "MemberId": "RE-9"},
        ],
    )
    def test_required_fields_missing(
        self, services: WebServices, user: ApiUser, record: dict[str, Any]
    ) -> None:
        result = one(services.create(user, "Constituent", [record]))
        assert (result.code, result.number) == ("REQUIRED_FIELDS_MISSING", 10)
        assert "PrimaryEmail" in result.message
        assert len(services.directory) == 0

    def test_last_name_and_member_id_suffice(self, services: WebServices, user: ApiUser) -> None:
        result = one(
            services.create(
                user, "Constituent", [{"MemberId": "RE-9", "ConsName": {"LastName": "Lee"}}]
            )
        )
        assert result.code == "OK"

    def test_identity_conflicts(self, services: WebServices, user: ApiUser) -> None:
        existing = services.add_constituent(
            {"MemberId": "RE-1", "PrimaryEmail": "ann@example.org", "UserName": "ann"}
        )
        results = services.create(
            user,
            "Constituent",
            [
                {"MemberId": "RE-1", "PrimaryEmail": "other@example.org"},
                {"PrimaryEmail": "ANN@example.org"},
                {"PrimaryEmail": "new@example.org", "UserName": "Ann"},
                {"PrimaryEmail": "fine@example.org"},
                {"PrimaryEmail": "fine@example.org"},  # the record before took it
            ],
        )
        assert codes(results) == [
            "MATCH_EXISTING",
            "DUPLICATE_EMAIL",
            "DUPLICATE_USER_NAME",
            "OK",
            "DUPLICATE_EMAIL",
        ]
        assert [r.number for r in results] == [11, 13, 12, 0, 13]
        assert results[0].record == {
            "ConsId": existing,
            "MemberId": "RE-1",
            "PrimaryEmail": "ann@example.org",
        }
        assert "already belongs to constituent" in results[0].message
        assert len(services.directory) == 2

    def test_removed_records_keep_their_member_id_but_not_their_email(
        self, services: WebServices, user: ApiUser
    ) -> None:
        removed = services.add_constituent({"MemberId": "RE-1", "PrimaryEmail": "a@example.org"})
        services.remove_constituent(removed)
        results = services.create(
            user,
            "Constituent",
            [
                {"MemberId": "RE-1", "PrimaryEmail": "b@example.org"},
                {"PrimaryEmail": "a@example.org"},
            ],
        )
        assert codes(results) == ["MATCH_EXISTING", "OK"]

    def test_invalid_values_are_refused_per_record(
        self, services: WebServices, user: ApiUser
    ) -> None:
        results = services.create(
            user,
            "Constituent",
            [
                {"PrimaryEmail": "not-an-email"},
                {"PrimaryEmail": "long@example.org", "ConsName": {"FirstName": "x" * 51}},
                {"PrimaryEmail": "ok@example.org"},
            ],
        )
        assert codes(results) == ["SERVER_ERROR", "SERVER_ERROR", "OK"]
        assert "PrimaryEmail 'not-an-email' is not a valid email address" in results[0].message
        assert "ConsName.FirstName is longer than 50 characters" in results[1].message

    def test_more_than_50_records_is_too_many_for_every_record(
        self, services: WebServices, user: ApiUser
    ) -> None:
        records = [{"PrimaryEmail": f"c{n}@example.org"} for n in range(51)]
        results = services.create(user, "Constituent", records)
        assert len(results) == 51
        assert set(codes(results)) == {"TOO_MANY_RECORDS"}
        assert results[0].number == RESULT_CODES["TOO_MANY_RECORDS"] == 5
        assert results[7].record == {
            "ConsId": None,
            "MemberId": None,
            "PrimaryEmail": "c7@example.org",
        }
        assert len(services.directory) == 0
        assert codes(services.create(user, "Constituent", records[:50])) == ["OK"] * 50

    def test_unknown_element_is_an_invalid_message(
        self, services: WebServices, user: ApiUser
    ) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.create(
                user,
                "Constituent",
                [{"PrimaryEmail": "a@example.org"}, {"PrimaryEmail": "b@example.org", "Nick": "B"}],
            )
        assert caught.value.fault_type == "InvalidMessageFault"
        assert caught.value.message == "Record 2: unknown Constituent element 'Nick'."
        assert len(services.directory) == 0
        with pytest.raises(LuminateFault):
            services.create(user, "Constituent", [])

    @pytest.mark.parametrize(
        "record_type", ["Donation", "Refund", "ActionAlertResponse", "TicketPurchase"]
    )
    @pytest.mark.parametrize("operation", ["create", "update", "delete"])
    def test_transactions_are_download_only(
        self, services: WebServices, user: ApiUser, record_type: str, operation: str
    ) -> None:
        with pytest.raises(LuminateFault) as caught:
            getattr(services, operation)(user, record_type, [{"TransactionId": 1}])
        assert caught.value.fault_type == "UnsupportedOperationFault"
        assert "download only" in caught.value.message

    def test_lookup_types_cannot_be_written(self, services: WebServices, user: ApiUser) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.create(user, "DonationCampaign", [{"Title": "x"}])
        assert caught.value.fault_type == "UnsupportedOperationFault"
        with pytest.raises(LuminateFault) as caught:
            services.create(user, "Pledge", [{"Title": "x"}])
        assert caught.value.fault_type == "InvalidMessageFault"


class TestUpdate:
    """Update finds its record by ConsId, else MemberId, else PrimaryEmail."""

    @pytest.fixture
    def ann(self, services: WebServices) -> int:
        return services.add_constituent(
            {
                "MemberId": "RE-1",
                "PrimaryEmail": "ann@example.org",
                "ConsName": {"FirstName": "Ann", "LastName": "Lee"},
                "HomePhone": "555-0100",
            }
        )

    def test_match_precedence(
        self, services: WebServices, user: ApiUser, ann: int, directory: ConstituentDirectory
    ) -> None:
        bob = services.add_constituent({"MemberId": "RE-2", "PrimaryEmail": "bob@example.org"})
        # ConsId wins over a MemberId and an email naming someone else: those get overwritten
        result = one(
            services.update(
                user,
                "Constituent",
                [{"ConsId": str(ann), "MemberId": "RE-1b", "PrimaryEmail": "ann2@example.org"}],
            )
        )
        assert (result.code, result.message) == ("OK", "User updated.")
        assert result.record == {
            "ConsId": ann,
            "MemberId": "RE-1b",
            "PrimaryEmail": "ann2@example.org",
        }
        # MemberId wins over the email
        result = one(
            services.update(
                user, "Constituent", [{"MemberId": "RE-2", "PrimaryEmail": "bobby@example.org"}]
            )
        )
        assert result.record == {
            "ConsId": bob,
            "MemberId": "RE-2",
            "PrimaryEmail": "bobby@example.org",
        }
        # the email alone, any case
        result = one(
            services.update(
                user, "Constituent", [{"PrimaryEmail": "BOBBY@example.org", "HomePhone": "1"}]
            )
        )
        assert result.code == "OK"
        cons = directory.get(bob)
        assert cons is not None
        assert cons.home_phone == "1"

    def test_absent_unchanged_empty_unchanged_nil_cleared(
        self, services: WebServices, user: ApiUser, ann: int, directory: ConstituentDirectory
    ) -> None:
        result = one(
            services.update(
                user,
                "Constituent",
                [
                    {
                        "ConsId": ann,
                        "ConsName": {"FirstName": "", "LastName": None},
                        "HomePhone": None,
                    }
                ],
            )
        )
        assert result.code == "OK"
        cons = directory.get(ann)
        assert cons is not None
        assert (cons.first_name, cons.last_name, cons.home_phone) == ("Ann", None, None)
        assert (cons.member_id, cons.primary_email) == ("RE-1", "ann@example.org")

    def test_not_found_and_ambiguous(self, services: WebServices, user: ApiUser, ann: int) -> None:
        services.add_constituent({"PrimaryEmail": "twin@example.org"})
        services.add_constituent({"PrimaryEmail": "twin@example.org"})  # admins may duplicate
        services.remove_constituent(ann)
        results = services.update(
            user,
            "Constituent",
            [
                {"ConsId": 999, "HomePhone": "1"},
                {"ConsId": ann, "HomePhone": "1"},  # Removed
                {"MemberId": "RE-404", "HomePhone": "1"},
                {"PrimaryEmail": "twin@example.org", "HomePhone": "1"},
                {"HomePhone": "1"},
            ],
        )
        assert codes(results) == [
            "RECORD_NOT_FOUND",
            "RECORD_NOT_FOUND",
            "RECORD_NOT_FOUND",
            "UPDATE_MATCH_AMBIGUOUS",
            "REQUIRED_FIELDS_MISSING",
        ]
        assert [r.number for r in results[:4]] == [16, 16, 16, 15]
        assert results[0].message == "No constituent has ConsId 999."
        assert "matches 2 constituents" in results[3].message

    def test_overwriting_ids_another_record_holds(
        self, services: WebServices, user: ApiUser, ann: int
    ) -> None:
        services.add_constituent({"MemberId": "RE-2", "PrimaryEmail": "bob@example.org"})
        results = services.update(
            user,
            "Constituent",
            [
                {"ConsId": ann, "MemberId": "RE-2"},
                {"ConsId": ann, "PrimaryEmail": "bob@example.org"},
                {"ConsId": ann, "PrimaryEmail": "ANN@example.org"},  # its own email: fine
            ],
        )
        assert codes(results) == ["MATCH_EXISTING", "DUPLICATE_EMAIL", "OK"]

    def test_sending_back_ids_the_record_already_has_is_not_a_conflict(
        self, services: WebServices, user: ApiUser, ann: int, directory: ConstituentDirectory
    ) -> None:
        # An upload (or an admin) may give two constituents one email; a connector that sends a
        # whole record back, its own unchanged ids included, must still be able to update it.
        twin = services.add_constituent({"PrimaryEmail": "ann@example.org", "UserName": "ANN2"})
        services.modify_constituent(ann, {"UserName": "ann"})
        result = one(
            services.update(
                user,
                "Constituent",
                [
                    {
                        "ConsId": ann,
                        "MemberId": "RE-1",
                        "UserName": "Ann",
                        "PrimaryEmail": "Ann@Example.org",
                        "HomePhone": "555",
                    }
                ],
            )
        )
        assert (result.code, result.message) == ("OK", "User updated.")
        cons = directory.get(ann)
        assert cons is not None
        assert cons.home_phone == "555"
        twin_record = directory.get(twin)
        assert twin_record is not None
        assert twin_record.primary_email == "ann@example.org"


class TestDelete:
    """Delete marks the constituent Removed."""

    def test_delete(
        self, services: WebServices, user: ApiUser, directory: ConstituentDirectory
    ) -> None:
        cons_id = services.add_constituent({"MemberId": "RE-1", "PrimaryEmail": "a@example.org"})
        result = one(services.delete(user, "Constituent", [{"MemberId": "RE-1"}]))
        assert (result.code, result.message) == ("OK", "User deleted.")
        assert result.record == {
            "ConsId": cons_id,
            "MemberId": "RE-1",
            "PrimaryEmail": "a@example.org",
        }
        cons = directory.get(cons_id)
        assert cons is not None
        assert cons.status == "Removed"
        again = one(services.delete(user, "Constituent", [{"ConsId": cons_id}]))
        assert again.code == "RECORD_NOT_FOUND"

    def test_writes_are_made_by_the_api_user(
        self, services: WebServices, user: ApiUser, directory: ConstituentDirectory
    ) -> None:
        created = one(services.create(user, "Constituent", [{"PrimaryEmail": "a@example.org"}]))
        assert created.record is not None
        services.update(
            user, "Constituent", [{"ConsId": created.record["ConsId"], "HomePhone": "1"}]
        )
        services.delete(user, "Constituent", [{"ConsId": created.record["ConsId"]}])
        assert [(e.kind, e.actor) for e in directory.log] == [
            ("insert", "sync-api"),
            ("update", "sync-api"),
            ("delete", "sync-api"),
        ]
        assert DEFAULT_PARTITION_ID == 1001
