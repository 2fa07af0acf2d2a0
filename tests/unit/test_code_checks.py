"""The house style and the types are checked by the suite, so a slip fails a run like a wrong answer.

Both tools read their settings from pyproject.toml (decision record 11).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "command",
    [("ruff", "check", "--no-cache", "."), ("ruff", "format", "--check", "--no-cache", ".")],
    ids=["lint", "format"],
)
def test_ruff_finds_nothing(command: tuple[str, ...]) -> None:
    checked = run(str(BIN / command[0]), *command[1:])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_mypy_finds_nothing() -> None:
    # [tool.mypy] names the files: all of service/, strictly for the domain and the store.
    checked = run(str(BIN / "mypy"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
