"""Transactions to RE: the synced types and their TRANSACTION_TYPE, each sent once (the first run
all cross-referenced ones, later runs the new and the previously skipped), and every skip rule
with its reason; cross-reference mappings checked against RE's code tables and pushed at once
when their On Demand switch is on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from syncframe_simulators import SimulatorAdminError
from syncframe_simulators.file_server import FileServer

from simulators.luminate.tests.test_data_sync_support import SyncSite, names, open_site, read_rows
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio

XREFS = "/luminate/data-sync/cross-references"


@pytest.fixture(scope="module")
def file_server() -> Iterator[FileServer]:
    with FileServer() as server:
        yield server


@pytest.fixture
async def site(file_server: FileServer, sim_clock: ManualClock) -> AsyncIterator[SyncSite]:
    async with open_site(file_server, sim_clock) as made:
        yield made


async def prepared(site: SyncSite, **settings: bool) -> SyncSite:
    """The operation, and a first run that brought RE's code tables."""
    await site.create_operation(**settings)
    first = await site.run()
    assert first["status"] == "Completed"
    return site


async def person(site: SyncSite, name: str, exchange_id: str | None = None) -> int:
    columns = {"PRIMARY_EMAIL": f"{name.lower()}@example.org", "LAST_NAME": name}
    if exchange_id is not None:
        columns["EXCHANGE_ID"] = exchange_id
    return await site.constituent(**columns)


async def mapped(
    site: SyncSite, source_type: str, record: dict[str, Any], codes: tuple[str, str, str]
) -> int:
    """An associated record mapped to RE (campaign, fund, appeal)."""
    source_id = await site.associated(source_type, record)
    campaign, fund, appeal = codes
    await site.admin.post(
        XREFS,
        {
            "source_type": source_type,
            "source_id": source_id,
            "campaign": campaign,
            "fund": fund,
            "appeal": appeal,
        },
    )
    return source_id


async def gift(site: SyncSite, donor: int, amount: str = "25.00", **values: Any) -> int:
    return await site.transaction(
        "Donation", {"Donor": {"ConsId": donor}, "Payment": {"Amount": amount}, **values}
    )


def sent_ids(site: SyncSite) -> list[str]:
    """Every TRANSACTION_ID RE received, over all files."""
    return [
        row["TRANSACTION_ID"]
        for name in sorted(site.connector.collected)
        if name.endswith("_transactions.csv")
        for row in site.connector.rows(name)
    ]


