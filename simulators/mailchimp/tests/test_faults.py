"""Injected faults answer in Mailchimp's format and are named by the API's operation ids."""

from __future__ import annotations

import httpx
import pytest
from mailchimp_simulator import MailchimpSimulator

from simulators.mailchimp.tests.conftest import LIST, member_url, problem, put_member

pytestmark = pytest.mark.anyio


async def test_an_error_fault_is_a_problem_document(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    async with sim.admin() as admin:
        await admin.add_fault(kind="error", status=500, operation="putListsIdMembersId", times=1)
        await admin.add_fault(kind="error", status=503, operation="getListsIdMembers", times=1)
    failed = await api.put(
        member_url("ann@example.org"),
        json={"email_address": "ann@example.org", "status_if_new": "subscribed"},
    )
    body = problem(failed)
    assert (failed.status_code, body["title"]) == (500, "Internal Server Error")
    assert sim.account.audiences[LIST].members == {}  # a faulted request changes nothing
    unavailable = await api.get(f"/3.0/lists/{LIST}/members")
    assert problem(unavailable)["title"] == "Service Unavailable"
    await put_member(api, "ann@example.org")
    assert [(e.operation, e.status, e.fault) for e in sim.journal.entries()] == [
        ("putListsIdMembersId", 500, "error"),
        ("getListsIdMembers", 503, "error"),
        ("putListsIdMembersId", 200, None),
    ]


async def test_a_rate_limit_fault_is_the_connection_limit_429(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    async with sim.admin() as admin:
        await admin.add_fault(kind="rate_limit", operation="getPing", retry_after=2, times=1)
    busy = await api.get("/3.0/ping")
    assert problem(busy)["detail"] == "You have exceeded the limit of 10 simultaneous connections."
    assert busy.headers["retry-after"] == "2"


async def test_malformed_and_timeout_faults(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    async with sim.admin() as admin:
        await admin.add_fault(kind="malformed", operation="getListsIdMembers", times=1)
        await admin.add_fault(kind="timeout", operation="getPing", hang=0.01, times=1)
    cut = await api.get(f"/3.0/lists/{LIST}/members")
    assert cut.status_code == 200
    assert cut.headers["content-type"] == "application/json; charset=utf-8"
    assert cut.text.startswith('{"members": [{"id": ')
    with pytest.raises(ValueError, match=r"Unterminated|Expecting"):
        cut.json()
    gateway = await api.get("/3.0/ping")
    assert (gateway.status_code, problem(gateway)["title"]) == (504, "Gateway Timeout")


async def test_every_route_has_its_operation_id(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    email = "ops@example.org"
    await api.get("/3.0/")
    await api.get("/3.0/lists")
    await api.post(
        f"/3.0/lists/{LIST}/members", json={"email_address": email, "status": "subscribed"}
    )
    await api.patch(member_url(email), json={"vip": True})
    await api.get(f"{member_url(email)}/tags")
    await api.post(f"{member_url(email)}/tags", json={"tags": []})
    await api.delete(member_url(email))
    await api.post(f"{member_url(email)}/actions/delete-permanent")
    await api.get(f"/3.0/lists/{LIST}/merge-fields")
    await api.get(f"/3.0/lists/{LIST}/merge-fields/1")
    await api.get(f"/3.0/lists/{LIST}/webhooks")
    await api.get("/3.0/search-members", params={"query": "ops"})
    assert [e.operation for e in sim.journal.entries()] == [
        "getRoot",
        "getLists",
        "postListsIdMembers",
        "patchListsIdMembersId",
        "getListMemberTags",
        "postListMemberTags",
        "deleteListsIdMembersId",
        "postListsIdMembersHashActionsDeletePermanent",
        "getListsIdMergeFields",
        "getListsIdMergeFieldsId",
        "getListsIdWebhooks",
        "getSearchMembers",
    ]
    assert all(e.status is not None and e.status < 300 for e in sim.journal.entries())
