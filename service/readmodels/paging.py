"""Keyset paging: the opaque cursors the service issues, and pages cut from ``limit + 1`` rows.

A cursor is the sort key of a page's last row, as URL-safe base64 of a JSON
array; only cursors of the expected shape are taken back (anything else is 422).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from service.domain.errors import InvalidInputError

# Cursor integers are positions and microseconds: signed 64-bit in both stores.
_INT_RANGE = range(-(2**63), 2**63)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


def decode_cursor(cursor: str | None, kinds: tuple[type, ...]) -> list[Any] | None:
    """The values of a cursor this service issued, of the given kinds; anything else is 422."""
    if cursor is None:
        return None
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        values = None
    if (
        not isinstance(values, list)
        or len(values) != len(kinds)
        or any(type(v) is not kind for v, kind in zip(values, kinds, strict=True))
        or any(isinstance(v, int) and v not in _INT_RANGE for v in values)
    ):
        raise InvalidInputError(
            "the cursor is not one this service issued",
            errors=[{"field": "cursor", "message": "invalid cursor"}],
        )
    return values


def page_of(rows: Sequence[Any], limit: int, item: Callable[[Any], Any], key: Callable[[Any], Sequence[Any]]) -> Page:
    """The first ``limit`` of ``limit + 1`` rows as a page; a cursor at ``key`` of the last if more follow."""
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([item(row) for row in rows], encode_cursor(key(rows[-1])) if more else None)


def fact_order_key(row: Any) -> list[int]:
    """Facts are listed by (occurred time, first position)."""
    return [row.occurred_us, row.first_position]
