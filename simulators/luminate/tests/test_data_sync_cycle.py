"""A scheduled data sync cycle end to end: the connector's upload call, RE's files imported from
``/upload/``, Luminate's files put in ``/download/`` and collected, the Operation Result with its
Available Files; the documented errors by their real causes; runs interrupted and run again."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from luminate_simulator.constituent_import import CONS_ID_NOT_FOUND
from luminate_simulator.data_sync_model import NO_FILES_GENERATED
from syncframe_simulators import SimulatorAdminError
from syncframe_simulators.file_server import FileServer

from simulators.luminate.tests.test_data_sync_support import (
    CONNECTOR_KEY,
    SyncSite,
    names,
    open_site,
    read_rows,
)
from syncframe.clock import ManualClock

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def file_server() -> Iterator[FileServer]:
    with FileServer() as server:
        yield server


@pytest.fixture
async def site(file_server: FileServer, sim_clock: ManualClock) -> AsyncIterator[SyncSite]:
    async with open_site(file_server, sim_clock) as made:
        yield made


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def donation_setup(site: SyncSite) -> tuple[int, int, int]:
    """A constituent RE knows, a donation form and a donation of 25.00 on it."""
    donor = await site.constituent(
        FIRST_NAME="Ann", LAST_NAME="Lee", PRIMARY_EMAIL="ann@example.org"
    )
    form = await site.associated("DonationForm", {"Title": "Give now"})
    gift = await site.transaction(
        "Donation", {"Donor": {"ConsId": donor}, "FormId": form, "Payment": {"Amount": "25.00"}}
    )
    return donor, form, gift


class TestFullCycle:
    """RE's data reaches Constituent360; Luminate's data reaches RE's import area."""

    async def test_re_constituents_and_code_tables_are_imported(self, site: SyncSite) -> None:
        await site.create_operation()
        known = await site.constituent(
            FIRST_NAME="Ann", LAST_NAME="Lee", PRIMARY_EMAIL="ann@example.org"
        )
        site.connector.re_constituents = [
            {"MEMBER_ID": "8", "EXCHANGE_ID": "RE-8", "CONS_ID": str(known), "HOME_CITY": "Austin"},
            {
                "MEMBER_ID": "9",
                "EXCHANGE_ID": "RE-9",
                "FIRST_NAME": "Bo",
                "LAST_NAME": "Kim",
                "PRIMARY_EMAIL": "bo@example.org",
            },
        ]
        result = await site.run()

        assert (result["status"], result["trigger"]) == ("Completed", "run_now")
        assert result["messages"] == [
            "RE code tables received from re_1_codetables.csv (new or changed entries): "
            "Campaign 2, Fund 2, Appeal 2",
            "Constituents imported from re_1_constituents.csv: 2 rows, 1 created, 1 updated, "
            "0 rejected",
        ]
        people = {c["PRIMARY_EMAIL"]: c for c in site.sim.snapshot()["constituents"]}
        assert (
            people["ann@example.org"]["EXCHANGE_ID"],
            people["ann@example.org"]["HOME_CITY"],
        ) == (
            "RE-8",
            "Austin",
        )
        assert (people["bo@example.org"]["MEMBER_ID"], people["bo@example.org"]["EXCHANGE_ID"]) == (
            "9",
            "RE-9",
        )
        tables = await site.admin.get("/luminate/data-sync/code-tables")
        assert [e["code"] for e in tables["tables"]["Fund"]] == ["GEN", "WALK"]
        # Processed files and their manifests are gone from the FTP server; RE got nothing.
        assert site.ftp_files("upload") == []
        assert site.ftp_files("download") == []
        assert [call for call, _, _ in site.connector.calls] == ["upload", "download"]
        assert site.connector.calls[0][1] == {
            "result_id": 1,
            "operation_file_name": "re_sync_v52.xml",
        }
        assert site.connector.calls[1][1] == {"result_id": 1}
        assert names(result) == ["re_1_codetables.csv", "re_1_constituents.csv"]

    async def test_a_transaction_goes_to_re_once_mapped(self, site: SyncSite) -> None:
        await site.create_operation()
        donor, form, gift = await donation_setup(site)
        site.connector.re_constituents = [
            {"MEMBER_ID": "8", "EXCHANGE_ID": "RE-8", "CONS_ID": str(donor)}
        ]
        first = await site.run()
        assert first["status"] == "Completed with errors"
        assert (
            "Number of transactions not downloaded due to missing cross-references: 1"
            in (first["messages"])
        )
        skipped = read_rows(await site.file(first, "skipped_transactions_1.csv"))
        assert skipped == [
            {
                "TRANSACTION_ID": str(gift),
                "TRANSACTION_TYPE": "Donation",
                "LUMINATE_TYPE": "Donation",
                "DONOR_CONS_ID": str(donor),
                "SOLICITOR_CONS_ID": "",
                "AMOUNT": "25.00",
                "REASON": f"No cross-reference mapping for DonationForm {form}",
            }
        ]

        mapped = await site.admin.post(
            "/luminate/data-sync/cross-references",
            {
                "source_type": "DonationForm",
                "source_id": form,
                "campaign": "ANNUAL",
                "fund": "GEN",
                "appeal": "WEB",
            },
        )
        assert mapped["on_demand"] == {
            "trigger": "cross_reference_mapping",
            "queued": 0,
            "push": None,
            "deferred": False,
        }
        second = await site.run()

        assert second["status"] == "Completed"
        assert second["collected"] == ["luminate_2_transactions.csv"]
        assert site.connector.rows("luminate_2_transactions.csv") == [
            {
                "TRANSACTION_ID": str(gift),
                "TRANSACTION_TYPE": "Donation",
                "DONOR_CONS_ID": str(donor),
                "DONOR_EXCHANGE_ID": "RE-8",
                "SOLICITOR_CONS_ID": "",
                "SOLICITOR_EXCHANGE_ID": "",
                "AMOUNT": "25.00",
                "DATE": "2026-01-01",
                "RE_CAMPAIGN": "ANNUAL",
                "RE_FUND": "GEN",
                "RE_APPEAL": "WEB",
                "PLEDGE_IMPORT_ID": "",
                "TRIBUTE_NAME": "",
            }
        ]
        raw = site.connector.collected["luminate_2_transactions.csv"]
        assert raw.startswith(b"TRANSACTION_ID,TRANSACTION_TYPE,")
        assert raw.endswith(b"\r\n")
        # Available Files: what came up from RE, what went down to RE, byte for byte.
        assert names(second) == [
            "re_2_codetables.csv",
            "re_2_constituents.csv",
            "luminate_2_transactions.csv",
        ]
        assert (await site.file(second, "luminate_2_transactions.csv")).encode() == raw
        listed = await site.admin.get("/luminate/data-sync/results")
        assert [r["result_id"] for r in listed["results"]] == [2, 1]

        third = await site.run()
        assert "luminate_3_transactions.csv" not in names(third)
        assert site.state()["transactions_sent"] == 1

    async def test_an_unknown_available_file_is_404(self, site: SyncSite) -> None:
        await site.create_operation()
        result = await site.run()
        client = site.sim.client()
        response = await client.get(
            f"/_admin/luminate/data-sync/results/{result['result_id']}/files/nope.csv"
        )
        assert response.status_code == 404
        assert "nope.csv" in response.json()["error"]
        missing = await client.get("/_admin/luminate/data-sync/results/99")
        assert missing.status_code == 404


