"""A small filesystem that can really run out of space: a tmpfs mounted for one test.

Mounting needs root (CI runs as root); elsewhere the tests that need it are skipped,
saying why. ``fill`` takes the rest of the space with a filler file, so that a test
reaches a full disk at once instead of appending megabytes of facts.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHUNK = 64 * 1024


@contextmanager
def small_disk(path: Path, size: str, owner: str | None = None) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``) at ``path`` until the block ends."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is made by mounting a small tmpfs, which needs root")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True, text=True, check=False,
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
