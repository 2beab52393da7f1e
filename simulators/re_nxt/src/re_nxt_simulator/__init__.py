"""Raiser's Edge NXT simulator: the SKY API's Constituent and Communication Preference APIs with
OAuth 2.0, a rate limit and a daily quota, as one :class:`ReNxtSimulator` (registered as
``re_nxt``). See ``docs/simulators/re_nxt.md``."""

from re_nxt_simulator.app import ReNxtSimulator
from re_nxt_simulator.auth import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URI,
    DEFAULT_SUBSCRIPTION_KEY,
    TokenGrant,
)
from re_nxt_simulator.store import API_USER, RE_USER, RecordStore

__all__ = [
    "API_USER",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REDIRECT_URI",
    "DEFAULT_SUBSCRIPTION_KEY",
    "RE_USER",
    "ReNxtSimulator",
    "RecordStore",
    "TokenGrant",
]
