"""kill -9 of ``syncframe run`` while the SmartSYNC-style RE NXT -> Mailchimp flow carries a few
hundred new constituents into the audience, several times, then a rerun to the end: every
constituent has exactly one member, each member was created once, nothing was lost.

The simulators are served on loopback in this process with real time (they outlive the killed
syncframe process); ``syncframe run`` runs the example flow file (``tests/e2e/smartsync_world.py``
points it at them) in a subprocess, and is killed when the audience has grown by another share of
the constituents: in the middle of its batches, some between Mailchimp's answers and the commit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from mailchimp_simulator import MailchimpSimulator
from syncframe_simulators import serve_in_thread

from syncframe.clock import SystemClock
from syncframe.state import open_state
from tests.e2e.smartsync_world import (
    LIST_ID,
    RE,
    RE_TO_MC,
    REPO,
    Systems,
    flow_document,
)

pytestmark = pytest.mark.slow

CONSTITUENTS = 300
KILLS = 4
BATCH = 25
FIRST_ID = 50001


def environment(secrets: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCFRAME_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(secrets)
    return env


def seed_constituents(systems: Systems) -> None:
    """New constituents in RE's mailing list, opted in to Email, none in the audience yet."""
    now = systems.now().isoformat()
    systems.re.seed_records(
        {
            "constituents": [
                {
                    "type": "Individual",
                    "first": f"First{n}",
                    "last": f"Last{n}",
                    "lookup_id": str(FIRST_ID + n),
                    "email_addresses": [
                        {"address": f"person{n}@example.org", "type": "Email", "primary": True}
                    ],
                    "consents": [
                        {
                            "channel": "Email",
                            "constituent_consent_response": "OptIn",
                            "consent_date": now,
                        }
                    ],
                }
                for n in range(CONSTITUENTS)
            ]
        }
    )
    systems.refresh_mailing_list()


def audience_size(mailchimp: MailchimpSimulator) -> int:
    with mailchimp.account.lock:
        return len(mailchimp.account.audiences[LIST_ID].members)


def run_flow(folder: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncframe", "run", "flows.yaml", "--flow", RE_TO_MC],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when_audience_reaches(
    process: subprocess.Popen[str], mailchimp: MailchimpSimulator, size: int
) -> bool:
    """SIGKILL ``process`` once the audience holds ``size`` members; False if it ended first."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, stderr = process.communicate()
            assert process.returncode == 0, stderr
            return False
        if audience_size(mailchimp) >= size:
            process.kill()
            process.communicate()
            assert process.returncode == -9
            return True
        time.sleep(0.005)
    process.kill()
    raise AssertionError(f"the audience never reached {size} members within 30 s")


def test_kill_9_mid_run_then_a_rerun_gives_each_constituent_one_member(tmp_path: Path) -> None:
    systems = Systems(SystemClock())
    seed_constituents(systems)
    constituents = {c["lookup_id"]: c for c in systems.constituents()}
    assert len(constituents) == CONSTITUENTS

    with (
        serve_in_thread(systems.re) as re_server,
        serve_in_thread(systems.mailchimp) as mailchimp_server,
        serve_in_thread(systems.salesforce) as salesforce_server,
    ):
        document = flow_document(
            re_url=re_server.base_url,
            mailchimp_url=mailchimp_server.base_url,
            salesforce_url=salesforce_server.base_url,
            mailing_list_id=systems.mailing_list_id,
            since=None,
        )
        # Small batches: many commits, so kills fall between them and inside them.
        document["flows"][RE_TO_MC]["batch_size"] = BATCH
        document["connections"][RE]["page_size"] = BATCH
        (tmp_path / "flows.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
        env = environment(systems.environ)

        killed = 0
        for k in range(1, KILLS + 1):
            process = run_flow(tmp_path, env)
            killed += kill_when_audience_reaches(
                process, systems.mailchimp, CONSTITUENTS * k // (KILLS + 1)
            )
        assert killed >= 2, f"only {killed} of {KILLS} runs were killed before they ended"

        rerun = run_flow(tmp_path, env)
        _, stderr = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, stderr

    # Every constituent has exactly one member, with its Constituent ID in CONSID.
    members = systems.members()
    assert len(members) == CONSTITUENTS
    by_consid = Counter(m["merge_fields"]["CONSID"] for m in members.values())
    assert by_consid == Counter(dict.fromkeys(constituents, 1))
    for member in members.values():
        constituent = constituents[member["merge_fields"]["CONSID"]]
        assert member["email_address"] == systems.primary_email(constituent)
        assert (member["merge_fields"]["FNAME"], member["merge_fields"]["LNAME"]) == (
            constituent["first"],
            constituent["last"],
        )
        assert member["status"] == "subscribed"
        assert [tag["name"] for tag in member["tags"]] == ["From RE"]
    # Each member was created once: a batch written again after a kill found its members.
    created = [
        e
        for e in systems.mailchimp.journal.entries()
        if e.operation == "postListsIdMembers" and e.status == 200
    ]
    assert len(created) == CONSTITUENTS

    # Run history: no record created twice or failed; every constituent accounted for.
    state = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        runs = state.list_runs(flow=RE_TO_MC, limit=100)
        assert len(runs) == KILLS + 1
        assert runs[0].status == "succeeded"
        outcomes: dict[str, list[str]] = {}
        for run in runs:
            for row in state.run_outcomes(run.run_id):
                outcomes.setdefault(row.record, []).append(row.outcome)
        assert state.list_failed(flow=RE_TO_MC) == []
    finally:
        state.close()
    ids = {c["id"] for c in constituents.values()}
    assert set(outcomes) == ids
    for record, seen in outcomes.items():
        assert seen.count("created") <= 1, (record, seen)
        assert set(seen) <= {"created", "unchanged"}, (record, seen)
    # Members a killed run wrote before it could commit were found again, not created again.
    assert any(seen == ["unchanged"] for seen in outcomes.values())
