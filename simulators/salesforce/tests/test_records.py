"""Contact rows over the REST API: create, retrieve, update, delete, upsert by external id,
and the refusals Salesforce answers with its error list."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from salesforce_simulator import SalesforceSimulator

from simulators.salesforce.tests.conftest import API, Org, error_of, open_session
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

JANE = {"FirstName": "Jane", "LastName": "Doe", "Email": "jane.doe@example.org"}


class TestCreateAndRetrieve:
    """POST sobjects/Contact and GET sobjects/Contact/{Id}."""

    async def test_create_answers_the_new_id_and_stamps_the_record(
        self, org: Org, sim_clock: ManualClock
    ) -> None:
        answer = await org.post("/sobjects/Contact/", {**JANE, "RE_Constituent_ID__c": "10042"})
        assert answer.status_code == 201
        body = answer.json()
        assert body == {"id": body["id"], "success": True, "errors": []}
        stored = org.stored(body["id"])
        user_id = org.sim.identity.user_named("integration@example.org").id  # type: ignore[union-attr]
        assert stored["Name"] == "Jane Doe"
        assert stored["RE_Constituent_ID__c"] == "10042"
        assert stored["HasOptedOutOfEmail"] is False
        assert stored["IsDeleted"] is False
        assert stored["CreatedDate"] == stored["LastModifiedDate"] == stored["SystemModstamp"]
        assert stored["CreatedDate"] == "2026-01-01T09:00:00.000+0000"
        assert stored["CreatedById"] == stored["LastModifiedById"] == stored["OwnerId"] == user_id

    async def test_get_returns_every_field_with_attributes(self, org: Org) -> None:
        record_id = await org.create(**JANE)
        answer = await org.get(f"/sobjects/Contact/{record_id}")
        assert answer.status_code == 200
        record = answer.json()
        assert list(record)[:3] == ["attributes", "Id", "IsDeleted"]
        assert record["attributes"] == {
            "type": "Contact",
            "url": f"{API}/sobjects/Contact/{record_id}",
        }
        assert record["Email"] == "jane.doe@example.org"
        assert record["MailingCity"] is None
        assert set(record) - {"attributes"} == {f.name for f in org.sim.store.sobject.fields}

    async def test_get_some_fields_by_a_15_character_id(self, org: Org) -> None:
        record_id = await org.create(**JANE)
        answer = await org.get(f"/sobjects/Contact/{record_id[:15]}", fields="Email,lastname")
        assert answer.json() == {
            "attributes": {"type": "Contact", "url": f"{API}/sobjects/Contact/{record_id}"},
            "Email": "jane.doe@example.org",
            "LastName": "Doe",
        }

    async def test_an_unknown_field_in_fields(self, org: Org) -> None:
        record_id = await org.create(**JANE)
        status, code, message = error_of(
            await org.get(f"/sobjects/Contact/{record_id}", fields="Email,Foo")
        )
        assert (status, code) == (400, "INVALID_FIELD")
        assert message.startswith("No such column 'Foo' on entity 'Contact'.")

    async def test_empty_text_is_stored_as_null_and_numbers_as_text(self, org: Org) -> None:
        record_id = await org.create(LastName="Doe", Email="", MailingPostalCode=2134)
        stored = org.stored(record_id)
        assert (stored["Email"], stored["MailingPostalCode"]) == (None, "2134")

    async def test_the_basic_information_and_describe(self, org: Org) -> None:
        info = (await org.get("/sobjects/Contact/")).json()
        assert info["objectDescribe"]["keyPrefix"] == "003"
        assert info["recentItems"] == []
        describe = (await org.get("/sobjects/Contact/describe")).json()
        fields = {field["name"]: field for field in describe["fields"]}
        assert fields["RE_Constituent_ID__c"]["externalId"] is True
        assert fields["RE_Constituent_ID__c"]["unique"] is True
        assert fields["LastName"]["nillable"] is False
        assert fields["LastName"]["length"] == 80
        assert fields["Email"]["type"] == "email"
        assert fields["SystemModstamp"]["createable"] is False
        describe_global = (await org.get("/sobjects/")).json()
        assert [s["name"] for s in describe_global["sobjects"]] == ["Contact"]


class TestCreateRefusals:
    """Each refusal names the field, with Salesforce's code, and nothing is stored."""

    @pytest.mark.parametrize(
        ("body", "status", "code", "message", "fields"),
        [
            (
                {"FirstName": "Jane"},
                400,
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [LastName]",
                ["LastName"],
            ),
            (
                {"LastName": "x" * 81},
                400,
                "STRING_TOO_LONG",
                f"Last Name: data value too large: {'x' * 81} (max length=80)",
                ["LastName"],
            ),
            (
                {"LastName": "Doe", "Email": "jane at example"},
                400,
                "INVALID_EMAIL_ADDRESS",
                "Email: invalid email address: jane at example",
                ["Email"],
            ),
            (
                {"LastName": "Doe", "AccountId": "003000000000000"},
                400,
                "MALFORMED_ID",
                "Account ID: id value of incorrect type: 003000000000000",
                ["AccountId"],
            ),
            (
                {"LastName": "Doe", "CreatedDate": "2020-01-01T00:00:00Z", "Name": "x"},
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                "Unable to create/update fields: CreatedDate, Name. Please check the security "
                "settings of this field and verify that it is read/write for your profile or "
                "permission set.",
                ["CreatedDate", "Name"],
            ),
        ],
    )
    async def test_field_refusals(
        self, org: Org, body: dict[str, object], status: int, code: str, message: str,
        fields: list[str],
    ) -> None:  # fmt: skip
        answer = await org.post("/sobjects/Contact/", body)
        assert answer.json() == [{"message": message, "errorCode": code, "fields": fields}]
        assert answer.status_code == status
        assert org.sim.snapshot()["contacts"] == []

    @pytest.mark.parametrize(
        ("raw", "code", "message"),
        [
            (
                b'{"LastName": "Doe", "Emial": "x@y.org"}',
                "INVALID_FIELD",
                "No such column 'Emial' on sobject of type Contact",
            ),
            (
                b'{"LastName": "Doe", "HasOptedOutOfEmail": "yes"}',
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of boolean from VALUE_STRING value 'yes' or request "
                "may be missing a required field (field HasOptedOutOfEmail)",
            ),
            (
                b'{"LastName": ["Doe"]}',
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of string from START_ARRAY value ['Doe'] or request "
                "may be missing a required field (field LastName)",
            ),
            (
                b'{"LastName": "Doe"',
                "JSON_PARSER_ERROR",
                "Unexpected character: Expecting ',' delimiter at [line:1, column:19]",
            ),
            (b"", "JSON_PARSER_ERROR", "No content to map due to end-of-input"),
            (
                b'[{"LastName": "Doe"}]',
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of Contact out of START_ARRAY token",
            ),
        ],
    )
    async def test_body_refusals(self, org: Org, raw: bytes, code: str, message: str) -> None:
        answer = await org.http.post(f"{API}/sobjects/Contact/", content=raw, headers=org.auth)
        assert error_of(answer) == (400, code, message)
        assert org.sim.snapshot()["contacts"] == []

    async def test_a_duplicate_external_id_is_refused(self, org: Org) -> None:
        first = await org.create(LastName="Doe", RE_Constituent_ID__c="10042")
        answer = await org.post(
            "/sobjects/Contact/", {"LastName": "Roe", "RE_Constituent_ID__c": "10042"}
        )
        assert answer.json() == [
            {
                "message": "duplicate value found: RE_Constituent_ID__c duplicates value on "
                f"record with id: {first}",
                "errorCode": "DUPLICATE_VALUE",
                "fields": [],
            }
        ]
        assert [c["LastName"] for c in org.sim.snapshot()["contacts"]] == ["Doe"]

    async def test_an_unknown_sobject(self, org: Org) -> None:
        answer = await org.post("/sobjects/Account/", {"Name": "Acme"})
        assert error_of(answer) == (404, "NOT_FOUND", "The requested resource does not exist")


