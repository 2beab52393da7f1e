"""The code of docs/simulators/mailchimp.md works as written: the quick start runs, the seed
payload is accepted, and every operation id in the route table is one the simulator names."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from mailchimp_simulator import MailchimpSimulator
from mailchimp_simulator.api import OPERATIONS

DOC = Path(__file__).resolve().parents[3] / "docs" / "simulators" / "mailchimp.md"


def block(language: str, index: int = 0) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) > index, f"{DOC.name} lost its {language} example {index}"
    return str(blocks[index])


@pytest.mark.anyio
async def test_the_quick_start_runs() -> None:
    namespace: dict[str, Any] = {}
    exec(block("python"), namespace)
    try_it: Callable[[], Awaitable[None]] = namespace["try_it"]
    await try_it()


def test_the_documented_seed_payload_loads(mailchimp_simulator: MailchimpSimulator) -> None:
    made = mailchimp_simulator.seed_records(json.loads(block("json")))
    assert made["lists"][0]["members"] == 1
    member = next(iter(mailchimp_simulator.account.audiences["a1b2c3d4e5"].members.values()))
    assert member.merge_fields["CONSID"] == "10042"


def test_the_route_table_names_the_simulators_operations() -> None:
    documented = set(
        re.findall(
            r"`((?:get|post|put|patch|delete|search)[A-Za-z]+)`", DOC.read_text(encoding="utf-8")
        )
    )
    assert {name for _, _, name in OPERATIONS} <= documented
