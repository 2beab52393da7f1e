"""What the mailchimp connection registers with syncframe (called from ``plugin.py``).

- system ``mailchimp``: one audience of a Mailchimp account (:class:`MailchimpSettings`);
- source ``mailchimp_members``: members changed since the last run, polled;
- source ``mailchimp_webhook``: member events Mailchimp pushes to ``syncframe serve``;
- sink ``mailchimp_members``: members created and updated (status, merge fields, tags), with a
  lookup by ``constituent_id`` (the ``CONSID`` merge field) and ``email``.

See ``docs/smartsync/mailchimp.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncframe_smartsync.mailchimp_members import MemberSource
from syncframe_smartsync.mailchimp_settings import SYSTEM, MailchimpSettings
from syncframe_smartsync.mailchimp_sink import MemberSink
from syncframe_smartsync.mailchimp_webhook import MemberWebhookSource

if TYPE_CHECKING:
    import typer

    from syncframe.host import Host
    from syncframe.registry import ComponentRegistrar, SystemRegistrar

__all__ = [
    "register_commands",
    "register_filters",
    "register_sinks",
    "register_sources",
    "register_systems",
]


def register_systems(register: SystemRegistrar) -> None:
    """``mailchimp``: one audience of a Mailchimp account, reached with an API key."""
    register(SYSTEM, MailchimpSettings, description="A Mailchimp audience (Marketing API v3)")


def register_sources(register: ComponentRegistrar) -> None:
    """``mailchimp_members`` (polled) and ``mailchimp_webhook`` (pushed)."""
    register(
        "mailchimp_members",
        MemberSource,
        description="Members of a Mailchimp audience changed since the last run (polled)",
    )
    register(
        "mailchimp_webhook",
        MemberWebhookSource,
        description="Member events a Mailchimp audience pushes to syncframe serve",
    )


def register_sinks(register: ComponentRegistrar) -> None:
    """``mailchimp_members``: members created and updated, found by CONSID or email."""
    register(
        "mailchimp_members",
        MemberSink,
        description="Members written into a Mailchimp audience (status, merge fields, tags)",
    )


def register_filters(register: ComponentRegistrar) -> None:
    """None: a list restriction is the audience itself (the connection's or the component's
    ``list_id``)."""


def register_commands(app: typer.Typer, host: Host) -> None:
    """None."""
