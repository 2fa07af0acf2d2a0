"""``python -m bench --quick`` runs every benchmark target to its end and prints each one's figures.

A smoke run: the sizes are too small for the figures to mean anything, so only their presence is
checked (and the suite's own accounting, through its exit status).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common.processes import REPO_ROOT, clean_env
from bench.report import SPECS

pytestmark = pytest.mark.e2e

QUICK_TIMEOUT_S = 600  # a minute or two on 2 cores; bounded well above that
LACKING = re.compile(r"FAILED \([^)]+\)$")  # a row the service cannot answer yet, e.g. "FAILED (no ETag sent)"


def test_quick_suite_prints_every_target(tmp_path: Path) -> None:
    markdown = tmp_path / "report.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--markdown", str(markdown)],
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=QUICK_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    lines = done.stdout.splitlines()
    for spec in SPECS:
        row = next((line for line in lines if line.startswith(f"{spec.key} {spec.title}")), None)
        assert row is not None, f"no row for target {spec.key}:\n{done.stdout}"
        assert "not run" not in row, row
        if LACKING.search(row):  # the instrument worked; the service does not offer what the row needs yet
            continue
        assert "FAILED" not in row, row
        assert re.search(rf"\d[\d,.]* {re.escape(spec.unit)}", row), f"no figure in {row!r}"
    assert any(line.startswith("5 cost growth (SQLite)") for line in lines), done.stdout
    curve = lines.index(next(line for line in lines if line.startswith("5 cost growth (SQLite)")))
    assert "busiest p50" in lines[curve + 1], lines[curve + 1]
    for baseline in ("B1", "B2", "B3"):
        assert any(line.startswith(f"  {baseline} [") for line in lines), f"no {baseline}:\n{done.stdout}"
    assert markdown.read_text().startswith("# Benchmark suite"), markdown.read_text()[:200]
