"""The RE connector for Luminate Online end to end, every part on a real loopback socket.

Luminate's data sync fires on its schedule (the shared ManualClock moved, due runs asked for),
calls the connector machine (``syncframe serve`` on the example flow file, a subprocess) over
HTTP, the connector reads Raiser's Edge over HTTP and puts its files on the FTP server, Luminate
imports them into Constituent360, compiles its own files for RE, puts them on the FTP server and
calls the connector again, which moves them into RE's import area. Assertions are on what landed:
Constituent360's records, the files in RE's import area, RE's records after the client imports
them, and the Operation Results list with its Available Files.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.re_connector_world import (
    ACCOUNT,
    SECRETS,
    ConnectorWorld,
    rows,
)

pytestmark = pytest.mark.slow

NO_FILES = "Not initiating download since no files were generated"
TR_SOLICITOR = "Number of transactions not downloaded due to missing ImportID for TR solicitor: {}"
WEB = ("ANNUAL", "GEN", "WEB")
WALK = ("EVENTS", "WALK", "SPRING")


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Any]:
    worlds: list[ConnectorWorld] = []

    def make(**settings: bool) -> ConnectorWorld:
        world = ConnectorWorld(tmp_path / f"connector{len(worlds)}", **settings)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.close()
        for output in world.connector.outputs:
            for secret in SECRETS:
                assert secret not in output


def linked_world(make_world: Any, people: int = 3, **settings: bool) -> ConnectorWorld:
    """RE constituents already in Constituent360 through a first scheduled cycle."""
    world: ConnectorWorld = make_world(**settings)
    for n in range(people):
        world.re_constituent(f"First{n}", f"Last{n}", f"person{n}@example.org")
    world.connector.start()
    first = world.scheduled_cycle()
    assert first["status"] == "Completed", first
    return world


def cons_of(world: ConnectorWorld, member_id: str) -> dict[str, Any]:
    return world.lo_by_member_id()[member_id]


def by_member(world: ConnectorWorld) -> dict[str, dict[str, Any]]:
    """RE constituents by Constituent ID (Luminate's MEMBER_ID)."""
    return {c["constituent_id"]: c for c in world.re_constituents()}


def mapped_form(world: ConnectorWorld, title: str = "Give", codes: tuple[str, ...] = WEB) -> int:
    form = world.associated("DonationForm", {"Title": title})
    world.map_cross_reference("DonationForm", form, *codes)
    return form


def donation(world: ConnectorWorld, donor: int, amount: str = "25.00", **more: Any) -> int:
    return world.transaction(
        "Donation", {"Donor": {"ConsId": donor}, "Payment": {"Amount": amount}, **more}
    )


def files_named(world: ConnectorWorld, suffix: str) -> list[str]:
    return sorted(f["name"] for f in world.import_area() if f["name"].endswith(suffix))


def rows_of(world: ConnectorWorld, suffix: str) -> list[dict[str, str]]:
    return [row for name in files_named(world, suffix) for row in world.import_area_file(name)]


def skipped(world: ConnectorWorld, result: dict[str, Any]) -> dict[str, str]:
    """The skipped-transactions report of a result: reason by TRANSACTION_ID."""
    report = [f["name"] for f in result["available_files"] if f["name"].startswith("skipped_")]
    assert len(report) == 1, result["available_files"]
    return {
        row["TRANSACTION_ID"]: row["REASON"]
        for row in rows(world.available_file(result, report[0]))
    }


# -- the full scheduled cycle --------------------------------------------------------------------


def test_a_scheduled_cycle_carries_re_to_luminate_and_luminate_back_to_re(
    make_world: Any,
) -> None:
    world: ConnectorWorld = make_world()
    ann = world.re_constituent(
        "Ann",
        "Lee",
        "ann@example.org",
        addresses=[{"type": "Home", "street1": "1 Elm St", "city": "Troy", "preferred": True}],
    )
    bo = world.re_constituent("Bo", "Chan", "bo@example.org")
    world.connector.start()

    first = world.scheduled_cycle()
    assert first["status"] == "Completed"
    assert first["trigger"] == "schedule"
    uploaded = {f["name"]: f for f in first["available_files"]}
    assert {"re_1_constituents.csv", "re_1_codetables.csv"} <= set(uploaded)
    assert all(uploaded[n]["direction"] == "upload" for n in uploaded if n.startswith("re_1_"))
    # RE's people are in Constituent360, linked by MEMBER_ID (RE Constituent ID) and
    # EXCHANGE_ID (RE Import ID), with the RE email as PRIMARY_EMAIL.
    re_people = {c["import_id"]: c for c in world.re_constituents()}
    lo = world.lo_by_member_id()
    assert len(lo) == 2
    ann_lo = lo[re_people[ann]["constituent_id"]]
    assert (ann_lo["EXCHANGE_ID"], ann_lo["PRIMARY_EMAIL"], ann_lo["HOME_CITY"]) == (
        ann,
        "ann@example.org",
        "Troy",
    )
    assert lo[re_people[bo]["constituent_id"]]["EXCHANGE_ID"] == bo
    # The files were taken off the FTP server once processed.
    assert world.ftp_folder("upload") == []
    # The Available Files download what went through the FTP server.
    sent = rows(world.available_file(first, "re_1_constituents.csv"))
    assert sorted(r["EXCHANGE_ID"] for r in sent) == sorted([ann, bo])

    # Luminate-side giving by a linked donor, on a mapped form: goes to RE next cycle.
    form = mapped_form(world)
    gift = donation(world, ann_lo["CONS_ID"], "40.00", FormId=form)
    second = world.scheduled_cycle()
    assert second["status"] == "Completed", second
    downloads = [f["name"] for f in second["available_files"] if f["direction"] == "download"]
    assert downloads == [f"luminate_{second['result_id']}_transactions.csv"]
    assert second["collected"] == downloads
    assert world.ftp_folder("download") == []
    # In RE's import area, and RE itself unchanged until the client imports it.
    (row,) = rows_of(world, "_transactions.csv")
    assert (row["TRANSACTION_ID"], row["DONOR_EXCHANGE_ID"], row["AMOUNT"]) == (
        str(gift),
        ann,
        "40.00",
    )
    assert (row["RE_CAMPAIGN"], row["RE_FUND"], row["RE_APPEAL"]) == WEB
    assert world.re_gifts() == []
    world.import_everything()
    (re_gift,) = world.re_gifts()
    assert re_gift["constituent_import_id"] == ann
    assert re_gift["attributes"]["Luminate Online Gift ID"] == str(gift)
    # A later cycle does not send the gift again (each transaction once).
    third = world.scheduled_cycle()
    assert not [f for f in third["available_files"] if f["direction"] == "download"]
    assert len(world.re_gifts()) == 1
    # The Operation Results list holds every run, newest first.
    listed = world.results()["results"]
    assert [r["result_id"] for r in listed] == [third["result_id"], second["result_id"], 1]


def test_only_changed_re_constituents_go_in_later_cycles(make_world: Any) -> None:
    world = linked_world(make_world, people=3)
    first_member = sorted(by_member(world))[0]
    import_id = by_member(world)[first_member]["import_id"]
    world.advance(1)
    world.re_admin.patch(f"/raisers_edge/constituents/{import_id}", json={"last_name": "Moved"})
    result = world.scheduled_cycle()
    name = f"re_{result['result_id']}_constituents.csv"
    sent = rows(world.available_file(result, name))
    assert [r["EXCHANGE_ID"] for r in sent] == [import_id]
    assert cons_of(world, first_member)["LAST_NAME"] == "Moved"
    assert len(world.lo_constituents()) == 3


# -- constituents Luminate sends to RE: the export rules -----------------------------------------


def test_constituent_export_rules(make_world: Any) -> None:
    world = linked_world(
        make_world, people=2, new_registration=True, profile_viewed_or_modified=True
    )
    world.settings(predup_match_enabled=True)
    # A registration pending PREDUP is held; resolved, it goes with the next run.
    pending = world.register(PRIMARY_EMAIL="pat@example.org", FIRST_NAME="Pat", LAST_NAME="Ng")
    world.settings(predup_match_enabled=False)
    # A constituent with an RnR match is held, even when a trigger queues it.
    matched = world.lo_constituents()[1]["CONS_ID"]
    world.lo_request(
        "PUT", f"/luminate/data-sync/rnr-matches/{matched}", {"matched_cons_id": pending}
    )
    world.lo_request("PATCH", f"/luminate/constituents/{matched}", {"ConsName": {"LastName": "Oh"}})
    # A registration with no last name is held.
    nameless = world.register(PRIMARY_EMAIL="cher@example.org", FIRST_NAME="Cher")
    # A clean registration is pushed at once (On Demand), without a scheduled run.
    clean = world.register(PRIMARY_EMAIL="kim@example.org", FIRST_NAME="Kim", LAST_NAME="Yu")
    sent = {r["CONS_ID"]: r for r in rows_of(world, "_constituents.csv")}
    assert set(sent) == {str(clean)}
    assert sent[str(clean)]["REASON"] == "new_registration"
    assert sent[str(clean)]["EXCHANGE_ID"] == ""

    cycle = world.scheduled_cycle()
    held = [f["name"] for f in cycle["available_files"] if f["name"].startswith("held_")]
    reasons = {r["CONS_ID"]: r["REASON"] for r in rows(world.available_file(cycle, held[0]))}
    assert set(reasons) == {str(pending), str(matched), str(nameless)}
    assert "PREDUP" in reasons[str(pending)]
    assert "RnR" in reasons[str(matched)]
    assert "last name" in reasons[str(nameless)]
    messages = " | ".join(cycle["messages"])
    assert "pending PREDUP" in messages
    assert "no last name" in messages

    world.lo_post(f"/luminate/data-sync/registrations/{pending}/resolve")
    world.scheduled_cycle()
    sent_ids = {r["CONS_ID"] for r in rows_of(world, "_constituents.csv")}
    assert str(pending) in sent_ids
    assert str(matched) not in sent_ids
    assert str(nameless) not in sent_ids

    # The client imports: RE creates the new people, Luminate learns their Import IDs on the
    # next upload and the link is complete.
    world.import_everything()
    created = {c["luminate_id"]: c for c in world.re_constituents() if c["luminate_id"]}
    assert {str(clean), str(pending)} <= set(created)
    world.advance(1)
    world.scheduled_cycle()
    by_cons = {c["CONS_ID"]: c for c in world.lo_constituents()}
    assert by_cons[clean]["EXCHANGE_ID"] == created[str(clean)]["import_id"]
    # Nobody was duplicated on either side by the round trip.
    assert len(world.lo_constituents()) == 5
    assert len(world.re_constituents()) == 4


def test_biography_and_address_go_only_when_changed(make_world: Any) -> None:
    world = linked_world(make_world, people=1, profile_viewed_or_modified=True)
    (person,) = world.lo_constituents()
    cons_id = person["CONS_ID"]
    world.lo_request(
        "PATCH",
        f"/luminate/constituents/{cons_id}",
        {
            "HomeAddress": {"City": "Albany", "Street1": "9 Oak Ave"},
            "ConsName": {"MiddleName": "Q"},
        },
    )
    world.lo_request(
        "PATCH", f"/luminate/constituents/{cons_id}", {"HomeAddress": {"City": "Utica"}}
    )
    first, second = rows_of(world, "_constituents.csv")
    assert (first["HOME_STREET1"], first["HOME_CITY"], first["MIDDLE_NAME"]) == (
        "9 Oak Ave",
        "Albany",
        "Q",
    )
    # Second push: only the city changed since it was sent; names and ids always go.
    assert (second["HOME_STREET1"], second["HOME_CITY"], second["MIDDLE_NAME"]) == (
        "",
        "Utica",
        "",
    )
    assert (second["LAST_NAME"], second["EXCHANGE_ID"]) == (
        person["LAST_NAME"],
        person["EXCHANGE_ID"],
    )
    assert second["REASON"] == "profile_modified"
    world.import_everything()
    (re_person,) = world.re_constituents()
    home = next(a for a in re_person["addresses"] if a["street1"] == "9 Oak Ave")
    assert home["city"] == "Utica"
    assert re_person["middle_name"] == "Q"


# -- transactions: what is synced, what is skipped and why ---------------------------------------


def test_every_synced_transaction_type_reaches_re(make_world: Any) -> None:
    world = linked_world(make_world, people=3, teamraiser_registrations=True)
    donor, walker, owner = (c["CONS_ID"] for c in world.lo_constituents())
    form = mapped_form(world)
    event = world.associated("TeamRaiserEvent", {"Name": "River Walk"})
    world.map_cross_reference("TeamRaiserEvent", event, *WALK)
    page = world.associated(
        "PersonalFundraisingCampaign", {"OwnerConsId": owner, "Title": "In memory of Grace"}
    )
    world.map_cross_reference("PersonalFundraisingCampaign", page, *WEB)
    show = world.associated("CalendarEvent", {"Title": "Gala"})
    world.map_cross_reference("CalendarEvent", show, *WALK)
    mug = world.associated("Product", {"Name": "Mug"})
    world.map_cross_reference("Product", mug, *WEB)

    expected = {
        donation(world, donor, FormId=form): "Donation",
        world.transaction(
            "Donation",
            {
                "Donor": {"ConsId": donor},
                "FormId": form,
                "Payment": {"Amount": "10.00", "CreationMethod": 2},
            },
        ): "RecurringGift",
        world.transaction(
            "TeamRaiserGift",
            {
                "Donor": {"ConsId": donor},
                "EventId": event,
                "RecipientConsId": walker,
                "Payment": {"Amount": "30.00"},
            },
        ): "Donation",
        world.transaction(
            "TeamRaiserRegistration",
            {"Participant": {"ConsId": walker}, "EventId": event, "Payment": {"Amount": "40.00"}},
        ): "TeamRaiserRegistration",
        world.transaction(
            "PersonalFundraisingGift",
            {
                "Donor": {"ConsId": donor},
                "PersonalFundraisingCampaignId": page,
                "Payment": {"Amount": "15.00"},
            },
        ): "TributeDonation",
        world.transaction(
            "TicketPurchase",
            {
                "Purchaser": {"ConsId": donor},
                "CalendarEventId": show,
                "Payment": {"Amount": "75.00"},
            },
        ): "TicketPurchase",
        world.transaction(
            "ProductOrder",
            {"Donor": {"ConsId": donor}, "ProductId": mug, "Payment": {"Amount": "12.00"}},
        ): "ECommercePurchase",
    }
    cycle = world.scheduled_cycle()
    assert cycle["status"] == "Completed", cycle
    got = {int(r["TRANSACTION_ID"]): r for r in rows_of(world, "_transactions.csv")}
    assert {tid: r["TRANSACTION_TYPE"] for tid, r in got.items()} == expected
    world.import_everything()
    gift_ids = {g["attributes"].get("Luminate Online Gift ID") for g in world.re_gifts()}
    assert {str(t) for t in expected} <= gift_ids


def test_teamraiser_registrations_only_with_the_setting(make_world: Any) -> None:
    world = linked_world(make_world, people=1)
    (walker,) = (c["CONS_ID"] for c in world.lo_constituents())
    event = world.associated("TeamRaiserEvent", {"Name": "River Walk"})
    world.map_cross_reference("TeamRaiserEvent", event, *WALK)
    registration = world.transaction(
        "TeamRaiserRegistration",
        {"Participant": {"ConsId": walker}, "EventId": event, "Payment": {"Amount": "40.00"}},
    )
    world.scheduled_cycle()
    assert rows_of(world, "_transactions.csv") == []
    world.settings(teamraiser_registrations=True)
    world.scheduled_cycle()
    assert [r["TRANSACTION_ID"] for r in rows_of(world, "_transactions.csv")] == [str(registration)]


def test_skipped_transactions_are_reported_with_their_reasons(make_world: Any) -> None:
    world = linked_world(make_world, people=2)
    linked, rnr_matched = (c["CONS_ID"] for c in world.lo_constituents())
    unlinked = world.register(PRIMARY_EMAIL="una@example.org", FIRST_NAME="Una", LAST_NAME="Ito")
    world.lo_request(
        "PUT", f"/luminate/data-sync/rnr-matches/{rnr_matched}", {"matched_cons_id": linked}
    )
    form = mapped_form(world)
    unmapped_form = world.associated("DonationForm", {"Title": "Not mapped"})
    event = world.associated("TeamRaiserEvent", {"Name": "River Walk"})
    world.map_cross_reference("TeamRaiserEvent", event, *WALK)

    fine = donation(world, linked, FormId=form)
    no_exchange = donation(world, unlinked, FormId=form)
    no_xref = donation(world, linked, FormId=unmapped_form)
    rnr = donation(world, rnr_matched, FormId=form)
    tr_gifts = [
        world.transaction(
            "TeamRaiserGift",
            {
                "Donor": {"ConsId": linked},
                "EventId": event,
                "RecipientConsId": unlinked,  # the TR solicitor has no RE ImportID
                "Payment": {"Amount": "5.00"},
            },
        )
        for _ in range(2)
    ]
    cycle = world.scheduled_cycle()
    assert cycle["status"] == "Completed with errors"
    assert TR_SOLICITOR.format(2) in cycle["messages"]
    reasons = skipped(world, cycle)
    assert set(reasons) == {str(t) for t in (no_exchange, no_xref, rnr, *tr_gifts)}
    assert "EXCHANGE_ID" in reasons[str(no_exchange)]
    assert "cross-reference" in reasons[str(no_xref)].lower()
    assert "RnR" in reasons[str(rnr)]
    assert all("TR solicitor" in reasons[str(t)] for t in tr_gifts)
    assert [r["TRANSACTION_ID"] for r in rows_of(world, "_transactions.csv")] == [str(fine)]

    # Fixed causes: the mapping is added, the RnR match cleared; the next run sends them.
    world.map_cross_reference("DonationForm", unmapped_form, *WEB)
    world.lo_request("DELETE", f"/luminate/data-sync/rnr-matches/{rnr_matched}")
    world.scheduled_cycle()
    sent = [r["TRANSACTION_ID"] for r in rows_of(world, "_transactions.csv")]
    assert sorted(sent) == sorted([str(fine), str(no_xref), str(rnr)])


# -- On Demand: each trigger pushes at once when on, and only then --------------------------------


def on_demand_files(world: ConnectorWorld) -> list[str]:
    return [f["name"] for f in world.import_area()]


@pytest.mark.parametrize("switched_on", [True, False], ids=["on", "off"])
def test_on_demand_profile_viewed(make_world: Any, switched_on: bool) -> None:
    world = linked_world(make_world, people=1, profile_viewed_or_modified=switched_on)
    (person,) = world.lo_constituents()
    answer = world.lo_post(f"/luminate/constituents/{person['CONS_ID']}/view")
    if switched_on:
        push = answer["on_demand"]["push"]
        assert push["trigger"] == "profile_viewed"
        (row,) = rows_of(world, "_constituents.csv")
        assert (row["CONS_ID"], row["REASON"]) == (str(person["CONS_ID"]), "profile_viewed")
    else:
        assert on_demand_files(world) == []
        world.scheduled_cycle()
        assert rows_of(world, "_constituents.csv") == []


@pytest.mark.parametrize("switched_on", [True, False], ids=["on", "off"])
def test_on_demand_new_registration(make_world: Any, switched_on: bool) -> None:
    world = linked_world(make_world, people=0, new_registration=switched_on)
    cons_id = world.register(PRIMARY_EMAIL="new@example.org", FIRST_NAME="N", LAST_NAME="Ew")
    if switched_on:
        (row,) = rows_of(world, "_constituents.csv")
        assert (row["CONS_ID"], row["REASON"]) == (str(cons_id), "new_registration")
    else:
        world.scheduled_cycle()
        assert rows_of(world, "_constituents.csv") == []


@pytest.mark.parametrize("switched_on", [True, False], ids=["on", "off"])
def test_on_demand_cross_reference_mapping(make_world: Any, switched_on: bool) -> None:
    world = linked_world(make_world, people=1, cross_reference_mapping=switched_on)
    (person,) = world.lo_constituents()
    form = world.associated("DonationForm", {"Title": "Spring"})
    gift = donation(world, person["CONS_ID"], FormId=form)
    first = world.scheduled_cycle()
    assert str(gift) in skipped(world, first)
    world.map_cross_reference("DonationForm", form, *WEB)
    if switched_on:
        (row,) = rows_of(world, "_transactions.csv")
        assert row["TRANSACTION_ID"] == str(gift)
        assert world.results()["results"][0]["trigger"] == "cross_reference_mapping"
    else:
        assert rows_of(world, "_transactions.csv") == []
        world.scheduled_cycle()  # waits for the schedule
        (row,) = rows_of(world, "_transactions.csv")
        assert row["TRANSACTION_ID"] == str(gift)


@pytest.mark.parametrize("switched_on", [True, False], ids=["on", "off"])
def test_on_demand_group_mapped_to_an_offline_segment(make_world: Any, switched_on: bool) -> None:
    world = linked_world(make_world, people=2, group_offline_segment=switched_on)
    members = [c["CONS_ID"] for c in world.lo_constituents()]
    group = world.lo_post("/luminate/groups", {"name": "Walkers", "members": members})
    group_id = group.get("group_id", group.get("id"))
    world.lo_request("PUT", f"/luminate/groups/{group_id}/offline-segment", {"segment": "WALKER"})
    if not switched_on:
        world.scheduled_cycle()
        assert rows_of(world, "_segments.csv") == []
        return
    segment_rows = rows_of(world, "_segments.csv")
    assert sorted(r["CONS_ID"] for r in segment_rows) == sorted(str(m) for m in members)
    assert {r["SEGMENT"] for r in segment_rows} == {"WALKER"}
    world.import_everything()
    assert all("WALKER" in c["constituent_codes"] for c in world.re_constituents())


# -- the documented errors, each from its real cause ---------------------------------------------


def test_re_database_unavailable_means_no_files_were_generated(make_world: Any) -> None:
    world = linked_world(make_world, people=1)
    world.re_post("/raisers_edge/settings", {"available": False})
    cycle = world.scheduled_cycle()
    assert cycle["status"] == "Failed"
    assert cycle["messages"][0] == NO_FILES
    assert any("not available" in m for m in cycle["messages"][1:])
    assert cycle["available_files"] == []
    # RE back: the next run goes through, and what changed meanwhile is sent.
    world.re_post("/raisers_edge/settings", {"available": True})
    again = world.scheduled_cycle()
    assert again["status"] == "Completed"


def test_connector_machine_down_means_server_is_not_available(make_world: Any) -> None:
    world = linked_world(make_world, people=1)
    world.connector.stop()
    cycle = world.scheduled_cycle()
    assert cycle["status"] == "Failed"
    address = f"127.0.0.1:{world.connector.port}"
    assert cycle["messages"] == [
        f'Server is not available (Failed to connect to address "{address}".)'
    ]
    world.connector.start()
    assert world.scheduled_cycle()["status"] == "Completed"


def test_a_manifest_placed_by_hand_is_detected_and_reported(make_world: Any) -> None:
    world = linked_world(make_world, people=1)
    upload = world.ftp.home(ACCOUNT) / "upload"
    (upload / "marchDS.csv").write_text("MEMBER_ID,LAST_NAME\r\n999,Stray\r\n", encoding="utf-8")
    (upload / "marchDS.manifest").write_bytes(b"")
    check = syncframe(world, "re-connector", "check", "flows.toml")
    assert check.returncode == 1
    assert "marchDS.manifest" in check.stdout
    cycle = world.scheduled_cycle()
    text = " | ".join(cycle["messages"])
    assert "Manifest placed by hand on the FTP server: upload/marchDS.manifest" in text
    assert cycle["status"] != "Completed"


# -- is it the standard connector? ----------------------------------------------------------------


def syncframe(world: ConnectorWorld, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncframe", *args],
        cwd=world.folder,
        env=world.connector.environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_reports_whether_the_site_uses_the_standard_connector(make_world: Any) -> None:
    world: ConnectorWorld = make_world()
    standard = syncframe(world, "re-connector", "check", "flows.toml")
    assert standard.returncode == 0, standard.stdout + standard.stderr
    assert "standard" in standard.stdout.lower()
    flows = world.folder / "flows.toml"
    text = flows.read_text(encoding="utf-8")
    flows.write_text(
        text.replace('"re_sync_v52.xml"', '"mysite_re_sync_v52.xml"'), encoding="utf-8"
    )
    custom = syncframe(world, "re-connector", "check", "flows.toml")
    assert custom.returncode == 1
    assert "mysite" in custom.stdout
    for secret in SECRETS:
        assert secret not in standard.stdout + custom.stdout + custom.stderr
