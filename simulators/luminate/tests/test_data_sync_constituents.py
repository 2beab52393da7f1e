"""Constituents go to RE only through the On Demand triggers that are switched on, are held back
while pending PREDUP, with an RnR match or without a last name, and carry biographical and
address columns only when they changed since they were last sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from luminate_simulator.data_sync_export import CONSTITUENT_COLUMNS
from syncframe_simulators.file_server import FileServer

from simulators.luminate.tests.conftest import TNS, SoapClient
from simulators.luminate.tests.test_data_sync_support import SyncSite, names, open_site, read_rows
from simulators.luminate.tests.test_soap_records import constituent as soap_constituent
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def file_server() -> Iterator[FileServer]:
    with FileServer() as server:
        yield server


@pytest.fixture
async def site(file_server: FileServer, sim_clock: ManualClock) -> AsyncIterator[SyncSite]:
    async with open_site(file_server, sim_clock) as made:
        yield made


ANN = {
    "MEMBER_ID": "8",
    "EXCHANGE_ID": "RE-8",
    "FIRST_NAME": "Ann",
    "MIDDLE_NAME": "B",
    "LAST_NAME": "Lee",
    "PRIMARY_EMAIL": "ann@example.org",
    "HOME_STREET1": "1 Main St",
    "HOME_CITY": "Austin",
    "HOME_STATEPROV": "TX",
    "HOME_ZIP": "78701",
    "HOME_COUNTRY": "US",
    "HOME_PHONE": "512-555-0100",
}


def row(cons_id: int, reason: str, **values: str) -> dict[str, str]:
    """A row of Luminate's constituents file: blank unless given."""
    cells = {column: values.get(column, "") for column in CONSTITUENT_COLUMNS}
    return {**cells, "CONS_ID": str(cons_id), "REASON": reason}


async def view(site: SyncSite, cons_id: int) -> dict[str, Any]:
    answer: dict[str, Any] = await site.admin.post(f"/luminate/constituents/{cons_id}/view", {})
    return answer


class TestProfileViewedOrModified:
    """Constituent360: viewing or editing a profile sends it at once when the switch is on."""

    async def test_a_viewed_profile_is_pushed_at_once(self, site: SyncSite) -> None:
        await site.create_operation(profile_viewed_or_modified=True)
        ann = await site.constituent(**ANN)
        answer = await view(site, ann)

        push = answer["on_demand"]["push"]
        assert (answer["on_demand"]["trigger"], answer["on_demand"]["queued"]) == (
            "profile_viewed",
            1,
        )
        assert (push["trigger"], push["status"], push["collected"]) == (
            "profile_viewed",
            "Completed",
            ["luminate_1_constituents.csv"],
        )
        assert names(push) == ["luminate_1_constituents.csv"]
        assert site.connector.rows("luminate_1_constituents.csv") == [
            row(ann, "profile_viewed", ACCEPTS_EMAIL="FALSE", **ANN)
        ]
        # An On Demand push is steps 3 and 4 only: no upload call.
        assert [call for call, _, _ in site.connector.calls] == ["download"]
        assert site.state()["queued_constituents"] == []

    async def test_only_changed_columns_are_sent_again(self, site: SyncSite) -> None:
        await site.create_operation(profile_viewed_or_modified=True)
        ann = await site.constituent(**ANN)
        await view(site, ann)
        response = await site.admin.request(
            "PATCH",
            f"/luminate/constituents/{ann}",
            json={"HomeAddress": {"City": "Dallas"}, "ConsName": {"FirstName": "Anne"}},
        )
        answer = response.json()

        assert answer["on_demand"]["push"]["status"] == "Completed"
        assert site.connector.rows("luminate_2_constituents.csv") == [
            row(
                ann,
                "profile_modified",
                MEMBER_ID="8",
                EXCHANGE_ID="RE-8",
                FIRST_NAME="Anne",
                LAST_NAME="Lee",
                PRIMARY_EMAIL="ann@example.org",
                HOME_CITY="Dallas",
            )
        ]
        await view(site, ann)  # nothing changed since: only the always-sent columns
        assert site.connector.rows("luminate_3_constituents.csv") == [
            row(
                ann,
                "profile_viewed",
                MEMBER_ID="8",
                EXCHANGE_ID="RE-8",
                FIRST_NAME="Anne",
                LAST_NAME="Lee",
                PRIMARY_EMAIL="ann@example.org",
            )
        ]

    async def test_switched_off_nothing_is_queued(self, site: SyncSite) -> None:
        await site.create_operation(new_registration=True, group_offline_segment=True)
        ann = await site.constituent(**ANN)
        answer = await view(site, ann)
        assert answer["on_demand"] == {
            "trigger": "profile_viewed",
            "queued": 0,
            "push": None,
            "deferred": False,
        }
        patched = await site.admin.request(
            "PATCH", f"/luminate/constituents/{ann}", json={"HomePhone": "1"}
        )
        assert patched.json() == {"ConsId": ann}
        result = await site.run()
        assert not any(n.endswith("_constituents.csv") and "luminate" in n for n in names(result))
        assert site.state()["queued_constituents"] == []

    async def test_a_push_during_a_run_waits_for_the_next_run(self, site: SyncSite) -> None:
        await site.create_operation(profile_viewed_or_modified=True)
        ann = await site.constituent(**ANN)
        sync = site.sim.data_sync
        assert sync._busy.acquire(blocking=False)  # a run in progress
        try:
            answer = await view(site, ann)
        finally:
            sync._busy.release()
        assert answer["on_demand"] == {
            "trigger": "profile_viewed",
            "queued": 1,
            "push": None,
            "deferred": True,
        }
        result = await site.run()
        assert "luminate_1_constituents.csv" in result["collected"]
        assert [r["REASON"] for r in site.connector.rows("luminate_1_constituents.csv")] == [
            "profile_viewed"
        ]

    async def test_a_removed_constituent_is_not_sent(self, site: SyncSite) -> None:
        await site.create_operation(profile_viewed_or_modified=False)
        ann = await site.constituent(**ANN)
        await site.settings(profile_viewed_or_modified=True)
        sync = site.sim.data_sync
        assert sync._busy.acquire(blocking=False)
        try:
            await view(site, ann)  # queued, the push deferred
        finally:
            sync._busy.release()
        await site.admin.request("DELETE", f"/luminate/constituents/{ann}")
        result = await site.run()
        assert (
            "Queued constituents removed from Luminate since and not sent: 1"
            in (result["messages"])
        )
        assert site.state()["queued_constituents"] == []


