"""Percentiles and the plain-text shapes every report prints its figures in."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def progress(message: str) -> None:
    """Progress goes to standard error, so that standard output holds the report alone."""
    print(message, file=sys.stderr, flush=True)


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def fmt_ms(value: float | None) -> str:
    return fmt(value, ".1f")


def fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def mb(kib: int | None) -> float | None:
    return None if kib is None else kib * 1024 / 1e6


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s" if seconds > 0 else "-"


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], left: int = 2) -> None:
    """Columns padded to their widest cell: the first ``left`` flush left, the others flush right."""
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        cells = [c.ljust(w) for c, w in zip(line[:left], widths[:left], strict=True)]
        cells += [c.rjust(w) for c, w in zip(line[left:], widths[left:], strict=True)]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))
