"""The Settings > Connectivity > Webhooks page: the configuration, the event log with its All and
Failures tabs, and a Retry button on every failed event."""

from __future__ import annotations

from html import escape
from typing import Final, Literal
from urllib.parse import quote

from virtuous_simulator.webhooks import WebhookHub

__all__ = ["PAGE_PATH", "PAGE_SIZE", "render_webhooks_page"]

PAGE_PATH: Final = "/settings/connectivity/webhooks"
#: Events per page of the log.
PAGE_SIZE: Final = 50

_STYLE: Final = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2733}
h1{margin-bottom:.2rem}.crumbs{color:#6b7785;margin-top:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
th,td{border-bottom:1px solid #dde3ea;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f6f9;font-weight:600}
.tabs a{display:inline-block;padding:.4rem .9rem;border:1px solid #dde3ea;border-bottom:none;
text-decoration:none;color:#1d2733;border-radius:.3rem .3rem 0 0}
.tabs a.active{background:#1d5fa8;color:#fff}
.delivered{color:#2e7d32}.failed{color:#c62828}.pending{color:#8a6d00}
.reason{max-width:32rem;word-break:break-word;font-family:monospace;font-size:.85em}
button{background:#1d5fa8;color:#fff;border:none;border-radius:.25rem;padding:.25rem .7rem;
cursor:pointer}
"""


def _cell(value: object) -> str:
    return f"<td>{escape(str(value)) if value is not None else ''}</td>"


def render_webhooks_page(
    hub: WebhookHub, tab: Literal["all", "failures"], page: int, retry_path: str
) -> str:
    """The page's HTML (``retry_path`` has ``{event_id}`` where the event id goes)."""
    parts: list[str] = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Webhooks · Settings · Virtuous CRM+</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Webhooks</h1><p class='crumbs'>Settings › Connectivity › Webhooks</p>",
        "<h2>Configuration</h2>",
    ]
    if hub.subscriptions:
        parts.append(
            "<table class='webhooks'><thead><tr><th>Id</th><th>Name</th><th>URL</th>"
            "<th>Events</th><th>Secret</th><th>Created (UTC)</th></tr></thead><tbody>"
        )
        for subscription in hub.subscriptions.values():
            data = subscription.json()
            parts.append(
                "<tr>"
                + _cell(data["id"])
                + _cell(data["name"])
                + _cell(data["url"])
                + _cell(", ".join(data["events"]))
                + _cell("set (hidden)" if data["hasSecret"] else "none")
                + _cell(data["createDateTimeUtc"])
                + "</tr>"
            )
        parts.append("</tbody></table>")
    else:
        parts.append("<p>No webhooks are configured.</p>")

    failures = hub.counts["failed"]
    everything = sum(hub.counts.values())
    parts.append(
        "<h2>Events</h2><nav class='tabs'>"
        f"<a href='{PAGE_PATH}?tab=all' class='{'active' if tab == 'all' else ''}'>"
        f"All ({everything})</a>"
        f"<a href='{PAGE_PATH}?tab=failures' class='{'active' if tab == 'failures' else ''}'>"
        f"Failures ({failures})</a></nav>"
    )
    total = failures if tab == "failures" else everything
    rows = hub.select("failed" if tab == "failures" else None, newest_first=True)
    start = (page - 1) * PAGE_SIZE
    shown = 0
    parts.append(
        "<table class='events'><thead><tr><th>Event Id</th><th>Event</th><th>Source</th>"
        "<th>Contact</th><th>Occurred (UTC)</th><th>Status</th><th>Attempts</th>"
        "<th>Last attempt</th><th>Next retry</th><th>Reason</th><th></th></tr></thead><tbody>"
    )
    for index, row in enumerate(rows):
        if index < start:
            continue
        if shown == PAGE_SIZE:
            break
        shown += 1
        data = hub.row_json(row)
        here = f"{PAGE_PATH}?tab={tab}&page={page}"
        retry = ""
        if row.status == "failed":
            action = retry_path.format(event_id=quote(data["eventId"]))
            retry = (
                f"<form method='post' action='{escape(action)}'>"
                f"<input type='hidden' name='next' value='{escape(here)}'>"
                "<button type='submit'>Retry</button></form>"
            )
        parts.append(
            f"<tr data-event-id='{escape(data['eventId'])}'>"
            + _cell(data["eventId"])
            + _cell(data["event"])
            + _cell(data["source"])
            + _cell(data["contactId"])
            + _cell(data["occurredAt"])
            + f"<td class='{row.status}'>{row.status}</td>"
            + _cell(data["attempts"])
            + _cell(data["lastAttemptAt"])
            + _cell(data["nextAttemptAt"])
            + f"<td class='reason'>{escape(data['reason'] or '')}</td>"
            + f"<td>{retry}</td></tr>"
        )
    parts.append("</tbody></table>")
    if shown == 0:
        parts.append("<p>No events.</p>")
    pages = max(1, -(-total // PAGE_SIZE))
    links: list[str] = []
    if page > 1:
        links.append(f"<a href='{PAGE_PATH}?tab={tab}&page={page - 1}'>‹ Newer</a>")
    links.append(f"Page {page} of {pages}")
    if page < pages:
        links.append(f"<a href='{PAGE_PATH}?tab={tab}&page={page + 1}'>Older ›</a>")
    parts.append(f"<p class='paging'>{' · '.join(links)}</p></body></html>")
    return "".join(parts)
