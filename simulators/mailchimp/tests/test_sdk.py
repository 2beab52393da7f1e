"""The official ``mailchimp_marketing`` SDK against the simulator on a real socket.

The SDK builds ``host + path`` and then replaces the text ``server`` in the whole URL with the
server prefix, so ``host`` is pointed at the socket (``http://127.0.0.1:<port>/3.0``, which
does not contain ``server``). Emails are hashed before they go into a path for the same reason.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import mailchimp_marketing
import pytest
import requests
from mailchimp_marketing.api_client import ApiClientError
from mailchimp_simulator import DEFAULT_API_KEY, MailchimpSimulator, subscriber_hash
from syncframe_simulators import RunningServer

from simulators.mailchimp.tests.conftest import LIST


@pytest.fixture
def server(
    sim: MailchimpSimulator, serve_simulator: Callable[[MailchimpSimulator], RunningServer]
) -> RunningServer:
    return serve_simulator(sim)


@pytest.fixture
def client(server: RunningServer) -> Any:
    """The SDK configured as a user would, with its host pointed at the socket."""
    sdk = mailchimp_marketing.Client()
    sdk.set_config({"api_key": DEFAULT_API_KEY, "timeout": 10})
    sdk.api_client.host = f"{server.base_url}/3.0"
    return sdk


def test_ping_lists_members_merge_fields_and_tags(client: Any, sim: MailchimpSimulator) -> None:
    assert client.ping.get() == {"health_status": "Everything's Chimpy!"}
    lists = client.lists.get_all_lists(fields=["lists.id", "lists.name", "total_items"])
    assert lists == {"lists": [{"id": LIST, "name": "syncframe"}], "total_items": 1}

    made = client.lists.add_list_merge_field(
        LIST, {"tag": "CONSID", "name": "RE Constituent ID", "type": "text"}
    )
    assert made["tag"] == "CONSID"
    tags = [m["tag"] for m in client.lists.get_list_merge_fields(LIST, count=100)["merge_fields"]]
    assert tags[-1] == "CONSID"

    email = "Jane.Doe@Example.org"
    key = subscriber_hash(email)
    added = client.lists.set_list_member(
        LIST,
        key,
        {
            "email_address": email,
            "status_if_new": "subscribed",
            "merge_fields": {"FNAME": "Jane", "LNAME": "Doe", "CONSID": "10042"},
        },
    )
    assert (added["id"], added["status"]) == (key, "subscribed")
    fetched = client.lists.get_list_member(LIST, key)
    assert fetched["merge_fields"]["CONSID"] == "10042"
    updated = client.lists.update_list_member(LIST, key, {"merge_fields": {"LNAME": "Smith"}})
    assert updated["full_name"] == "Jane Smith"

    # A 204 comes back as the raw requests.Response.
    tagged = client.lists.update_list_member_tags(
        LIST, key, {"tags": [{"name": "Donor", "status": "active"}]}
    )
    assert tagged.status_code == 204
    assert [t["name"] for t in client.lists.get_list_member_tags(LIST, key)["tags"]] == ["Donor"]

    page = client.lists.get_list_members_info(
        LIST, since_last_changed="2025-12-31T00:00:00+00:00", fields=["members.id", "total_items"]
    )
    assert page == {"members": [{"id": key}], "total_items": 1}

    member = sim.account.audiences[LIST].members[key]
    assert member.merge_fields == {"FNAME": "Jane", "LNAME": "Smith", "CONSID": "10042"}
    # The server thread journals a request after its answer went out: wait for the last one.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        e.operation == "getListsIdMembers" for e in sim.journal.entries()
    ):
        time.sleep(0.01)
    # urllib3 may resend a GET when the server closed an idle keep-alive connection under load:
    # a request repeated back to back counts once.
    operations = [e.operation for e in sim.journal.entries()]
    assert [op for i, op in enumerate(operations) if i == 0 or op != operations[i - 1]] == [
        "getPing",
        "getLists",
        "postListsIdMergeFields",
        "getListsIdMergeFields",
        "putListsIdMembersId",
        "getListsIdMembersId",
        "patchListsIdMembersId",
        "postListMemberTags",
        "getListMemberTags",
        "getListsIdMembers",
    ]


def test_errors_reach_the_sdk_as_problem_json_text(client: Any) -> None:
    with pytest.raises(ApiClientError) as missing:
        client.lists.get_list_member(LIST, subscriber_hash("nobody@example.org"))
    assert missing.value.status_code == 404
    # application/problem+json is not "application/json" to the SDK: it hands over the text.
    assert isinstance(missing.value.text, str)
    assert json.loads(missing.value.text)["title"] == "Resource Not Found"
    with pytest.raises(ApiClientError) as refused:
        client.lists.add_list_member(LIST, {"email_address": "bad", "status": "subscribed"})
    assert json.loads(refused.value.text)["detail"] == "Please provide a valid email address."


def test_eleven_simultaneous_sdk_calls_see_exactly_one_429(
    server: RunningServer, sim: MailchimpSimulator
) -> None:
    # Long enough that all 11 threads' requests overlap even on a busy machine.
    sim.latency = 3.0
    statuses: list[int] = []
    barrier = threading.Barrier(11)

    def ping() -> None:
        barrier.wait()
        answer = requests.get(
            f"{server.base_url}/3.0/ping", auth=("user", DEFAULT_API_KEY), timeout=10
        )
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=ping) for _ in range(11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 10 + [429]
    assert sim.connections.to_json()["peak"] == {"…cdef-us6": 10}
