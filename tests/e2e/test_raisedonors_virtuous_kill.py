"""kill -9 of ``syncframe serve`` while both directions of the RaiseDonors <-> Virtuous sync are
busy, then a rerun: both systems agree, nothing is duplicated, each change is applied once, and
every email change went only RaiseDonors -> Virtuous.

Both simulators are served on loopback in this process (they outlive the killed syncframe
process); ``syncframe serve`` runs the example flow file in a subprocess: Virtuous delivers its
webhooks to it over a real socket, and it runs the daily RaiseDonors batch when it starts.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from raisedonors_simulator import RaiseDonorsSimulator
from syncframe_simulators import serve_in_thread
from virtuous_simulator import VirtuousSimulator
from virtuous_simulator.contacts import contact_json
from virtuous_simulator.sample import ncoa_moves

from syncframe.clock import ManualClock, SystemClock
from tests.e2e.raisedonors_virtuous_linked import (
    DAILY_FLOW,
    IMPORTER,
    REPO,
    SECRETS,
    WEBHOOK_FLOW,
    linked_organization,
)
from tests.e2e.raisedonors_virtuous_world import flow_file

pytestmark = pytest.mark.slow

DONORS = 240
KILLS = 5
SYNC_CLIENT = "Virtuous CRM+ Sync"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCFRAME_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(SECRETS)
    return env


def start_serve(folder: Path, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "syncframe", "serve", "flows.toml", "--port", str(port)],
        cwd=folder,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve ended early: {process.communicate()[1]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("serve did not answer within 60 s")


def webhook_counts(virtuous_url: str) -> dict[str, int]:
    answer = httpx.get(f"{virtuous_url}/_admin/virtuous/webhooks/events?limit=0", timeout=30)
    counts: dict[str, int] = answer.json()["counts"]
    return counts


def failed_events(virtuous_url: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{virtuous_url}/_admin/virtuous/webhooks/events?status=failed", timeout=30)
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


def settle_webhooks(virtuous_url: str, clock: ManualClock, *, at_least: int) -> None:
    """Wait until Virtuous delivered every event: move its clock so its retries come due, and
    retry by hand the ones it gave up on, as a person would from the Failures tab."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        counts = webhook_counts(virtuous_url)
        if counts.get("pending"):
            clock.advance(timedelta(minutes=30))
            time.sleep(0.2)
            continue
        if counts.get("failed"):
            for event in failed_events(virtuous_url):
                httpx.post(
                    f"{virtuous_url}/_admin/virtuous/webhooks/events/{event['eventId']}/retry",
                    timeout=30,
                )
            continue
        if counts.get("delivered", 0) >= at_least:
            return
        time.sleep(0.2)
    reasons = Counter(e["reason"] for e in failed_events(virtuous_url))
    raise AssertionError(f"webhooks never all delivered: {webhook_counts(virtuous_url)} {reasons}")


def primary_address(contact: dict[str, Any]) -> tuple[Any, ...]:
    address = contact["address"] or {}
    return tuple(address.get(k) for k in ("address1", "city", "state", "postal"))


def primary_method(contact: dict[str, Any], kind: str) -> str | None:
    for individual in contact["contactIndividuals"]:
        if individual["isPrimary"]:
            for method in individual["contactMethods"]:
                if method["isPrimary"] and kind in method["type"]:
                    value: str = method["value"]
                    return value
    return None


