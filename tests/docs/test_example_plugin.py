"""The PledgeBox example plugin running real flows against its simulator, as the guide shows."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from syncframe import ManualClock, Outcome
from syncframe.config import ConfigError, load_config
from syncframe.engine import Engine
from syncframe.host import Host
from tests.docs import example_plugin
from tests.docs.example_plugin.connector import cents
from tests.docs.example_plugin.models import PledgeBoxSettings
from tests.docs.example_plugin.simulator import PledgeBoxSimulator

pytestmark = pytest.mark.anyio

FLOWS = Path(example_plugin.__file__).parent / "pledges.toml"
API_KEY = "pb-live-7f3a9c"

CARDS = """\
card_no,name,email,amount
101,Ada Lovelace,ada@example.org,25.00
102,Grace Hopper,Grace@Example.org,"1,250.50"
103,Alan Turing,alan@example.org,100
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def api(clock: ManualClock) -> PledgeBoxSimulator:
    """The simulated PledgeBox, on the engine's clock."""
    return PledgeBoxSimulator(api_key=API_KEY, clock=clock)


@pytest.fixture
def waits() -> list[float]:
    """Seconds the engine would have slept between retries."""
    return []


@pytest.fixture
def engine(
    tmp_path: Path, api: PledgeBoxSimulator, clock: ManualClock, waits: list[float]
) -> Iterator[Engine]:
    shutil.copy(FLOWS, tmp_path / "pledges.toml")
    (tmp_path / "gala-pledges.csv").write_text(CARDS, encoding="utf-8")
    with make_engine(tmp_path, api, clock, waits, api_key=API_KEY) as built:
        yield built


def make_engine(
    folder: Path, api: PledgeBoxSimulator, clock: ManualClock, waits: list[float], *, api_key: str
) -> Engine:
    """The engine the guide describes: the plugin, its flow file, the simulator as transport."""

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    host = Host(plugins=[example_plugin], entry_points=False)
    config = load_config(
        folder / "pledges.toml", host.registry, environ={"SYNCFRAME_PLEDGEBOX_API_KEY": api_key}
    )
    return Engine(config, host, clock=clock, transport=api.transport(), sleep=no_sleep)


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def append_cards(folder: Path, text: str) -> None:
    with (folder / "gala-pledges.csv").open("a", encoding="utf-8") as f:
        f.write(text)


