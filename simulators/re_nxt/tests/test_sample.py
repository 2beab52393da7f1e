"""The sample database the demo, the end-to-end tests and the benchmarks share."""

from __future__ import annotations

from re_nxt_simulator import ReNxtSimulator
from re_nxt_simulator.sample import populate, sample_payload

from syncframe.clock import ManualClock


def test_the_same_seed_gives_the_same_database() -> None:
    one, two = ReNxtSimulator(clock=ManualClock()), ReNxtSimulator(clock=ManualClock())
    assert populate(one.store) == populate(two.store)
    assert one.store.snapshot() == two.store.snapshot()
    other = ReNxtSimulator(clock=ManualClock())
    populate(other.store, seed=7)
    assert other.store.snapshot() != one.store.snapshot()


def test_every_story_is_there_and_realistic() -> None:
    sim = ReNxtSimulator(clock=ManualClock())
    database = populate(sim.store, individuals=60, organizations=4)
    store, now = sim.store, sim.clock.now()
    assert len(database.individuals) == 60
    assert len(database.organizations) == 4
    for story in ("opted_in", "opted_out", "shared_email", "inactive", "deceased"):
        assert getattr(database, story), f"no {story} constituent in the sample"
    for constituent_id in database.individuals:
        constituent = store.constituent(constituent_id)
        assert constituent.date_added <= constituent.date_modified <= now
        [primary] = [e for e in store.emails_of(constituent_id) if e.primary]
        assert "@example." in primary.address
        address = store.preferred_address(constituent_id)
        assert address is not None
        assert address.values["postal_code"].isdigit()
    for constituent_id in database.opted_out:
        codes = {s.solicit_code for s in store.solicit_codes_of(constituent_id)}
        assert "Do not email" in codes
        assert store.consents_of(constituent_id)[0].response == "OptOut"
    shared = {store.emails_of(i)[0].address for i in database.shared_email}
    assert len(shared) == 2  # two couples, one address each
    assert store.list_members(database.newsletter_list_id) == frozenset(database.opted_in)
    for constituent_id in database.organizations:
        assert store.constituent(constituent_id).type == "Organization"


def test_the_payload_seeds_a_served_simulator_the_same_way() -> None:
    sim = ReNxtSimulator(clock=ManualClock())
    payload, stories = sample_payload(individuals=10, organizations=2, now=sim.clock.now())
    made = sim.seed_records(payload)
    assert len(made["constituents"]) == 12
    assert set(stories) == {"opted_in", "opted_out", "shared_email", "inactive", "deceased"}
