"""A flow file run through the command line lands every record; reruns and dry runs write
nothing; a later run reads only what is new."""

from __future__ import annotations

from collections import Counter
from typing import Any

from syncframe.records import Operation
from tests.e2e.conftest import TOKEN, Workspace, as_person, contacts


def _change_ids(seqs: list[int]) -> list[str]:
    return [f"crm:contact:{seq}" for seq in seqs]


class TestRun:
    def test_every_record_lands_and_a_rerun_writes_nothing(
        self, ws: Workspace, run_cli: Any
    ) -> None:
        source = contacts(7)
        seqs = ws.crm.add_changes("contact", source)
        ws.flow("contacts.toml", "flow.toml")

        first = run_cli("run", "flow.toml")
        first.check(0)

        landed = ws.warehouse.records("person")
        assert sorted(landed, key=int) == [c["id"] for c in source]
        for contact in source:
            person = landed[contact["id"]]
            assert person == as_person(contact)
            assert person["full_name"] == f"Ada{contact['id']} Lovelace{contact['id']}"
            assert person["email"] == f"ada{contact['id']}@example.org"
            assert person["status"] == "active"
        journal = ws.warehouse.journal()
        assert [e.change_id for e in journal] == _change_ids(seqs)
        assert {e.outcome for e in journal} == {"created"}
        # batch_size 3: three batches, each committed under its own token.
        assert len({e.token for e in journal}) == 3
        assert ws.checkpoint("contacts").cursor == seqs[-1]  # type: ignore[union-attr]
        assert "7" in first.stdout  # the summary table counts them
        assert TOKEN not in first.output
        for name in ("state.db", "state.db-wal"):
            if (ws.dir / name).exists():
                assert TOKEN.encode() not in (ws.dir / name).read_bytes()

        second = run_cli("run", "flow.toml")
        second.check(0)
        assert ws.warehouse.journal() == journal
        assert ws.warehouse.records("person") == landed

        runs = ws.runs("contacts")
        assert [r.status for r in runs] == ["succeeded", "succeeded"]
        assert runs[1].counts == {"created": 7}
        assert sum(runs[0].counts.values()) == 0
        history = run_cli("runs", "list", "flow.toml")
        history.check(0)
        assert runs[0].run_id in history.stdout
        assert runs[1].run_id in history.stdout
        shown = run_cli("runs", "show", "flow.toml", runs[1].run_id)
        shown.check(0)
        assert shown.stdout.count("created") >= 7

    def test_an_unchanged_record_is_reported_unchanged_and_not_rewritten(
        self, ws: Workspace
    ) -> None:
        source = contacts(2)
        ws.crm.add_changes("contact", source)
        ws.flow("contacts.toml", "flow.toml")
        assert ws.cli("run", "flow.toml").code == 0
        # The CRM reports a change of contact 1 that changed nothing the warehouse keeps.
        same = dict(source[0], phone="555-0100")
        ws.crm.add_changes("contact", [same])

        result = ws.cli("run", "flow.toml")
        result.check(0)
        assert ws.runs("contacts")[0].counts == {"unchanged": 1}
        assert ws.warehouse.records("person")["1"] == as_person(source[0])

    def test_the_secret_comes_from_the_environment_and_is_checked(self, ws: Workspace) -> None:
        ws.crm.add_changes("contact", contacts(1))
        ws.flow("contacts.toml", "flow.toml")
        ws.env["SYNCFRAME_CRM_API_TOKEN"] = "wrong-token-1234"

        result = ws.cli("run", "flow.toml")
        result.check(1)
        assert "refused the api token of connection 'crm'" in result.output
        assert "wrong-token-1234" not in result.output
        assert ws.warehouse.records("person") == {}
        assert "Traceback" not in result.output


class TestResume:
    def test_a_later_run_applies_only_the_new_changes(self, ws: Workspace) -> None:
        ws.crm.add_changes("contact", contacts(5))
        ws.flow("contacts.toml", "flow.toml")
        assert ws.cli_in_process("run", "flow.toml").code == 0
        before = ws.warehouse.journal()
        assert len(before) == 5

        new = ws.crm.add_changes("contact", contacts(2, start=6))
        edited = dict(contacts(1, start=3)[0], email="new3@example.org")
        update = ws.crm.add_changes("contact", [edited])
        gone = ws.crm.add_changes("contact", [{"id": "4"}], operation=Operation.DELETE)

        result = ws.cli_in_process("run", "flow.toml")
        result.check(0)
        journal = ws.warehouse.journal()
        assert journal[: len(before)] == before
        added = journal[len(before) :]
        assert [e.change_id for e in added] == _change_ids(new + update + gone)
        assert [(e.key, e.outcome) for e in added] == [
            ("6", "created"),
            ("7", "created"),
            ("3", "updated"),
            ("4", "deleted"),
        ]
        landed = ws.warehouse.records("person")
        assert sorted(landed, key=int) == ["1", "2", "3", "5", "6", "7"]
        assert landed["3"]["email"] == "new3@example.org"
        assert landed["7"] == as_person(contacts(1, start=7)[0])
        assert ws.runs("contacts")[0].counts == {"created": 2, "updated": 1, "deleted": 1}
        assert ws.checkpoint("contacts").cursor == gone[-1]  # type: ignore[union-attr]
        assert Counter(e.change_id for e in journal).most_common(1)[0][1] == 1


