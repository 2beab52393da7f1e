"""``syncframe validate``, ``syncframe schema`` and ``syncframe plugins``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncframe.cli.commands.config import redact_url
from syncframe.config import ConfigError, load_config
from syncframe.host import Host
from tests.cli.conftest import BOX_FLOW, Invoke, Project, make_invoke

BROKEN = """\
[flows.people]
batch_size = 0

[flows.people.source]
type = "rowz"
path = "rows.json"

[flows.people.sink]
type = "box"
paht = "box.json"
"""


class TestValidate:
    def test_valid_file_is_summarised(self, cli: Invoke, project: Project) -> None:
        result = cli("validate", project.flow)
        assert result.exit_code == 0, result.output
        assert f"✓ {project.flow} is valid: 0 connections, 1 flow" in result.output
        assert "rows → box" in result.output
        assert f"sqlite:///{project.root / 'state.db'}" in result.output

    def test_every_problem_is_printed_with_file_and_line(
        self, cli: Invoke, box_host: Host, project: Project
    ) -> None:
        project.flow.write_text(BROKEN)
        with pytest.raises(ConfigError) as caught:
            load_config(project.flow, box_host.registry)
        problems = caught.value.problems
        assert len(problems) >= 3  # batch_size, the unknown source type, the misspelt option
        result = cli("validate", project.flow)
        assert result.exit_code == 2
        lines = result.output.splitlines()
        for problem in problems:
            assert str(problem) in lines
            assert str(problem).startswith(f"{project.flow}:")
        assert f"{len(problems)} problems in {project.flow}" in result.output
        assert "Traceback" not in result.output
        # unknown types name the ones that exist
        unknown = next(line for line in lines if "flows.people.source.type" in line)
        assert "rows" in unknown

    def test_missing_file(self, cli: Invoke, tmp_path: Path) -> None:
        missing = tmp_path / "nope.toml"
        result = cli("validate", missing)
        assert result.exit_code == 2
        assert f"{missing}: no such file" in result.output.splitlines()
        assert "Traceback" not in result.output

    def test_directory_instead_of_file(self, cli: Invoke, tmp_path: Path) -> None:
        result = cli("validate", tmp_path)
        assert result.exit_code == 2
        assert "is a directory, not a flow file" in result.output

    def test_secrets_are_never_printed(
        self, cli: Invoke, project: Project, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SYNCFRAME_VAULT_TOKEN", "hunter2-secret")
        project.write_flow(BOX_FLOW, extra='\n[connections.vault]\nsystem = "vault"\n')
        result = cli("validate", project.flow)
        assert result.exit_code == 0, result.output
        assert "vault (vault)" in result.output
        assert "hunter2" not in result.output

    def test_passwords_in_urls_are_hidden(self) -> None:
        assert (
            redact_url("postgresql://sync:pw@db:5432/state")
            == "postgresql://sync:***@db:5432/state"
        )
        assert redact_url("sqlite:///state.db") == "sqlite:///state.db"


class TestSchema:
    def test_prints_json_schema_with_plugin_options(self, cli: Invoke) -> None:
        result = cli("schema")
        assert result.exit_code == 0
        schema = json.loads(result.stdout)
        assert schema["type"] == "object"
        assert "flows" in schema["properties"]
        assert '"box"' in result.stdout
        assert '"rows"' in result.stdout

    def test_writes_to_a_file(self, cli: Invoke, tmp_path: Path) -> None:
        target = tmp_path / "syncframe.schema.json"
        result = cli("schema", "--output", target)
        assert result.exit_code == 0
        assert json.loads(target.read_text())["properties"]["flows"]
        assert str(target) in result.output


class TestPlugins:
    def test_lists_installed_plugins_and_what_they_provide(self) -> None:
        result = make_invoke(Host())("plugins")
        assert result.exit_code == 0, result.output
        out = result.output
        builtins = next(line for line in out.splitlines() if "│ builtins " in line)
        origin = [cell.strip() for cell in builtins.split("│")][2]
        assert origin in ("syncframe 0.1.0", "syncframe.builtins")
        assert "sources: " in out
        assert "csv" in out
        assert "jsonl" in out
        assert "sinks: " in out
        assert "sql_table" in out
        demo = next(line for line in out.splitlines() if "builtins_demo" in line)
        assert "demos: constituents" in demo

    def test_test_plugin_is_listed_with_its_components(self, cli: Invoke) -> None:
        result = cli("plugins")
        line = next(line for line in result.output.splitlines() if "box_test_plugin" in line)
        assert "systems: vault" in line or "systems: vault" in result.output
        assert "sources: rows" in result.output
        assert "sinks: box" in result.output

    def test_verbose_lists_descriptions(self, cli: Invoke) -> None:
        result = cli("plugins", "--verbose")
        row = next(line for line in result.output.splitlines() if "│ rows " in line)
        assert "Reads a JSON list of rows" in row


class TestHelp:
    def test_every_command_has_help(self, cli: Invoke) -> None:
        top = cli("--help")
        assert top.exit_code == 0
        for command in ("plugins", "validate", "schema", "run", "runs", "failed", "demo"):
            line = next(line for line in top.output.splitlines() if f"│ {command} " in line)
            assert len(line.split(command, 1)[1].strip(" │")) > 10, line
        for group, commands in (("runs", ("list", "show")), ("failed", ("list", "retry"))):
            out = cli(group, "--help").output
            for command in commands:
                assert any(f"│ {command} " in line for line in out.splitlines())
        assert "Exit codes" in top.output
