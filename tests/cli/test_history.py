"""``syncframe runs`` and ``syncframe failed``: history and failed records from the state store."""

from __future__ import annotations

from syncframe.state import open_state
from tests.cli.conftest import Invoke, Project, people


def runs_of(project: Project) -> list[str]:
    store = open_state(f"sqlite:///{project.root / 'state.db'}")
    try:
        return [r.run_id for r in store.list_runs()]
    finally:
        store.close()


def table_rows(output: str, needle: str) -> list[list[str]]:
    """Cells of the table lines that contain ``needle``."""
    return [
        [cell.strip() for cell in line.split("│") if cell.strip()]
        for line in output.splitlines()
        if needle in line and "│" in line
    ]


class TestRuns:
    def test_list_shows_runs_newest_first(self, cli: Invoke, project: Project) -> None:
        cli("run", project.flow)
        project.write_rows([*people(5), *people(1, start=6)])
        cli("run", project.flow)
        newest, oldest = runs_of(project)
        result = cli("runs", "list", project.flow)
        assert result.exit_code == 0, result.output
        out = result.output
        assert out.index(newest) < out.index(oldest)
        assert "created 5" in table_rows(out, oldest)[0][-1]
        assert "created 1" in table_rows(out, newest)[0][-1]

    def test_list_limit_and_flow(self, cli: Invoke, project: Project) -> None:
        cli("run", project.flow)
        project.write_rows(people(6))
        cli("run", project.flow)
        newest, oldest = runs_of(project)
        result = cli("runs", "list", project.flow, "--flow", "people", "--limit", "1")
        assert newest in result.output
        assert oldest not in result.output

    def test_list_unknown_flow(self, cli: Invoke, project: Project) -> None:
        result = cli("runs", "list", project.flow, "--flow", "nope")
        assert result.exit_code == 2
        assert "no flow named 'nope' (flows: people)" in result.output

    def test_list_before_any_run(self, cli: Invoke, project: Project) -> None:
        result = cli("runs", "list", project.flow)
        assert result.exit_code == 0
        assert "no runs yet" in result.output

    def test_show_lists_each_record(self, cli: Invoke, project: Project) -> None:
        project.write_flow(extra='poison = ["2"]\n')
        cli("run", project.flow)
        (run_id,) = runs_of(project)
        result = cli("runs", "show", project.flow, run_id[:12])  # a unique prefix will do
        assert result.exit_code == 0, result.output
        assert run_id in result.output
        records = {
            cells[0]: cells[1:]
            for cells in table_rows(result.output, "")
            if cells and cells[0].isdigit()
        }
        assert records["1"][:2] == ["created", "1"]  # outcome, then target key
        assert records["2"][0] == "failed"
        assert "the box refuses record 2" in records["2"][1]
        assert sorted(records) == ["1", "2", "3", "4", "5"]

    def test_show_filters_by_outcome_and_pages(self, cli: Invoke, project: Project) -> None:
        project.write_flow(extra='poison = ["2"]\n')
        cli("run", project.flow)
        (run_id,) = runs_of(project)
        failed = cli("runs", "show", project.flow, run_id, "--outcome", "failed")
        digits = [c[0] for c in table_rows(failed.output, "") if c and c[0].isdigit()]
        assert digits == ["2"]
        paged = cli("runs", "show", project.flow, run_id, "--limit", "2", "--offset", "1")
        digits = [c[0] for c in table_rows(paged.output, "") if c and c[0].isdigit()]
        assert digits == ["2", "3"]
        assert "showed records 2–3 of 5" in paged.output

    def test_show_unknown_run(self, cli: Invoke, project: Project) -> None:
        cli("run", project.flow)
        result = cli("runs", "show", project.flow, "zzz")
        assert result.exit_code == 2
        assert "no run 'zzz'" in result.output
        assert "Traceback" not in result.output


class TestFailed:
    def test_list_shows_reason_and_attempts(self, cli: Invoke, project: Project) -> None:
        project.write_flow(extra='poison = ["3"]\n')
        cli("run", project.flow)
        result = cli("failed", "list", project.flow)
        assert result.exit_code == 0, result.output
        (row,) = table_rows(result.output, "rows.person[id=3]")
        assert row[1:5] == ["people", "rows.person[id=3]", "the box refuses record 3", "1"]

    def test_list_when_nothing_failed(self, cli: Invoke, project: Project) -> None:
        cli("run", project.flow)
        result = cli("failed", "list", project.flow)
        assert result.exit_code == 0
        assert "no open failed records" in result.output

    def test_retry_after_the_cause_is_fixed_delivers(self, cli: Invoke, project: Project) -> None:
        project.write_flow(extra='poison = ["3"]\n')
        assert cli("run", project.flow).exit_code == 1
        assert "3" not in project.box()
        project.write_flow()  # the target accepts record 3 again
        result = cli("failed", "retry", project.flow)
        assert result.exit_code == 0, result.output
        assert project.box()["3"]["email"] == "p3@example.org"
        assert "1 of 1 delivered, 0 still failing" in result.output
        assert table_rows(result.output, "rows.person[id=3]")  # in the "Delivered" table
        assert "no open failed records" in cli("failed", "list", project.flow).output
        resolved = cli("failed", "list", project.flow, "--status", "resolved")
        assert table_rows(resolved.output, "rows.person[id=3]")

    def test_retry_that_still_fails(self, cli: Invoke, project: Project) -> None:
        project.write_flow(extra='poison = ["3", "4"]\n')
        cli("run", project.flow)
        project.write_flow(extra='poison = ["4"]\n')
        result = cli("failed", "retry", project.flow)
        assert result.exit_code == 1
        assert "1 of 2 delivered, 1 still failing" in result.output
        (row,) = table_rows(result.output, "rows.person[id=4]")
        assert row[3:5] == ["the box refuses record 4", "2"]  # reason, attempts

    def test_retry_by_id(self, cli: Invoke, project: Project) -> None:
        project.write_flow(extra='poison = ["3", "4"]\n')
        cli("run", project.flow)
        project.write_flow()
        listed = cli("failed", "list", project.flow).output
        (row,) = table_rows(listed, "rows.person[id=4]")
        result = cli("failed", "retry", project.flow, "--id", row[0])
        assert result.exit_code == 0, result.output
        assert "4" in project.box()
        assert "3" not in project.box()

    def test_retry_unknown_id(self, cli: Invoke, project: Project) -> None:
        cli("run", project.flow)
        result = cli("failed", "retry", project.flow, "--id", "999")
        assert result.exit_code == 2
        assert "no failed record with id 999" in result.output

    def test_retry_with_nothing_to_retry(self, cli: Invoke, project: Project) -> None:
        cli("run", project.flow)
        result = cli("failed", "retry", project.flow)
        assert result.exit_code == 0
        assert "no open failed records" in result.output
