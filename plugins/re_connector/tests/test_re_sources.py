"""The RE sources against the Raiser's Edge simulator: which constituents are exported and how
(the connector settings), paging through many constituents changed at the same moment, and the
code tables sent once, then only what changed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import syncframe_re_connector.plugin as connector_plugin
import yaml
from raisers_edge_simulator import RaisersEdgeSimulator

from plugins.re_connector.tests.helpers import RE_PASSWORD, RE_USER, add_constituent, new_re
from syncframe.clock import ManualClock
from syncframe.config import load_config
from syncframe.engine import Engine, RunReport
from syncframe.host import Host
from syncframe.records import Change
from syncframe.testing import ConformancePlugin

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Reader:
    """Runs one RE source into the conformance capture sink, run after run."""

    def __init__(
        self, folder: Path, re: RaisersEdgeSimulator, source: dict[str, Any], **flow: Any
    ) -> None:
        self.re = re
        self.capture = ConformancePlugin()
        self.host = Host(plugins=[connector_plugin, self.capture], entry_points=False)
        page_size = flow.pop("page_size", 500)
        document = {
            "state": {"url": "sqlite:///state.db"},
            "connections": {
                "re": {
                    "system": "raisers_edge",
                    "url": re.base_url,
                    "user": RE_USER,
                    "password": RE_PASSWORD,
                    "page_size": page_size,
                }
            },
            "flows": {
                "read": {
                    **flow,
                    "source": {**source, "connection": "re"},
                    "sink": {"type": "conformance_capture"},
                }
            },
        }
        self.path = folder / "flows.yaml"
        self.path.write_text(yaml.safe_dump(document), encoding="utf-8")

    async def run(self) -> tuple[RunReport, list[Change]]:
        config = load_config(self.path, self.host.registry, environ={})
        with Engine(config, self.host, clock=self.re.clock, transport=self.re.transport()) as e:
            report = await e.run_flow("read")
        assert report.summary.status == "succeeded", report.summary.error
        read = list(self.capture.captured)
        self.capture.captured.clear()
        return report, read


async def test_the_settings_choose_the_email_and_the_constituents(tmp_path: Path) -> None:
    re = new_re()
    member = add_constituent(re, 1, codes=["Luminate Online", "Board"])
    add_constituent(re, 2, codes=["Board"])
    lapsed = add_constituent(re, 3, codes=["Luminate Online"], inactive=True)
    reader = Reader(
        tmp_path,
        re,
        {
            "type": "re_constituents",
            "email_phone_type": "Business Email",
            "constituent_codes": ["Luminate Online"],
            "skip_inactive": False,
        },
    )

    _, read = await reader.run()

    assert [c.key for c in read] == [member, lapsed]
    assert [c.fields["PRIMARY_EMAIL"] for c in read] == [
        "work1@example.org",
        "work3@example.org",
    ]
    assert read[0].entity == "constituent"
    assert read[0].keys == {"import_id": member, "constituent_id": read[0].fields["MEMBER_ID"]}


async def test_inactive_constituents_are_left_out_by_default_and_still_pass_the_cursor(
    tmp_path: Path,
) -> None:
    re = new_re()
    active = add_constituent(re, 1)
    add_constituent(re, 2, inactive=True)
    reader = Reader(tmp_path, re, {"type": "re_constituents"})

    _, read = await reader.run()
    again, read_again = await reader.run()

    assert [c.key for c in read] == [active]
    assert read_again == []
    assert again.summary.total == 0


async def test_many_constituents_changed_at_one_moment_are_paged_and_resumed(
    tmp_path: Path,
) -> None:
    # A bulk edit in RE stamps many constituents with the same date_changed: more than a page.
    re = new_re()
    clock = re.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=1))
    same_moment = [add_constituent(re, n, advance=None) for n in range(7)]
    reader = Reader(tmp_path, re, {"type": "re_constituents"}, page_size=3, batch_size=2)

    report, read = await reader.run()

    assert [c.key for c in read] == sorted(same_moment)
    assert report.summary.batches == 4

    # More at the same moment (an import that stamped them alike) and one later.
    late = [add_constituent(re, n, advance=None) for n in range(7, 9)]
    later = add_constituent(re, 9)
    _, read = await reader.run()
    assert [c.key for c in read] == [*sorted(late), later]
    assert (await reader.run())[1] == []


async def test_code_tables_are_sent_once_then_only_new_or_changed_entries(
    tmp_path: Path,
) -> None:
    re = new_re()
    with re.lock:
        re.database.set_code("Fund", "GENERAL", "General Operating")
        re.database.set_code("Fund", "OLD", "Retired", active=False)
        re.database.set_code("Appeal", "WEB", "Online Giving")
    reader = Reader(tmp_path, re, {"type": "re_code_tables", "tables": ["Fund", "Appeal"]})

    _, first = await reader.run()
    with re.lock:
        re.database.set_code("Fund", "GENERAL", "General Fund")
        re.database.set_code("Appeal", "GALA", "Spring Gala")
        re.database.set_code("Campaign", "C1", "Not asked for")
    _, second = await reader.run()

    assert [(c.key, c.operation.value, c.fields) for c in first] == [
        (
            "Fund:GENERAL",
            "insert",
            {"TABLE": "Fund", "CODE": "GENERAL", "DESCRIPTION": "General Operating"},
        ),
        (
            "Appeal:WEB",
            "insert",
            {"TABLE": "Appeal", "CODE": "WEB", "DESCRIPTION": "Online Giving"},
        ),
    ]
    assert [(c.key, c.operation.value, c.fields["DESCRIPTION"]) for c in second] == [
        ("Fund:GENERAL", "update", "General Fund"),
        ("Appeal:GALA", "insert", "Spring Gala"),
    ]
    assert (await reader.run())[1] == []