class TestDocumentedErrors:
    """Each documented error, produced by its real cause."""

    async def test_connector_machine_unreachable(self, site: SyncSite) -> None:
        port = closed_port()
        site.sim.data_sync.http_transport = None  # a real socket: nothing listens there
        spec = site.operation_spec()
        spec["connector_url"] = f"http://127.0.0.1:{port}/re-connector"
        await site.admin.post("/luminate/data-sync/operations", spec)
        result = await site.admin.post("/luminate/data-sync/operations/1/run", {})

        assert result["status"] == "Failed"
        assert result["messages"] == [
            f'Server is not available (Failed to connect to address "127.0.0.1:{port}".)'
        ]
        assert result["available_files"] == []

    async def test_no_files_generated_when_the_connector_failed(self, site: SyncSite) -> None:
        await site.create_operation()
        site.connector.failure = "Raiser's Edge query failed: 401 invalid user or password"
        result = await site.run()

        assert result["status"] == "Failed"
        assert result["messages"] == [
            NO_FILES_GENERATED,
            "Raiser's Edge query failed: 401 invalid user or password",
        ]
        assert result["messages"][0] == "Not initiating download since no files were generated"
        assert [call for call, _, _ in site.connector.calls] == ["upload"]

    async def test_the_connector_key_is_sent_and_never_shown(self, site: SyncSite) -> None:
        site.connector.key = CONNECTOR_KEY
        spec = site.operation_spec()
        spec["connector_key"] = CONNECTOR_KEY
        created = await site.admin.post("/luminate/data-sync/operations", spec)
        assert created["connector_key_set"] is True
        site.operation_id = created["operation_id"]
        result = await site.run()
        assert result["status"] == "Completed"
        assert {auth for _, _, auth in site.connector.calls} == {f"Bearer {CONNECTOR_KEY}"}
        assert CONNECTOR_KEY not in str(await site.admin.state())

        site.connector.key = "another-key"
        refused = await site.run()
        assert refused["status"] == "Failed"
        assert refused["messages"] == [
            'The connector machine "connector.test:80" refused the upload call: HTTP 401 '
            "invalid connector key"
        ]


