"""The sample site the demo, the end-to-end tests and the benchmarks share."""

from __future__ import annotations

from decimal import Decimal

from luminate_simulator.app import LuminateSimulator
from luminate_simulator.sample import FINANCIAL, add_refunds, populate

from syncframe.clock import ManualClock


def test_the_same_seed_gives_the_same_site() -> None:
    one = LuminateSimulator(clock=ManualClock(), seed=0)
    two = LuminateSimulator(clock=ManualClock(), seed=0)
    assert populate(one.services) == populate(two.services)
    assert one.services.snapshot()["transactions"] == two.services.snapshot()["transactions"]


def test_every_type_and_every_refund_story_is_there() -> None:
    sim = LuminateSimulator(clock=ManualClock(), seed=0)
    site = populate(sim.services, transactions=300)
    assert set(site.transactions) == {*FINANCIAL, "ActionAlertResponse"}
    stories = add_refunds(sim.services, site)
    assert set(stories) == {
        "online_partial",
        "offline_partial",
        "online_full",
        "offline_full",
        "partials_then_full",
    }
    live = sim.services.transactions.live
    audit = sim.services.transactions.audit
    refunds = list(sim.services.transactions.refunds.values())

    def refunds_of(tid: int) -> list[object]:
        return [r for r in refunds if r.original_transaction_id == tid]

    partial = live[stories["online_partial"][0]].payment
    assert partial is not None
    assert partial["OriginalAmount"] > partial["Amount"] > Decimal(0)
    assert len(refunds_of(stories["online_partial"][0])) == 1
    assert refunds_of(stories["offline_partial"][0]) == []
    for story in ("online_full", "offline_full", "partials_then_full"):
        assert stories[story][0] in audit
        assert stories[story][0] not in live
    assert refunds_of(stories["offline_full"][0]) == []
    assert len(refunds_of(stories["partials_then_full"][0])) == 2  # the offline one has none
