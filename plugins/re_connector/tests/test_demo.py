"""The RE connector step of ``syncframe demo``: what it leaves on each side (Constituent360, RE's
import area and data, Luminate's Operation Results) and that no secret shows in its output."""

from __future__ import annotations

import csv
import importlib.util
import io
import re as regex
from pathlib import Path
from typing import Any

import pytest
import syncframe_re_connector.plugin as connector_plugin
from rich.console import Console
from syncframe_re_connector.demo import (
    CONNECTOR_KEY,
    FTP_PASSWORD,
    PEOPLE,
    RE_PASSWORD,
    SECRETS,
    DemoOutcome,
    run_re_connector_demo,
)
from typer.testing import CliRunner

from syncframe.cli import build_app
from syncframe.clock import SystemClock
from syncframe.demo import DemoContext
from syncframe.host import Host

CONSTITUENT_HEADER = (
    "MEMBER_ID,EXCHANGE_ID,CONS_ID,FIRST_NAME,MIDDLE_NAME,LAST_NAME,PRIMARY_EMAIL,HOME_STREET1,"
    "HOME_STREET2,HOME_CITY,HOME_STATEPROV,HOME_ZIP,HOME_COUNTRY,HOME_PHONE"
)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoOutcome, str, Path]:
    """The step run once into a fresh folder: what it left, what it printed, the folder."""
    import anyio

    workdir = tmp_path_factory.mktemp("re_connector")
    printed = io.StringIO()
    context = DemoContext(
        workdir=workdir,
        console=Console(file=printed, width=200, color_system=None),
        clock=SystemClock(),
        host=Host(),
    )
    outcome = anyio.run(run_re_connector_demo, context)
    return outcome, printed.getvalue(), workdir


def _by_email(people: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["PRIMARY_EMAIL"]: p for p in people}


def _re_by_email(outcome: DemoOutcome) -> dict[str, dict[str, Any]]:
    return {
        phone["number"]: c
        for c in outcome.re_constituents
        for phone in c["phones"]
        if phone["type"] == "Email"
    }


class TestRaisersEdgeToLuminate:
    """RE's constituents reach Constituent360 with their ids."""

    def test_every_active_re_constituent_carries_its_import_id(
        self, ran: tuple[DemoOutcome, str, Path]
    ) -> None:
        outcome, _, _ = ran
        luminate = _by_email(outcome.luminate_constituents)
        in_re = _re_by_email(outcome)
        active = [p for p in PEOPLE if not p.inactive]
        for person in active:
            record, re_record = luminate[person.email], in_re[person.email]
            assert record["EXCHANGE_ID"] == re_record["import_id"], person
            assert record["MEMBER_ID"] == re_record["constituent_id"], person
        inactive = next(p for p in PEOPLE if p.inactive)
        assert inactive.email not in luminate  # skip_inactive: never sent
        no_last_name = next(p for p in PEOPLE if p.last is None)
        assert luminate[no_last_name.email]["LAST_NAME"] is None
        # The two who registered online were found by email, not created again.
        assert len(outcome.luminate_constituents) == len(active) + 1  # + the new walker

    def test_the_first_upload_file_is_the_contracts(
        self, ran: tuple[DemoOutcome, str, Path]
    ) -> None:
        _, _, workdir = ran
        text = (workdir / "operation_results" / "1" / "re_1_constituents.csv").read_text(
            encoding="utf-8"
        )
        assert text.splitlines()[0] == CONSTITUENT_HEADER
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert len(rows) == sum(1 for p in PEOPLE if not p.inactive)
        codes = (workdir / "operation_results" / "1" / "re_1_codetables.csv").read_text("utf-8")
        assert "Fund,GENERAL,General Operating" in codes
        assert "BUILDING" not in codes  # inactive in RE: not sent


