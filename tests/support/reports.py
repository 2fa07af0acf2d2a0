"""Figures the tests measure (facts acknowledged and found, cases sent, ...).

``report`` keeps a line for pytest's closing summary (see conftest), so that a plain run,
CI's included, shows the figures without ``-s``.
"""

from __future__ import annotations

LINES: list[str] = []


def report(line: str) -> None:
    LINES.append(line)
    print(line)