class TestUpdateAndDelete:
    """PATCH and DELETE sobjects/Contact/{Id}, the recycle bin."""

    async def test_update_changes_the_fields_and_stamps_the_record(
        self, org: Org, sim_clock: ManualClock
    ) -> None:
        record_id = await org.create(**JANE)
        sim_clock.advance(minutes=5)
        answer = await org.patch(
            f"/sobjects/Contact/{record_id}", {"MailingCity": "Leeds", "FirstName": "Janet"}
        )
        assert (answer.status_code, answer.content) == (204, b"")
        stored = org.stored(record_id)
        assert (stored["MailingCity"], stored["Name"]) == ("Leeds", "Janet Doe")
        assert stored["CreatedDate"] == "2026-01-01T09:00:00.000+0000"
        assert (
            stored["LastModifiedDate"] == stored["SystemModstamp"] == "2026-01-01T09:05:00.000+0000"
        )

    async def test_an_update_that_changes_nothing_still_stamps(
        self, org: Org, sim_clock: ManualClock
    ) -> None:
        record_id = await org.create(**JANE)
        sim_clock.advance(seconds=30)
        assert (await org.patch(f"/sobjects/Contact/{record_id}", {})).status_code == 204
        assert org.stored(record_id)["SystemModstamp"] == "2026-01-01T09:00:30.000+0000"

    async def test_clearing_a_required_field_is_refused(self, org: Org) -> None:
        record_id = await org.create(**JANE)
        answer = await org.patch(f"/sobjects/Contact/{record_id}", {"LastName": None})
        assert error_of(answer)[:2] == (400, "REQUIRED_FIELD_MISSING")
        assert org.stored(record_id)["LastName"] == "Doe"

    async def test_delete_moves_the_record_to_the_recycle_bin(
        self, org: Org, sim_clock: ManualClock
    ) -> None:
        record_id = await org.create(**JANE)
        sim_clock.advance(minutes=1)
        answer = await org.delete(f"/sobjects/Contact/{record_id}")
        assert answer.status_code == 204
        stored = org.stored(record_id)
        assert stored["IsDeleted"] is True
        assert stored["SystemModstamp"] == "2026-01-01T09:01:00.000+0000"
        assert org.sim.snapshot()["delete_log"] == [
            {"id": record_id, "deletedDate": "2026-01-01T09:01:00.000+0000"}
        ]
        for call in (
            org.get(f"/sobjects/Contact/{record_id}"),
            org.patch(f"/sobjects/Contact/{record_id}", {"FirstName": "x"}),
            org.delete(f"/sobjects/Contact/{record_id}"),
        ):
            assert error_of(await call) == (404, "ENTITY_IS_DELETED", "entity is deleted")

    @pytest.mark.parametrize(
        ("segment", "status", "code", "message"),
        [
            ("003Rs000000zzzzAAA", 404, "NOT_FOUND", "The requested resource does not exist"),
            (
                "003Rs000000zzzzZZZ",
                400,
                "MALFORMED_ID",
                "Contact ID: id value of incorrect type: 003Rs000000zzzzZZZ",
            ),
            ("001Rs0000000001AAA", 404, "NOT_FOUND", "The requested resource does not exist"),
            (
                "jane",
                404,
                "NOT_FOUND",
                "Provided external ID field does not exist or is not accessible: jane",
            ),
        ],
    )
    async def test_ids_that_name_no_contact(
        self, org: Org, segment: str, status: int, code: str, message: str
    ) -> None:
        assert error_of(await org.get(f"/sobjects/Contact/{segment}")) == (status, code, message)


