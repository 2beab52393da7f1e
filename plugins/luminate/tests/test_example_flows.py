"""The example flow file (examples/luminate/flows.toml) validates and runs, as written, against
the simulator: constituents from a CRM export into Luminate (twice: nothing doubles), Luminate's
constituents and transactions into the database and the outbox."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
import syncframe_luminate.plugin as luminate_plugin
from luminate_simulator.app import LuminateSimulator
from luminate_simulator.sample import add_refunds, populate

from syncframe.clock import ManualClock
from syncframe.config import load_config
from syncframe.engine import Engine
from syncframe.host import Host

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "luminate"
PASSWORD = "example-password"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def example(tmp_path: Path) -> tuple[Path, LuminateSimulator]:
    """The example folder copied, pointing at an in-process simulator."""
    simulator = LuminateSimulator(clock=ManualClock(), seed=3)
    simulator.services.add_api_user("syncframe_api", PASSWORD)
    folder = tmp_path / "luminate"
    shutil.copytree(EXAMPLE, folder)
    flows = folder / "flows.toml"
    text = flows.read_text(encoding="utf-8")
    assert "http://127.0.0.1:8765/1.0/syncframe" in text
    flows.write_text(text.replace("http://127.0.0.1:8765", simulator.base_url), encoding="utf-8")
    return flows, simulator


async def run(flows: Path, simulator: LuminateSimulator, flow: str) -> dict[str, int]:
    clock = simulator.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=1))
    host = Host(plugins=[luminate_plugin], entry_points=False)
    config = load_config(
        flows, host.registry, environ={"SYNCFRAME_LUMINATE_API_PASSWORD": PASSWORD}
    )
    with Engine(config, host, clock=clock, transport=simulator.transport()) as engine:
        report = await engine.run_flow(flow)
    assert report.summary.status == "succeeded", report.summary.error
    return dict(report.summary.counts)


def test_the_example_validates() -> None:
    host = Host(plugins=[luminate_plugin], entry_points=False)
    config = load_config(
        EXAMPLE / "flows.toml",
        host.registry,
        environ={"SYNCFRAME_LUMINATE_API_PASSWORD": PASSWORD},
    )
    assert set(config.flows) == {
        "transactions_to_database",
        "transactions_to_files",
        "constituents_to_database",
        "crm_to_luminate",
    }


async def test_crm_constituents_go_to_luminate_once(
    example: tuple[Path, LuminateSimulator],
) -> None:
    flows, simulator = example
    first = await run(flows, simulator, "crm_to_luminate")
    # RE-000003 has no email: Luminate needs LastName + MemberId then, which it has.
    assert first == {"created": 3}
    held = {c.member_id: c for c in simulator.services.directory}
    assert set(held) == {"RE-000001", "RE-000002", "RE-000003"}
    assert held["RE-000001"].primary_email == "ada.baker@example.org"
    assert held["RE-000002"].city == "Denver"

    # The same export again (the flow's cursor reset): found by MemberId, nothing doubles.
    state = flows.parent / "syncframe-state.db"
    db = sqlite3.connect(state)
    db.execute("DELETE FROM checkpoints WHERE flow = 'crm_to_luminate'")
    db.commit()
    db.close()
    again = await run(flows, simulator, "crm_to_luminate")
    assert sum(again.values()) == 3, again  # read again, written again
    assert again.get("created", 0) == 0
    assert len(list(simulator.services.directory)) == 3


async def test_luminate_downloads_land_in_the_database_and_the_outbox(
    example: tuple[Path, LuminateSimulator],
) -> None:
    flows, simulator = example
    site = populate(simulator.services, constituents=12, transactions=90)
    add_refunds(simulator.services, site)

    await run(flows, simulator, "transactions_to_database")
    await run(flows, simulator, "transactions_to_files")
    constituents = await run(flows, simulator, "constituents_to_database")

    assert constituents == {"created": 12}
    db = sqlite3.connect(flows.parent / "luminate.db")
    try:
        cons = db.execute("SELECT count(*) FROM luminate_constituent").fetchone()[0]
        gifts = db.execute("SELECT count(*) FROM luminate_donation").fetchone()[0]
        states = db.execute(
            "SELECT count(*) FROM luminate_refund_state WHERE status != 'none'"
        ).fetchone()[0]
    finally:
        db.close()
    assert cons == 12
    assert gifts == len(site.transactions["Donation"])
    assert states == 5
    outbox = sorted(p.name.split("_", 1)[0] for p in (flows.parent / "outbox").glob("*.csv"))
    # Only the record types the flow names, one file each for the one window.
    assert set(outbox) <= {"Donation", "TeamRaiserGift", "TeamRaiserRegistration", "Refund"}
    assert "Donation" in outbox
