"""The service's own CSV: one row per fact, or one per (fact, actor), both ways.

Pure. Export writes a stored fact as a flat row; import reads such a row back
into the raw fact that ``POST /v1/events`` would take, so an exported file
re-imports to the same facts (the store's own fields are read and ignored).

Cells hold plain values. Lists that a spreadsheet user edits by hand are
joined (``actors`` as ``id:role;id:role``, ``refers_to`` with ``;``); sources,
whose quotes can hold anything, are a JSON array. A text cell that starts like
a spreadsheet formula gets a leading apostrophe, which import takes off again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

PLACES = ("location", "from", "to")
PLACE_FIELDS = ("id", "name", "country", "lat", "lon")

# When the fact happened and was reported, and which version of its record this is: the same
# run of columns in CSV and of properties in GeoJSON.
TIMES_AND_REVISION = (
    "occurred_at",
    "occurred_until",
    "precision",
    "reported_at",
    "recorded_at",
    "position",
    "revision",
    "status",
)

FACT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "type",
    *TIMES_AND_REVISION,
    "summary",
    "actors",
    "confidence",
    "refers_to",
    *(f"{place}_{part}" for place in PLACES for part in PLACE_FIELDS),
    "sources",
    # Type fields, the union over the six types; a cell is empty where a type lacks the field.
    "means",
    "fatalities",
    "target_description",
    "mission",
    "mission_name",
    "personnel",
    "reason",
    "temporary",
    "text",
    "channel",
)
ACTOR_COLUMNS: tuple[str, ...] = ("actor_id", "actor_role", *FACT_COLUMNS)

# Assigned by the store: exported for the reader, ignored on import.
STORE_COLUMNS = frozenset({"recorded_at", "position", "revision", "status"})
INTEGER_COLUMNS = frozenset({"fatalities", "personnel"})
FLOAT_PARTS = frozenset({"lat", "lon"})
BOOLEAN_COLUMNS = frozenset({"temporary"})
TEXT_COLUMNS = frozenset(
    {"summary", "target_description", "mission_name", "reason", "text"} | {f"{place}_name" for place in PLACES}
)
# What a spreadsheet would run as a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class CsvRowError(ValueError):
    """A cell that cannot be read back; ``column`` names it."""

    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if column in TEXT_COLUMNS and text.startswith((*FORMULA_STARTS, "'")):
        # A text that starts with an apostrophe gets one more, so import can tell it from ours.
        return "'" + text
    return text


def actors_cell(actors: Iterable[dict[str, str]]) -> str:
    """``id:role;id:role``, the form a spreadsheet user edits and ``raw_fact`` reads back."""
    return ";".join(f"{a['id']}:{a['role']}" for a in actors)


def fact_row(fact: dict[str, Any]) -> list[str]:
    """One exported row of a stored fact (as the API shows it), in FACT_COLUMNS order."""
    values: dict[str, Any] = {column: fact.get(column) for column in FACT_COLUMNS}
    values["actors"] = actors_cell(fact.get("actors", []))
    values["refers_to"] = ";".join(fact.get("refers_to", []))
    values["sources"] = orjson.dumps(fact["sources"]).decode() if fact.get("sources") else ""
    for place in PLACES:
        spot = fact.get(place) or {}
        for part in PLACE_FIELDS:
            values[f"{place}_{part}"] = spot.get(part)
    return [_cell(column, values[column]) for column in FACT_COLUMNS]


def actor_rows(fact: dict[str, Any], only: Iterable[str] = ()) -> list[list[str]]:
    """One row per (actor, role) the fact names, optionally only for the given actors."""
    wanted = set(only)
    row = fact_row(fact)
    return [
        [actor["id"], actor["role"], *row] for actor in fact.get("actors", []) if not wanted or actor["id"] in wanted
    ]


def raw_fact(row: Mapping[str, str | None]) -> dict[str, Any]:
    """The raw fact (API input) that a row of our CSV stands for; raises CsvRowError.

    Empty cells are left out, so the fact's defaults apply. Validation of the
    values themselves is the fact model's job, which names the field.
    """
    raw: dict[str, Any] = {}
    places: dict[str, dict[str, Any]] = {}
    for column, cell in row.items():
        if column is None or column in STORE_COLUMNS or column in ("actor_id", "actor_role"):
            continue
        if column == "reported_at" and cell and cell == row.get("recorded_at"):
            # The store shows recorded_at where the client left reported_at open: keep it open.
            continue
        text = cell or ""
        if not text.strip():
            continue
        if column in TEXT_COLUMNS:
            # Texts keep their spaces: the stored fact has them, and re-import compares bodies.
            if text.startswith("'") and text[1:].startswith((*FORMULA_STARTS, "'")):
                text = text[1:]
        else:
            text = text.strip()
        place, _, part = column.partition("_")
        if place in PLACES and part in PLACE_FIELDS:
            places.setdefault(place, {})[part] = _number(column, text) if part in FLOAT_PARTS else text
        elif column == "actors":
            raw["actors"] = [_actor(item) for item in text.split(";") if item.strip()]
        elif column == "refers_to":
            raw["refers_to"] = [item.strip() for item in text.split(";") if item.strip()]
        elif column == "sources":
            raw["sources"] = _json_list(column, text)
        elif column in INTEGER_COLUMNS:
            raw[column] = _integer(column, text)
        elif column in BOOLEAN_COLUMNS:
            raw[column] = _boolean(column, text)
        else:
            raw[column] = text
    raw.update(places)
    return raw


def _actor(item: str) -> dict[str, str]:
    actor_id, sep, role = item.strip().partition(":")
    if not sep:
        raise CsvRowError("actors", f"'{item.strip()}' is not id:role")
    return {"id": actor_id.strip(), "role": role.strip()}


def _json_list(column: str, text: str) -> list[Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise CsvRowError(column, "expected a JSON array") from None
    if not isinstance(value, list):
        raise CsvRowError(column, "expected a JSON array")
    return value


def _integer(column: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CsvRowError(column, f"'{text}' is not a whole number") from None


def _number(column: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise CsvRowError(column, f"'{text}' is not a number") from None


def _boolean(column: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise CsvRowError(column, f"'{text}' is not true or false")
