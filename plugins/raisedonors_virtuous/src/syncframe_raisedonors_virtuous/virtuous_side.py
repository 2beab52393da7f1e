"""What the Virtuous CRM+ side of the sync registers with syncframe (called from plugin.py).

- system ``virtuous``: :class:`~.virtuous_settings.VirtuousSettings`;
- source ``virtuous_webhook``: contacts pushed by Virtuous's ContactCreate/ContactUpdate webhook
  (:class:`~.virtuous_webhook.VirtuousWebhookSource`, served by ``syncframe serve``);
- sink ``virtuous_import``: donor edits and gifts into Virtuous's import tool
  (:class:`~.virtuous_import.VirtuousImportSink`);
- filter ``virtuous_reference_source``: only contacts from Legacy RaiseDonors sync back
  (:class:`~.virtuous_filters.ReferenceSourceFilter`).

The components are imported when they are registered, which is when the host loads plugins; they
need nothing beyond syncframe's own dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncframe_raisedonors_virtuous.virtuous_filters import ReferenceSourceFilter
from syncframe_raisedonors_virtuous.virtuous_import import VirtuousImportSink
from syncframe_raisedonors_virtuous.virtuous_settings import VirtuousSettings
from syncframe_raisedonors_virtuous.virtuous_webhook import VirtuousWebhookSource

if TYPE_CHECKING:
    import typer

    from syncframe.host import Host
    from syncframe.registry import ComponentRegistrar, SystemRegistrar

SYSTEM = "virtuous"


def register_systems(register: SystemRegistrar) -> None:
    """``virtuous``: a Virtuous CRM+ organization (API, sync user or API key, webhook secret)."""
    register(SYSTEM, VirtuousSettings, description="Virtuous CRM+ (REST API and webhooks)")


def register_sources(register: ComponentRegistrar) -> None:
    """``virtuous_webhook``: contacts created and updated in Virtuous CRM+, pushed by webhook."""
    register("virtuous_webhook", VirtuousWebhookSource)


def register_sinks(register: ComponentRegistrar) -> None:
    """``virtuous_import``: Contact and Gift Transactions into the Virtuous import tool."""
    register("virtuous_import", VirtuousImportSink)


def register_filters(register: ComponentRegistrar) -> None:
    """``virtuous_reference_source``: only contacts with ReferenceSource "Legacy RaiseDonors"."""
    register("virtuous_reference_source", ReferenceSourceFilter)


def register_commands(app: typer.Typer, host: Host) -> None:
    """The Virtuous side adds no commands (failed deliveries are retried from Virtuous's
    Failures tab or with ``syncframe failed retry``)."""