class TestTypes:
    """Each synced Luminate transaction type, as the contract's TRANSACTION_TYPE."""

    async def test_every_synced_type(self, site: SyncSite) -> None:
        await prepared(site, teamraiser_registrations=True)
        donor = await person(site, "Dana", "RE-1")
        walker = await person(site, "Walt", "RE-2")
        owner = await person(site, "Olga", "RE-3")
        web = ("ANNUAL", "GEN", "WEB")
        walk = ("EVENTS", "WALK", "SPRING")
        form = await mapped(site, "DonationForm", {"Title": "Give"}, web)
        event = await mapped(site, "TeamRaiserEvent", {"Name": "River Walk"}, walk)
        page = await mapped(
            site,
            "PersonalFundraisingCampaign",
            {"OwnerConsId": owner, "Title": "In memory of Grace"},
            web,
        )
        show = await mapped(site, "CalendarEvent", {"Title": "Gala"}, walk)
        mug = await mapped(site, "Product", {"Name": "Mug"}, web)

        plain = await gift(site, donor, FormId=form)
        recurring = await site.transaction(
            "Donation",
            {
                "Donor": {"ConsId": donor},
                "FormId": form,
                "Payment": {"Amount": "10.00", "CreationMethod": 2},
            },
        )
        pledge = await gift(site, donor, "50.00", FormId=form)
        await site.admin.request(
            "PUT",
            f"/luminate/data-sync/pledge-payments/{pledge}",
            json={"pledge_import_id": "PL-7"},
        )
        tr_gift = await site.transaction(
            "TeamRaiserGift",
            {
                "Donor": {"ConsId": donor},
                "EventId": event,
                "RecipientConsId": walker,
                "Payment": {"Amount": "30.00"},
            },
        )
        registration = await site.transaction(
            "TeamRaiserRegistration",
            {"Participant": {"ConsId": walker}, "EventId": event, "Payment": {"Amount": "40.00"}},
        )
        tribute = await site.transaction(
            "PersonalFundraisingGift",
            {
                "Donor": {"ConsId": donor},
                "PersonalFundraisingCampaignId": page,
                "Payment": {"Amount": "15.00"},
            },
        )
        ticket = await site.transaction(
            "TicketPurchase",
            {
                "Purchaser": {"ConsId": donor},
                "CalendarEventId": show,
                "Payment": {"Amount": "60.00"},
            },
        )
        order = await site.transaction(
            "ProductOrder",
            {"Donor": {"ConsId": donor}, "ProductId": mug, "Payment": {"Amount": "12.00"}},
        )
        await site.admin.post(
            "/luminate/transactions/ActionAlertResponse", {"Constituent": {"ConsId": donor}}
        )
        result = await site.run()

        assert result["status"] == "Completed"
        rows = site.connector.rows("luminate_2_transactions.csv")
        dana, walt, olga = (str(donor), "RE-1"), (str(walker), "RE-2"), (str(owner), "RE-3")
        nobody = ("", "")
        expected = [
            (plain, "Donation", dana, nobody, "25.00", web, "", ""),
            (recurring, "RecurringGift", dana, nobody, "10.00", web, "", ""),
            (pledge, "PledgePayment", dana, nobody, "50.00", web, "PL-7", ""),
            (tr_gift, "Donation", dana, walt, "30.00", walk, "", ""),
            (registration, "TeamRaiserRegistration", walt, nobody, "40.00", walk, "", ""),
            (tribute, "TributeDonation", dana, olga, "15.00", web, "", "In memory of Grace"),
            (ticket, "TicketPurchase", dana, nobody, "60.00", walk, "", ""),
            (order, "ECommercePurchase", dana, nobody, "12.00", web, "", ""),
        ]
        assert [
            (
                r["TRANSACTION_ID"],
                r["TRANSACTION_TYPE"],
                r["DONOR_CONS_ID"],
                r["DONOR_EXCHANGE_ID"],
                r["SOLICITOR_CONS_ID"],
                r["SOLICITOR_EXCHANGE_ID"],
                r["AMOUNT"],
                r["RE_CAMPAIGN"],
                r["RE_FUND"],
                r["RE_APPEAL"],
                r["PLEDGE_IMPORT_ID"],
                r["TRIBUTE_NAME"],
            )
            for r in rows
        ] == [
            (str(tid), kind, *donor_ids, *solicitor_ids, amount, *codes, pledge_id, tribute_name)
            for tid, kind, donor_ids, solicitor_ids, amount, codes, pledge_id, tribute_name in (
                expected
            )
        ]
        assert {r["DATE"] for r in rows} == {"2026-01-01"}

    async def test_teamraiser_registrations_only_with_the_setting(self, site: SyncSite) -> None:
        await prepared(site)
        walker = await person(site, "Walt", "RE-2")
        event = await mapped(site, "TeamRaiserEvent", {"Name": "Walk"}, ("EVENTS", "WALK", "WEB"))
        registration = await site.transaction(
            "TeamRaiserRegistration",
            {"Participant": {"ConsId": walker}, "EventId": event, "Payment": {"Amount": "40.00"}},
        )
        off = await site.run()
        assert (off["status"], off["collected"]) == ("Completed", [])
        await site.settings(teamraiser_registrations=True)
        on = await site.run()
        assert on["collected"] == ["luminate_3_transactions.csv"]
        assert sent_ids(site) == [str(registration)]

    async def test_settled_donations_only(self, site: SyncSite) -> None:
        await prepared(site)
        donor = await person(site, "Dana", "RE-1")
        form = await mapped(site, "DonationForm", {"Title": "Give"}, ("ANNUAL", "GEN", "WEB"))
        pending = await gift(site, donor, FormId=form)
        await site.admin.request(
            "PUT", f"/luminate/data-sync/settlements/{pending}", json={"settled": False}
        )
        waiting = await site.run()
        assert (waiting["status"], waiting["collected"]) == ("Completed", [])
        await site.admin.request(
            "PUT", f"/luminate/data-sync/settlements/{pending}", json={"settled": True}
        )
        await site.run()
        assert sent_ids(site) == [str(pending)]

    async def test_refunds(self, site: SyncSite) -> None:
        await prepared(site)
        donor = await person(site, "Dana", "RE-1")
        form = await mapped(site, "DonationForm", {"Title": "Give"}, ("ANNUAL", "GEN", "WEB"))
        whole = await gift(site, donor, FormId=form)
        part = await gift(site, donor, "40.00", FormId=form)
        await site.admin.post("/luminate/refunds", {"transaction_id": whole, "online": True})
        await site.admin.post(
            "/luminate/refunds", {"transaction_id": part, "amount": "15.00", "online": True}
        )
        await site.run()
        rows = site.connector.rows("luminate_2_transactions.csv")
        assert [(r["TRANSACTION_ID"], r["AMOUNT"]) for r in rows] == [(str(part), "25.00")]