class TestNewRegistrations:
    """A constituent created in Luminate (not by the connector's upload) is a registration."""

    async def test_an_admin_created_constituent_is_pushed(self, site: SyncSite) -> None:
        await site.create_operation(new_registration=True)
        made = await site.admin.post(
            "/luminate/constituents",
            {"PRIMARY_EMAIL": "cy@example.org", "FIRST_NAME": "Cy", "LAST_NAME": "Diaz"},
        )
        push = made["on_demand"]["push"]
        assert (made["on_demand"]["trigger"], push["status"]) == ("new_registration", "Completed")
        assert site.connector.rows("luminate_1_constituents.csv") == [
            row(
                made["ConsId"],
                "new_registration",
                FIRST_NAME="Cy",
                LAST_NAME="Diaz",
                PRIMARY_EMAIL="cy@example.org",
                ACCEPTS_EMAIL="FALSE",
            )
        ]

    async def test_a_soap_create_is_a_registration(self, site: SyncSite) -> None:
        await site.create_operation(new_registration=True)
        await site.admin.post("/luminate/api-users", {"name": "api", "password": "pw"})
        soap = SoapClient(site.sim.client())
        await soap.login("api", "pw")
        await soap.ok(
            f'<Create xmlns="{TNS}">'
            + soap_constituent(PrimaryEmail="dee@example.org", ConsName__LastName="Dee")
            + "</Create>"
        )
        (result,) = site.sim.data_sync.result_list()
        assert (result.trigger, result.status) == ("new_registration", "Completed")
        rows = site.connector.rows("luminate_1_constituents.csv")
        assert [(r["PRIMARY_EMAIL"], r["REASON"]) for r in rows] == [
            ("dee@example.org", "new_registration")
        ]

    async def test_a_standard_upload_registers_its_new_records(self, site: SyncSite) -> None:
        await site.create_operation(new_registration=True)
        client = site.sim.client()
        uploaded = await client.post(
            "/_admin/luminate/uploads",
            params={"filename": "marchDS.csv"},
            content=b"PRIMARY_EMAIL,LAST_NAME\r\nup@example.org,Up\r\n",
        )
        assert uploaded.json()["created"] == 1
        (result,) = site.sim.data_sync.result_list()
        assert result.trigger == "new_registration"
        rows = site.connector.rows("luminate_1_constituents.csv")
        assert [(r["PRIMARY_EMAIL"], r["REASON"]) for r in rows] == [
            ("up@example.org", "new_registration")
        ]

    async def test_a_soap_update_is_not_a_constituent360_edit(self, site: SyncSite) -> None:
        await site.create_operation(profile_viewed_or_modified=True)
        ann = await site.constituent(**ANN)
        await site.admin.post("/luminate/api-users", {"name": "api", "password": "pw"})
        soap = SoapClient(site.sim.client())
        await soap.login("api", "pw")
        await soap.ok(
            f'<Update xmlns="{TNS}">'
            + soap_constituent(ConsId=str(ann), HomePhone="512-555-0199")
            + "</Update>"
        )
        assert site.sim.data_sync.result_list() == []
        assert site.state()["queued_constituents"] == []

    async def test_the_connectors_upload_is_not_a_registration(self, site: SyncSite) -> None:
        await site.create_operation(new_registration=True)
        site.connector.re_constituents = [
            {
                "MEMBER_ID": "9",
                "EXCHANGE_ID": "RE-9",
                "LAST_NAME": "Kim",
                "PRIMARY_EMAIL": "k@example.org",
            }
        ]
        result = await site.run()
        assert result["collected"] == []
        assert [r.trigger for r in site.sim.data_sync.result_list()] == ["run_now"]
        assert site.state()["queued_constituents"] == []

    async def test_seeded_and_switched_off_registrations_are_not_queued(
        self, site: SyncSite
    ) -> None:
        await site.create_operation()
        await site.admin.post("/luminate/constituents", {"PRIMARY_EMAIL": "old@example.org"})
        await site.settings(new_registration=True)
        await site.constituent(PRIMARY_EMAIL="seeded@example.org", LAST_NAME="Seed")
        result = await site.run()
        assert result["collected"] == []
        assert site.state()["queued_constituents"] == []

    async def test_pending_predup_waits_until_resolved(self, site: SyncSite) -> None:
        await site.create_operation(new_registration=True, predup_match_enabled=True)
        made = await site.admin.post(
            "/luminate/constituents", {"PRIMARY_EMAIL": "eve@example.org", "LAST_NAME": "Eve"}
        )
        eve = made["ConsId"]
        assert made["on_demand"] == {
            "trigger": "new_registration",
            "queued": 1,
            "push": None,
            "deferred": False,
        }
        assert site.state()["pending_predup"] == [eve]

        held = await site.run()
        assert held["status"] == "Completed with errors"
        assert (
            "Number of constituents not downloaded because they are pending PREDUP (Resolve "
            "New Registrations): 1" in held["messages"]
        )
        assert read_rows(await site.file(held, "held_constituents_1.csv")) == [
            {
                "CONS_ID": str(eve),
                "QUEUED_BY": "new_registration",
                "SEGMENT": "",
                "REASON": "pending PREDUP (Resolve New Registrations)",
            }
        ]
        await site.admin.post(f"/luminate/data-sync/registrations/{eve}/resolve", {})
        sent = await site.run()
        assert sent["collected"] == ["luminate_2_constituents.csv"]
        assert [r["CONS_ID"] for r in site.connector.rows("luminate_2_constituents.csv")] == [
            str(eve)
        ]

    async def test_predup_alone_marks_pending_without_queueing(self, site: SyncSite) -> None:
        await site.create_operation(predup_match_enabled=True)
        made = await site.admin.post("/luminate/constituents", {"PRIMARY_EMAIL": "f@example.org"})
        assert "on_demand" not in made
        assert site.state()["pending_predup"] == [made["ConsId"]]
        assert site.state()["queued_constituents"] == []


