"""Virtuous CRM+ simulator: contacts, users and tokens, the rate limit, the Gift and Contact
Import Tool and webhooks, as one :class:`VirtuousSimulator` (registered as ``virtuous``)."""

from virtuous_simulator._common import EDIT_SOURCES
from virtuous_simulator.app import DEFAULT_USERS, VirtuousSimulator
from virtuous_simulator.webhooks import (
    RETRY_DELAYS,
    SIGNATURE_HEADER,
    AttemptOutcome,
    DeliveryReport,
    sign,
)

__all__ = [
    "DEFAULT_USERS",
    "EDIT_SOURCES",
    "RETRY_DELAYS",
    "SIGNATURE_HEADER",
    "AttemptOutcome",
    "DeliveryReport",
    "VirtuousSimulator",
    "sign",
]
