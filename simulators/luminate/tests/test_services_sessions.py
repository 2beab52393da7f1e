"""Login, sessions and their 30-minute idle expiry, at the services level."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from luminate_simulator.constituents import ConstituentDirectory
from luminate_simulator.services import AdminError, LuminateFault, WebServices
from pydantic import SecretStr

from syncframe.clock import ManualClock

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
SESSION_SHAPE = re.compile(
    r"[0-9a-f]{40}:JSESSIONID=[0-9A-F]{32}:10000100:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def services(clock: ManualClock) -> WebServices:
    web = WebServices(clock, ConstituentDirectory(clock))
    web.add_api_user("sync-api", SecretStr("s3cret"))
    return web


class TestLogin:
    """Login hands out a session id in the documented shape, or a LoginFault."""

    def test_session_id_has_the_documented_shape(self, services: WebServices) -> None:
        session_id = services.login("sync-api", "s3cret")
        assert SESSION_SHAPE.fullmatch(session_id), session_id
        assert session_id.endswith("2026-01-01T09:00:00.000Z")
        assert services.session_user(session_id).name == "sync-api"

    def test_each_login_is_a_new_session(self, services: WebServices) -> None:
        first = services.login("sync-api", "s3cret")
        second = services.login("sync-api", "s3cret")
        assert first != second
        assert services.session_user(first).name == services.session_user(second).name

    @pytest.mark.parametrize(("user", "password"), [("sync-api", "wrong"), ("nobody", "s3cret")])
    def test_bad_credentials_are_a_login_fault(
        self, services: WebServices, user: str, password: str
    ) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.login(user, password)
        assert caught.value.fault_type == "LoginFault"
        assert caught.value.faultcode == "LOGIN_FAILED"
        assert "invalid user name or password" in caught.value.message
        assert "s3cret" not in caught.value.message

    def test_password_is_a_secret(self, services: WebServices) -> None:
        user = services.api_users()[0]
        assert isinstance(user.password, SecretStr)
        assert "s3cret" not in repr(user)
        assert "s3cret" not in str(services.snapshot())

    def test_duplicate_or_empty_api_user_is_an_admin_error(self, services: WebServices) -> None:
        with pytest.raises(AdminError, match="exists already"):
            services.add_api_user("sync-api", "other")
        with pytest.raises(AdminError, match="password"):
            services.add_api_user("second", "")
        with pytest.raises(AdminError, match="name"):
            services.add_api_user(" ", "x")
        # Their changes would pass for the admin console's or the upload's.
        for reserved in ("admin", "import"):
            with pytest.raises(AdminError, match=f"name: '{reserved}' is reserved"):
                services.add_api_user(reserved, "x")


class TestSessions:
    """A session lives while used at least every 30 minutes; anything else is a SessionFault."""

    @pytest.mark.parametrize("session_id", [None, ""])
    def test_missing_session_is_a_session_fault(
        self, services: WebServices, session_id: str | None
    ) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.session_user(session_id)
        assert caught.value.fault_type == "SessionFault"
        assert "missing" in caught.value.message

    def test_unknown_session_is_a_session_fault(self, services: WebServices) -> None:
        with pytest.raises(LuminateFault) as caught:
            services.session_user("0" * 40 + ":JSESSIONID=X:10000100:2026-01-01T09:00:00.000Z")
        assert caught.value.fault_type == "SessionFault"
        assert caught.value.faultcode == "INVALID_SESSION"

    def test_use_within_thirty_minutes_keeps_the_session(
        self, services: WebServices, clock: ManualClock
    ) -> None:
        session_id = services.login("sync-api", "s3cret")
        for _ in range(4):  # two hours in all, never idle for more than 30 minutes
            clock.advance(minutes=30)
            assert services.session_user(session_id).name == "sync-api"

    def test_thirty_minutes_idle_expires_the_session(
        self, services: WebServices, clock: ManualClock
    ) -> None:
        session_id = services.login("sync-api", "s3cret")
        clock.advance(minutes=10)
        services.session_user(session_id)
        clock.advance(timedelta(minutes=30, seconds=1))
        with pytest.raises(LuminateFault) as caught:
            services.session_user(session_id)
        assert caught.value.fault_type == "SessionFault"
        assert "expired" in caught.value.message
        # once expired it stays gone, and a new login works
        with pytest.raises(LuminateFault):
            services.session_user(session_id)
        assert services.session_user(services.login("sync-api", "s3cret")).name == "sync-api"

    def test_snapshot_shows_sessions_without_their_ids(
        self, services: WebServices, clock: ManualClock
    ) -> None:
        session_id = services.login("sync-api", "s3cret")
        clock.advance(minutes=31)
        sessions = services.snapshot()["sessions"]
        assert len(sessions) == 1
        assert sessions[0]["user"] == "sync-api"
        assert sessions[0]["expired"] is True
        assert session_id not in str(sessions)

    def test_reset_forgets_users_and_sessions(self, services: WebServices) -> None:
        session_id = services.login("sync-api", "s3cret")
        services.reset()
        with pytest.raises(LuminateFault):
            services.session_user(session_id)
        with pytest.raises(LuminateFault):
            services.login("sync-api", "s3cret")
        # an id from before the reset never comes back for a new login
        services.add_api_user("sync-api", "s3cret")
        assert services.login("sync-api", "s3cret") != session_id
        with pytest.raises(LuminateFault):
            services.session_user(session_id)

    def test_same_seed_same_session_ids(self, clock: ManualClock) -> None:
        ids = []
        for _ in range(2):
            web = WebServices(clock, ConstituentDirectory(clock), seed=7)
            web.add_api_user("sync-api", "s3cret")
            ids.append(web.login("sync-api", "s3cret"))
        assert ids[0] == ids[1]

    def test_server_time_is_the_simulator_clock(
        self, services: WebServices, clock: ManualClock
    ) -> None:
        clock.advance(hours=5)
        assert services.get_server_time() == START + timedelta(hours=5)
