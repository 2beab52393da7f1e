"""The Luminate admin routes (``/_admin/luminate/...``): site-admin actions, the constituent
upload end to end, and bad input answered with JSON naming the field."""

from __future__ import annotations

import csv
import gc
import io
import tempfile
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from luminate_simulator.app import LuminateSimulator
from luminate_simulator.constituent_import import REMOVED_MESSAGE

from simulators.luminate.tests.conftest import SoapClient
from simulators.luminate.tests.test_soap_sync import end_sync, incremental, start_sync
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


async def admin_call(sim: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """An admin request whose error answers the test inspects itself."""
    client: httpx.AsyncClient = sim.client()
    return await client.request(method, f"/_admin/luminate{path}", **kwargs)


class TestBadInput:
    """Bad admin input: 400 / 404 / 422 with ``{"error": ...}`` naming the field."""

    @pytest.mark.parametrize(
        ("path", "payload", "status", "names"),
        [
            ("/api-users", {"name": "x"}, 422, "password"),
            ("/api-users", {"name": "x", "password": "p", "role": "admin"}, 422, "role"),
            ("/partitions", {"name": "CA", "rule": ["ShoeSize", "9"]}, 400, "rule"),
            ("/refunds", {"transaction_id": 1, "online": "maybe"}, 422, "online"),
            ("/refunds", {"transaction_id": 424242, "online": True}, 404, "transaction_id"),
            ("/constituents", {"ShoeSize": 9}, 400, "ShoeSize"),
            ("/transactions/Donation", {"Payment": {"Amount": "5"}}, 400, "Donor"),
            ("/transactions/Pledge", {}, 404, "record_type"),
            ("/associated/Donation", {}, 404, "record_type"),
        ],
    )
    async def test_json_error_names_the_field(
        self, luminate_simulator: Any, path: str, payload: Any, status: int, names: str
    ) -> None:
        response = await admin_call(luminate_simulator, "POST", path, json=payload)
        assert response.status_code == status, response.text
        assert names in response.json()["error"]

    async def test_body_that_is_not_json(self, luminate_simulator: Any) -> None:
        response = await admin_call(
            luminate_simulator, "POST", "/api-users", content=b"{name: x", headers={}
        )
        assert response.status_code == 400
        assert "JSON" in response.json()["error"]

    async def test_unknown_constituent(self, luminate_simulator: Any) -> None:
        response = await admin_call(
            luminate_simulator, "PATCH", "/constituents/77", json={"HomePhone": "1"}
        )
        assert response.status_code == 404
        response = await admin_call(luminate_simulator, "DELETE", "/constituents/abc")
        assert response.status_code == 400
        assert "cons_id" in response.json()["error"]

    async def test_api_user_twice(self, luminate_simulator: Any) -> None:
        payload = {"name": "api", "password": "pw"}
        assert (
            await admin_call(luminate_simulator, "POST", "/api-users", json=payload)
        ).status_code == 201
        response = await admin_call(luminate_simulator, "POST", "/api-users", json=payload)
        assert response.status_code == 400
        assert "name" in response.json()["error"]

    async def test_api_user_password_never_shown(self, luminate_simulator: Any) -> None:
        await admin_call(
            luminate_simulator, "POST", "/api-users", json={"name": "api", "password": "hunter2"}
        )
        state = await luminate_simulator.admin().state()
        assert "hunter2" not in str(state)


class TestSiteAdminActions:
    """What the admin routes change is what the web services then see."""

    async def test_partition_with_a_rule_limits_downloads(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        created = await luminate_simulator.admin().post(
            "/luminate/partitions",
            {"name": "California", "rule": ["HomeAddress.State", "CA"], "partition_id": 2001},
        )
        assert created == {
            "partition_id": 2001,
            "name": "California",
            "description": "",
            "rule": ["HomeAddress.State", "CA"],
        }
        admin = luminate_simulator.admin()
        ca = await admin.post(
            "/luminate/constituents",
            {"PrimaryEmail": "ca@example.org", "HomeAddress": {"State": "CA"}},
        )
        await admin.post(
            "/luminate/constituents",
            {"PrimaryEmail": "ny@example.org", "HomeAddress": {"State": "NY"}},
        )
        sim_clock.advance(minutes=1)
        await session.ok(start_sync(2001))
        inserts = await session.records(
            incremental("Inserts", "Constituent", ["ConsId"], partition=2001)
        )
        assert [r["ConsId"] for _, r in inserts] == [str(ca["ConsId"])]

    async def test_associated_record_is_found_by_query(
        self, session: SoapClient, luminate_simulator: Any
    ) -> None:
        made = await luminate_simulator.admin().post(
            "/luminate/associated/TeamRaiserEvent", {"Name": "River Walk"}
        )
        event_id = made["EventId"]
        records = await session.records(
            '<Query xmlns="urn:soap.convio.com"><QueryString>select EventId, Name from '
            f"TeamRaiserEvent where EventId = {event_id}</QueryString><Page>1</Page>"
            "<PageSize>10</PageSize></Query>"
        )
        assert records == [("TeamRaiserEvent", {"EventId": str(event_id), "Name": "River Walk"})]

    async def test_every_transaction_type_is_downloadable(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        admin = luminate_simulator.admin()
        donor = (await admin.post("/luminate/constituents", {"PrimaryEmail": "d@example.org"}))[
            "ConsId"
        ]
        people = {
            "ActionAlertResponse": "Constituent",
            "Donation": "Donor",
            "PersonalFundraisingGift": "Donor",
            "ProductOrder": "Donor",
            "TeamRaiserGift": "Donor",
            "TeamRaiserRegistration": "Participant",
            "TicketPurchase": "Purchaser",
        }
        made = {}
        for record_type, person in people.items():
            record: dict[str, Any] = {person: {"ConsId": donor}}
            if record_type != "ActionAlertResponse":
                record["Payment"] = {"Amount": "12.00"}
            answer = await admin.post(f"/luminate/transactions/{record_type}", record)
            made[record_type] = answer
        sim_clock.advance(minutes=1)
        await session.ok(start_sync())
        for record_type, person in people.items():
            id_field = "ResponseId" if record_type == "ActionAlertResponse" else "TransactionId"
            records = await session.records(
                incremental("Inserts", record_type, [id_field, f"{person}.ConsId"])
            )
            assert records == [
                (
                    record_type,
                    {id_field: str(made[record_type][id_field]), person: {"ConsId": str(donor)}},
                )
            ], record_type

    async def test_removed_by_a_site_admin_is_a_delete(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        admin = luminate_simulator.admin()
        cons = await admin.post("/luminate/constituents", {"PrimaryEmail": "r@example.org"})
        sim_clock.advance(minutes=1)
        await session.ok(start_sync())
        await session.ok(end_sync())
        removed = await admin.request("DELETE", f"/luminate/constituents/{cons['ConsId']}")
        assert removed.json() == {"ConsId": cons["ConsId"], "status": "Removed"}
        sim_clock.advance(minutes=1)
        await session.ok(start_sync())
        deletes = await session.records(incremental("Deletes", "Constituent", ["ConsId"]))
        assert [r["ConsId"] for _, r in deletes] == [str(cons["ConsId"])]


def upload_csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


class TestConstituentUpload:
    """``POST /_admin/luminate/uploads``: the standard upload, end to end."""

    async def test_upload_changes_what_the_web_services_download(
        self, session: SoapClient, luminate_simulator: Any, sim_clock: ManualClock
    ) -> None:
        admin = luminate_simulator.admin()
        kept = await admin.post(
            "/luminate/constituents",
            {"PrimaryEmail": "kept@example.org", "MemberId": "RE-1", "ConsName": {"LastName": "K"}},
        )
        gone = await admin.post("/luminate/constituents", {"PrimaryEmail": "gone@example.org"})
        await admin.request("DELETE", f"/luminate/constituents/{gone['ConsId']}")
        sim_clock.advance(minutes=1)
        await session.ok(start_sync())
        await session.ok(end_sync())
        sim_clock.advance(minutes=1)
        response = await admin_call(
            luminate_simulator,
            "POST",
            "/uploads?filename=marchDS.csv",
            content=upload_csv(
                [
                    ["CONS_ID", "MEMBER_ID", "PRIMARY_EMAIL", "FIRST_NAME", "LAST_NAME"],
                    ["", "RE-1", "", "Katherine", ""],
                    ["", "RE-2", "new@example.org", "Nova", "New"],
                    [str(gone["ConsId"]), "", "", "Ghost", ""],
                ]
            ),
            headers={"Content-Type": "text/csv"},
        )
        assert response.status_code == 201, response.text
        report = response.json()
        assert {k: report[k] for k in ("rows", "created", "updated", "rejected", "aborted")} == {
            "rows": 3,
            "created": 1,
            "updated": 1,
            "rejected": 1,
            "aborted": None,
        }
        errors = await admin_call(
            luminate_simulator, "GET", f"/uploads/{report['upload_id']}/errors.csv"
        )
        assert errors.status_code == 200
        assert errors.headers["content-type"].startswith("text/csv")
        lines = list(csv.reader(io.StringIO(errors.text)))
        assert lines[0][:2] == ["LINE_NUMBER", "ERROR_MESSAGE"]
        assert lines[1][:3] == ["4", REMOVED_MESSAGE, str(gone["ConsId"])]
        assert report["errors_csv"] == f"/_admin/luminate/uploads/{report['upload_id']}/errors.csv"

        sim_clock.advance(minutes=1)
        await session.ok(start_sync())
        fields = ["ConsId", "MemberId", "ConsName.FirstName"]
        inserts = await session.records(incremental("Inserts", "Constituent", fields))
        assert [(r["MemberId"], r["ConsName"]["FirstName"]) for _, r in inserts] == [
            ("RE-2", "Nova")
        ]
        updates = await session.records(incremental("Updates", "Constituent", fields))
        assert [(r["ConsId"], r["ConsName"]["FirstName"]) for _, r in updates] == [
            (str(kept["ConsId"]), "Katherine")
        ]
        again = await admin_call(luminate_simulator, "GET", f"/uploads/{report['upload_id']}")
        assert again.json() == report

    async def test_invalid_header_aborts_and_names_the_header(
        self, luminate_simulator: Any
    ) -> None:
        response = await admin_call(
            luminate_simulator,
            "POST",
            "/uploads",
            content=upload_csv([["PRIMARY_EMAIL", "SHOE_SIZE"], ["a@example.org", "9"]]),
        )
        assert response.status_code == 422
        body = response.json()
        assert "SHOE_SIZE" in body["error"]
        assert body["aborted"] == body["error"]
        assert body["rows"] == 0
        state = await luminate_simulator.admin().state()
        assert state["constituents"] == []

    async def test_upload_without_rejections_has_no_errors_file(
        self, luminate_simulator: Any
    ) -> None:
        response = await admin_call(
            luminate_simulator,
            "POST",
            "/uploads",
            content=upload_csv([["PRIMARY_EMAIL", "LAST_NAME"], ["a@example.org", "A"]]),
        )
        assert response.status_code == 201
        report = response.json()
        assert report["errors_csv"] is None
        errors = await admin_call(
            luminate_simulator, "GET", f"/uploads/{report['upload_id']}/errors.csv"
        )
        assert errors.status_code == 404

    async def test_bad_file_name_and_unknown_upload(self, luminate_simulator: Any) -> None:
        response = await admin_call(
            luminate_simulator, "POST", "/uploads?filename=../../etc/x.csv", content=b"A\r\n"
        )
        assert response.status_code == 400
        assert "filename" in response.json()["error"]
        response = await admin_call(luminate_simulator, "GET", "/uploads/99")
        assert response.status_code == 404
        assert "upload_id" in response.json()["error"]

    async def test_reset_forgets_uploads(self, luminate_simulator: Any) -> None:
        await admin_call(
            luminate_simulator,
            "POST",
            "/uploads",
            content=upload_csv([["PRIMARY_EMAIL", "LAST_NAME"], ["a@example.org", "A"]]),
        )
        assert len((await luminate_simulator.admin().state())["uploads"]) == 1
        await luminate_simulator.admin().reset()
        state = await luminate_simulator.admin().state()
        assert state["uploads"] == []
        assert state["constituents"] == []


class TestUploadHousekeeping:
    """Uploads share the state lock with the web services and leave no files behind."""

    async def test_an_upload_waits_for_the_state_lock_and_the_server_stays_responsive(
        self, luminate_simulator: Any
    ) -> None:
        finished: list[httpx.Response] = []
        done = anyio.Event()

        async def upload() -> None:
            finished.append(
                await admin_call(
                    luminate_simulator,
                    "POST",
                    "/uploads",
                    content=upload_csv([["PRIMARY_EMAIL", "LAST_NAME"], ["a@example.org", "A"]]),
                )
            )
            done.set()

        # Whoever holds the lock (a SOAP call, a test reading the state) keeps the import out.
        with luminate_simulator.services.lock:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(upload)
                await anyio.sleep(0.2)
                assert finished == []
                assert len(luminate_simulator.directory) == 0
                # ...while the event loop still answers the kit's admin routes.
                health = await luminate_simulator.client().get("/_admin/health")
                assert health.status_code == 200
                luminate_simulator.services.lock.release()
                try:
                    with anyio.fail_after(5):
                        await done.wait()
                finally:
                    luminate_simulator.services.lock.acquire()
        assert finished[0].status_code == 201, finished[0].text
        assert len(luminate_simulator.directory) == 1

    def test_upload_folder_is_made_on_demand_and_removed_with_the_simulator(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where mkdtemp makes folders
        simulator = LuminateSimulator(clock=ManualClock())
        assert list(tmp_path.iterdir()) == []

        async def upload(simulator: LuminateSimulator) -> None:
            async with simulator.client() as client:
                response = await client.post(
                    "/_admin/luminate/uploads",
                    content=upload_csv([["PRIMARY_EMAIL", "LAST_NAME"], ["bad", "A"]]),
                )
                assert response.status_code == 201, response.text

        anyio.run(upload, simulator)
        (folder,) = tmp_path.iterdir()
        assert [p.name for p in folder.rglob("*")] == ["1", "errors.csv"]
        simulator.reset()
        assert list(tmp_path.iterdir()) == []
        anyio.run(upload, simulator)
        assert len(list(tmp_path.iterdir())) == 1
        del simulator
        gc.collect()
        assert list(tmp_path.iterdir()) == []
