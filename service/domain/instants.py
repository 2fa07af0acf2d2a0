"""Parsing and formatting of instants on the service's time axes.

Every instant inside the service is an aware UTC ``datetime``; the read models
store it as integer microseconds since the Unix epoch so that both backends
compare and index it the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

# Years 1-9999 (Python's range), months 01-12, days 01-31, hours 00-23, minutes and seconds 00-59.
_DATE = r"(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)-?(?:0[1-9]|1[0-2])-?(?:0[1-9]|[12][0-9]|3[01])"
_HMS = r"(?:[01][0-9]|2[0-3])(?::?[0-5][0-9](?::?[0-5][0-9](?:[.,][0-9]+)?)?)?"
_TIME = _HMS
_OFFSET = rf"(?:[Zz]|[+-]{_HMS})"
# What the service takes for an instant: a date, or a date-time with its UTC offset. The API
# publishes this pattern, so it is also the gate: ``datetime.fromisoformat`` alone would take
# more (ISO week dates, any character between date and time) than the document states.
INSTANT_PATTERN = rf"^\s*(?:{_DATE}|{_DATE}[Tt ]{_TIME}{_OFFSET})\s*$"
# The same without the offset, so that its absence gets its own message.
_INSTANT_SHAPE = re.compile(rf"^(?:{_DATE}|{_DATE}[Tt ]{_TIME}{_OFFSET}?)$")
_DATE_ONLY = re.compile(rf"^{_DATE}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


# Where the time comes from: passed in by the composition root, so that nothing here reads it.
Clock = Callable[[], datetime]


class InstantError(ValueError):
    """A value that is not an ISO 8601 date or date-time with an offset."""


def is_date_only(value: str) -> bool:
    return bool(_DATE_ONLY.match(value.strip()))


def parse_instant(value: object, *, date_only_at: str = "start") -> datetime:
    """Parse an ISO 8601 date or date-time with offset into aware UTC.

    A date-only value means the start of that day in UTC, or its last
    microsecond when ``date_only_at`` is ``"end"`` (query bounds such as
    ``to``, ``at`` and ``as_of`` are inclusive of the whole day).
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InstantError("a date-time needs a UTC offset, e.g. 'Z' or '+03:00'")
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise InstantError("expected an ISO 8601 date or date-time string")
    text = value.strip()
    if not text or len(text) > 40:
        raise InstantError("expected an ISO 8601 date or date-time string")
    if not _INSTANT_SHAPE.fullmatch(text):
        raise InstantError("expected an ISO 8601 date (2020-01-07) or date-time with offset (2020-01-07T15:00:00Z)")
    if is_date_only(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise InstantError(f"invalid date: {exc}") from None
        start = datetime.combine(day, time.min, tzinfo=UTC)
        if date_only_at == "end":
            return start.replace(hour=23, minute=59, second=59, microsecond=999999)
        return start
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InstantError(
            "expected an ISO 8601 date (2020-01-07) or date-time with offset (2020-01-07T15:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise InstantError("a date-time needs a UTC offset, e.g. 'Z' or '+03:00'")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InstantError("date-time out of range") from None


def format_instant(moment: datetime) -> str:
    """UTC with microseconds and ``Z``: the one format the service answers in.

    Years are always four digits (``strftime`` would write year 999 as ``999``).
    """
    m = moment.astimezone(UTC)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond:06d}Z"


def to_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def micros_to_text(micros: int | None) -> str | None:
    return None if micros is None else format_instant(from_micros(micros))


def text_to_micros(text: str) -> int:
    return to_micros(parse_instant(text))


def now_us(clock: Clock) -> int:
    """The clock's present, in the read models' microseconds."""
    return to_micros(clock())
