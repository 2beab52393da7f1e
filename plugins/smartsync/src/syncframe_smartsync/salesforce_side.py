"""What the salesforce connection registers with syncframe (called from ``plugin.py``).

* system ``salesforce``: a Salesforce org (:class:`SalesforceSettings`: a connected app and an
  OAuth flow, the API version, the External ID field, ``poll_every`` of 5 minutes);
* source ``salesforce_contacts``: Contacts changed since the last run, deletes included (the
  event step);
* sink ``salesforce_contacts``: Contacts updated, upserted by the External ID field or created
  (the action steps), with a lookup by ``constituent_id`` then ``email`` (the search steps).

See ``docs/smartsync/salesforce.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncframe_smartsync.salesforce_settings import SalesforceSettings
from syncframe_smartsync.salesforce_sink import SalesforceContactSink
from syncframe_smartsync.salesforce_source import SalesforceContactSource

if TYPE_CHECKING:
    import typer

    from syncframe.host import Host
    from syncframe.registry import ComponentRegistrar, SystemRegistrar

__all__ = [
    "SYSTEM",
    "register_commands",
    "register_filters",
    "register_sinks",
    "register_sources",
    "register_systems",
]

#: The system (connection type) name.
SYSTEM = "salesforce"
#: The source's and the sink's name.
CONTACTS = "salesforce_contacts"


def register_systems(register: SystemRegistrar) -> None:
    """``salesforce``: a Salesforce org through the REST API."""
    register(
        SYSTEM,
        SalesforceSettings,
        description="Salesforce org (REST API, OAuth client credentials or password flow)",
    )


def register_sources(register: ComponentRegistrar) -> None:
    """``salesforce_contacts``: Contacts changed in Salesforce since the last run."""
    register(
        CONTACTS,
        SalesforceContactSource,
        description="Contacts changed in Salesforce since the last run, deletes included",
    )


def register_sinks(register: ComponentRegistrar) -> None:
    """``salesforce_contacts``: Contacts written into Salesforce, with a lookup."""
    register(
        CONTACTS,
        SalesforceContactSink,
        description="Contacts into Salesforce: update by Id, upsert by constituent id, create",
    )


def register_filters(register: ComponentRegistrar) -> None:
    """No filters: a list restriction is the sink's ``lookup_where`` or the source's ``where``."""


def register_commands(app: typer.Typer, host: Host) -> None:
    """No commands."""