class TestUploadFolder:
    """What Luminate finds in /upload/: manifests placed by hand, files not listed, rejects."""

    async def test_hand_placed_manifests_are_named(self, site: SyncSite) -> None:
        await site.create_operation()
        upload = site.home / "upload"
        (upload / "marchDS.manifest").write_bytes(b"")
        (upload / "re_99_constituents.csv").write_text(
            "MEMBER_ID,LAST_NAME,PRIMARY_EMAIL\r\n77,Hand,hand@example.org\r\n", newline=""
        )
        (upload / "re_99_constituents.manifest").write_bytes(b"")
        result = await site.run()

        assert result["status"] == "Completed with errors"
        assert result["messages"][:4] == [
            "Manifest placed by hand on the FTP server: upload/marchDS.manifest (not generated "
            "by the connector); remove it",
            "Manifest placed by hand on the FTP server: upload/re_99_constituents.manifest (not "
            "generated by the connector); remove it",
            "Manifest upload/marchDS.manifest has no data file upload/marchDS.csv (a manifest "
            "placed by hand?); it was left on the FTP server.",
            "upload/re_99_constituents.csv was not among the files the connector generated for "
            "this run but has a manifest (a manifest placed by hand, or a file left by an "
            "interrupted run); it was imported.",
        ]
        emails = [c["PRIMARY_EMAIL"] for c in site.sim.snapshot()["constituents"]]
        assert emails == ["hand@example.org"]
        assert site.ftp_files("upload") == ["marchDS.manifest"]

    async def test_a_listed_file_without_its_manifest_is_not_imported(self, site: SyncSite) -> None:
        await site.create_operation()
        site.connector.without_manifest = {"constituents"}
        site.connector.re_constituents = [
            {"MEMBER_ID": "5", "LAST_NAME": "Ng", "PRIMARY_EMAIL": "ng@example.org"}
        ]
        result = await site.run()
        assert (
            "The connector listed upload/re_1_constituents.csv but its manifest "
            "upload/re_1_constituents.manifest is missing: the file was not imported."
        ) in result["messages"]
        assert site.sim.snapshot()["constituents"] == []
        assert site.ftp_files("upload") == ["re_1_constituents.csv"]

    async def test_rejected_rows_come_back_as_an_errors_file(self, site: SyncSite) -> None:
        await site.create_operation()
        site.connector.re_constituents = [
            {"MEMBER_ID": "5", "EXCHANGE_ID": "RE-5", "CONS_ID": "4242"}
        ]
        result = await site.run()

        assert (
            "1 rows of re_1_constituents.csv were rejected by the constituent upload: see "
            "re_1_constituents_errors.csv" in result["messages"]
        )
        errors = read_rows(await site.file(result, "re_1_constituents_errors.csv"))
        assert [(e["LINE_NUMBER"], e["ERROR_MESSAGE"], e["CONS_ID"]) for e in errors] == [
            ("2", CONS_ID_NOT_FOUND.format(cons_id="4242"), "4242")
        ]

    async def test_bad_code_table_rows_are_named(self, site: SyncSite) -> None:
        await site.create_operation()
        site.connector.code_tables = [
            ("Fund", "GEN", "General"),
            ("Gift", "X", "?"),
            ("Appeal", "", "blank"),
        ]
        result = await site.run()
        assert (
            "2 rows of re_1_codetables.csv were ignored: line 3: TABLE 'Gift' is not Campaign, "
            "Fund or Appeal; line 4: CODE is blank"
        ) in result["messages"]
        tables = await site.admin.get("/luminate/data-sync/code-tables")
        assert tables["tables"] == {
            "Campaign": [],
            "Fund": [{"code": "GEN", "description": "General"}],
            "Appeal": [],
        }


