"""``syncframe run``: what lands, what is shown, and the exit codes."""

from __future__ import annotations

import pytest

from syncframe.state import open_state
from tests.cli.conftest import Invoke, Project, people


def run_ids(project: Project) -> list[str]:
    store = open_state(f"sqlite:///{project.root / 'state.db'}")
    try:
        return [r.run_id for r in store.list_runs()]
    finally:
        store.close()


class TestRun:
    def test_records_land_and_the_summary_says_so(self, cli: Invoke, project: Project) -> None:
        result = cli("run", project.flow)
        assert result.exit_code == 0, result.output
        assert sorted(project.box()) == ["1", "2", "3", "4", "5"]
        assert project.box()["4"]["email"] == "p4@example.org"
        (run_id,) = run_ids(project)
        lines = [line for line in result.output.splitlines() if run_id in line]
        assert len(lines) == 1
        row = lines[0]
        assert "people" in row
        assert "succeeded" in row
        # created 5, updated 0, unchanged 0, ... in the table's column order
        cells = [c.strip() for c in row.split("│") if c.strip()]
        assert cells[:4] == ["people", "succeeded", "5", "0"]

    def test_second_run_reads_only_new_rows(self, cli: Invoke, project: Project) -> None:
        assert cli("run", project.flow).exit_code == 0
        project.write_rows([*people(5), *people(2, start=6)])
        result = cli("run", project.flow)
        assert result.exit_code == 0
        assert sorted(project.box()) == ["1", "2", "3", "4", "5", "6", "7"]
        newest = run_ids(project)[0]
        row = next(line for line in result.output.splitlines() if newest in line)
        assert [c.strip() for c in row.split("│") if c.strip()][2] == "2"

    def test_dry_run_writes_nothing_and_shows_the_plan(self, cli: Invoke, project: Project) -> None:
        result = cli("run", project.flow, "--dry-run", "--plan-limit", "2")
        assert result.exit_code == 0, result.output
        assert project.box() == {}
        assert run_ids(project) == []  # dry runs leave no history
        assert "Dry run: nothing was written" in result.output
        assert "people: planned writes" in result.output
        row = next(line for line in result.output.splitlines() if "rows.person[id=1]" in line)
        assert "created" in row
        assert "email=p1@example.org" in row  # the values it would write
        assert "rows.person[id=2]" in result.output
        assert "rows.person[id=3]" not in result.output
        assert "… and 3 more planned (of 5; --plan-limit 0 shows all)" in result.output

    def test_failed_record_means_exit_code_1(self, cli: Invoke, project: Project) -> None:
        project.write_flow(extra='poison = ["3"]\n')
        result = cli("run", project.flow)
        assert result.exit_code == 1
        assert sorted(project.box()) == ["1", "2", "4", "5"]
        assert "1 record failed and was kept" in result.output
        assert f"syncframe failed list {project.flow}" in result.output

    def test_failed_flow_means_exit_code_1_with_the_reason(
        self, cli: Invoke, project: Project
    ) -> None:
        project.write_flow(extra="broken = true\n")
        result = cli("run", project.flow)
        assert result.exit_code == 1
        assert "people failed: box box.json is locked" in result.output
        assert project.box() == {}

    def test_unknown_flow_is_a_user_error(self, cli: Invoke, project: Project) -> None:
        result = cli("run", project.flow, "--flow", "nope")
        assert result.exit_code == 2
        assert "no flow named 'nope'" in result.output
        assert "flows: people" in result.output
        assert "Traceback" not in result.output
        assert project.box() == {}

    def test_missing_file_is_reported_like_a_config_problem(
        self, cli: Invoke, project: Project
    ) -> None:
        missing = project.root / "nope.toml"
        result = cli("run", missing)
        assert result.exit_code == 2
        assert f"{missing}: no such file" in result.output

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--cycles", "2"], "--cycles only applies with --schedule"),
            (["--schedule", "--dry-run"], "cannot be combined with --schedule"),
        ],
    )
    def test_option_mistakes(
        self, cli: Invoke, project: Project, args: list[str], message: str
    ) -> None:
        result = cli("run", project.flow, *args)
        assert result.exit_code == 2
        assert message in result.output

    def test_schedule_runs_cycles_and_prints_a_line_per_run(
        self, cli: Invoke, project: Project
    ) -> None:
        result = cli("run", project.flow, "--schedule", "--cycles", "1")
        assert result.exit_code == 0, result.output
        assert sorted(project.box()) == ["1", "2", "3", "4", "5"]
        (run_id,) = run_ids(project)
        line = next(line for line in result.output.splitlines() if run_id in line)
        assert "people succeeded: created 5" in line
        assert "1 run, 0 with failures" in result.output

    def test_plugin_bug_fails_the_flow_without_traceback(
        self, cli: Invoke, project: Project
    ) -> None:
        (project.root / "rows.json").unlink()  # the test source does not expect that
        result = cli("run", project.flow)
        assert result.exit_code == 1
        assert "people failed: FileNotFoundError" in result.output
        words = " ".join(result.output.split())  # the log line may wrap
        assert "--log-level debug shows the traceback" in words
        assert "Traceback" not in result.output

    def test_debug_log_level_shows_the_traceback(self, cli: Invoke, project: Project) -> None:
        (project.root / "rows.json").unlink()
        result = cli("--log-level", "debug", "run", project.flow)
        assert result.exit_code == 1
        assert "Traceback" in result.output
        assert "FileNotFoundError" in result.output
