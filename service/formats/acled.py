"""ACLED's CSV export, one row at a time, onto this service's fact types.

Pure: a row (column name -> cell) goes in, the raw fact that ``POST /v1/events``
would take comes out, or AcledRowError naming the ACLED column that stands in
the way. The mapping and the reasons for it are in docs/imports.md; keep the two
in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any
from uuid import UUID, uuid5

import pycountry

from service.domain.countries import COUNTRY_CODES
from service.domain.facts import slugify
from service.domain.instants import format_instant
from service.domain.text import MAX_LONG_TEXT, MAX_SLUG, MAX_TEXT

# Fixed for good: every fact id ever derived from an ACLED id depends on it.
ACLED_NAMESPACE = UUID("992522c0-a78b-4cec-8ceb-495c2b5030be")
ACLED_URL = "https://acleddata.com/"

PRECISIONS = {"1": "day", "2": "week", "3": "month"}
DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d-%B-%Y", "%d %b %Y", "%d-%b-%Y")
# ACLED names an actor's period in office: "Military Forces of the United States (2017-2021)".
_PERIOD = re.compile(r"\s*\(\d{4}\s*-\s*(?:\d{4})?\)\s*$")
_DRONE = re.compile(r"\b(?:drones?|uavs?|unmanned aerial)\b", re.IGNORECASE)
_MISSILE = re.compile(r"\b(?:missiles?|rockets?)\b", re.IGNORECASE)
# Country names ACLED uses that pycountry does not know.
_COUNTRY_NAMES = {
    "kosovo": "XK",
    "democratic republic of congo": "CD",
    "republic of congo": "CG",
    "ivory coast": "CI",
    "east timor": "TL",
    "palestine": "PS",
    "vatican city": "VA",
}

EXPLOSIONS = "explosions/remote violence"
# Sub-event types of Explosions/Remote violence whose means the sub-type alone settles.
OTHER_MEANS = frozenset({"remote explosive/landmine/ied", "grenade", "suicide bomb", "chemical weapon"})
UNMAPPED_REASONS = {
    "headquarters or base established": "PersonnelDeployed needs a troop count, which ACLED does not give",
}


class AcledRowError(ValueError):
    """A row that cannot become a fact; ``field`` names the ACLED column."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def acled_fact(row: Mapping[str, str | None]) -> dict[str, Any]:
    """The raw fact an ACLED row stands for; raises AcledRowError."""
    cells = _Cells(row)
    source_id = cells["event_id_cnty"]
    if not source_id:
        raise AcledRowError("event_id_cnty", "missing: the fact's id is derived from it")
    event_type, sub_type = cells["event_type"], cells["sub_event_type"]
    kind, means = _kind(event_type, sub_type, cells["notes"])
    roles = ("perpetrator", "target") if kind == "StrikeOccurred" else ("speaker", "addressee")
    actors = _actor_refs(cells, roles)
    if not any(ref["role"] == roles[0] for ref in actors):
        raise AcledRowError("actor1", f"missing: a {kind} needs a {roles[0]}")
    fact: dict[str, Any] = {
        "event_id": str(acled_event_id(source_id)),
        "type": kind,
        "occurred_at": _date(cells["event_date"]),
        "precision": _precision(cells["time_precision"]),
        "summary": _summary(cells),
        "actors": actors,
        "confidence": "reported",
        "sources": [_source(cells)],
    }
    location = _location(cells)
    if location is not None:
        fact["location"] = location
    if kind == "StrikeOccurred":
        fact["means"] = means
        fatalities = _fatalities(cells["fatalities"])
        if fatalities is not None:
            fact["fatalities"] = fatalities
    else:
        if not cells["notes"]:
            raise AcledRowError("notes", "missing: a statement's text is taken from the notes")
        fact["text"] = cells["notes"][:MAX_LONG_TEXT]
        fact["channel"] = "other"
    return fact


def actor_names(row: Mapping[str, str | None]) -> dict[str, str]:
    """Actor id -> display name (ACLED's name without its period) for the actors a row names."""
    cells = _Cells(row)
    names: dict[str, str] = {}
    for name in _names(cells, "actor1", "assoc_actor_1") + _names(cells, "actor2", "assoc_actor_2"):
        names.setdefault(actor_id(name), _display_name(name))
    return names


def acled_event_id(event_id_cnty: str) -> UUID:
    return uuid5(ACLED_NAMESPACE, "acled:" + event_id_cnty.strip())


def actor_id(acled_name: str) -> str:
    """The slug of an ACLED actor name; the period in office is dropped, so one actor keeps one id."""
    return slugify(_display_name(acled_name))[:MAX_SLUG].rstrip("-")


class _Cells:
    """Trimmed cells by column name; a missing column reads as empty."""

    def __init__(self, row: Mapping[str, str | None]):
        self._row = row

    def __getitem__(self, column: str) -> str:
        return (self._row.get(column) or "").strip()


