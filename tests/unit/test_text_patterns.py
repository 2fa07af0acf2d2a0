"""The OpenAPI document's patterns for texts and URLs state exactly the rule the service applies.

A pattern looser than the validation lets a generated client send what is refused; a stricter
one calls a valid fact invalid. Each sample is judged by both, and they must agree.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from service.domain.text import LongText, Text, Url

SAMPLES = [
    "Iran fires missiles at Ain al-Asad",
    "  padded  ",
    " ",
    "",
    "a\tb",
    "a\nb",
    "a\r\nb",
    "bell\x07",
    "nul\x00",
    "del\x7f",
    "nel\x85",
    "line\u2028sep",
    "rtl\u202eoverride",
    "isolate\u2066x",
    "mark\u200fkept",
    "naïve — ümlaut ✓",
    "\u00a0",
    "x" * 500,
    "x" * 501,
    "https://example.org/report",
    "HTTP://0",
    " http://a/b?c#d",
    "https://[2001:db8::1]/x",
    "http://",
    "ftp://example.org",
    "https://exa mple.org",
    "https://example.org/\r\nEND:VEVENT",
    "http://[::1",
    "https://example.org/\u202e",
    "example.org",
]


def _accepted(kind: Any, value: str) -> bool:
    try:
        TypeAdapter(kind).validate_python(value)
    except ValidationError:
        return False
    return True


def _stated(kind: Any, value: str) -> bool:
    schema = TypeAdapter(kind).json_schema()
    # JSON Schema patterns are ECMA-262: `$` is the end of the text, as \Z is in Python.
    pattern = schema["pattern"].removesuffix("$") + r"\Z"
    return (
        schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value))
        and re.search(pattern, value) is not None
    )


@pytest.mark.parametrize("kind", [Text, LongText, Url], ids=["one line", "multi-line", "url"])
@pytest.mark.parametrize("value", SAMPLES)
def test_the_document_states_the_rule_the_service_applies(kind: Any, value: str) -> None:
    assert _stated(kind, value) == _accepted(kind, value), value
