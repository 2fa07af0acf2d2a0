"""Reading the record at an instant: the times the service answers, and the one just before."""

from __future__ import annotations

from datetime import datetime, timedelta

MICROSECOND = timedelta(microseconds=1)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def just_before(text: str) -> str:
    """The last microsecond before an instant the service answered (as_of is inclusive)."""
    return iso(instant(text) - MICROSECOND)
