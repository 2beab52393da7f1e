"""Failures through the command line: transient faults are retried, permanent ones and rejected
records are kept as failed records with their reason, and ``failed retry`` delivers them once
the cause is fixed."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tests.e2e.conftest import Workspace, as_person, contacts


def _open_failed(ws: Workspace) -> list[Any]:
    store = ws.state()
    try:
        return store.list_failed()
    finally:
        store.close()


class TestTransient:
    def test_a_transient_fault_is_retried_and_everything_lands(self, ws: Workspace) -> None:
        source = contacts(6)
        ws.crm.add_changes("contact", source)
        ws.flow("contacts.toml", "flow.toml")
        ws.control(transient=2)

        result = ws.cli("run", "flow.toml")

        result.check(0)
        assert json.loads((ws.dir / "warehouse-control.json").read_text())["transient"] == 0
        assert "memory store is busy (injected fault)" in result.stderr  # the retry is logged
        assert ws.warehouse.records("person") == {c["id"]: as_person(c) for c in source}
        journal = ws.warehouse.journal()
        assert Counter(e.change_id for e in journal) == {
            f"crm:contact:{seq}": 1 for seq in range(1, 7)
        }
        assert ws.runs("contacts")[0].counts == {"created": 6}
        assert _open_failed(ws) == []


class TestPermanent:
    def test_a_poison_record_is_kept_then_delivered_by_failed_retry(
        self, ws: Workspace, run_cli: Any
    ) -> None:
        source = contacts(5)
        source[3]["status"] = "poison"  # id 4, in the second batch of three
        ws.crm.add_changes("contact", source)
        ws.flow("contacts.toml", "flow.toml")

        result = run_cli("run", "flow.toml")

        assert result.code == 1, result  # records failed
        assert "1 record failed and was kept" in result.stdout
        landed = ws.warehouse.records("person")
        assert sorted(landed) == ["1", "2", "3", "5"]
        assert landed["5"] == as_person(source[4])
        failed = _open_failed(ws)
        assert [(f.flow, f.change["keys"], f.attempts) for f in failed] == [
            ("contacts", {"id": "4"}, 1)
        ]
        assert "the store refuses records with status 'poison'" in failed[0].reason
        # The cursor moved past it: the failed record, not the source, holds it now.
        assert ws.checkpoint("contacts").cursor == 5  # type: ignore[union-attr]

        listed = run_cli("failed", "list", "flow.toml")
        listed.check(0)
        row = next(line for line in listed.stdout.splitlines() if "crm.contact[id=4]" in line)
        assert "contacts" in row
        assert "poison" in row

        # Retrying while the store still refuses it: still open, one more attempt.
        again = run_cli("failed", "retry", "flow.toml")
        again.check(1)
        assert "0 of 1 delivered, 1 still failing" in again.stdout
        assert [f.attempts for f in _open_failed(ws)] == [2]
        assert "4" not in ws.warehouse.records("person")

        ws.control(poison=None)  # the store accepts it now
        cured = run_cli("failed", "retry", "flow.toml")
        cured.check(0)
        assert "1 of 1 delivered, 0 still failing" in cured.stdout
        assert ws.warehouse.records("person")["4"] == as_person(source[3])
        assert _open_failed(ws) == []
        store = ws.state()
        try:
            resolved = store.list_failed(status="resolved")
        finally:
            store.close()
        assert [f.change["keys"] for f in resolved] == [{"id": "4"}]
        empty = run_cli("failed", "list", "flow.toml")
        assert empty.code == 0
        assert "no open failed records" in empty.stdout
        journal = Counter(e.change_id for e in ws.warehouse.journal())
        assert journal == {f"crm:contact:{seq}": 1 for seq in range(1, 6)}
        assert ws.runs("contacts")[0].kind == "retry"


class TestRejected:
    def test_a_rejected_record_shows_in_run_history_and_failed_records(
        self, ws: Workspace, run_cli: Any
    ) -> None:
        source = contacts(4)
        source[1]["status"] = "invalid"
        ws.crm.add_changes("contact", source)
        ws.flow("contacts.toml", "flow.toml")

        result = run_cli("run", "flow.toml")
        assert result.code == 0, result  # a rejected record is not a failed run
        assert sorted(ws.warehouse.records("person")) == ["1", "3", "4"]
        run = ws.runs("contacts")[0]
        assert run.counts == {"created": 3, "rejected": 1}

        shown = run_cli("runs", "show", "flow.toml", run.run_id, "--outcome", "rejected")
        shown.check(0)
        row = next(x for x in shown.stdout.splitlines() if "crm.contact[id=2]: status" in x)
        assert "rejected" in row
        assert "status 'invalid' is not accepted" in row
        assert "created" not in shown.stdout.split("Records", 1)[-1]  # --outcome filtered

        listed = run_cli("failed", "list", "flow.toml")
        listed.check(0)
        line = next(x for x in listed.stdout.splitlines() if "crm.contact[id=2]" in x)
        assert "status 'invalid' is not accepted" in line


class TestAmbiguousMatch:
    def test_an_ambiguous_match_is_rejected_and_a_unique_one_updates_the_match(
        self, ws: Workspace, run_cli: Any
    ) -> None:
        ws.warehouse.put_record("person", "W1", {"email": "ada1@example.org", "full_name": "Old"})
        twin = {"email": "ada2@example.org", "full_name": "Twin"}
        ws.warehouse.put_record("person", "W2", twin)
        ws.warehouse.put_record("person", "W3", twin)
        source = contacts(3)
        ws.crm.add_changes("contact", source)
        ws.flow("contacts_matched.toml", "flow.toml")

        run_cli("run", "flow.toml").check(0)

        landed = ws.warehouse.records("person")
        assert sorted(landed) == ["3", "W1", "W2", "W3"]
        assert landed["W1"] == as_person(source[0])  # matched by email, updated in place
        assert landed["W2"] == twin
        assert landed["W3"] == twin
        assert landed["3"] == as_person(source[2])
        run = ws.runs("contacts")[0]
        assert run.counts == {"updated": 1, "rejected": 1, "created": 1}

        shown = run_cli("runs", "show", "flow.toml", run.run_id).check(0).stdout
        rejected = next(line for line in shown.splitlines() if "refusing to guess" in line)
        assert "rejected" in rejected
        assert "2 records in target share email ada2@example.org (W2, W3)" in rejected
        matched = next(line for line in shown.splitlines() if "matched on email" in line)
        assert "updated" in matched
        assert "W1" in matched

        listed = run_cli("failed", "list", "flow.toml").check(0).stdout
        line = next(x for x in listed.splitlines() if "crm.contact[id=2]" in x)
        assert "refusing to guess" in line
        assert len([x for x in listed.splitlines() if "crm.contact[" in x]) == 1