def test_kill_9_in_both_directions_then_a_rerun_applies_each_change_once(
    tmp_path: Path,
) -> None:
    # Virtuous's clock is moved (retries come due, midnight bundles the imports). RaiseDonors
    # keeps real time, as syncframe serve does: its realm token is made from today's date.
    clock = ManualClock(datetime(2026, 11, 23, 10, tzinfo=UTC))
    raisedonors = RaiseDonorsSimulator(clock=SystemClock())
    virtuous = VirtuousSimulator(clock=clock)
    port = free_port()
    pairs = linked_organization(
        raisedonors,
        virtuous,
        DONORS,
        webhook_url=f"http://127.0.0.1:{port}/webhooks/{WEBHOOK_FLOW}",
    )
    moved, phoned = pairs[:160], pairs[80:]
    emailed_in_raisedonors, emailed_in_virtuous = pairs[:40], pairs[40:80]
    original_email = {d: raisedonors.account.donors.get(d).email for d, _ in pairs}
    rng = random.Random(2026)

    with (
        ExitStack() as stack,
        serve_in_thread(raisedonors) as rd_server,
        serve_in_thread(virtuous) as v_server,
    ):
        rd_url, v_url = rd_server.base_url, v_server.base_url
        flow_file(tmp_path, raisedonors_url=rd_url, virtuous_url=v_url)
        admin = stack.enter_context(httpx.Client(timeout=60))
        # In Virtuous: an NCOA run moves 160 contacts; an admin changes 40 emails.
        moves = ncoa_moves([c for _, c in moved], seed=11)
        admin.post(f"{v_url}/_admin/virtuous/ncoa", json={"updates": moves}).raise_for_status()
        for _, contact in emailed_in_virtuous:
            admin.post(
                f"{v_url}/_admin/virtuous/contacts/{contact}/edit",
                json={
                    "source": "admin",
                    "user": "Ann Admin",
                    "fields": {"email": f"virtuous.{contact}@example.net"},
                },
            ).raise_for_status()
        # In RaiseDonors: 160 phone changes in the admin portal, 40 emails in the donor portal.
        for donor, _ in phoned:
            admin.post(
                f"{rd_url}/_admin/raisedonors/donors/{donor}/edit",
                json={
                    "channel": "admin_portal",
                    "actor": "Maria Admin",
                    "fields": {"phone": f"(512) 555-{donor % 10000:04d}"},
                },
            ).raise_for_status()
        for donor, _ in emailed_in_raisedonors:
            admin.post(
                f"{rd_url}/_admin/raisedonors/donors/{donor}/edit",
                json={
                    "channel": "donor_portal",
                    "actor": "the donor",
                    "fields": {"email": f"new.{donor}@example.org"},
                },
            ).raise_for_status()
        events = 160 + 40

        # syncframe serve is killed in the middle of the daily batch and of the deliveries.
        for _ in range(KILLS):
            process = start_serve(tmp_path, port)
            admin.post(f"{v_url}/_admin/virtuous/webhooks/deliver")
            time.sleep(rng.uniform(0.2, 1.2))
            process.kill()
            process.communicate()
            assert process.returncode == -9
            clock.advance(timedelta(minutes=3))

        # The rerun: serve until Virtuous has delivered everything, then the daily batch to its
        # end (`syncframe run` of the same file).
        process = start_serve(tmp_path, port)
        try:
            settle_webhooks(v_url, clock, at_least=events)
        finally:
            process.terminate()
            process.communicate(timeout=60)
        daily = subprocess.run(
            [sys.executable, "-m", "syncframe", "run", "flows.toml", "--flow", DAILY_FLOW],
            cwd=tmp_path,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert daily.returncode == 0, daily.stdout + daily.stderr

        # Midnight in Virtuous: the day's bundle is imported by a person; its ContactUpdate
        # webhooks come back to syncframe, which recognises them as echoes.
        clock.advance(timedelta(days=1))
        imports = admin.get(f"{v_url}/_admin/virtuous/imports").json()["imports"]
        assert imports, "the daily batch left nothing in Virtuous's import tool"
        for bundle in imports:
            admin.post(
                f"{v_url}/_admin/virtuous/imports/{bundle['id']}/run", json={"user": IMPORTER}
            ).raise_for_status()
        process = start_serve(tmp_path, port)
        try:
            settle_webhooks(v_url, clock, at_least=events + 1)
        finally:
            process.terminate()
            process.communicate(timeout=60)

    # ---- both systems, compared ----------------------------------------------------------
    donors = {d: raisedonors.account.overview(d)["donor"] for d, _ in pairs}
    with virtuous.lock:
        contacts = [contact_json(c) for c in virtuous.contacts.contacts.values()]
    by_reference = Counter(c["referenceId"] for c in contacts)
    assert len(raisedonors.account.donors) == DONORS
    assert len(contacts) == DONORS, "a contact was created twice"
    assert set(by_reference.values()) == {1}
    contact_of = {int(c["referenceId"]): c for c in contacts}
    new_address = {c: m["address"] for (_, c), m in zip(moved, moves, strict=True)}

    for donor_id, contact_id in pairs:
        donor, contact = donors[donor_id], contact_of[donor_id]
        assert contact["id"] == contact_id
        # Names, primary phone and primary address agree.
        assert (donor["firstName"], donor["lastName"]) == (
            contact["contactIndividuals"][0]["firstName"],
            contact["contactIndividuals"][0]["lastName"],
        )
        assert donor["phone"] == primary_method(contact, "Phone")
        address = donor["primaryAddress"]
        assert (
            address["address1"],
            address["city"],
            address["state"],
            address["postalCode"],
        ) == primary_address(contact), f"donor {donor_id}"
        if contact_id in new_address:
            assert address["address1"] == new_address[contact_id]["address1"]

    # Email went one way only.
    for donor_id, _ in emailed_in_raisedonors:
        assert donors[donor_id]["email"] == f"new.{donor_id}@example.org"
        assert primary_method(contact_of[donor_id], "Email") == f"new.{donor_id}@example.org"
    for donor_id, contact_id in emailed_in_virtuous:
        assert donors[donor_id]["email"] == original_email[donor_id]
        assert primary_method(contact_of[donor_id], "Email") == f"virtuous.{contact_id}@example.net"

    # Each NCOA move was applied to RaiseDonors exactly once, by the sync, and nothing else was.
    sync_edits = Counter(
        item.donor_id
        for item in raisedonors.account.activity.since(0, 1_000_000)[0]
        if item.actor == SYNC_CLIENT
    )
    assert sync_edits == Counter(d for d, _ in moved)