class TestLuminateToRaisersEdge:
    """Luminate's files wait in RE's import area; the client's import changes RE."""

    def test_the_import_area_holds_every_file_and_only_the_imported_changed_re(
        self, ran: tuple[DemoOutcome, str, Path]
    ) -> None:
        outcome, _, _ = ran
        assert [(f["name"], f["imported"]) for f in outcome.import_area] == [
            ("luminate_2_constituents.csv", True),
            ("luminate_3_constituents.csv", True),
            ("luminate_4_transactions.csv", True),
            ("luminate_5_transactions.csv", False),
        ]
        assert [(o["file"], o["created"], o["updated"], o["exception_count"]) for o in
                outcome.imports] == [
            ("luminate_2_constituents.csv", 1, 0, 0),
            ("luminate_3_constituents.csv", 0, 1, 0),
            ("luminate_4_transactions.csv", 2, 0, 0),
        ]  # fmt: skip

    def test_re_has_the_new_constituent_the_moved_one_and_the_mapped_gifts(
        self, ran: tuple[DemoOutcome, str, Path]
    ) -> None:
        outcome, _, _ = ran
        luminate = _by_email(outcome.luminate_constituents)
        in_re = _re_by_email(outcome)
        walker = in_re["leila.santos@example.org"]
        assert walker["luminate_id"] == str(luminate["leila.santos@example.org"]["CONS_ID"])
        # Her Import ID came back to Luminate with the next upload.
        assert luminate["leila.santos@example.org"]["EXCHANGE_ID"] == walker["import_id"]
        bo = in_re["bo.kim@example.org"]
        assert [a["city"] for a in bo["addresses"] if a["type"] == "Home"] == ["Cambridge"]
        ann, farah, dan = (in_re[e] for e in ("ann.lee@example.org", "farah.haddad@example.org",
                                               "dan.okafor@example.org"))  # fmt: skip
        gifts = [
            (
                g["constituent_import_id"],
                g["type"],
                g["amount"],
                g["fund"],
                g["solicitor_import_id"],
                g["attributes"]["Luminate Online Gift ID"],
            )
            for g in outcome.re_gifts
        ]
        assert gifts == [
            (ann["import_id"], "Cash", "50.00", "GENERAL", None, "2001001"),
            (farah["import_id"], "Cash", "30.00", "WALK", dan["import_id"], "2001003"),
        ]

    def test_the_tr_gift_goes_once_its_solicitors_import_id_came_back(
        self, ran: tuple[DemoOutcome, str, Path]
    ) -> None:
        outcome, _, workdir = ran
        walker = _re_by_email(outcome)["leila.santos@example.org"]
        path = workdir / "operation_results" / "5" / "luminate_5_transactions.csv"
        [row] = list(csv.DictReader(io.StringIO(path.read_text("utf-8"), newline="")))
        assert (row["TRANSACTION_ID"], row["AMOUNT"], row["SOLICITOR_EXCHANGE_ID"]) == (
            "2001004",
            "25.00",
            walker["import_id"],
        )
        # It was skipped in the run before, for exactly that reason.
        skipped = workdir / "operation_results" / "4" / "skipped_transactions_4.csv"
        reasons = {
            r["TRANSACTION_ID"]: r["REASON"]
            for r in csv.DictReader(io.StringIO(skipped.read_text("utf-8"), newline=""))
        }
        assert reasons["2001004"] == (
            f"TR solicitor {walker['luminate_id']} has no EXCHANGE_ID (no RE ImportID)"
        )


