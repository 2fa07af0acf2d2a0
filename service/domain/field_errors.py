"""What is wrong with an input, field by field, named the way clients name fields.

One naming for the API's 422 answers and for an import's row report, so that a
file's error reads like the API's answer to the same fact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from service.domain.facts import FACT_TYPES

# Where a request's input came from: not part of the field's name.
_ORIGINS = ("body", "query", "path", "header")


def field_name(loc: Sequence[Any], whole: str = "body") -> str:
    """``("body", "events", 3, "StrikeOccurred", "means")`` -> ``events.3.means``; ``whole`` names the input itself."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _ORIGINS:
        parts = parts[1:]
    return ".".join(p for p in parts if p not in FACT_TYPES) or whole


def field_errors(errors: Iterable[Any], whole: str = "body") -> list[dict[str, str]]:
    """Pydantic's errors as ``{field, message, type}``, without pydantic's wording of our own checks."""
    out = []
    for error in errors:
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        loc = tuple(error.get("loc", ()))
        if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "type")  # the discriminator itself is the offending field
        out.append({"field": field_name(loc, whole), "message": message, "type": str(error.get("type", ""))})
    return out