class TestOnceOnly:
    """First run: every cross-referenced one; later runs: new and previously skipped; once."""

    async def test_new_and_previously_skipped_each_once(self, site: SyncSite) -> None:
        await site.create_operation()
        donor = await person(site, "Dana", "RE-1")
        form = await site.associated("DonationForm", {"Title": "Give"})
        later_form = await site.associated("DonationForm", {"Title": "Later"})
        old = [await gift(site, donor, FormId=form) for _ in range(2)]
        unmapped = await gift(site, donor, FormId=later_form)
        await site.run()  # the code tables arrive; nothing is mapped yet
        await site.admin.post(
            XREFS,
            {
                "source_type": "DonationForm",
                "source_id": form,
                "campaign": "ANNUAL",
                "fund": "GEN",
                "appeal": "WEB",
            },
        )
        first = await site.run()
        assert [
            r["TRANSACTION_ID"] for r in site.connector.rows("luminate_2_transactions.csv")
        ] == [str(t) for t in old]
        assert (
            "Number of transactions not downloaded due to missing cross-references: 1"
            in (first["messages"])
        )

        new = await gift(site, donor, FormId=form)
        await site.admin.post(
            XREFS,
            {
                "source_type": "DonationForm",
                "source_id": later_form,
                "campaign": "ANNUAL",
                "fund": "GEN",
                "appeal": "SPRING",
            },
        )
        second = await site.run()
        assert second["status"] == "Completed"
        assert [
            r["TRANSACTION_ID"] for r in site.connector.rows("luminate_3_transactions.csv")
        ] == [
            str(unmapped),
            str(new),
        ]
        third = await site.run()
        assert not any(n.startswith("luminate_4") for n in names(third))
        assert sorted(sent_ids(site)) == sorted(str(t) for t in [*old, unmapped, new])
        assert len(sent_ids(site)) == len(set(sent_ids(site)))


