"""iCalendar (RFC 5545): one VEVENT per fact, so calendar tools can follow the record.

``SEQUENCE`` is the fact's revision, so a client that re-reads the feed takes a
correction as an update of the same event (``UID`` is the event id); a
retracted fact is kept as ``STATUS:CANCELLED`` for the same reason: a calendar
removes what it is told was cancelled, not what silently disappears.

The lines are written here rather than with the ``icalendar`` package: building
its objects cost about 1 ms per event (3,000 facts/s; decision record 8), while
all a VEVENT of ours needs is RFC 5545's text escaping and line folding. The
tests read every export back with ``icalendar``'s parser.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from service.domain.revisions import STATUS_RETRACTED
from service.formats.geo import place_of

HEAD = (
    b"BEGIN:VCALENDAR\r\n"
    b"VERSION:2.0\r\n"
    b"PRODID:-//Crisis timeline//export//EN\r\n"
    b"CALSCALE:GREGORIAN\r\n"
    b"X-WR-CALNAME:Crisis timeline\r\n"
)
TAIL = b"END:VCALENDAR\r\n"
# Precisions coarser than a moment are all-day events on the day the fact is placed at.
ALL_DAY = frozenset({"day", "week", "month", "year"})
# TEXT may hold no control characters but the line breaks it escapes (RFC 5545 3.3.11). C1
# controls and U+2028/U+2029 are allowed by the RFC, but readers that split lines the Unicode
# way (Python's str.splitlines among them) end a line there: they go too. Writes refuse all of
# these now; a fact recorded before that may still hold them.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# What a URI value keeps as it is: RFC 3986's reserved and unreserved characters, and "%" so an
# escaped URL is not escaped twice. Anything else (a control, a space, a non-ASCII letter) is
# percent-encoded: a URI property is not TEXT and has no escaping of its own.
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~"
_LINE_OCTETS = 75


def _text(value: str) -> str:
    value = _CONTROL.sub(" ", value.replace("\r\n", "\n").replace("\r", "\n"))
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _uri(value: str) -> str:
    return quote(value, safe=_URI_SAFE)


def _fold(line: str) -> bytes:
    """A content line folded at 75 octets, never inside a UTF-8 sequence (RFC 5545 3.1)."""
    data = line.encode()
    if len(data) <= _LINE_OCTETS:
        return data + b"\r\n"
    parts = []
    start, limit = 0, _LINE_OCTETS
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a continuation byte: step back
            end -= 1
        parts.append(data[start:end])
        start, limit = end, _LINE_OCTETS - 1  # the leading space of a continuation counts
    return b"\r\n ".join(parts) + b"\r\n"


def _utc(instant: str) -> str:
    """``2020-01-03T00:30:00.000000Z`` (the service's one format) as ``20200103T003000Z``."""
    return f"{instant[0:4]}{instant[5:7]}{instant[8:10]}T{instant[11:13]}{instant[14:16]}{instant[17:19]}Z"


def _day(instant: str) -> str:
    return f"{instant[0:4]}{instant[5:7]}{instant[8:10]}"


def _day_after(instant: str) -> str | None:
    try:
        return (date.fromisoformat(instant[:10]) + timedelta(days=1)).strftime("%Y%m%d").zfill(8)
    except OverflowError:
        return None  # 9999-12-31 has no day after it


def vevent(fact: dict[str, Any], revised_at: str) -> bytes:
    """The VEVENT of a stored fact; ``revised_at`` is when its shown revision was recorded."""
    all_day = fact["precision"] in ALL_DAY
    lines = [
        "BEGIN:VEVENT",
        f"UID:{fact['event_id']}",
        f"DTSTAMP:{_utc(revised_at)}",
        f"CREATED:{_utc(fact['recorded_at'])}",
        f"LAST-MODIFIED:{_utc(revised_at)}",
        f"SEQUENCE:{fact['revision']}",
        f"DTSTART;VALUE=DATE:{_day(fact['occurred_at'])}" if all_day else f"DTSTART:{_utc(fact['occurred_at'])}",
    ]
    until = fact.get("occurred_until")
    if until:
        if not all_day:
            lines.append(f"DTEND:{_utc(until)}")
        elif (end := _day_after(until)) is not None:
            # An all-day DTEND is exclusive: the event covers its last day too.
            lines.append(f"DTEND;VALUE=DATE:{end}")
    lines += [
        f"SUMMARY:{_text(fact['summary'])}",
        f"DESCRIPTION:{_text(_description(fact))}",
        f"CATEGORIES:{_text(fact['type'])}",
        f"STATUS:{_status(fact)}",
    ]
    if (found := place_of(fact)) is not None:
        place = found[1]
        lines.append(f"LOCATION:{_text(place['name'] + ', ' + place['country'])}")
        if place.get("lat") is not None:
            lines.append(f"GEO:{place['lat']};{place['lon']}")
    if fact.get("sources"):
        lines.append(f"URL:{_uri(fact['sources'][0]['url'])}")
    lines.append("END:VEVENT")
    return b"".join(_fold(line) for line in lines)


def _status(fact: dict[str, Any]) -> str:
    if fact["status"] == STATUS_RETRACTED:
        return "CANCELLED"
    return "CONFIRMED" if fact["confidence"] == "confirmed" else "TENTATIVE"


def _description(fact: dict[str, Any]) -> str:
    lines = [f"{fact['type']} ({fact['confidence']}, precision: {fact['precision']})"]
    lines += [f"{actor['id']}: {actor['role']}" for actor in fact["actors"]]
    if fact.get("text"):
        lines += ["", fact["text"]]
    for source in fact.get("sources", []):
        lines.append(" ".join(filter(None, ["Source:", source.get("publisher"), source["url"]])))
    return "\n".join(lines)