class TestExternalId:
    """sobjects/Contact/RE_Constituent_ID__c/{value}: read, upsert, delete."""

    async def test_upsert_creates_then_updates(self, org: Org, sim_clock: ManualClock) -> None:
        path = "/sobjects/Contact/RE_Constituent_ID__c/10042"
        created = await org.patch(path, JANE)
        assert created.status_code == 201
        record_id = created.json()["id"]
        assert created.json() == {"id": record_id, "success": True, "errors": [], "created": True}
        assert org.stored(record_id)["RE_Constituent_ID__c"] == "10042"
        sim_clock.advance(minutes=1)
        updated = await org.patch(path, {"MailingCity": "Leeds"})
        assert updated.status_code == 200
        assert updated.json() == {"id": record_id, "success": True, "errors": [], "created": False}
        stored = org.stored(record_id)
        assert (stored["MailingCity"], stored["FirstName"]) == ("Leeds", "Jane")
        assert stored["SystemModstamp"] == "2026-01-01T09:01:00.000+0000"
        assert len(org.sim.snapshot()["contacts"]) == 1

    async def test_before_v46_an_update_answers_204_and_results_have_no_created(
        self, org: Org
    ) -> None:
        path = "/services/data/v45.0/sobjects/Contact/RE_Constituent_ID__c/7"
        created = await org.http.patch(path, json=JANE, headers=org.auth)
        assert (created.status_code, sorted(created.json())) == (201, ["errors", "id", "success"])
        updated = await org.http.patch(path, json={"Phone": "555"}, headers=org.auth)
        assert (updated.status_code, updated.content) == (204, b"")
        assert org.stored(created.json()["id"])["Phone"] == "555"

    async def test_the_value_matches_in_any_case_and_may_hold_a_slash(self, org: Org) -> None:
        created = await org.patch("/sobjects/Contact/re_constituent_id__c/AB%2F12", JANE)
        assert created.status_code == 201
        again = await org.patch("/sobjects/Contact/RE_Constituent_ID__c/ab%2F12", {"Title": "Dr"})
        assert again.json()["id"] == created.json()["id"]
        assert org.stored(created.json()["id"])["RE_Constituent_ID__c"] == "AB/12"

    async def test_update_only_does_not_create(self, org: Org) -> None:
        answer = await org.patch(
            "/sobjects/Contact/RE_Constituent_ID__c/1", JANE, updateOnly="true"
        )
        assert error_of(answer)[:2] == (404, "NOT_FOUND")
        assert org.sim.snapshot()["contacts"] == []

    async def test_a_body_value_that_contradicts_the_url(self, org: Org) -> None:
        answer = await org.patch(
            "/sobjects/Contact/RE_Constituent_ID__c/1", {**JANE, "RE_Constituent_ID__c": "2"}
        )
        assert error_of(answer)[:2] == (400, "INVALID_FIELD")
        assert org.sim.snapshot()["contacts"] == []

    async def test_a_field_that_is_not_an_external_id(self, org: Org) -> None:
        answer = await org.patch("/sobjects/Contact/Email/jane.doe@example.org", JANE)
        assert error_of(answer) == (
            404,
            "NOT_FOUND",
            "Provided external ID field does not exist or is not accessible: Email",
        )

    async def test_get_and_delete_by_external_id(self, org: Org) -> None:
        record_id = await org.create(**JANE, RE_Constituent_ID__c="10042")
        found = await org.get("/sobjects/Contact/RE_Constituent_ID__c/10042", fields="Id")
        assert found.json()["Id"] == record_id
        assert (await org.delete("/sobjects/Contact/RE_Constituent_ID__c/10042")).status_code == 204
        assert org.stored(record_id)["IsDeleted"] is True
        # A record in the recycle bin no longer matches: the value can be used again.
        again = await org.patch("/sobjects/Contact/RE_Constituent_ID__c/10042", JANE)
        assert again.status_code == 201
        assert again.json()["id"] != record_id

    async def test_id_as_the_external_id(self, org: Org) -> None:
        created = await org.post("/sobjects/Contact/Id", JANE)
        assert created.status_code == 201
        record_id = created.json()["id"]
        assert created.json() == {"id": record_id, "success": True, "errors": [], "created": True}
        updated = await org.patch(f"/sobjects/Contact/Id/{record_id}", {"Title": "Dr"})
        assert updated.json() == {"id": record_id, "success": True, "errors": [], "created": False}
        assert org.stored(record_id)["Title"] == "Dr"
        answer = await org.post(f"/sobjects/Contact/{record_id}", JANE)
        assert error_of(answer) == (
            405,
            "METHOD_NOT_ALLOWED",
            "HTTP Method 'POST' not allowed. Allowed are GET,PATCH,DELETE",
        )


