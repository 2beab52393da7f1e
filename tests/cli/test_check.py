"""``syncframe check``: every component's connection check, a table, and the exit codes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict
from typer.testing import CliRunner, Result

from syncframe import hookimpl
from syncframe.cli import build_app
from syncframe.components import BatchResult, Outcome, PermanentError, Sink, WritePlan
from syncframe.host import Host
from syncframe.records import Change
from tests.cli.conftest import BOX_FLOW, BoxPlugin, Project, VaultSettings

GOOD_TOKEN = "vault-token-5e6f7a8b"
WRONG_TOKEN = "vault-wrong-1a2b3c4d"


class VaultOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bug: bool = False


class VaultSink(Sink[VaultOptions]):
    """A sink of the ``vault`` system whose check compares the token with the right one."""

    Options: ClassVar[type[BaseModel]] = VaultOptions
    system: ClassVar[str | None] = "vault"
    checked: ClassVar[list[str]] = []

    async def check(self) -> None:
        settings = self.context.connection
        assert isinstance(settings, VaultSettings)
        VaultSink.checked.append(self.context.flow)
        if self.options.bug:
            raise RuntimeError("the plugin tripped over itself")
        token = settings.token.get_secret_value()
        if token != GOOD_TOKEN:
            # A careless plugin puts the token in its message: the command must still mask it.
            raise PermanentError(f"vault at {settings.url} refused the token {token}")

    async def write(self, changes: Sequence[Change], plan: WritePlan) -> BatchResult:
        return BatchResult.uniform(Outcome.SKIPPED, len(changes))


class VaultPlugin:
    __name__ = "vault_test_plugin"

    @hookimpl
    def syncframe_register_sinks(self, register: Any) -> None:
        register("vault", VaultSink)


VAULT_FLOWS = (
    BOX_FLOW
    + """
[connections.vault]
system = "vault"

[flows.to_vault.source]
type = "rows"
path = "rows.json"

[flows.to_vault.sink]
type = "vault"
connection = "vault"
"""
)


@pytest.fixture
def check_cli(project: Project) -> Any:
    """Run ``syncframe ARGS`` with the box and vault plugins and the vault token in the env."""
    app = build_app(Host(plugins=[BoxPlugin(), VaultPlugin()], entry_points=False))
    VaultSink.checked.clear()

    def invoke(*args: str | Path, token: str | None = GOOD_TOKEN) -> Result:
        env = {"COLUMNS": "200", "SYNCFRAME_VAULT_TOKEN": token}  # None: unset
        result = CliRunner().invoke(app, [str(a) for a in args], env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    project.write_flow(VAULT_FLOWS)
    return invoke


def row_of(output: str, *cells: str) -> list[str]:
    """The cells of the table row holding every one of ``cells``."""
    for line in output.splitlines():
        parts = [c.strip() for c in line.split("│") if c.strip()]
        if all(cell in parts for cell in cells):
            return parts
    raise AssertionError(f"no row with {cells} in:\n{output}")


class TestCheck:
    """Each component is checked and shown; a failure exits 1 and names the problem."""

    def test_every_component_passes(self, check_cli: Any, project: Project) -> None:
        result = check_cli("check", project.flow)

        assert result.exit_code == 0, result.output
        assert row_of(result.output, "people", "source rows") == [
            "people",
            "source rows",
            "-",
            "ok",
        ]
        assert row_of(result.output, "people", "sink box")[-1] == "ok"
        assert row_of(result.output, "to_vault", "sink vault") == [
            "to_vault",
            "sink vault",
            "vault",
            "ok",
        ]
        assert "all 4 checks passed" in result.output
        assert VaultSink.checked == ["to_vault"]
        assert project.box() == {}  # a check writes nothing

    def test_a_refused_token_fails_without_showing_it(
        self, check_cli: Any, project: Project
    ) -> None:
        result = check_cli("check", project.flow, token=WRONG_TOKEN)

        assert result.exit_code == 1, result.output
        row = row_of(result.output, "to_vault", "sink vault")
        assert "refused the token ***" in " ".join(row)
        assert WRONG_TOKEN not in result.output
        assert "1 of 4 checks failed" in result.output
        assert "Traceback" not in result.output

    def test_only_the_named_flow(self, check_cli: Any, project: Project) -> None:
        result = check_cli("check", project.flow, "--flow", "people", token=WRONG_TOKEN)

        assert result.exit_code == 0, result.output
        assert "to_vault" not in result.output
        assert VaultSink.checked == []

    def test_unknown_flow_is_a_user_error(self, check_cli: Any, project: Project) -> None:
        result = check_cli("check", project.flow, "--flow", "nope")

        assert result.exit_code == 2
        assert "no flow named 'nope' (flows: people, to_vault)" in result.output
        assert "Traceback" not in result.output

    def test_a_plugin_bug_is_named_not_a_traceback(self, check_cli: Any, project: Project) -> None:
        project.write_flow(VAULT_FLOWS + "bug = true\n")
        result = check_cli("check", project.flow)

        assert result.exit_code == 1
        row = row_of(result.output, "to_vault", "sink vault")
        assert "RuntimeError: the plugin tripped over itself" in " ".join(row)
        assert "Traceback" not in result.output

    def test_a_bad_file_lists_its_problems(self, check_cli: Any, project: Project) -> None:
        project.write_flow(VAULT_FLOWS.replace('type = "vault"', 'type = "vaults"'))
        result = check_cli("check", project.flow)

        assert result.exit_code == 2
        assert "flows.to_vault.sink.type: unknown sink type 'vaults'" in result.output
        assert "Traceback" not in result.output

    def test_a_missing_secret_is_a_config_problem(self, check_cli: Any, project: Project) -> None:
        result = check_cli("check", project.flow, token=None)

        assert result.exit_code == 2
        assert "connections.vault.token: missing; set SYNCFRAME_VAULT_TOKEN" in result.output
