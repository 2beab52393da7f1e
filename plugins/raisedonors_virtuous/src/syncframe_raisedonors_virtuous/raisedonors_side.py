"""What the raisedonors side of the sync registers with syncframe (called from plugin.py).

* system ``raisedonors``: a Legacy RaiseDonors organization
  (:class:`~.raisedonors_settings.RaiseDonorsSettings`);
* source ``raisedonors_activity``: donor edits and gifts from its recent activity
  (:class:`~.raisedonors_activity.ActivitySource`);
* sink ``raisedonors_donors``: Virtuous contact changes applied to donors, with a lookup for the
  ``key_cascade`` matcher (:class:`~.raisedonors_donors.DonorSink`);
* filter ``raisedonors_edit_channels``: only admin-portal and donor-portal edits are sent
  (:class:`~.raisedonors_activity.EditChannelsFilter`).

Modules are imported inside the functions so that loading the plugin (every ``syncframe``
command does) costs nothing until a registration hook runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

    from syncframe.host import Host
    from syncframe.registry import ComponentRegistrar, SystemRegistrar


def register_systems(register: SystemRegistrar) -> None:
    """``raisedonors``: a Legacy RaiseDonors organization, seen by one of its API clients."""
    from .raisedonors_settings import RaiseDonorsSettings

    register(
        "raisedonors",
        RaiseDonorsSettings,
        description="Legacy RaiseDonors (REST API, legacy realm-token authorization)",
    )


def register_sources(register: ComponentRegistrar) -> None:
    """``raisedonors_activity``: donor edits and gifts since the last run."""
    from .raisedonors_activity import ActivitySource

    register(
        "raisedonors_activity",
        ActivitySource,
        description="Donor edits and gifts from Legacy RaiseDonors' recent activity, from the "
        "moment contact sync was switched on",
    )


def register_sinks(register: ComponentRegistrar) -> None:
    """``raisedonors_donors``: donors updated (never their email) or created."""
    from .raisedonors_donors import DonorSink

    register(
        "raisedonors_donors",
        DonorSink,
        description="Creates and updates Legacy RaiseDonors donors (never their email); a "
        "lookup by donor_id, virtuous_contact_id or email",
    )


def register_filters(register: ComponentRegistrar) -> None:
    """``raisedonors_edit_channels``: admin-portal and donor-portal edits only; gifts always."""
    from .raisedonors_activity import EditChannelsFilter

    register(
        "raisedonors_edit_channels",
        EditChannelsFilter,
        description="Only admin-portal and donor-portal edits of donors flow; gifts always do",
    )


def register_commands(app: typer.Typer, host: Host) -> None:
    """``syncframe raisedonors-virtuous enable | status | disable``."""
    from .commands import register

    register(app, host)
