"""Static checks on the Dockerfile (no Docker engine needed)."""

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
README = ROOT / "README.md"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def last(keyword: str) -> str:
    found = [args for kw, args in instructions() if kw == keyword]
    assert found, f"Dockerfile has no {keyword} instruction"
    return found[-1]


def test_hadolint_passes() -> None:
    local = Path(sys.executable).parent / "hadolint"
    hadolint = str(local) if local.exists() else shutil.which("hadolint")
    assert hadolint, "hadolint not found; install the test extra: pip install -e '.[test]'"
    run = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0 and not run.stdout.strip(), run.stdout + run.stderr


def test_cmd_runs_the_readme_serve_subcommand() -> None:
    if not README.exists():
        pytest.skip("README.md does not exist yet")
    lines = [line for line in README.read_text().splitlines() if "crisis-timeline serve" in line]
    assert lines, "README.md has no run command containing `crisis-timeline serve`"
    # e.g. "python3 -m venv .venv && ... && .venv/bin/crisis-timeline serve --demo"
    step = next(s for s in lines[0].strip("`$ ").split("&&") if "crisis-timeline serve" in s)
    program, subcommand = shlex.split(step)[:2]
    cmd = json.loads(last("CMD"))  # exec form: a JSON array
    assert cmd[:2] == [Path(program).name, subcommand], cmd


def test_healthcheck_targets_healthz_on_the_served_port() -> None:
    healthcheck = last("HEALTHCHECK")
    assert "/healthz" in healthcheck
    cmd = json.loads(last("CMD"))
    port = cmd[cmd.index("--port") + 1]
    assert f"127.0.0.1:{port}/healthz" in healthcheck, healthcheck


def test_runs_as_non_root_user() -> None:
    user = last("USER").split(":")[0]
    assert user not in ("root", "0"), f"USER {user} is root"
