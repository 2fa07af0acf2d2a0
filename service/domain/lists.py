"""Comma-separated lists in query strings (``type=A,B``, ``actor=a,b``), as the service reads them.

Blanks around items and empty items are ignored (``nato, us,`` is ``nato`` and ``us``), which a
person typing a URL expects. The published pattern says exactly that, so generated and
hand-written clients learn the form from the document instead of from a 422.
"""

from __future__ import annotations


def split_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def list_pattern(item: str, *, most: int | None = None) -> str:
    """A regular expression for a list of up to ``most`` items matching ``item`` (no anchors)."""
    more = "*" if most is None else f"{{0,{most - 1}}}"
    return rf"^[\s,]*(?:(?:{item})(?:\s*,[\s,]*(?:{item})){more})?[\s,]*$"
