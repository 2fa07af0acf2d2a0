"""GeoJSON (RFC 7946): a Point feature per fact that has coordinates.

Properties are flat values, the form GIS tools (QGIS, Kepler, Leaflet popups)
read without configuration. A repositioning without a location of its own is
placed at its destination, else at its origin; ``place_field`` says which.
"""

from __future__ import annotations

from typing import Any

from service.formats import json_text
from service.formats.csv_rows import TIMES_AND_REVISION, actors_cell

HEAD = b'{"type":"FeatureCollection","features":['
TAIL = b"]}\n"
PLACE_FIELDS = ("location", "to", "from")
SCALARS = (
    "type",
    "summary",
    *TIMES_AND_REVISION,
    "confidence",
    "means",
    "fatalities",
    "mission",
    "personnel",
    "channel",
)


def place_of(fact: dict[str, Any], *, located: bool = False) -> tuple[str, dict[str, Any]] | None:
    """(field, place) where the fact happened: its location, else its destination, else its origin.

    With ``located``, the first of those that has coordinates.
    """
    for place_field in PLACE_FIELDS:
        place = fact.get(place_field)
        if place and (not located or (place.get("lat") is not None and place.get("lon") is not None)):
            return place_field, place
    return None


def feature(fact: dict[str, Any]) -> dict[str, Any] | None:
    """The fact's feature, or None when none of its places has coordinates."""
    found = place_of(fact, located=True)
    if found is None:
        return None
    place_field, place = found
    properties: dict[str, Any] = {"event_id": fact["event_id"]}
    properties.update({key: fact[key] for key in SCALARS if key in fact})
    properties.update(
        actors=actors_cell(fact["actors"]),
        place_field=place_field,
        place=place["name"],
        country=place["country"],
        source=fact["sources"][0]["url"] if fact.get("sources") else None,
    )
    return {
        "type": "Feature",
        "id": fact["event_id"],
        "geometry": {"type": "Point", "coordinates": [place["lon"], place["lat"]]},
        "properties": properties,
    }


def encoded(fact: dict[str, Any]) -> bytes | None:
    found = feature(fact)
    return None if found is None else json_text.dumps(found)
