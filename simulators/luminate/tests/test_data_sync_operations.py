"""All Data Sync Operations: the RE connector's operation through the admin API, its schedule on
the simulator clock (``run-due``), and the ticker that runs it when the clock is real."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import anyio
import pytest
from luminate_simulator.app import LuminateSimulator
from luminate_simulator.data_sync_model import Schedule
from pydantic import ValidationError
from syncframe_simulators import SimulatorAdminError
from syncframe_simulators.file_server import FileServer

from simulators.luminate.tests.test_data_sync_support import (
    CONNECTOR_URL,
    FTP_PASSWORD,
    FakeConnector,
    SyncSite,
    open_site,
)
from syncframe.clock import ManualClock, SystemClock

pytestmark = pytest.mark.anyio

OPERATIONS = "/luminate/data-sync/operations"


@pytest.fixture(scope="module")
def file_server() -> Iterator[FileServer]:
    with FileServer() as server:
        yield server


@pytest.fixture
async def site(file_server: FileServer, sim_clock: ManualClock) -> AsyncIterator[SyncSite]:
    async with open_site(file_server, sim_clock) as made:
        yield made


async def refused(site: SyncSite, method: str, path: str, body: Any) -> tuple[int, str]:
    with pytest.raises(SimulatorAdminError) as error:
        await site.admin.request(method, path, json=body)
    return error.value.status, error.value.message


class TestOperations:
    """Create, list and edit the operation; secrets never come back."""

    async def test_create_and_list(self, site: SyncSite) -> None:
        created = await site.create_operation(teamraiser_registrations=True)
        assert created == {
            "operation_id": 1,
            "name": "RE Connector",
            "operation_file_name": "re_sync_v52.xml",
            "schedule": {"every_minutes": 60},
            "next_run_at": "2026-01-01T10:00:00Z",
            "connector_url": CONNECTOR_URL,
            "connector_key_set": False,
            "ftp": {
                "host": "127.0.0.1",
                "port": site.ftp.port,
                "user": site.user,
                "password_set": True,
                "timeout": 30.0,
            },
            "settings": {
                "teamraiser_registrations": True,
                "profile_viewed_or_modified": False,
                "cross_reference_mapping": False,
                "group_offline_segment": False,
                "new_registration": False,
                "predup_match_enabled": False,
            },
            "created_at": "2026-01-01T09:00:00Z",
            "last_result_id": None,
        }
        listed = await site.admin.get(OPERATIONS)
        assert listed == {"operations": [created]}
        assert FTP_PASSWORD not in str(await site.admin.state())

    async def test_every_on_demand_switch_is_off_unless_set(self, site: SyncSite) -> None:
        created = await site.create_operation()
        assert set(created["settings"].values()) == {False}

    async def test_edit_changes_only_what_is_given(self, site: SyncSite) -> None:
        await site.create_operation(new_registration=True)
        site.clock.advance(minutes=5)
        response = await site.admin.request(
            "PATCH",
            f"{OPERATIONS}/1",
            json={
                "operation_file_name": "syncframe_re_sync.xml",
                "schedule": {"daily_at": "02:30"},
                "connector_key": "k",
                "ftp": {"port": 2121},
                "settings": {"profile_viewed_or_modified": True},
            },
        )
        edited = response.json()
        assert edited["operation_file_name"] == "syncframe_re_sync.xml"
        assert (edited["schedule"], edited["next_run_at"]) == (
            {"daily_at": "02:30"},
            "2026-01-02T02:30:00Z",
        )
        assert (edited["connector_key_set"], edited["ftp"]["port"], edited["ftp"]["user"]) == (
            True,
            2121,
            site.user,
        )
        assert edited["settings"]["new_registration"] is True
        assert edited["settings"]["profile_viewed_or_modified"] is True
        cleared = (
            await site.admin.request(
                "PATCH", f"{OPERATIONS}/1", json={"schedule": None, "connector_key": None}
            )
        ).json()
        assert (cleared["schedule"], cleared["next_run_at"], cleared["connector_key_set"]) == (
            None,
            None,
            False,
        )

    @pytest.mark.parametrize(
        ("change", "status", "named"),
        [
            ({"operation_file_name": "re sync.xml"}, 422, "operation_file_name"),
            ({"operation_file_name": "re_sync_v52.txt"}, 422, "operation_file_name"),
            ({"connector_url": "ftp://host/x"}, 422, "connector_url"),
            ({"schedule": {"every_minutes": 0}}, 422, "schedule.every_minutes"),
            ({"schedule": {}}, 422, "schedule"),
            ({"schedule": {"every_minutes": 5, "daily_at": "01:00"}}, 422, "schedule"),
            ({"settings": {"teamraiser": True}}, 422, "settings.teamraiser"),
            ({"ftp": {"port": 0}}, 422, "ftp.port"),
            ({"name": None}, 400, "name"),
        ],
    )
    async def test_bad_input_names_the_field(
        self, site: SyncSite, change: dict[str, Any], status: int, named: str
    ) -> None:
        await site.create_operation()
        got, message = await refused(site, "PATCH", f"{OPERATIONS}/1", change)
        assert got == status
        assert named in message

    async def test_a_new_operation_needs_the_ftp_account(self, site: SyncSite) -> None:
        spec = site.operation_spec()
        del spec["ftp"]["password"]
        status, message = await refused(site, "POST", OPERATIONS, spec)
        assert (status, "ftp.password" in message) == (422, True)

    async def test_one_connector_per_site(self, site: SyncSite) -> None:
        await site.create_operation()
        status, message = await refused(site, "POST", OPERATIONS, site.operation_spec())
        assert status == 409
        assert "already has its Raiser's Edge connector data sync (operation 1" in message
        assert (await refused(site, "GET", f"{OPERATIONS}/7", None))[0] == 404


class TestSchedule:
    """The schedule fires on the simulator clock through run-due; run now leaves it alone."""

    def test_every_n_minutes(self) -> None:
        schedule = Schedule(every_minutes=30)
        start = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
        assert schedule.first_due(start) == start + timedelta(minutes=30)
        # Three slots missed: one run, and the next slot stays on the grid.
        assert schedule.next_due(start, start + timedelta(minutes=95)) == start + timedelta(
            minutes=120
        )

    def test_daily_at(self) -> None:
        schedule = Schedule(daily_at=time(2, 0))
        assert schedule.first_due(datetime(2026, 1, 1, 1, 0, tzinfo=UTC)) == datetime(
            2026, 1, 1, 2, 0, tzinfo=UTC
        )
        assert schedule.first_due(datetime(2026, 1, 1, 2, 0, tzinfo=UTC)) == datetime(
            2026, 1, 1, 2, 0, tzinfo=UTC
        )
        assert schedule.next_due(
            datetime(2026, 1, 1, 2, 0, tzinfo=UTC), datetime(2026, 1, 3, 5, 0, tzinfo=UTC)
        ) == datetime(2026, 1, 4, 2, 0, tzinfo=UTC)
        with pytest.raises(ValidationError, match="either every_minutes or daily_at"):
            Schedule()

    async def test_run_due_runs_when_the_time_comes(self, site: SyncSite) -> None:
        await site.create_operation()
        assert await site.admin.post("/luminate/data-sync/run-due", {}) == {"results": []}
        site.clock.advance(minutes=59)
        assert await site.admin.post("/luminate/data-sync/run-due", {}) == {"results": []}
        site.clock.advance(minutes=1)
        fired = await site.admin.post("/luminate/data-sync/run-due", {})
        assert [(r["result_id"], r["trigger"], r["status"]) for r in fired["results"]] == [
            (1, "schedule", "Completed")
        ]
        assert fired["results"][0]["started_at"] == "2026-01-01T10:00:00Z"
        operation = await site.admin.get(f"{OPERATIONS}/1")
        assert (operation["next_run_at"], operation["last_result_id"]) == (
            "2026-01-01T11:00:00Z",
            1,
        )
        assert await site.admin.post("/luminate/data-sync/run-due", {}) == {"results": []}

        await site.run()  # run now: the schedule stays as it was
        assert (await site.admin.get(f"{OPERATIONS}/1"))["next_run_at"] == "2026-01-01T11:00:00Z"

    async def test_an_operation_without_schedule_runs_only_when_told(self, site: SyncSite) -> None:
        spec = site.operation_spec()
        spec["schedule"] = None
        await site.admin.post(OPERATIONS, spec)
        site.clock.advance(days=3)
        assert await site.admin.post("/luminate/data-sync/run-due", {}) == {"results": []}
        assert site.connector.calls == []


class TestTicker:
    """The schedule runs by itself only when the clock is real."""

    async def test_a_manual_clock_never_ticks(self, sim_clock: ManualClock) -> None:
        sim = LuminateSimulator(clock=sim_clock)
        async with sim.data_sync.ticking() as ticking:
            assert ticking is False

    async def test_a_real_clock_runs_due_operations(self, file_server: FileServer) -> None:
        user = "ticker_ds"
        home = file_server.add_account(user, FTP_PASSWORD)
        connector = FakeConnector(home)
        sim = LuminateSimulator(clock=SystemClock())
        sim.data_sync.http_transport = connector.transport()
        sim.data_sync.tick_seconds = 0.01
        sim.data_sync.create_operation(
            {
                "operation_file_name": "re_sync_v52.xml",
                "schedule": {"every_minutes": 60},
                "connector_url": CONNECTOR_URL,
                "ftp": {
                    "host": file_server.host,
                    "port": file_server.port,
                    "user": user,
                    "password": FTP_PASSWORD,
                },
            }
        )
        operation = sim.data_sync.operation(1)
        operation.next_run_at = datetime.now(UTC) - timedelta(seconds=1)  # due already
        ran = anyio.Event()
        run_due = sim.data_sync.run_due

        async def run_due_and_tell() -> list[Any]:
            results = await run_due()
            if results:
                ran.set()
            return results

        sim.data_sync.run_due = run_due_and_tell  # type: ignore[method-assign]
        # The app's lifespan is what uvicorn runs on a real socket.
        app = sim.api_app()
        with anyio.fail_after(10):
            async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
                await ran.wait()
        (result,) = sim.data_sync.result_list()
        assert (result.trigger, result.status) == ("schedule", "Completed")
        sim.reset()
