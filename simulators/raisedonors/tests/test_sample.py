"""The sample donors the demo, end-to-end tests and benchmarks share."""

from __future__ import annotations

from raisedonors_simulator import DonorSampler, RaiseDonorsAccount, populate, sample_donors
from raisedonors_simulator.donors import parse_donor_fields

from syncframe.clock import ManualClock


def test_the_same_seed_gives_the_same_donors() -> None:
    assert sample_donors(30, seed=5) == sample_donors(30, seed=5)
    assert sample_donors(30, seed=5) != sample_donors(30, seed=6)
    assert DonorSampler(3).address() == DonorSampler(3).address()


def test_a_populated_account_holds_them_all() -> None:
    account = RaiseDonorsAccount(ManualClock())
    ids = populate(account, 200, organizations=0.2, second_address=0.3, second_phone=0.3)
    assert len(ids) == len(account.donors) == 200
    donors = [account.donors.get(donor_id) for donor_id in ids]
    assert len({d.email.lower() for d in donors}) == 200
    assert 20 <= sum(d.is_organization for d in donors) <= 60
    with_two = [d for d in donors if len(d.addresses) == 2]
    assert 30 <= len(with_two) <= 90
    for donor in donors:
        assert donor.primary_address is not None
        assert donor.primary_address.postal_code is not None
        assert donor.phone is not None
        assert donor.name
    assert len(account.activity) == 0  # seeded: they were there before the simulation


def test_addresses_are_patch_bodies() -> None:
    account = RaiseDonorsAccount(ManualClock())
    [donor_id] = populate(account, 1)
    sampler = DonorSampler(9)
    new_address = sampler.address()
    after = account.edit_donor(
        donor_id, parse_donor_fields({"primaryAddress": new_address}), channel="Api", actor="t"
    )
    assert after.primary_address is not None
    assert after.primary_address.address1 == new_address["address1"]
    assert sampler.phone().startswith("(")