class TestSkips:
    """Every skip rule, by its real cause, in the messages and the skipped report."""

    async def test_missing_importid_for_tr_solicitor(self, site: SyncSite) -> None:
        await prepared(site)
        donor = await person(site, "Dana", "RE-1")
        walker = await person(site, "Walt")  # not in RE yet: no EXCHANGE_ID
        event = await mapped(site, "TeamRaiserEvent", {"Name": "Walk"}, ("EVENTS", "WALK", "WEB"))
        gifts = [
            await site.transaction(
                "TeamRaiserGift",
                {
                    "Donor": {"ConsId": donor},
                    "EventId": event,
                    "RecipientConsId": walker,
                    "Payment": {"Amount": "30.00"},
                },
            )
            for _ in range(2)
        ]
        skipped = await site.run()

        assert skipped["status"] == "Completed with errors"
        assert (
            "Number of transactions not downloaded due to missing ImportID for TR solicitor: 2"
            in (skipped["messages"])
        )
        report = read_rows(await site.file(skipped, "skipped_transactions_2.csv"))
        assert [(r["TRANSACTION_ID"], r["SOLICITOR_CONS_ID"], r["REASON"]) for r in report] == [
            (str(g), str(walker), f"TR solicitor {walker} has no EXCHANGE_ID (no RE ImportID)")
            for g in gifts
        ]
        # RE creates the participant; its Import ID comes back with the next upload.
        site.connector.re_constituents = [
            {"MEMBER_ID": "3", "EXCHANGE_ID": "RE-3", "CONS_ID": str(walker)}
        ]
        caught_up = await site.run()
        assert caught_up["status"] == "Completed"
        rows = site.connector.rows("luminate_3_transactions.csv")
        assert [(r["TRANSACTION_ID"], r["SOLICITOR_EXCHANGE_ID"]) for r in rows] == [
            (str(g), "RE-3") for g in gifts
        ]

    async def test_donor_without_exchange_id(self, site: SyncSite) -> None:
        await prepared(site)
        donor = await person(site, "Dana")
        form = await mapped(site, "DonationForm", {"Title": "Give"}, ("ANNUAL", "GEN", "WEB"))
        donation = await gift(site, donor, FormId=form)
        result = await site.run()
        assert (
            "Number of transactions not downloaded due to missing ImportID for donor: 1"
            in (result["messages"])
        )
        report = read_rows(await site.file(result, "skipped_transactions_2.csv"))
        assert [(r["TRANSACTION_ID"], r["REASON"]) for r in report] == [
            (str(donation), f"Donor {donor} has no EXCHANGE_ID (no RE ImportID)")
        ]

    async def test_donor_or_solicitor_pending_predup_or_with_rnr_match(
        self, site: SyncSite
    ) -> None:
        await prepared(site, predup_match_enabled=True)
        donor = await person(site, "Dana", "RE-1")
        twin = await person(site, "Dina", "RE-9")
        await site.admin.request(
            "PUT", f"/luminate/data-sync/rnr-matches/{donor}", json={"matched_cons_id": twin}
        )
        registered = await site.admin.post(
            "/luminate/constituents",
            {"PRIMARY_EMAIL": "own@example.org", "LAST_NAME": "Own", "EXCHANGE_ID": "RE-5"},
        )
        owner = registered["ConsId"]  # a new registration, pending PREDUP
        form = await mapped(site, "DonationForm", {"Title": "Give"}, ("ANNUAL", "GEN", "WEB"))
        page = await mapped(
            site,
            "PersonalFundraisingCampaign",
            {"OwnerConsId": owner, "Title": "Tribute"},
            ("ANNUAL", "GEN", "WEB"),
        )
        by_matched = await gift(site, donor, FormId=form)
        through_pending = await site.transaction(
            "PersonalFundraisingGift",
            {
                "Donor": {"ConsId": twin},
                "PersonalFundraisingCampaignId": page,
                "Payment": {"Amount": "5.00"},
            },
        )
        result = await site.run()

        assert (
            "Number of transactions not downloaded due to a donor or solicitor pending PREDUP or "
            "with an RnR match: 2" in result["messages"]
        )
        report = {
            r["TRANSACTION_ID"]: r["REASON"]
            for r in read_rows(await site.file(result, "skipped_transactions_2.csv"))
        }
        assert report == {
            str(by_matched): f"Donor {donor} has an RnR (Resolve New Registrations) match",
            str(
                through_pending
            ): f"Solicitor {owner} is pending PREDUP (Resolve New Registrations)",
        }

    async def test_unmapped_and_reasons_combine(self, site: SyncSite) -> None:
        await prepared(site)
        donor = await person(site, "Dana")
        donation = await gift(site, donor)
        result = await site.run()
        report = read_rows(await site.file(result, "skipped_transactions_2.csv"))
        assert report[0]["REASON"] == (
            f"Donor {donor} has no EXCHANGE_ID (no RE ImportID); No cross-reference mapping: "
            "the transaction names no DonationForm or DonationCampaign"
        )
        assert report[0]["TRANSACTION_ID"] == str(donation)
        assert (
            "Skipped transactions and their reasons: skipped_transactions_2.csv"
            in (result["messages"])
        )


