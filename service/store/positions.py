"""The position of one stored event: the one lookup both backends' recorders make, each in
its own SQL (the position's column, the placeholders, how an id is stored)."""

from __future__ import annotations

from typing import Any


def fetch_position(datastore: Any, query: str, params: tuple[object, ...], what: str) -> int:
    with datastore.transaction(commit=False) as cursor:
        cursor.execute(query, params)
        row = cursor.fetchone()
    assert row is not None, f"no event {what}"
    return int(row["position"])
