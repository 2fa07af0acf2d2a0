"""The characters a text of the record may hold: one rule for every field a write accepts.

Every text ends up in an export or on the web page, where some characters are
syntax: CR and LF end an iCalendar content line and a CSV record, and an
unescaped line break in a URL property lets a text add whole events to a
calendar. So a one-line field (a summary, a name, a publisher, a mission name,
a URL) holds no line break at all, and a multi-line text (a statement, a quote,
a reason) may hold line feeds and tabs, which every export escapes.

Refused, in every field:

- C0 controls U+0000-U+001F (bar LF and TAB in multi-line texts) and DEL
  U+007F: format syntax or invisible; PostgreSQL text cannot even hold NUL.
- C1 controls U+0080-U+009F: U+0085 (NEL) is a line break to Unicode-aware
  readers (``str.splitlines``), the others print as nothing.
- U+2028 and U+2029, the line and paragraph separators: line breaks to some
  readers and not to others (JSON, iCalendar), so one export would read as two
  different things.
- The bidi embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069:
  they reorder everything displayed after them (a URL or a sentence shown
  backwards; "Trojan Source"), and no Arabic or Hebrew text needs them, since
  its letters give its direction. The marks U+200E, U+200F and U+061C, which
  only place the neutral characters next to them, stay allowed.

CR LF and a lone CR in a multi-line text are line breaks written the Windows or
the old Mac way: stored as LF, so that a text has one stored form (idempotency
compares stored forms) and no CR ever reaches an export.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

# The longest a field of the record may be, in characters: every reader of the limits imports them.
MAX_SLUG = 80  # an id: actors, missions, locations
MAX_TEXT = 500  # one line: a summary, a name, a publisher
MAX_LONG_TEXT = 20_000  # a statement, a quote, a reason
MAX_URL = 2000
MAX_REASON = 2000  # why a fact was corrected or retracted

_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_NEVER = f"\x7f-\x9f\u2028\u2029{_BIDI_CONTROLS}"
# The refused characters as the inside of a regular-expression class, also read by the
# OpenAPI document's patterns, so that the document states exactly this rule.
ONE_LINE_REFUSED = f"\x00-\x1f{_NEVER}"
MULTI_LINE_REFUSED = f"\x00-\x08\x0b-\x1f{_NEVER}"  # TAB (09) and LF (0A) may stay
_ONE_LINE_REFUSED = re.compile(f"[{ONE_LINE_REFUSED}]")
_MULTI_LINE_REFUSED = re.compile(f"[{MULTI_LINE_REFUSED}]")


def _kind(char: str) -> str:
    if char in "\r\n\x85\u2028\u2029":
        return "a line break"
    if re.match(f"[{_BIDI_CONTROLS}]", char):
        return "a bidi control"
    return "a control character"


def _refuse(value: str, refused: re.Pattern[str], allowed: str) -> str:
    found = refused.search(value)
    if found is not None:
        char = found.group()
        raise ValueError(f"contains {_kind(char)} (U+{ord(char):04X}) at character {found.start() + 1}; {allowed}")
    return value


def one_line(value: str) -> str:
    """The value, if it holds no control character, line break or bidi control."""
    return _refuse(
        value, _ONE_LINE_REFUSED, "this field is one line of plain text, without control characters or bidi controls"
    )


def multi_line(value: str) -> str:
    """The value with its line breaks as LF, if it holds no other control character or bidi control."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _refuse(
        value,
        _MULTI_LINE_REFUSED,
        "a text may break its lines with LF (\\n) and hold tabs, but no other control character",
    )


def http_url(value: str) -> str:
    # one_line runs first: urlsplit silently drops CR, LF and TAB, so it would pass them.
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an absolute http(s) URL")
    return value


def _some_text(refused: str) -> str:
    """The document's pattern: none of ``refused``, and at least one character that is not blank."""
    return f"^[^{refused}]*[^\\s{refused}][^{refused}]*$"


# What ``http_url`` takes after ``one_line``: leading spaces (urlsplit strips them), http or
# https in any case, a host that is not empty, brackets only around an IPv6 address.
_HOST = f"[^/?#\\[\\]{ONE_LINE_REFUSED}]"
URL_PATTERN = (
    f"^ *[Hh][Tt][Tt][Pp][Ss]?://(?:{_HOST}*\\[[0-9A-Fa-f:.]+\\]{_HOST}*|{_HOST}+)(?:[/?#][^{ONE_LINE_REFUSED}]*)?$"
)

Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TEXT, pattern=r"\S"),
    AfterValidator(one_line),
    Field(json_schema_extra={"pattern": _some_text(ONE_LINE_REFUSED)}),
]
LongText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_LONG_TEXT, pattern=r"\S"),
    AfterValidator(multi_line),
    # As sent: a CR may come too, since it is stored as LF.
    Field(json_schema_extra={"pattern": _some_text(f"\x00-\x08\x0b\x0c\x0e-\x1f{_NEVER}")}),
]
Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL),
    AfterValidator(one_line),
    AfterValidator(http_url),
    Field(json_schema_extra={"pattern": URL_PATTERN}),
]