def _kind(event_type: str, sub_type: str, notes: str) -> tuple[str, str]:
    """(fact type, means) for an ACLED event and sub-event type."""
    event, sub = event_type.casefold(), sub_type.casefold()
    if not event:
        raise AcledRowError("event_type", "missing")
    if event == EXPLOSIONS and sub == "air/drone strike":
        return "StrikeOccurred", "drone" if _DRONE.search(notes) else "air"
    if event == EXPLOSIONS and sub == "shelling/artillery/missile attack":
        return "StrikeOccurred", "missile" if _MISSILE.search(notes) else "artillery"
    if (
        (event == EXPLOSIONS and sub in OTHER_MEANS)
        or event == "battles"
        or (event == "violence against civilians" and sub == "attack")
    ):
        return "StrikeOccurred", "other"
    if event == "strategic developments" and sub == "agreement":
        return "StatementIssued", ""
    why = UNMAPPED_REASONS.get(sub, "this service records strikes, statements, deployments and missions")
    raise AcledRowError("event_type", f"no counterpart in this service: {event_type} / {sub_type}; {why}")


def _names(cells: _Cells, main: str, associated: str) -> list[str]:
    # ACLED joins several associated actors in one cell with "; ".
    names = [cells[main], *cells[associated].split(";")]
    return [name.strip() for name in names if name.strip()]


def _actor_refs(cells: _Cells, roles: tuple[str, str]) -> list[dict[str, str]]:
    refs: list[dict[str, str]] = []
    for role, (main, associated) in zip(roles, (("actor1", "assoc_actor_1"), ("actor2", "assoc_actor_2")), strict=True):
        for name in _names(cells, main, associated):
            ref = {"id": actor_id(name), "role": role}
            if ref not in refs:  # two periods of one actor are one actor
                refs.append(ref)
    return refs


def _display_name(acled_name: str) -> str:
    return _PERIOD.sub("", acled_name).strip()[:MAX_TEXT]


def _date(text: str) -> str:
    for form in DATE_FORMATS:
        try:
            return datetime.strptime(text, form).date().isoformat()  # noqa: DTZ007 (a calendar date)
        except ValueError:
            continue
    raise AcledRowError("event_date", f"'{text}' is not a date like 2020-01-03 or 03 January 2020")


def _precision(text: str) -> str:
    if not text:
        return "day"
    try:
        return PRECISIONS[text]
    except KeyError:
        raise AcledRowError("time_precision", f"'{text}' is not 1 (day), 2 (week) or 3 (month)") from None


def _fatalities(text: str) -> int | None:
    if not text:
        return None
    try:
        count = int(text)
    except ValueError:
        raise AcledRowError("fatalities", f"'{text}' is not a whole number") from None
    if count < 0:
        raise AcledRowError("fatalities", f"{count} is negative")
    return count


def _location(cells: _Cells) -> dict[str, Any] | None:
    if not (cells["location"] or cells["iso"] or cells["country"]):
        return None
    country = _country_code(cells["iso"], cells["country"])
    place: dict[str, Any] = {"name": (cells["location"] or cells["country"] or country)[:MAX_TEXT], "country": country}
    if cells["latitude"] and cells["longitude"]:
        place["lat"] = _coordinate("latitude", cells["latitude"], 90)
        place["lon"] = _coordinate("longitude", cells["longitude"], 180)
    return place


def _coordinate(column: str, text: str, limit: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AcledRowError(column, f"'{text}' is not a number") from None
    if not -limit <= value <= limit:  # also refuses nan
        raise AcledRowError(column, f"{text} is not between -{limit} and {limit}")
    return value


def _country_code(iso: str, name: str) -> str:
    code = _code_of_iso(iso) if iso else None
    if code is None and name:
        code = _code_of_name(name)
    if code is None:
        column, text = ("iso", iso) if iso else ("country", name)
        raise AcledRowError(column, f"'{text}' is not a country this service knows (ISO 3166 code or name)")
    return code


@cache
def _code_of_iso(iso: str) -> str | None:
    if iso.isdigit():
        found = pycountry.countries.get(numeric=iso.zfill(3))
    elif len(iso) == 2:
        found = pycountry.countries.get(alpha_2=iso.upper())
    elif len(iso) == 3:
        found = pycountry.countries.get(alpha_3=iso.upper())
    else:
        found = None
    return _known(found.alpha_2) if found is not None else None


@cache
def _code_of_name(name: str) -> str | None:
    if name.casefold() in _COUNTRY_NAMES:
        return _COUNTRY_NAMES[name.casefold()]
    try:
        return _known(pycountry.countries.lookup(name).alpha_2)
    except LookupError:
        return None


def _known(code: str) -> str | None:
    return code if code in COUNTRY_CODES else None


def _summary(cells: _Cells) -> str:
    headline = f"{cells['sub_event_type'] or cells['event_type']}: {_display_name(cells['actor1'])}"
    place = ", ".join(part for part in (cells["location"], cells["country"]) if part)
    if place:
        headline += f" — {place}"
    return headline if len(headline) <= MAX_TEXT else headline[: MAX_TEXT - 1] + "…"


def _source(cells: _Cells) -> dict[str, Any]:
    publisher = f"ACLED: {cells['source']}" if cells["source"] else "ACLED"
    source: dict[str, Any] = {"url": ACLED_URL, "publisher": publisher[:MAX_TEXT]}
    if cells["notes"]:
        source["quote"] = cells["notes"][:MAX_LONG_TEXT]
    if cells["timestamp"]:
        source["published_at"] = _published_at(cells["timestamp"])
    return source


def _published_at(text: str) -> str:
    try:
        return format_instant(datetime.fromtimestamp(int(text), UTC))
    except (ValueError, OverflowError, OSError):
        raise AcledRowError("timestamp", f"'{text}' is not a Unix time in seconds") from None