class TestHolds:
    """RnR matches and missing last names hold a constituent back, reported with the reason."""

    async def test_an_rnr_match_holds_until_cleared(self, site: SyncSite) -> None:
        await site.create_operation(profile_viewed_or_modified=True)
        ann = await site.constituent(**ANN)
        twin = await site.constituent(PRIMARY_EMAIL="ann2@example.org", LAST_NAME="Lee")
        await site.admin.request(
            "PUT", f"/luminate/data-sync/rnr-matches/{ann}", json={"matched_cons_id": twin}
        )
        answer = await view(site, ann)
        assert answer["on_demand"]["push"] is None
        held = await site.run()
        assert (
            "Number of constituents not downloaded because of an RnR (Resolve New "
            "Registrations) match: 1" in held["messages"]
        )
        report = read_rows(await site.file(held, "held_constituents_1.csv"))
        assert (
            report[0]["REASON"] == f"RnR (Resolve New Registrations) match with constituent {twin}"
        )

        await site.admin.request("DELETE", f"/luminate/data-sync/rnr-matches/{ann}")
        sent = await site.run()
        assert sent["collected"] == ["luminate_2_constituents.csv"]

    async def test_no_last_name_is_never_sent(self, site: SyncSite) -> None:
        await site.create_operation(profile_viewed_or_modified=True)
        nameless = await site.constituent(PRIMARY_EMAIL="x@example.org", FIRST_NAME="X")
        await view(site, nameless)
        held = await site.run()
        assert (
            "Number of constituents not downloaded because they have no last name: 1"
            in held["messages"]
        )
        assert site.state()["queued_constituents"] == [
            {"cons_id": nameless, "reason": "profile_viewed"}
        ]
        await site.admin.request(
            "PATCH", f"/luminate/constituents/{nameless}", json={"ConsName": {"LastName": "Y"}}
        )
        assert site.connector.rows("luminate_2_constituents.csv")[0]["LAST_NAME"] == "Y"
        assert site.state()["queued_constituents"] == []

    async def test_rnr_input_is_checked(self, site: SyncSite) -> None:
        await site.create_operation()
        ann = await site.constituent(**ANN)
        client = site.sim.client()
        same = await client.put(
            f"/_admin/luminate/data-sync/rnr-matches/{ann}", json={"matched_cons_id": ann}
        )
        assert (same.status_code, "matched_cons_id" in same.json()["error"]) == (400, True)
        ghost = await client.put(
            f"/_admin/luminate/data-sync/rnr-matches/{ann}", json={"matched_cons_id": 5}
        )
        assert ghost.status_code == 404
        unresolved = await client.post(f"/_admin/luminate/data-sync/registrations/{ann}/resolve")
        assert unresolved.status_code == 400
        assert "not pending" in unresolved.json()["error"]


