"""System Settings > Integrations > Virtuous CRM+ Sync: what the organization's admin sets.

The admin authorizes a Virtuous CRM+ user, then ticks "Sync projects" and "Sync Legacy
RaiseDonors Contacts to Virtuous Donors" and presses "Update Settings". The contact sync starts
at that moment (``contactSyncEnabledAt``): there is no backfill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from raisedonors_simulator.donors import iso
from raisedonors_simulator.errors import FieldErrors

__all__ = ["SETTINGS_FIELDS", "VirtuousIntegration"]

#: The settings a PUT may send; ``contactSyncEnabledAt`` is read-only and ignored when sent
#: back (a client may PUT what it read).
SETTINGS_FIELDS: Final = ("authorizedUser", "syncProjects", "syncContacts", "contactSyncEnabledAt")
_USER_LIMIT: Final = 254


@dataclass
class VirtuousIntegration:
    """The Virtuous CRM+ Sync settings of the organization."""

    authorized_user: str | None = None
    sync_projects: bool = False
    sync_contacts: bool = False
    contact_sync_enabled_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "authorizedUser": self.authorized_user,
            "syncProjects": self.sync_projects,
            "syncContacts": self.sync_contacts,
            "contactSyncEnabledAt": (
                iso(self.contact_sync_enabled_at)
                if self.contact_sync_enabled_at is not None
                else None
            ),
        }

    def update(
        self, body: Mapping[str, Any], now: datetime, *, enabled_at: datetime | None = None
    ) -> None:
        """Apply "Update Settings". Fields not sent keep their value. Turning ``syncContacts``
        on stamps ``contactSyncEnabledAt`` with ``now`` (``enabled_at`` when seeding a past
        start); leaving it on keeps the stamp; turning it off clears it. A sync cannot be on
        without an authorized Virtuous CRM+ user. Nothing changes when a field is refused."""
        errors = FieldErrors()
        for key in body:
            if key not in SETTINGS_FIELDS:
                errors.add(key, f"is not a setting (settings: {', '.join(SETTINGS_FIELDS[:3])})")
        user = self.authorized_user
        if "authorizedUser" in body:
            value = body["authorizedUser"]
            if value is not None and (not isinstance(value, str) or len(value) > _USER_LIMIT):
                errors.add("authorizedUser", "must be the Virtuous CRM+ user name, or null")
            else:
                user = (value.strip() or None) if isinstance(value, str) else None
        flags = {"syncProjects": self.sync_projects, "syncContacts": self.sync_contacts}
        for name in flags:
            if name in body:
                if isinstance(body[name], bool):
                    flags[name] = body[name]
                else:
                    errors.add(name, f"must be true or false, not {body[name]!r}")
        for name, on in flags.items():
            if on and user is None:
                errors.add(
                    name,
                    "authorize a Virtuous CRM+ user first (authorizedUser): the sync signs in "
                    "as that user",
                )
        errors.raise_if_any()
        self.authorized_user = user
        self.sync_projects = flags["syncProjects"]
        if flags["syncContacts"] and not self.sync_contacts:
            self.contact_sync_enabled_at = enabled_at if enabled_at is not None else now
        elif not flags["syncContacts"]:
            self.contact_sync_enabled_at = None
        self.sync_contacts = flags["syncContacts"]
