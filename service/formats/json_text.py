"""JSON as the exports write it: orjson's, with the line ends JSON leaves raw escaped.

JSON escapes U+0000-U+001F but not U+0085 (NEL) or U+2028/U+2029, which end a
line for readers that split the Unicode way (``str.splitlines``, JavaScript
before ES2019): one JSON Lines record would read as several. As ``\\uXXXX`` they
are the same string to every JSON parser. In UTF-8 these byte sequences encode
only those characters (a lead byte never occurs inside another character), and
orjson writes them only inside strings, so replacing the bytes is exact.
"""

from __future__ import annotations

from typing import Any

import orjson

_RAW_LINE_ENDS = ((b"\xc2\x85", b"\\u0085"), (b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))


def dumps(value: Any) -> bytes:
    data = orjson.dumps(value)
    for raw, escaped in _RAW_LINE_ENDS:
        if raw in data:  # rare: the search is cheaper than the copy a replace makes
            data = data.replace(raw, escaped)
    return data
