"""Webhook rules that need no I/O: subscription changes, filters, message bodies, retry timing."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from uuid import NAMESPACE_URL, uuid5

import orjson

from service.domain.revisions import REVISION_KINDS, RevisionKind

# A message names the change it tells of: event.recorded, event.corrected, event.retracted.
MESSAGE_TYPES: dict[RevisionKind, str] = {kind: f"event.{kind}" for kind in REVISION_KINDS}
SECRET_PREFIX = "whsec_"

# A subscription's status; a deleted one is kept (its messages name it) but shown nowhere.
SUBSCRIPTION_ACTIVE: Final = "active"
SUBSCRIPTION_PAUSED: Final = "paused"  # its changes still become messages, sent once resumed
SUBSCRIPTION_DISABLED: Final = "disabled"  # by the service, when the receiver answered 410 Gone
SUBSCRIPTION_DELETED: Final = "deleted"
# An outbox message's status.
MESSAGE_PENDING: Final = "pending"
MESSAGE_DELIVERED: Final = "delivered"
MESSAGE_FAILED: Final = "failed"  # its retries ran out, or the receiver is gone

ROTATION_OVERLAP_SECONDS = 24 * 3600
_MESSAGES = uuid5(NAMESPACE_URL, "crisis-timeline:webhook-message")


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


@dataclass(frozen=True)
class SubscriptionChange:
    """What to change in a subscription; None keeps a field as it is."""

    url: str | None = None
    types: Sequence[str] | None = None
    actors: Sequence[str] | None = None
    status: str | None = None
    description: str | None = None


def normalised_filters(types: list[str], actors: list[str]) -> tuple[list[str], list[str]]:
    return _unique(types), _unique(actors)


def matches(types: list[str], actors: list[str], fact: dict[str, Any]) -> bool:
    """Whether a fact, as it stands after a change, passes a subscription's filters."""
    if types and fact["type"] not in types:
        return False
    if actors and not {ref["id"] for ref in fact["actors"]} & set(actors):
        return False
    return True


def message_id(subscription_id: str, position: int) -> str:
    """The same for every attempt and every replay of one (subscription, change)."""
    return "msg_" + uuid5(_MESSAGES, f"{subscription_id}:{position}").hex


def message_body(kind: RevisionKind, recorded_at: str, position: int, fact: dict[str, Any]) -> str:
    return orjson.dumps(
        {"type": MESSAGE_TYPES[kind], "timestamp": recorded_at, "data": {"position": position, "event": fact}}
    ).decode()


def secret_from(random_bytes: bytes) -> str:
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode()


def parse_schedule(text: str) -> list[float]:
    """Seconds between attempts, e.g. ``5,300,1800``."""
    try:
        delays = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError("expected comma-separated seconds, e.g. 5,300,1800") from None
    if any(d < 0 for d in delays):
        raise ValueError("delays cannot be negative")
    return delays


def retry_delay(schedule: list[float], attempts_made: int, jitter: float, retry_after: float | None) -> float | None:
    """Seconds until the next attempt, or None when the schedule is exhausted.

    ``jitter`` in [-1, 1] spreads retries by up to ±20 % so that a recovering
    subscriber is not hit by every message at once; a ``Retry-After`` longer
    than the scheduled delay wins.
    """
    if attempts_made > len(schedule):
        return None
    delay = schedule[attempts_made - 1] * (1 + 0.2 * jitter)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 24 * 3600.0))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)
