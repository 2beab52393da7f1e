"""docs/re-connector.md shows what the connector really prints and answers: the check command's
output for the example flow file, and the problems of the troubleshooting guide."""

from __future__ import annotations

import re as regex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from syncframe_re_connector.cycles import hand_placed_manifest

from plugins.re_connector.tests.helpers import FtpSimulator
from plugins.re_connector.tests.test_cli import invoke

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "re-connector.md").read_text(encoding="utf-8")


@pytest.fixture
def ftp() -> Iterator[FtpSimulator]:
    server = FtpSimulator()
    try:
        yield server
    finally:
        server.stop()


def _console_block(command: str) -> list[str]:
    start = DOC.index(f"$ {command}\n") + len(command) + 3
    return DOC[start : DOC.index("```", start)].rstrip("\n").splitlines()


def test_the_check_output_shown_is_the_example_files(tmp_path: Path, ftp: FtpSimulator) -> None:
    folder = tmp_path / "example"
    shutil.copytree(ROOT / "examples" / "re_connector", folder)
    flows = folder / "flows.toml"
    text = flows.read_text(encoding="utf-8")
    flows.write_text(text.replace("port = 2121", f"port = {ftp.server.port}"), encoding="utf-8")

    result = invoke("re-connector", "check", str(flows))

    assert result.exit_code == 0, result.output
    shown = result.output.replace(f":{ftp.server.port} ", ":2121 ").splitlines()
    assert shown == _console_block("syncframe re-connector check examples/re_connector/flows.toml")


def test_the_troubleshooting_guide_quotes_the_connectors_own_words() -> None:
    assert hand_placed_manifest("marchDS.manifest") in DOC
    assert hand_placed_manifest("X.manifest") in DOC
    for heading in (
        '### "Not initiating download since no files were generated"',
        '### "Number of transactions not downloaded due to missing ImportID for TR solicitor: N"',
        '### "Server is not available (Failed to connect to address "...".)"',
        "### A manifest placed by hand",
        "### Transactions Luminate skips, and why",
    ):
        assert heading in DOC
    # Every anchor the page links to is one of its headings.
    anchors = {
        regex.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in regex.findall(r"^#+ (.+)$", DOC, regex.M)
    }
    links = set(regex.findall(r"\]\(#([^)]+)\)", DOC))
    assert links <= anchors, links - anchors
