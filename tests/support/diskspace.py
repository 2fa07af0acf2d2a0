"""A small filesystem that can really run out of space: a tmpfs mounted for one test.

Mounting needs root (CI runs as root); elsewhere the tests that need it are skipped,
saying why. ``fill`` takes the rest of the space with a filler file, so that a test
reaches a full disk at once instead of appending megabytes of facts.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.common.processes import ServiceProcess, wait_until
from tests.support.acknowledged import PROBLEM_JSON, Attempt, Tally, Writers

CHUNK = 64 * 1024


@contextmanager
def small_disk(path: Path, size: str, owner: str | None = None) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``) at ``path`` until the block ends."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is made by mounting a small tmpfs, which needs root")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        if owner is not None:
            subprocess.run(["chown", owner, str(path)], check=True)
        yield path
    finally:
        # Lazy: a process the test started may still hold a file open while it is killed.
        subprocess.run(["umount", "-l", str(path)], check=False)


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def fill(path: Path) -> Path:
    """Write a filler file in ``path`` until the filesystem has no room left."""
    filler = path / "filler"
    block = b"\0" * CHUNK
    with open(filler, "wb", buffering=0) as out:
        size = CHUNK
        while size >= 512:
            try:
                out.write(block[:size])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                size //= 2
    return filler


def free_and_resume(filler: Path, writers: Writers) -> tuple[float, Attempt]:
    """Delete the filler; returns when that was, and the first append accepted after it.

    Then waits for fifty more, so that appends are seen flowing again, not one lucky write.
    """
    filler.unlink()
    freed = time.monotonic()
    resumed = wait_until(
        lambda: next((a for a in list(writers.attempts) if a.started > freed and a.acknowledged), None),
        15,
        what="an append accepted after the space was freed",
    )
    before = writers.acknowledged_count()
    wait_until(lambda: writers.acknowledged_count() >= before + 50, 15, what="appends flowing again")
    return freed, resumed


def assert_accepted_or_refused_as_full(writers: Writers, server: ServiceProcess) -> Tally:
    """Every append got an answer, 201 or a 507 problem, and the server logged no traceback."""
    tally = Tally(list(writers.attempts))
    tally.assert_answers_whole()
    statuses = Counter(a.status for a in tally.attempts)
    dropped = [a.error for a in tally.attempts if a.status is None]
    assert not dropped, f"requests without an answer (connection dropped?): {dropped[:5]}"
    assert set(statuses) <= {201, 507}, statuses
    assert all(a.content_type.startswith(PROBLEM_JSON) for a in tally.attempts if a.status == 507)
    assert "Traceback" not in server.output()
    return tally
