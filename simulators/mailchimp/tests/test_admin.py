"""The admin API: seed, state, reset, and what people do in Mailchimp's UI."""

from __future__ import annotations

import httpx
import pytest
from mailchimp_simulator import DEFAULT_LIST_ID, MailchimpSimulator, subscriber_hash
from syncframe_simulators import SimulatorAdminError

from simulators.mailchimp.tests.conftest import LIST, put_member

pytestmark = pytest.mark.anyio


async def test_a_fresh_simulator_has_one_audience_and_one_key(sim: MailchimpSimulator) -> None:
    async with sim.admin() as admin:
        state = await admin.state()
    assert [a["id"] for a in state["lists"]] == [DEFAULT_LIST_ID]
    assert state["api_keys"] == ["…cdef-us6"]
    assert state["api_root"] == "https://us6.api.mailchimp.com/3.0"
    assert state["lists"][0]["members"] == []
    assert [m["tag"] for m in state["lists"][0]["merge_fields"]] == [
        "FNAME",
        "LNAME",
        "ADDRESS",
        "PHONE",
        "BIRTHDAY",
    ]


async def test_seed_adds_lists_fields_members_and_webhooks_without_firing_them(
    sim: MailchimpSimulator,
) -> None:
    payload = {
        "lists": [
            {
                "id": "dd0nors001",
                "name": "Donors",
                "merge_fields": [{"tag": "CONSID", "name": "RE Constituent ID"}],
                "members": [
                    {
                        "email_address": "Ann@example.org",
                        "merge_fields": {"CONSID": "1"},
                        "tags": ["Donor"],
                        "last_changed": "2025-12-24T10:00:00Z",
                    },
                    {"email_address": "bo@example.org", "status": "archived"},
                ],
                "webhooks": [{"url": "https://receiver.example.org/hook"}],
            }
        ]
    }
    async with sim.admin() as admin:
        made = await admin.seed(payload)
        state = await admin.state()
    assert made["lists"] == [
        {
            "id": "dd0nors001",
            "members": 2,
            "merge_fields": ["FNAME", "LNAME", "ADDRESS", "PHONE", "BIRTHDAY", "CONSID"],
        },
    ]
    donors = next(a for a in state["lists"] if a["id"] == "dd0nors001")
    ann, bo = donors["members"]
    assert (ann["email_address"], ann["merge_fields"]["CONSID"], ann["tags"][0]["name"]) == (
        "Ann@example.org",
        "1",
        "Donor",
    )
    assert ann["last_changed"] == "2025-12-24T10:00:00+00:00"
    assert (ann["source"], bo["status"]) == ("Import", "archived")
    assert [w["url"] for w in donors["webhooks"]] == ["https://receiver.example.org/hook"]
    assert state["webhook_deliveries"] == []


async def test_seed_errors_name_the_record(sim: MailchimpSimulator) -> None:
    async with sim.admin() as admin:
        with pytest.raises(SimulatorAdminError) as bad:
            await admin.seed(
                {
                    "lists": [
                        {
                            "id": LIST,
                            "members": [{"email_address": "x@y.org"}, {"email_address": "nope"}],
                        }
                    ]
                }
            )
        assert bad.value.status == 400
        assert bad.value.message.startswith("lists.0.members.1: Invalid Resource")
        with pytest.raises(SimulatorAdminError) as invalid:
            await admin.seed(
                {"lists": [{"members": [{"email_address": "a@b.org", "status": "happy"}]}]}
            )
        assert invalid.value.status == 422
        assert invalid.value.message.startswith("lists.0.members.0.status: Input should be")
        with pytest.raises(SimulatorAdminError) as unnamed:
            await admin.seed({"lists": [{"id": "newlist"}]})
        assert unnamed.value.message == "lists.0.name: a new list needs a name"


async def test_reset_goes_back_to_a_fresh_simulator(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    await put_member(api, "ann@example.org")
    sim.seed_records({"api_keys": ["fedcba9876543210fedcba9876543210-us6"]})
    async with sim.admin() as admin:
        await admin.reset()
        state = await admin.state()
    assert state["lists"][0]["members"] == []
    assert state["api_keys"] == ["…cdef-us6"]
    assert sim.journal.entries() == []


async def test_an_admin_adds_and_edits_contacts_in_the_dashboard(sim: MailchimpSimulator) -> None:
    async with sim.admin() as admin:
        added = await admin.post(
            f"mailchimp/lists/{LIST}/members",
            {"email_address": "cy@example.org", "merge_fields": {"FNAME": "Cy"}},
        )
        assert (added["status"], added["source"]) == ("subscribed", "Admin Add")
        edited = await admin.request(
            "PATCH",
            f"mailchimp/lists/{LIST}/members/{subscriber_hash('cy@example.org')}",
            json={"status": "unsubscribed"},
        )
    assert edited.json()["unsubscribe_reason"] == "N/A (Unsubscribed by an admin)"
    assert sim.account.audiences[LIST].members[subscriber_hash("cy@example.org")].status == (
        "unsubscribed"
    )


async def test_a_contact_may_resubscribe_themselves_where_the_api_may_not(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    await put_member(api, "di@example.org", status_if_new="cleaned")
    async with sim.admin() as admin:
        back = await admin.post(
            f"mailchimp/lists/{LIST}/signup", {"email_address": "di@example.org"}
        )
        assert back["status"] == "subscribed"
        with pytest.raises(SimulatorAdminError) as again:
            await admin.post(f"mailchimp/lists/{LIST}/signup", {"email_address": "di@example.org"})
    assert (again.value.status, again.value.message) == (
        409,
        "email_address: di@example.org is already subscribed to 'syncframe'",
    )


async def test_ui_actions_refuse_what_the_ui_would_not_offer(
    api: httpx.AsyncClient, sim: MailchimpSimulator
) -> None:
    await put_member(api, "eve@example.org")
    async with sim.admin() as admin:
        with pytest.raises(SimulatorAdminError) as not_pending:
            await admin.post(f"mailchimp/lists/{LIST}/members/eve@example.org/confirm")
        assert not_pending.value.status == 409
        assert not_pending.value.message == (
            "subscriber_hash: eve@example.org is subscribed, not pending"
        )
        with pytest.raises(SimulatorAdminError) as unknown:
            await admin.post(f"mailchimp/lists/{LIST}/members/nobody@example.org/unsubscribe")
        assert unknown.value.status == 404
        with pytest.raises(SimulatorAdminError) as bad_field:
            await admin.post(
                f"mailchimp/lists/{LIST}/members/eve@example.org/profile", {"status": "cleaned"}
            )
        assert bad_field.value.message.startswith("status: the update-profile page only")
        with pytest.raises(SimulatorAdminError) as bad_merge:
            await admin.post(
                f"mailchimp/lists/{LIST}/members/eve@example.org/profile",
                {"merge_fields": {"BIRTHDAY": "13/45"}},
            )
        assert bad_merge.value.status == 422
        assert "BIRTHDAY: Please enter the birthday as MM/DD" in bad_merge.value.message
        with pytest.raises(SimulatorAdminError) as no_list:
            await admin.post("mailchimp/lists/nope/signup", {"email_address": "x@example.org"})
        assert no_list.value.status == 404


async def test_an_admin_makes_an_audience(sim: MailchimpSimulator) -> None:
    async with sim.admin() as admin:
        made = await admin.post("mailchimp/lists", {"name": "Volunteers", "double_optin": True})
    assert (made["name"], made["double_optin"]) == ("Volunteers", True)
    assert sim.account.audiences[made["id"]].name == "Volunteers"
