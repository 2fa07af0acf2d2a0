"""Figures the tests measure (facts acknowledged and found, cases sent, ...).

``report`` keeps a line for pytest's closing summary (see conftest), so that a plain run,
CI's included, shows the figures without ``-s``.
"""

from __future__ import annotations

LINES: list[str] = []
# The name under which an xdist worker's figures travel in a test report's user_properties.
PROPERTY = "reported figure"


def report(line: str) -> None:
    LINES.append(line)
    print(line)