class TestCrossReferenceMapping:
    """Mappings are checked against RE's code tables; switched on, they push at once."""

    async def test_the_code_tables_must_have_arrived(self, site: SyncSite) -> None:
        await site.create_operation()
        form = await site.associated("DonationForm", {"Title": "Give"})
        with pytest.raises(SimulatorAdminError) as refused:
            await site.admin.post(
                XREFS,
                {
                    "source_type": "DonationForm",
                    "source_id": form,
                    "campaign": "ANNUAL",
                    "fund": "GEN",
                    "appeal": "WEB",
                },
            )
        assert refused.value.status == 400
        assert "code tables have not been received yet" in refused.value.message

    @pytest.mark.parametrize(
        ("change", "status", "named"),
        [
            ({"fund": "NOPE"}, 400, "fund: 'NOPE' is not an RE Fund code"),
            ({"campaign": "GEN"}, 400, "campaign: 'GEN' is not an RE Campaign code"),
            ({"source_id": 999}, 404, "source_id: there is no DonationForm 999"),
            ({"source_type": "Donation"}, 422, "source_type"),
        ],
    )
    async def test_bad_mappings_name_the_field(
        self, site: SyncSite, change: dict[str, Any], status: int, named: str
    ) -> None:
        await prepared(site)
        form = await site.associated("DonationForm", {"Title": "Give"})
        body = {
            "source_type": "DonationForm",
            "source_id": form,
            "campaign": "ANNUAL",
            "fund": "GEN",
            "appeal": "WEB",
        }
        with pytest.raises(SimulatorAdminError) as refused:
            await site.admin.post(XREFS, {**body, **change})
        assert refused.value.status == status
        assert named in refused.value.message

    async def test_switched_on_the_newly_mapped_go_at_once(self, site: SyncSite) -> None:
        await prepared(site, cross_reference_mapping=True)
        donor = await person(site, "Dana", "RE-1")
        form = await site.associated("DonationForm", {"Title": "Give"})
        other = await site.associated("DonationForm", {"Title": "Other"})
        mine = [await gift(site, donor, FormId=form) for _ in range(2)]
        await gift(site, donor, FormId=other)
        answer = await site.admin.post(
            XREFS,
            {
                "source_type": "DonationForm",
                "source_id": form,
                "campaign": "ANNUAL",
                "fund": "GEN",
                "appeal": "WEB",
            },
        )
        push = answer["on_demand"]["push"]
        assert (answer["on_demand"]["queued"], push["trigger"], push["status"]) == (
            2,
            "cross_reference_mapping",
            "Completed",
        )
        assert push["collected"] == ["luminate_2_transactions.csv"]
        assert sent_ids(site) == [str(t) for t in mine]
        assert answer["cross_reference"]["fund"] == "GEN"

    async def test_a_form_mapping_wins_over_its_campaign(self, site: SyncSite) -> None:
        await prepared(site)
        donor = await person(site, "Dana", "RE-1")
        campaign = await mapped(
            site, "DonationCampaign", {"Title": "Spring"}, ("ANNUAL", "GEN", "SPRING")
        )
        form = await mapped(
            site,
            "DonationForm",
            {"Title": "Give", "CampaignId": campaign},
            ("EVENTS", "WALK", "WEB"),
        )
        bare = await site.associated("DonationForm", {"Title": "Bare", "CampaignId": campaign})
        await gift(site, donor, FormId=form, CampaignId=campaign)
        await gift(site, donor, FormId=bare, CampaignId=campaign)
        await site.run()
        rows = site.connector.rows("luminate_2_transactions.csv")
        assert [(r["RE_CAMPAIGN"], r["RE_APPEAL"]) for r in rows] == [
            ("EVENTS", "WEB"),
            ("ANNUAL", "SPRING"),
        ]


class TestPledgesAndSettlement:
    """The admin marks pledge payments and unsettled payments; sent ones are final."""

    async def test_input_is_checked(self, site: SyncSite) -> None:
        await prepared(site)
        donor = await person(site, "Dana", "RE-1")
        form = await mapped(site, "DonationForm", {"Title": "Give"}, ("ANNUAL", "GEN", "WEB"))
        show = await site.associated("CalendarEvent", {"Title": "Gala"})
        ticket = await site.transaction(
            "TicketPurchase",
            {
                "Purchaser": {"ConsId": donor},
                "CalendarEventId": show,
                "Payment": {"Amount": "60.00"},
            },
        )
        client = site.sim.client()
        wrong = await client.put(
            f"/_admin/luminate/data-sync/pledge-payments/{ticket}", json={"pledge_import_id": "P"}
        )
        assert (wrong.status_code, "only a Donation can pay a pledge" in wrong.json()["error"]) == (
            400,
            True,
        )
        donation = await gift(site, donor, FormId=form)
        await site.run()
        late = await client.put(
            f"/_admin/luminate/data-sync/pledge-payments/{donation}", json={"pledge_import_id": "P"}
        )
        assert (late.status_code, "sent to Raiser's Edge already" in late.json()["error"]) == (
            409,
            True,
        )
        ghost = await client.put(
            "/_admin/luminate/data-sync/settlements/9", json={"settled": False}
        )
        assert ghost.status_code == 404