class TestInterruptedRuns:
    """A run cut off leaves Luminate consistent; the next one sends what was not sent, once."""

    async def test_ftp_login_refused_then_the_next_run_catches_up(
        self, site: SyncSite, file_server: FileServer
    ) -> None:
        await site.create_operation()
        site.connector.re_constituents = [
            {"MEMBER_ID": "5", "LAST_NAME": "Ng", "PRIMARY_EMAIL": "ng@example.org"}
        ]
        file_server.refuse_logins = True
        try:
            refused = await site.run()
        finally:
            file_server.refuse_logins = False
        assert refused["status"] == "Failed"
        assert refused["messages"] == [
            f'The FTP server "{file_server.address}" refused the login of account {site.user} '
            "(530 Login incorrect.)."
        ]
        assert site.sim.snapshot()["constituents"] == []

        again = await site.run()
        assert again["status"] == "Completed with errors"  # the leftovers of run 1 are named
        assert [c["PRIMARY_EMAIL"] for c in site.sim.snapshot()["constituents"]] == [
            "ng@example.org"
        ]
        assert names(again)[:2] == ["re_1_codetables.csv", "re_1_constituents.csv"]
        assert site.ftp_files("upload") == []

    async def test_connector_dies_in_the_download_call(self, site: SyncSite) -> None:
        await site.create_operation()
        donor, form, gift = await donation_setup(site)
        site.connector.re_constituents = [
            {"MEMBER_ID": "8", "EXCHANGE_ID": "RE-8", "CONS_ID": str(donor)}
        ]
        await site.run()
        await site.admin.post(
            "/luminate/data-sync/cross-references",
            {
                "source_type": "DonationForm",
                "source_id": form,
                "campaign": "ANNUAL",
                "fund": "GEN",
                "appeal": "WEB",
            },
        )
        site.connector.dies_in = "download"
        cut = await site.run()

        assert cut["status"] == "Failed"
        assert cut["messages"][-2:] == [
            'The connector machine "connector.test:80" did not answer the download call '
            "(ConnectorDied: Server disconnected without sending a response.).",
            "These files stay in /download/ on the FTP server for the connector's next "
            "collection: luminate_2_transactions.csv",
        ]
        # On the FTP server with its manifest: sent, as far as Luminate is concerned.
        assert site.ftp_files("download") == [
            "luminate_2_transactions.csv",
            "luminate_2_transactions.manifest",
        ]
        assert site.state()["transactions_sent"] == 1

        site.connector.dies_in = None
        rerun = await site.run()
        assert rerun["status"] == "Completed"
        assert rerun["collected"] == ["luminate_2_transactions.csv"]
        assert not any(n.endswith("_transactions.csv") for n in names(rerun))
        received = [
            row["TRANSACTION_ID"]
            for name in site.connector.collected
            for row in site.connector.rows(name)
            if name.endswith("_transactions.csv")
        ]
        assert received == [str(gift)]

    async def test_connector_dies_in_the_upload_call(self, site: SyncSite) -> None:
        await site.create_operation()
        site.connector.re_constituents = [
            {"MEMBER_ID": "5", "LAST_NAME": "Ng", "PRIMARY_EMAIL": "ng@example.org"}
        ]
        site.connector.dies_in = "upload"
        cut = await site.run()
        assert cut["status"] == "Failed"
        assert cut["messages"] == [
            'The connector machine "connector.test:80" did not answer the upload call '
            "(ConnectorDied: Server disconnected without sending a response.)."
        ]
        assert site.sim.snapshot()["constituents"] == []

        site.connector.dies_in = None
        rerun = await site.run()
        assert [c["MEMBER_ID"] for c in site.sim.snapshot()["constituents"]] == ["5"]
        assert names(rerun) == [
            "re_1_codetables.csv",
            "re_1_constituents.csv",
            "re_2_codetables.csv",
            "re_2_constituents.csv",
        ]

    async def test_run_now_is_refused_while_a_run_is_in_progress(self, site: SyncSite) -> None:
        await site.create_operation()
        sync = site.sim.data_sync
        assert sync._busy.acquire(blocking=False)  # a run in progress, as seen from outside
        try:
            with pytest.raises(SimulatorAdminError) as refused:
                await site.run()
        finally:
            sync._busy.release()
        assert refused.value.status == 409
        assert "in progress" in refused.value.message
        assert (await site.admin.post("/luminate/data-sync/run-due", {})) == {"results": []}


async def test_a_connector_answer_of_the_wrong_shape_fails_the_run(site: SyncSite) -> None:
    await site.create_operation()

    async def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"files": "re_1_constituents.csv"})

    site.sim.data_sync.http_transport = httpx.MockTransport(answer)
    result = await site.run()
    assert result["status"] == "Failed"
    assert result["messages"] == [
        'The connector machine "connector.test:80" answered the upload call with something '
        'other than {"files": [...], "problems": [...]}: {"files":"re_1_constituents.csv"}'
    ]


async def test_an_unexpected_error_ends_the_result_failed(site: SyncSite) -> None:
    await site.create_operation()

    async def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("the connector's answer could not be read")

    site.sim.data_sync.http_transport = httpx.MockTransport(broken)
    result = await site.run()
    assert (result["status"], result["finished_at"]) == ("Failed", "2026-01-01T09:00:00Z")
    assert result["messages"] == [
        "The data sync stopped unexpectedly: RuntimeError: the connector's answer could not be read"
    ]