class TestDryRun:
    def test_dry_run_shows_what_would_be_written_and_writes_nothing(self, ws: Workspace) -> None:
        ws.crm.add_changes("contact", contacts(2))
        ws.flow("contacts.toml", "flow.toml")
        assert ws.cli("run", "flow.toml").code == 0
        checkpoint = ws.checkpoint("contacts")
        assert checkpoint is not None
        runs_before = ws.runs()

        edited = dict(contacts(1)[0], last="Byron")
        ws.crm.add_changes("contact", [edited, *contacts(1, start=3)])
        ws.crm.add_changes("contact", contacts(1, start=4, status="invalid"))
        records = ws.warehouse.records("person")
        journal = ws.warehouse.journal()
        tokens = ws.warehouse.tokens()

        result = ws.cli("run", "flow.toml", "--dry-run")
        result.check(0)
        out = result.stdout
        assert "Dry run: nothing was written" in out
        lines = {
            key: next(line for line in out.splitlines() if f"crm.contact[id={key}]" in line)
            for key in ("1", "3", "4")
        }
        assert "updated" in lines["1"]
        assert "created" in lines["3"]
        assert "rejected" in lines["4"]
        assert "status 'invalid' is not accepted" in out

        assert ws.warehouse.records("person") == records
        assert ws.warehouse.journal() == journal
        assert ws.warehouse.tokens() == tokens
        after = ws.checkpoint("contacts")
        assert after is not None
        assert after.cursor == checkpoint.cursor
        assert after.batch_seq == checkpoint.batch_seq
        assert [r.run_id for r in ws.runs()] == [r.run_id for r in runs_before]
        store = ws.state()
        try:
            assert store.list_failed() == []
        finally:
            store.close()

        # The real run then writes exactly what the dry run announced.
        real = ws.cli("run", "flow.toml")
        real.check(0)
        assert ws.runs("contacts")[0].counts == {"updated": 1, "created": 1, "rejected": 1}
        assert ws.warehouse.records("person")["1"]["full_name"] == "Ada1 Byron"

    def test_dry_run_shows_the_values_it_would_write(self, ws: Workspace) -> None:
        ws.crm.add_changes("contact", contacts(1))
        ws.flow("contacts.toml", "flow.toml")
        ws.cli("run", "flow.toml").check(0)
        ws.crm.add_changes("contact", [dict(contacts(1)[0], last="Byron")])

        out = ws.cli("run", "flow.toml", "--dry-run").check(0).stdout

        # Not only that record 1 would be updated, but to what.
        assert "Ada1 Byron" in out
        assert ws.warehouse.records("person")["1"]["full_name"] == "Ada1 Lovelace1"

    def test_dry_run_explains_each_match_decision(self, ws: Workspace) -> None:
        ws.warehouse.put_record("person", "W1", {"email": "ada1@example.org", "full_name": "Old"})
        twin = {"email": "ada2@example.org", "full_name": "Twin"}
        ws.warehouse.put_record("person", "W2", twin)
        ws.warehouse.put_record("person", "W3", twin)
        ws.crm.add_changes("contact", contacts(3))
        ws.flow("contacts_matched.toml", "flow.toml")
        records = ws.warehouse.records("person")

        out = ws.cli("run", "flow.toml", "--dry-run").check(0).stdout

        def line(key: str) -> str:
            return next(x for x in out.splitlines() if f"crm.contact[id={key}]" in x)

        assert "updated" in line("1")
        assert "matched on email ada1@example.org (record W1)" in line("1")
        assert "rejected" in line("2")
        assert "refusing to guess" in line("2")
        assert "created" in line("3")
        assert "no record in target with email ada3@example.org" in line("3")
        assert ws.warehouse.records("person") == records
        assert ws.warehouse.journal() == []
        assert ws.checkpoint("contacts") is None
        assert ws.runs() == []