class TestOfflineSegments:
    """A group mapped to an RE offline segment sends its members and the assignment."""

    async def test_mapping_a_group_pushes_its_members(self, site: SyncSite) -> None:
        await site.create_operation(group_offline_segment=True)
        ann = await site.constituent(**ANN)
        bo = await site.constituent(PRIMARY_EMAIL="bo@example.org", LAST_NAME="Kim")
        group = await site.admin.post(
            "/luminate/groups", {"name": "Gala 2026", "members": [ann, bo]}
        )
        response = await site.admin.request(
            "PUT",
            f"/luminate/groups/{group['group_id']}/offline-segment",
            json={"segment": "GALA26"},
        )
        answer = response.json()

        assert answer["group"]["offline_segment"] == "GALA26"
        push = answer["on_demand"]["push"]
        assert (push["trigger"], push["status"]) == ("group_segment", "Completed")
        assert push["collected"] == ["luminate_1_constituents.csv", "luminate_1_segments.csv"]
        assert site.connector.rows("luminate_1_segments.csv") == [
            {"CONS_ID": str(ann), "EXCHANGE_ID": "RE-8", "SEGMENT": "GALA26"},
            {"CONS_ID": str(bo), "EXCHANGE_ID": "", "SEGMENT": "GALA26"},
        ]
        assert [r["REASON"] for r in site.connector.rows("luminate_1_constituents.csv")] == [
            "group_segment",
            "group_segment",
        ]

        cy = await site.constituent(PRIMARY_EMAIL="cy@example.org", LAST_NAME="Diaz")
        joined = await site.admin.post(
            f"/luminate/groups/{group['group_id']}/members", {"cons_ids": [cy]}
        )
        assert joined["on_demand"]["push"]["collected"] == [
            "luminate_2_constituents.csv",
            "luminate_2_segments.csv",
        ]
        assert site.connector.rows("luminate_2_segments.csv") == [
            {"CONS_ID": str(cy), "EXCHANGE_ID": "", "SEGMENT": "GALA26"}
        ]

    async def test_switched_off_the_mapping_is_kept_but_nothing_sent(self, site: SyncSite) -> None:
        await site.create_operation()
        ann = await site.constituent(**ANN)
        group = await site.admin.post("/luminate/groups", {"name": "Gala", "members": [ann]})
        response = await site.admin.request(
            "PUT", f"/luminate/groups/{group['group_id']}/offline-segment", json={"segment": "GALA"}
        )
        assert response.json()["on_demand"]["queued"] == 0
        result = await site.run()
        assert result["collected"] == []
        assert site.state()["groups"][0]["offline_segment"] == "GALA"

    async def test_group_input_is_checked(self, site: SyncSite) -> None:
        await site.create_operation()
        client = site.sim.client()
        unknown = await client.post("/_admin/luminate/groups", json={"name": "G", "members": [42]})
        assert (unknown.status_code, "members" in unknown.json()["error"]) == (404, True)
        made = (await client.post("/_admin/luminate/groups", json={"name": "G"})).json()
        twice = await client.post("/_admin/luminate/groups", json={"name": "g"})
        assert (twice.status_code, "name" in twice.json()["error"]) == (400, True)
        blank = await client.put(
            f"/_admin/luminate/groups/{made['group_id']}/offline-segment", json={"segment": " "}
        )
        assert (blank.status_code, "segment" in blank.json()["error"]) == (400, True)
