"""The entry points: ``python -m syncframe`` and ``main()`` behave like the installed script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def syncframe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncframe", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_help_names_the_program_and_its_commands(tmp_path: Path) -> None:
    result = syncframe("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage: syncframe" in result.stdout
    for command in ("plugins", "validate", "check", "schema", "run", "runs", "failed", "demo"):
        assert command in result.stdout


def test_user_error_exits_2_without_traceback(tmp_path: Path) -> None:
    result = syncframe("validate", "missing.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert "missing.toml: no such file" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_version(tmp_path: Path) -> None:
    result = syncframe("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("syncframe ")
