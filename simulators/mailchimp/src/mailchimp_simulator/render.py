"""The JSON the Marketing API answers with: audiences, members, merge fields, tags, webhooks.

``root`` is the API root the ``_links`` point at: ``https://<dc>.api.mailchimp.com/3.0``, as
the real API writes them whatever host the request came to.
"""

from __future__ import annotations

from typing import Any

from mailchimp_simulator._time import format_time
from mailchimp_simulator.audiences import Account, Audience, Member, Webhook
from mailchimp_simulator.merge_fields import MergeField

__all__ = [
    "audience_json",
    "collection_links",
    "link",
    "member_json",
    "merge_field_json",
    "webhook_json",
]


def link(rel: str, href: str, method: str = "GET") -> dict[str, str]:
    return {"rel": rel, "href": href, "method": method}


def collection_links(href: str, parent: str) -> list[dict[str, str]]:
    return [link("self", href), link("parent", parent), link("create", href, "POST")]


def _time_or_empty(value: Any) -> str:
    return format_time(value) if value is not None else ""


def member_json(audience: Audience, member: Member, root: str, account: Account) -> dict[str, Any]:
    """A member as ``GET /lists/{list_id}/members/{subscriber_hash}`` returns it."""
    merges: dict[str, Any] = {}
    for merge in audience.ordered_merge_fields():
        merges[merge.tag] = member.merge_fields.get(merge.tag, "")
    tags = [{"id": tag.id, "name": tag.name} for tag, _ in account.member_tags(audience, member)]
    href = f"{root}/lists/{audience.id}/members/{member.id}"
    data: dict[str, Any] = {
        "id": member.id,
        "email_address": member.email_address,
        "unique_email_id": member.unique_email_id,
        "contact_id": member.contact_id,
        "full_name": member.full_name(),
        "web_id": member.web_id,
        "email_type": member.email_type,
        "status": member.status,
    }
    if member.status == "unsubscribed":
        data["unsubscribe_reason"] = member.unsubscribe_reason
    data.update(
        {
            "consents_to_one_to_one_messaging": True,
            "merge_fields": merges,
            "interests": dict(member.interests),
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
            "ip_signup": member.ip_signup,
            "timestamp_signup": _time_or_empty(member.timestamp_signup),
            "ip_opt": member.ip_opt,
            "timestamp_opt": _time_or_empty(member.timestamp_opt),
            "member_rating": 2,
            "last_changed": format_time(member.last_changed),
            "language": member.language,
            "vip": member.vip,
            "email_client": "",
            "location": {
                "latitude": member.location.get("latitude", 0),
                "longitude": member.location.get("longitude", 0),
                "gmtoff": 0,
                "dstoff": 0,
                "country_code": "",
                "timezone": "",
                "region": "",
            },
            "marketing_permissions": [],
            "source": member.source,
            "tags_count": len(tags),
            "tags": tags,
            "list_id": audience.id,
            "_links": [
                link("self", href),
                link("parent", f"{root}/lists/{audience.id}/members"),
                link("update", href, "PATCH"),
                link("upsert", href, "PUT"),
                link("delete", href, "DELETE"),
                link("tags", f"{href}/tags"),
                link("delete_permanent", f"{href}/actions/delete-permanent", "POST"),
            ],
        }
    )
    return data


def audience_json(audience: Audience, root: str) -> dict[str, Any]:
    """An audience as ``GET /lists/{list_id}`` returns it, with its ``stats``."""
    href = f"{root}/lists/{audience.id}"
    subscribed = audience.count("subscribed")
    unsubscribed = audience.count("unsubscribed")
    cleaned = audience.count("cleaned")
    return {
        "id": audience.id,
        "web_id": audience.web_id,
        "name": audience.name,
        "contact": dict(audience.contact),
        "permission_reminder": audience.permission_reminder,
        "use_archive_bar": audience.use_archive_bar,
        "campaign_defaults": dict(audience.campaign_defaults),
        "notify_on_subscribe": audience.notify_on_subscribe,
        "notify_on_unsubscribe": audience.notify_on_unsubscribe,
        "date_created": format_time(audience.date_created),
        "list_rating": 0,
        "email_type_option": audience.email_type_option,
        "subscribe_url_short": f"http://eepurl.com/{audience.id[:6]}",
        "subscribe_url_long": f"https://mailchimp.com/subscribe?u=syncframe&id={audience.id}",
        "beamer_address": f"us-{audience.id}@inbound.mailchimp.com",
        "visibility": audience.visibility,
        "double_optin": audience.double_optin,
        "has_welcome": False,
        "marketing_permissions": False,
        "modules": [],
        "stats": {
            "member_count": subscribed,
            "unsubscribe_count": unsubscribed,
            "cleaned_count": cleaned,
            "member_count_since_send": subscribed,
            "unsubscribe_count_since_send": unsubscribed,
            "cleaned_count_since_send": cleaned,
            "campaign_count": 0,
            "campaign_last_sent": "",
            "merge_field_count": len(audience.merge_fields) + 1,  # EMAIL counts
            "avg_sub_rate": 0,
            "avg_unsub_rate": 0,
            "target_sub_rate": 0,
            "open_rate": 0,
            "click_rate": 0,
            "last_sub_date": _time_or_empty(audience.last_sub_date),
            "last_unsub_date": _time_or_empty(audience.last_unsub_date),
        },
        "_links": [
            link("self", href),
            link("parent", f"{root}/lists"),
            link("update", href, "PATCH"),
            link("batch-sub-unsub-members", href, "POST"),
            link("delete", href, "DELETE"),
            link("members", f"{href}/members"),
            link("merge-fields", f"{href}/merge-fields"),
            link("webhooks", f"{href}/webhooks"),
        ],
    }


def merge_field_json(audience: Audience, merge: MergeField, root: str) -> dict[str, Any]:
    href = f"{root}/lists/{audience.id}/merge-fields/{merge.merge_id}"
    return {
        **merge.to_json(audience.id),
        "_links": [
            link("self", href),
            link("parent", f"{root}/lists/{audience.id}/merge-fields"),
            link("update", href, "PATCH"),
            link("delete", href, "DELETE"),
        ],
    }


def webhook_json(audience: Audience, webhook: Webhook, root: str) -> dict[str, Any]:
    href = f"{root}/lists/{audience.id}/webhooks/{webhook.id}"
    return {
        "id": webhook.id,
        "url": webhook.url,
        "events": dict(webhook.events),
        "sources": dict(webhook.sources),
        "list_id": audience.id,
        "_links": [
            link("self", href),
            link("parent", f"{root}/lists/{audience.id}/webhooks"),
            link("update", href, "PATCH"),
            link("delete", href, "DELETE"),
        ],
    }