class TestCsvIntoPledgeBox:
    """Gala pledge cards land in PledgeBox once, matched by reference, then by email."""

    async def test_cards_are_created_and_a_hand_entered_pledge_is_matched(
        self, engine: Engine, api: PledgeBoxSimulator
    ) -> None:
        typed_in = api.add(donor_email="alan@example.org", donor_name="A. Turing", amount_cents=0)

        report = await engine.run_flow("gala_pledges")

        assert report.summary.status == "succeeded"
        assert report.summary.counts == {"created": 2, "updated": 1}
        assert len(api.pledges) == 3
        ada, grace = api.by_ref("gala-101"), api.by_ref("gala-102")
        assert ada is not None
        assert grace is not None
        assert (ada["donor_email"], ada["amount_cents"]) == ("ada@example.org", 2500)
        assert (grace["donor_email"], grace["amount_cents"]) == ("grace@example.org", 125050)
        # The pledge typed in at the door was found by email and completed, not duplicated.
        alan = api.pledges[typed_in["id"]]
        assert (alan["external_ref"], alan["amount_cents"]) == ("gala-103", 10000)
        assert alan["donor_name"] == "Alan Turing"
        rows = {row.record: row for row in engine.state.run_outcomes(report.run_id)}
        assert rows["103"].target_key == typed_in["id"]
        assert "donor_email alan@example.org" in (rows["103"].reason or "")

    async def test_writes_are_linked_and_remembered_for_loop_guards(
        self, engine: Engine, api: PledgeBoxSimulator
    ) -> None:
        await engine.run_flow("gala_pledges")
        ada = api.by_ref("gala-101")
        assert ada is not None

        # The identity map links the card to the pledge (the flow has matchers)...
        assert engine.state.find_links("csv", "pledge", ["101"], "pledgebox") == {"101": ada["id"]}
        # ...and, since another flow reads PledgeBox, the ledger keeps what was written there.
        entry = engine.state.ledger_get("pledgebox", "pledge", [ada["id"]])[ada["id"]]
        assert entry.values == {
            "external_ref": "gala-101",
            "donor_email": "ada@example.org",
            "donor_name": "Ada Lovelace",
            "amount_cents": 2500,
        }
        assert (entry.source_system, entry.source_key, entry.flow) == ("csv", "101", "gala_pledges")

    async def test_a_rerun_reads_only_new_cards(
        self, engine: Engine, api: PledgeBoxSimulator, tmp_path: Path
    ) -> None:
        await engine.run_flow("gala_pledges")
        again = await engine.run_flow("gala_pledges")
        assert again.summary.counts == {}

        append_cards(tmp_path, "104,Katherine Johnson,katherine@example.org,75.25\n")
        third = await engine.run_flow("gala_pledges")

        assert third.summary.counts == {"created": 1}
        assert len(api.pledges) == 4
        katherine = api.by_ref("gala-104")
        assert katherine is not None
        assert katherine["amount_cents"] == 7525

    async def test_a_corrected_file_updates_by_reference(
        self, engine: Engine, api: PledgeBoxSimulator, tmp_path: Path
    ) -> None:
        await engine.run_flow("gala_pledges")
        # The file is replaced by a corrected export: it is read again from the start, and
        # only the corrected card changes anything in PledgeBox.
        corrected = CARDS.replace("alan@example.org,100", "alan@example.org,150")
        (tmp_path / "gala-pledges.csv").write_text(corrected, encoding="utf-8")

        report = await engine.run_flow("gala_pledges")

        assert report.summary.counts == {"unchanged": 2, "updated": 1}
        assert len(api.pledges) == 3
        alan = api.by_ref("gala-103")
        assert alan is not None
        assert alan["amount_cents"] == 15000

    async def test_bad_cards_are_rejected_with_reasons_and_kept(
        self, engine: Engine, api: PledgeBoxSimulator, tmp_path: Path
    ) -> None:
        append_cards(
            tmp_path,
            "105,Edsger Dijkstra,edsger@example.org,12.345\n"
            "106,Barbara Liskov,barbara@example.org,-5\n"
            "107,Donald Knuth,not-an-email,10\n",
        )
        report = await engine.run_flow("gala_pledges")

        assert report.summary.counts == {"created": 3, "rejected": 3}
        failed = {f.change["keys"]["card_no"]: f.reason for f in engine.state.list_failed()}
        assert sorted(failed) == ["105", "106", "107"]
        assert "cents: '12.345' has a fraction of a cent" in failed["105"]  # the converter
        assert "amount_cents must be a whole number of cents" in failed["106"]  # PledgeBox 422
        assert "'not-an-email' is not an email address" in failed["107"]
        assert api.by_ref("gala-106") is None

    async def test_ambiguous_email_is_not_guessed(
        self, engine: Engine, api: PledgeBoxSimulator
    ) -> None:
        api.add(donor_email="ada@example.org", amount_cents=1000)
        api.add(donor_email="ada@example.org", amount_cents=2000)

        report = await engine.run_flow("gala_pledges")

        rows = {row.record: row for row in engine.state.run_outcomes(report.run_id)}
        assert rows["101"].outcome == "rejected"
        assert "2 records in target share donor_email" in (rows["101"].reason or "")
        assert api.by_ref("gala-101") is None

    async def test_dry_run_writes_nothing(self, engine: Engine, api: PledgeBoxSimulator) -> None:
        report = await engine.run_flow("gala_pledges", dry_run=True)

        assert report.summary.counts == {"created": 3}
        assert [p.outcome for p in report.planned] == [Outcome.CREATED] * 3
        assert report.planned[1].fields["amount_cents"] == 125050
        assert api.pledges == {}
        assert engine.state.get_checkpoint("gala_pledges") is None


class TestPledgeBoxToJsonl:
    """PledgeBox's changed pledges are read incrementally into a JSON Lines file."""

    async def test_pledges_land_and_only_changes_follow(
        self, engine: Engine, api: PledgeBoxSimulator, clock: ManualClock, tmp_path: Path
    ) -> None:
        first = api.add(donor_email="ada@example.org", amount_cents=2500, external_ref="gala-101")
        clock.advance(minutes=1)
        second = api.add(donor_email="grace@example.org", amount_cents=9900)
        out = tmp_path / "out" / "pledges.jsonl"

        report = await engine.run_flow("pledges_out")

        assert report.summary.counts == {"created": 2}
        assert [(r["id"], r["amount_cents"]) for r in jsonl(out)] == [
            (first["id"], 2500),
            (second["id"], 9900),
        ]

        nothing = await engine.run_flow("pledges_out")
        assert nothing.summary.counts == {}

        clock.advance(minutes=5)
        api.edit(first["id"], amount_cents=3000, status="fulfilled")
        changed = await engine.run_flow("pledges_out")

        assert changed.summary.counts == {"created": 1}
        lines = jsonl(out)
        assert len(lines) == 3
        assert (lines[2]["id"], lines[2]["amount_cents"], lines[2]["status"]) == (
            first["id"],
            3000,
            "fulfilled",
        )

    async def test_pledges_changed_in_the_same_instant_are_paged_without_loss(
        self, engine: Engine, api: PledgeBoxSimulator, tmp_path: Path
    ) -> None:
        # 250 pledges with one timestamp, pages of 100: keyset paging on (updated_at, id).
        made = [api.add(donor_email=f"donor{n}@example.org", amount_cents=n) for n in range(250)]
        report = await engine.run_flow("pledges_out")

        assert report.summary.batches == 3
        ids = [r["id"] for r in jsonl(tmp_path / "out" / "pledges.jsonl")]
        assert ids == [p["id"] for p in made]


