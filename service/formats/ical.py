"""iCalendar (RFC 5545): one VEVENT per fact, so calendar tools can follow the record.

``SEQUENCE`` is the fact's revision, so a client that re-reads the feed takes a
correction as an update of the same event (``UID`` is the event id); a
retracted fact is kept as ``STATUS:CANCELLED`` for the same reason: a calendar
removes what it is told was cancelled, not what silently disappears.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from icalendar import Event

from service.domain.instants import parse_instant

HEAD = (
    "BEGIN:VCALENDAR\r\n"
    "VERSION:2.0\r\n"
    "PRODID:-//Crisis timeline//export//EN\r\n"
    "CALSCALE:GREGORIAN\r\n"
    "X-WR-CALNAME:Crisis timeline\r\n"
).encode()
TAIL = b"END:VCALENDAR\r\n"
# Precisions coarser than a moment are all-day events on the day the fact is placed at.
ALL_DAY = frozenset({"day", "week", "month", "year"})


def _when(text: str, all_day: bool) -> date | datetime:
    moment = parse_instant(text)
    return moment.date() if all_day else moment


def vevent(fact: dict[str, Any], revised_at: str) -> bytes:
    """The VEVENT of a stored fact; ``revised_at`` is when its shown revision was recorded."""
    all_day = fact["precision"] in ALL_DAY
    event = Event()
    event.add("uid", fact["event_id"])
    event.add("dtstamp", parse_instant(revised_at))
    event.add("created", parse_instant(fact["recorded_at"]))
    event.add("last-modified", parse_instant(revised_at))
    event.add("sequence", fact["revision"])
    start = _when(fact["occurred_at"], all_day)
    event.add("dtstart", start)
    if fact.get("occurred_until"):
        end = _when(fact["occurred_until"], all_day)
        # An all-day DTEND is exclusive: the event covers its last day too.
        event.add("dtend", end + timedelta(days=1) if all_day else end)
    event.add("summary", fact["summary"])
    event.add("description", _description(fact))
    event.add("categories", [fact["type"]])
    event.add("status", _status(fact))
    place = fact.get("location") or fact.get("to") or fact.get("from")
    if place:
        event.add("location", f"{place['name']}, {place['country']}")
        if place.get("lat") is not None:
            event.add("geo", (place["lat"], place["lon"]))
    if fact.get("sources"):
        event.add("url", fact["sources"][0]["url"])
    return event.to_ical()


def _status(fact: dict[str, Any]) -> str:
    if fact["status"] == "retracted":
        return "CANCELLED"
    return "CONFIRMED" if fact["confidence"] == "confirmed" else "TENTATIVE"


def _description(fact: dict[str, Any]) -> str:
    lines = [f"{fact['type']} ({fact['confidence']}, precision: {fact['precision']})"]
    lines += [f"{actor['id']}: {actor['role']}" for actor in fact["actors"]]
    if fact.get("text"):
        lines += ["", fact["text"]]
    for source in fact.get("sources", []):
        lines.append(f"Source: {source.get('publisher') or ''} {source['url']}".replace("  ", " "))
    return "\n".join(lines)
