"""Mailchimp simulator: the Marketing API v3 (audiences, members by subscriber hash, merge fields,
tags, webhooks), its problem+json errors and its 10-connection limit, as one
:class:`MailchimpSimulator` (registered as ``mailchimp``)."""

from mailchimp_simulator.app import (
    DEFAULT_API_KEY,
    DEFAULT_DATA_CENTER,
    DEFAULT_LIST_ID,
    MailchimpSimulator,
)
from mailchimp_simulator.audiences import subscriber_hash
from mailchimp_simulator.webhooks import DeliveryResult

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_DATA_CENTER",
    "DEFAULT_LIST_ID",
    "DeliveryResult",
    "MailchimpSimulator",
    "subscriber_hash",
]