async def test_several_matches_answer_300_with_their_urls(
    simulator_factory: Callable[..., SalesforceSimulator],
) -> None:
    """With a non-unique external id field several records may share a value."""
    sim = simulator_factory("salesforce", unique_external_id=False)
    sim.add_user("u@example.org", "pw")
    org = Org(sim, sim.client(), await open_session(sim, "u@example.org"))
    first = await org.create(LastName="Doe", RE_Constituent_ID__c="42")
    second = await org.create(LastName="Roe", RE_Constituent_ID__c="42")
    urls = [f"{API}/sobjects/Contact/{first}", f"{API}/sobjects/Contact/{second}"]
    upsert = await org.patch("/sobjects/Contact/RE_Constituent_ID__c/42", {"Title": "Dr"})
    assert (upsert.status_code, upsert.json()) == (300, urls)
    read = await org.get("/sobjects/Contact/RE_Constituent_ID__c/42")
    assert (read.status_code, read.json()) == (300, urls)
    assert [c["Title"] for c in sim.snapshot()["contacts"]] == [None, None]


async def test_unknown_resources_and_methods(org: Org) -> None:
    assert error_of(await org.get("/sobjects/Contact/003x/y/z"))[:2] == (404, "NOT_FOUND")
    assert error_of(await org.http.get("/services/data/v19.0/sobjects/", headers=org.auth))[:2] == (
        404,
        "NOT_FOUND",
    )
    answer = await org.http.put(f"{API}/sobjects/Contact/describe", headers=org.auth)
    assert error_of(answer) == (
        405,
        "METHOD_NOT_ALLOWED",
        "HTTP Method 'PUT' not allowed. Allowed are GET",
    )


async def test_versions_and_resources(org: Org) -> None:
    versions = (await org.http.get("/services/data/")).json()
    assert versions[0] == {"label": "Winter '11", "url": "/services/data/v20.0", "version": "20.0"}
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    assert versions[-1]["label"] == "Winter '26"
    resources = (await org.get("/")).json()
    assert resources["query"] == f"{API}/query"
    assert resources["sobjects"] == f"{API}/sobjects"


async def test_pretty_print(org: Org) -> None:
    record_id = await org.create(**JANE)
    plain = await org.http.get(f"{API}/sobjects/Contact/{record_id}", headers=org.auth)
    pretty = await org.http.get(
        f"{API}/sobjects/Contact/{record_id}", headers={**org.auth, "X-PrettyPrint": "1"}
    )
    assert b"\n" not in plain.content
    assert b'\n  "Id"' in pretty.content
    assert plain.json() == pretty.json()
    assert plain.headers["content-type"] == "application/json;charset=UTF-8"