class TestFaults:
    """PledgeBox's failures: busy is retried, a wrong key fails the run without leaking it."""

    async def test_503_is_retried_and_nothing_is_written_twice(
        self, engine: Engine, api: PledgeBoxSimulator, waits: list[float]
    ) -> None:
        api.fail_next(503, times=2, retry_after=0)

        report = await engine.run_flow("gala_pledges")

        assert report.summary.status == "succeeded"
        assert report.summary.counts == {"created": 3}
        assert api.statuses()[:2] == [503, 503]
        assert waits == [0.0, 0.0]  # PledgeBox said Retry-After: 0
        assert sorted(p["external_ref"] for p in api.pledges.values()) == [
            "gala-101",
            "gala-102",
            "gala-103",
        ]

    async def test_503_in_the_middle_of_a_batch_does_not_duplicate(
        self, engine: Engine, api: PledgeBoxSimulator
    ) -> None:
        # The first card is saved, the second gets a 503: the engine writes the whole batch
        # again, and saving by reference makes the repeat of the first card harmless.
        api.fail_next(503, method="PUT", after=1)

        report = await engine.run_flow("gala_pledges")

        assert report.summary.status == "succeeded"
        assert [s for m, _, s in api.log if m == "PUT"] == [201, 503, 200, 201, 201]
        assert len(api.pledges) == 3
        # What the repeat found: card 101 already there, as the first try left it.
        assert report.summary.counts == {"unchanged": 1, "created": 2}

    async def test_persistent_outage_fails_the_run_and_keeps_the_cursor(
        self, engine: Engine, api: PledgeBoxSimulator
    ) -> None:
        api.fail_next(503, times=50, retry_after=0)

        report = await engine.run_flow("pledges_out")

        assert report.summary.status == "failed"
        assert "still failing after 4 tries" in (report.summary.error or "")
        assert "HTTP 503" in (report.summary.error or "")
        assert engine.state.get_checkpoint("pledges_out") is None

    async def test_wrong_api_key_fails_without_showing_a_key(
        self, tmp_path: Path, api: PledgeBoxSimulator, clock: ManualClock, waits: list[float]
    ) -> None:
        shutil.copy(FLOWS, tmp_path / "pledges.toml")
        with make_engine(tmp_path, api, clock, waits, api_key="pb-wrong-0000") as engine:
            report = await engine.run_flow("pledges_out")

        assert report.summary.status == "failed"
        assert "HTTP 401" in (report.summary.error or "")
        assert "pb-wrong-0000" not in (report.summary.error or "")
        assert API_KEY not in (report.summary.error or "")
        assert waits == []  # a 401 is not worth retrying


class TestConfiguration:
    """The flow file of the guide validates, and a missing key is named, not shown."""

    def test_missing_api_key_names_the_variable(self, tmp_path: Path) -> None:
        shutil.copy(FLOWS, tmp_path / "pledges.toml")
        host = Host(plugins=[example_plugin], entry_points=False)
        with pytest.raises(ConfigError) as caught:
            load_config(tmp_path / "pledges.toml", host.registry, environ={})
        assert str(caught.value) == (
            f"{tmp_path / 'pledges.toml'}:7: connections.pledgebox.api_key: missing; "
            "set SYNCFRAME_PLEDGEBOX_API_KEY in the environment or .env"
        )

    def test_the_key_is_a_secret(self, engine: Engine) -> None:
        settings = engine.config.connections["pledgebox"].settings
        assert API_KEY not in repr(settings)
        assert isinstance(settings, PledgeBoxSettings)
        assert settings.api_key.get_secret_value() == API_KEY


class TestCentsConverter:
    """The plugin's converter turns amounts into whole cents, or says why it cannot."""

    @pytest.mark.parametrize(
        ("given", "expected"), [("25.00", 2500), ("1,250.50", 125050), (" 7 ", 700), (3, 300)]
    )
    def test_amounts(self, given: object, expected: int) -> None:
        assert cents(given) == expected

    @pytest.mark.parametrize(
        ("given", "message"), [("abc", "is not an amount"), ("0.001", "fraction of a cent")]
    )
    def test_refusals(self, given: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            cents(given)
