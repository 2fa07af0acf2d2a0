"""TimelineJS 3 JSON: a slide per fact, grouped by actor, dated at its precision.

A slide gives only the date parts its fact's precision vouches for, so a fact
known to the month is drawn as that month, not as the 1st at midnight. Texts
are HTML in TimelineJS, so everything from a fact is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from service.domain.facts import ROLES
from service.domain.instants import parse_instant
from service.formats import json_text

HEAD = (
    b'{"title":{"text":{"headline":"Crisis timeline",'
    b'"text":"Facts exported from the crisis timeline service"}},"events":['
)
TAIL = b"]}\n"
PARTS_BY_PRECISION = {
    "year": ("year",),
    "month": ("year", "month"),
    "week": ("year", "month", "day"),
    "day": ("year", "month", "day"),
    "hour": ("year", "month", "day", "hour"),
    "minute": ("year", "month", "day", "hour", "minute"),
    "exact": ("year", "month", "day", "hour", "minute", "second", "millisecond"),
}


def date_parts(text: str, precision: str) -> dict[str, str]:
    moment = parse_instant(text)
    values = {
        "year": moment.year,
        "month": moment.month,
        "day": moment.day,
        "hour": moment.hour,
        "minute": moment.minute,
        "second": moment.second,
        "millisecond": moment.microsecond // 1000,
    }
    return {part: str(values[part]) for part in PARTS_BY_PRECISION[precision]}


def group_of(fact: dict[str, Any], preferred: Iterable[str] = ()) -> str:
    """The lane of a fact: a preferred actor it names, else the first in its type's required role."""
    named = [actor["id"] for actor in fact["actors"]]
    for actor_id in preferred:
        if actor_id in named:
            return actor_id
    required = ROLES[fact["type"]][0]
    return str(next((a["id"] for a in fact["actors"] if a["role"] in required), named[0]))


def slide(fact: dict[str, Any], preferred: Iterable[str] = ()) -> dict[str, Any]:
    event: dict[str, Any] = {
        "unique_id": fact["event_id"],
        "group": group_of(fact, preferred),
        "start_date": date_parts(fact["occurred_at"], fact["precision"]),
        "text": {"headline": escape(fact["summary"]), "text": _html(fact)},
    }
    if fact.get("occurred_until"):
        event["end_date"] = date_parts(fact["occurred_until"], fact["precision"])
    if fact.get("sources"):
        source = fact["sources"][0]
        event["media"] = {"url": source["url"], "caption": escape(source.get("publisher") or "")}
    return event


def _html(fact: dict[str, Any]) -> str:
    parts = [f"<p>{escape(fact['type'])} · {escape(fact['confidence'])} · precision {escape(fact['precision'])}</p>"]
    actors = ", ".join(f"{escape(a['id'])} ({escape(a['role'])})" for a in fact["actors"])
    parts.append(f"<p>{actors}</p>")
    if fact.get("text"):
        parts.append(f"<blockquote>{escape(fact['text'])}</blockquote>")
    for source in fact.get("sources", []):
        label = escape(source.get("publisher") or source["url"])
        parts.append(f'<p><a href="{escape(source["url"], quote=True)}">{label}</a></p>')
    return "".join(parts)


def encoded(fact: dict[str, Any], preferred: Iterable[str] = ()) -> bytes:
    return json_text.dumps(slide(fact, preferred))
