"""``python -m bench.targets.checkpoints`` runs to its end on a tiny store and prints both ways.

A smoke run: the figures mean nothing at this size. The run itself checks, read by read, that the
checkpointed answer equals the plain fold's, so a zero exit also says the two agreed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.common.processes import REPO_ROOT, clean_env

pytestmark = pytest.mark.e2e


def test_the_checkpoints_benchmark_prints_both_ways_on_the_three_axes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.targets.checkpoints", "--facts", "2000", "--reads", "5", "--fanout", "4"],
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    rows = [line.split() for line in done.stdout.splitlines()]
    for axis in ("now", "as_of", "reported_by"):
        for way in ("naive", "blocks"):
            assert any(row[:2] == [axis, way] for row in rows), f"no {axis} {way} row:\n{done.stdout}"
    assert any(line.startswith("blocks: ") for line in done.stdout.splitlines()), done.stdout