class TestOperationResults:
    """Every run and push is in Operation Results with the documented messages."""

    def test_the_runs_their_triggers_and_statuses(self, ran: tuple[DemoOutcome, str, Path]) -> None:
        outcome, _, _ = ran
        assert [(r["result_id"], r["trigger"], r["status"]) for r in outcome.results] == [
            (1, "schedule", "Completed"),
            (2, "new_registration", "Completed"),
            (3, "profile_modified", "Completed"),
            (4, "schedule", "Completed with errors"),
            (5, "schedule", "Completed with errors"),
            (6, "schedule", "Failed"),
            (7, "run_now", "Failed"),
        ]
        first = outcome.results[0]
        assert [f["name"] for f in first["available_files"]] == [
            "re_1_codetables.csv",
            "re_1_constituents.csv",
        ]
        assert (
            "Constituents imported from re_1_constituents.csv: 11 rows, 9 created, 2 updated, "
            "0 rejected" in first["messages"]
        )

    def test_skipped_and_held_back_are_reported_with_their_reasons(
        self, ran: tuple[DemoOutcome, str, Path]
    ) -> None:
        outcome, _, workdir = ran
        messages = outcome.results[3]["messages"]
        for expected in (
            "Transactions compiled for Raiser's Edge: 2",
            "Number of transactions not downloaded due to missing ImportID for TR solicitor: 1",
            "Number of transactions not downloaded due to missing cross-references: 1",
            "Number of constituents not downloaded because they have no last name: 1",
        ):
            assert expected in messages
        skipped = (workdir / "operation_results" / "4" / "skipped_transactions_4.csv").read_text(
            "utf-8"
        )
        assert "No cross-reference mapping for DonationForm" in skipped
        assert "has no EXCHANGE_ID (no RE ImportID)" in skipped

    def test_the_documented_errors_by_their_real_causes(
        self, ran: tuple[DemoOutcome, str, Path]
    ) -> None:
        outcome, _, _ = ran
        down, unreachable = outcome.results[5], outcome.results[6]
        assert down["messages"][0] == "Not initiating download since no files were generated"
        assert "The Raiser's Edge database is not available" in down["messages"][1]
        assert down["available_files"] == []
        [message] = unreachable["messages"]
        assert regex.fullmatch(
            r'Server is not available \(Failed to connect to address "127\.0\.0\.1:\d+"\.\)',
            message,
        )


class TestSecrets:
    """Passwords and the key go to .env only; never to the flow file or the output."""

    def test_no_secret_in_the_output_or_the_flow_file(
        self, ran: tuple[DemoOutcome, str, Path]
    ) -> None:
        outcome, printed, workdir = ran
        assert "Server is not available" in printed  # the output was captured
        flow_file = outcome.flow_file.read_text(encoding="utf-8")
        for secret in SECRETS:
            assert secret not in printed
            assert secret not in flow_file
        env = (workdir / ".env").read_text(encoding="utf-8")
        assert f"SYNCFRAME_RE_PASSWORD={RE_PASSWORD}" in env
        assert f"SYNCFRAME_LUMINATE_FTP_PASSWORD={FTP_PASSWORD}" in env
        assert f"SYNCFRAME_RE_CONNECTOR_API_KEY={CONNECTOR_KEY}" in env


def test_syncframe_demo_runs_the_step(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_app(Host()), ["demo", "--step", "re_connector", "--workdir", str(tmp_path)]
    )

    assert result.exit_code == 0, result.output
    assert "✓ re_connector: 12 of Luminate's 12 constituents carry RE's Import ID" in (
        result.output
    )
    for secret in SECRETS:
        assert secret not in result.output
    # Runs 6 and 7 failed before any file went through the FTP server.
    results = tmp_path / "re_connector" / "operation_results"
    assert sorted(p.name for p in results.iterdir()) == ["1", "2", "3", "4", "5"]


def test_the_step_is_registered_when_the_simulators_are_installed() -> None:
    host = Host(plugins=[connector_plugin], entry_points=False)
    entry = host.registry.demos["re_connector"]
    assert entry.description.startswith("Raiser's Edge <-> Luminate Online")


def test_no_demo_step_without_the_simulators(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_simulators(name: str, *args: Any) -> Any:
        return None if name == "raisers_edge_simulator" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_simulators)
    host = Host(plugins=[connector_plugin], entry_points=False)
    assert "re_connector" not in host.registry.demos
