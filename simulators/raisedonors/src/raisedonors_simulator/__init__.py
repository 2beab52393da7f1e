"""Legacy RaiseDonors simulator: donors, channels, gifts, recent activity and the Virtuous
integration settings, as one :class:`RaiseDonorsSimulator` (registered as ``raisedonors``)."""

from raisedonors_simulator.account import RaiseDonorsAccount
from raisedonors_simulator.app import MAX_TAKE, RaiseDonorsSimulator
from raisedonors_simulator.auth import realm_token
from raisedonors_simulator.sample import DonorSampler, populate, sample_donors

__all__ = [
    "MAX_TAKE",
    "DonorSampler",
    "RaiseDonorsAccount",
    "RaiseDonorsSimulator",
    "populate",
    "realm_token",
    "sample_donors",
]
