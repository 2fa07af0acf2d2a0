"""xdist groups of the end-to-end tests (the suite runs with ``--dist loadgroup``).

Tests in one group run on one worker, one after the other; other groups' tests run beside them.
"""

from __future__ import annotations

import pytest

# Tests that start a PostgreSQL cluster of their own (tests/support/pg_cluster.py) or mount a
# tmpfs (tests/support/diskspace.py): the clusters' ports, the mounts and the timings they
# assert must not be shared with another such test.
EXCLUSIVE = pytest.mark.xdist_group("exclusive")
# The page tests, on one worker, so that they share one chromium and their demo servers.
BROWSER = pytest.mark.xdist_group("web")
