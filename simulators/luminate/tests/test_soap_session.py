"""Login, the Session header, idle expiry and GetServerTime over SOAP."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from lxml import etree

from simulators.luminate.tests.conftest import (
    API_PASSWORD,
    API_USER,
    TNS,
    SoapClient,
    element_text,
)
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

SERVER_TIME = f'<GetServerTime xmlns="{TNS}"/>'


class TestLogin:
    """``Login`` answers a session id, or a LoginFault."""

    async def test_login_answers_a_session_id(self, soap: SoapClient) -> None:
        answer = await soap.ok(
            f'<Login xmlns="{TNS}"><UserName>{API_USER}</UserName>'
            f"<Password>{API_PASSWORD}</Password></Login>",
            session=False,
        )
        assert etree.QName(answer).localname == "LoginResponse"
        session_id = element_text(answer, "Result/SessionId")
        assert session_id
        soap.session_id = session_id
        await soap.ok(SERVER_TIME)

    async def test_wrong_password_is_a_login_fault(self, soap: SoapClient) -> None:
        fault = await soap.fault(
            f'<Login xmlns="{TNS}"><UserName>{API_USER}</UserName>'
            "<Password>wrong</Password></Login>",
            session=False,
        )
        assert fault.fault_type == "LoginFault"
        assert fault.faultcode == "LOGIN_FAILED"
        assert "wrong" not in fault.faultstring

    async def test_unknown_user_is_a_login_fault(self, soap: SoapClient) -> None:
        fault = await soap.fault(
            f'<Login xmlns="{TNS}"><UserName>nobody</UserName>'
            f"<Password>{API_PASSWORD}</Password></Login>",
            session=False,
        )
        assert fault.fault_type == "LoginFault"

    async def test_login_needs_no_session_header(self, soap: SoapClient) -> None:
        soap.session_id = "stale"
        # A header sent anyway does no harm.
        await soap.ok(
            f'<Login xmlns="{TNS}"><UserName>{API_USER}</UserName>'
            f"<Password>{API_PASSWORD}</Password></Login>"
        )


class TestSession:
    """The Session header: unknown ids and idle expiry are SessionFaults."""

    async def test_unknown_session_id(self, soap: SoapClient) -> None:
        soap.session_id = "not-a-session"
        fault = await soap.fault(SERVER_TIME)
        assert fault.fault_type == "SessionFault"
        assert fault.faultcode == "INVALID_SESSION"

    async def test_session_expires_after_30_idle_minutes(
        self, session: SoapClient, sim_clock: ManualClock
    ) -> None:
        sim_clock.advance(minutes=29)
        await session.ok(SERVER_TIME)  # use refreshes the idle timer
        sim_clock.advance(minutes=29)
        await session.ok(SERVER_TIME)
        sim_clock.advance(minutes=30, seconds=1)
        fault = await session.fault(SERVER_TIME)
        assert fault.fault_type == "SessionFault"

    async def test_a_new_login_gives_a_working_session(
        self, session: SoapClient, sim_clock: ManualClock
    ) -> None:
        sim_clock.advance(hours=2)
        assert (await session.fault(SERVER_TIME)).fault_type == "SessionFault"
        await session.login()
        await session.ok(SERVER_TIME)


class TestServerTime:
    """``GetServerTime`` tells the simulator clock's time."""

    async def test_server_time_is_the_simulator_clock(
        self, session: SoapClient, sim_clock: ManualClock
    ) -> None:
        sim_clock.advance(timedelta(hours=3, seconds=7))
        await session.login()
        answer = await session.ok(SERVER_TIME)
        text = element_text(answer, "Result/ServerTime")
        assert text is not None
        assert text.endswith("Z")
        assert datetime.fromisoformat(text) == sim_clock.now()
