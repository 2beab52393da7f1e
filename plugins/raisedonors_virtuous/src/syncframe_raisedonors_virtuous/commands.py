"""``syncframe raisedonors-virtuous enable | status | disable``: switching the contact sync on
and off the way an admin does in Legacy RaiseDonors (System Settings > Integrations > Virtuous
CRM+ Sync), with the Virtuous side made ready first.

``enable`` signs in to Virtuous as the sync user (a user with two-factor authentication or
single sign-on is refused here, with the advice of the help article, before anything changes),
registers the ContactCreate/ContactUpdate webhook pointing at ``syncframe serve`` with the
connection's webhook secret (once: an existing one for the same URL is kept), and ticks "Sync
Legacy RaiseDonors Contacts to Virtuous Donors". It then says from which moment edits sync and
that there is no backfill.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import typer

from syncframe.cli.commands.config import load_flow_file
from syncframe.cli.errors import UserError, guarded
from syncframe.cli.output import console, format_time, kv_table
from syncframe.clock import SystemClock
from syncframe.components import PermanentError, TransientError
from syncframe.config.resolved import LoadedConfig
from syncframe.host import Host

from .raisedonors_client import RaiseDonorsClient
from .raisedonors_settings import RaiseDonorsSettings
from .virtuous_client import VirtuousClient
from .virtuous_settings import VirtuousSettings
from .virtuous_webhook import CONTACT_EVENTS

__all__ = ["NO_BACKFILL", "register"]

T = TypeVar("T")

#: What `enable` says once the sync is on (the help article's rule, in the operator's words).
NO_BACKFILL = (
    "There is no backfill: only edits made from now on sync. Donors and contacts as they are "
    "now are not compared or copied; tidy them up first if they differ."
)


def _connection(loaded: LoadedConfig, system: str, name: str | None) -> tuple[str, Any]:
    """The connection of ``system`` the command works on: the one named, or the only one."""
    found = {n: c for n, c in loaded.connections.items() if c.config.system == system}
    if name is not None:
        if name not in found:
            raise UserError(
                f"{loaded.path}: no {system} connection named {name!r}; "
                f"{system} connections: {', '.join(found) or 'none'}"
            )
        return name, found[name]
    if len(found) != 1:
        raise UserError(
            f"{loaded.path}: {'no' if not found else 'more than one'} {system} connection"
            + (f" ({', '.join(found)}): say which with --{system}" if found else "")
        )
    return next(iter(found.items()))


def _run(work: Callable[[], Awaitable[T]]) -> T:
    try:
        return anyio.run(work)
    except (PermanentError, TransientError) as exc:
        raise UserError(str(exc)) from None
    except httpx.TransportError as exc:
        raise UserError(f"cannot reach the service: {type(exc).__name__}: {exc}") from None


def register(app: typer.Typer, host: Host) -> None:
    """Add ``syncframe raisedonors-virtuous``."""
    group = typer.Typer(
        name="raisedonors-virtuous",
        help="Switch the Legacy RaiseDonors <-> Virtuous CRM+ contact sync on or off, and see "
        "its settings (docs/raisedonors-virtuous.md).",
        no_args_is_help=True,
    )
    app.add_typer(group)

    file_argument = typer.Argument(..., help="The flow file.", metavar="FILE", show_default=False)
    raisedonors_option = typer.Option(
        None, "--raisedonors", metavar="NAME", help="The raisedonors connection (if several)."
    )
    virtuous_option = typer.Option(
        None, "--virtuous", metavar="NAME", help="The virtuous connection (if several)."
    )

    def clients(
        file: Path, raisedonors: str | None, virtuous: str | None, http: httpx.AsyncClient
    ) -> tuple[RaiseDonorsClient, VirtuousClient]:
        loaded = load_flow_file(file, host)
        _, rd = _connection(loaded, "raisedonors", raisedonors)
        _, vc = _connection(loaded, "virtuous", virtuous)
        assert isinstance(rd.settings, RaiseDonorsSettings)
        assert isinstance(vc.settings, VirtuousSettings)
        clock = SystemClock()
        return RaiseDonorsClient(http, rd.settings, clock), VirtuousClient(http, vc.settings, clock)

    @group.command("enable")
    @guarded
    def enable(
        file: Path = file_argument,
        webhook_url: str = typer.Option(
            ...,
            "--webhook-url",
            metavar="URL",
            help="Where Virtuous reaches `syncframe serve`: .../webhooks/<the webhook flow>.",
        ),
        raisedonors: str | None = raisedonors_option,
        virtuous: str | None = virtuous_option,
    ) -> None:
        """Make the Virtuous side ready and switch the contact sync on in RaiseDonors."""
        out = console()

        async def work() -> tuple[dict[str, Any], bool, datetime | None]:
            async with httpx.AsyncClient(timeout=30) as http:
                rd, vc = clients(file, raisedonors, virtuous, http)
                secret = vc.settings.webhook_secret.get_secret_value()
                await vc.login()
                existing = [w for w in await vc.webhooks() if w.get("url") == webhook_url]
                made = not existing
                hook = (
                    existing[0]
                    if existing
                    else await vc.create_webhook(webhook_url, list(CONTACT_EVENTS), secret)
                )
                who = vc.settings.username or "API key"
                settings = await rd.update_integration_settings(
                    authorizedUser=who, syncContacts=True
                )
                return hook, made, settings.contact_sync_enabled_at

        hook, made, since = _run(work)
        out.print(
            f"Virtuous webhook {hook.get('id')} for {webhook_url}: "
            + (
                "registered"
                if made
                else "already registered (kept; if its secret is not "
                "SYNCFRAME_<CONNECTION>_WEBHOOK_SECRET, delete it in Virtuous and enable again)"
            ),
            highlight=False,
        )
        out.print(
            f"Contact sync is on in Legacy RaiseDonors since {format_time(since)}.",
            style="green",
            highlight=False,
        )
        out.print(NO_BACKFILL, highlight=False)

    @group.command("status")
    @guarded
    def status(
        file: Path = file_argument,
        raisedonors: str | None = raisedonors_option,
        virtuous: str | None = virtuous_option,
    ) -> None:
        """Show the RaiseDonors integration settings and the Virtuous webhooks."""
        out = console()

        async def work() -> tuple[Any, list[dict[str, Any]]]:
            async with httpx.AsyncClient(timeout=30) as http:
                rd, vc = clients(file, raisedonors, virtuous, http)
                return await rd.integration_settings(), await vc.webhooks()

        settings, hooks = _run(work)
        out.print(
            kv_table(
                [
                    ("contact sync", "on" if settings.sync_contacts else "off"),
                    ("on since", format_time(settings.contact_sync_enabled_at)),
                    ("authorized Virtuous user", settings.authorized_user or "-"),
                    ("sync projects", "on" if settings.sync_projects else "off"),
                ]
                + [
                    (f"webhook {h.get('id')}", f"{h.get('url')} {', '.join(h.get('events', []))}")
                    for h in hooks
                ]
            )
        )

    @group.command("disable")
    @guarded
    def disable(
        file: Path = file_argument,
        raisedonors: str | None = raisedonors_option,
        virtuous: str | None = virtuous_option,
    ) -> None:
        """Switch the contact sync off in RaiseDonors (the Virtuous webhook is left alone)."""

        async def work() -> None:
            async with httpx.AsyncClient(timeout=30) as http:
                rd, _ = clients(file, raisedonors, virtuous, http)
                await rd.update_integration_settings(syncContacts=False)

        _run(work)
        console().print(
            "Contact sync is off in Legacy RaiseDonors: nothing is sent to Virtuous until it is "
            "enabled again, and edits made meanwhile are never sent (no backfill).",
            highlight=False,
        )
