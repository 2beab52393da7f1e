"""What the Raiser's Edge NXT connection registers with syncframe (called from ``plugin.py``).

* system ``re_nxt``: an RE NXT environment through the SKY API (:class:`ReNxtSettings`: OAuth
  refresh-token flow, subscription key, ``poll_every`` 30 minutes by default);
* source ``re_nxt_constituents``: constituents changed since the last run (``last_modified``
  polling), as changes in the common vocabulary;
* sink ``re_nxt_constituents``: create and update constituents, their email, phone and address,
  and email consent (consents and solicit codes), with a lookup by ``constituent_id``, ``email``
  or ``id`` for the ``key_cascade`` matcher (optionally within a constituent list).

No filters or commands of its own. See ``docs/smartsync/re_nxt.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from syncframe_smartsync.re_nxt_settings import ReNxtSettings
from syncframe_smartsync.re_nxt_sink import ReNxtConstituentSink
from syncframe_smartsync.re_nxt_source import ReNxtConstituentSource

if TYPE_CHECKING:
    import typer

    from syncframe.host import Host
    from syncframe.registry import ComponentRegistrar, SystemRegistrar

__all__ = [
    "CONSTITUENTS",
    "SYSTEM",
    "register_commands",
    "register_filters",
    "register_sinks",
    "register_sources",
    "register_systems",
]

#: The system (connection type) name.
SYSTEM: Final = "re_nxt"
#: The name of the source and of the sink.
CONSTITUENTS: Final = "re_nxt_constituents"


def register_systems(register: SystemRegistrar) -> None:
    """``re_nxt``: a Raiser's Edge NXT environment through the SKY API."""
    register(SYSTEM, ReNxtSettings, description="Raiser's Edge NXT through the SKY API (OAuth 2.0)")


def register_sources(register: ComponentRegistrar) -> None:
    """``re_nxt_constituents``: constituents changed in RE NXT, polled by last_modified."""
    register(
        CONSTITUENTS,
        ReNxtConstituentSource,
        description="Constituents changed in Raiser's Edge NXT (last_modified polling), with "
        "email, address, phone and email consent",
    )


def register_sinks(register: ComponentRegistrar) -> None:
    """``re_nxt_constituents``: create and update constituents, set consent and solicit codes."""
    register(
        CONSTITUENTS,
        ReNxtConstituentSink,
        description="Creates and updates Raiser's Edge NXT constituents (email, address, phone, "
        "consent and solicit codes), with a lookup by constituent_id or email",
    )


def register_filters(register: ComponentRegistrar) -> None:
    """None: a constituent list restricts the source and the lookup through their ``list_id``."""


def register_commands(app: typer.Typer, host: Host) -> None:
    """None."""
