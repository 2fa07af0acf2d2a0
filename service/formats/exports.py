"""Export formats: what each is called, its media type, and its bytes, page by page.

Pages of facts go in (each fact with the time its shown revision was recorded),
chunks of the file come out, so an export of any size streams in constant
memory; the head goes out before the first query so a client sees the answer start.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from service.domain.instants import micros_to_text
from service.formats import csv_rows, geo, ical, json_text, timelinejs

ExportFormat = Literal["csv", "jsonl", "geojson", "ics", "timelinejs"]
RowsPer = Literal["fact", "actor"]  # csv only: one row per fact, or per (fact, actor)
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "geojson": "application/geo+json",
    "ics": "text/calendar; charset=utf-8",
    "timelinejs": "application/json",
}
EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "geojson": "geojson", "ics": "ics", "timelinejs": "json"}


@dataclass(frozen=True)
class Exported:
    """A fact as shown, and when the revision shown was recorded (iCalendar's DTSTAMP), in µs."""

    fact: dict[str, Any]
    revised_us: int


@dataclass(frozen=True)
class ExportSpec:
    format: ExportFormat
    rows: RowsPer = "fact"
    actors: tuple[str, ...] = ()  # the actor filter: per-actor rows and TimelineJS groups favour these

    @property
    def keeps_retracted(self) -> bool:
        """A calendar must hear of a cancellation; every other export leaves retracted facts out."""
        return self.format == "ics"


def chunks(spec: ExportSpec, pages: Iterable[list[Exported]]) -> Iterator[bytes]:
    head, items, tail, separator = _parts(spec)
    yield head
    first = True
    for page in pages:
        encoded = [item for item in items(page) if item]
        if encoded:
            yield (b"" if first else separator) + separator.join(encoded)
            first = False
    yield tail


Parts = tuple[bytes, Callable[[list[Exported]], list[bytes | None]], bytes, bytes]


def _parts(spec: ExportSpec) -> Parts:
    if spec.format == "csv":
        columns = csv_rows.ACTOR_COLUMNS if spec.rows == "actor" else csv_rows.FACT_COLUMNS
        return _csv_text([list(columns)]), lambda page: [_csv_page(spec, page)], b"", b""
    if spec.format == "jsonl":
        return b"", lambda page: [json_text.dumps(e.fact) + b"\n" for e in page], b"", b""
    if spec.format == "geojson":
        return geo.HEAD, lambda page: [geo.encoded(e.fact) for e in page], geo.TAIL, b","
    if spec.format == "ics":
        return (
            ical.HEAD,
            lambda page: [ical.vevent(e.fact, micros_to_text(e.revised_us) or "") for e in page],
            ical.TAIL,
            b"",
        )
    if spec.format == "timelinejs":
        return (
            timelinejs.HEAD,
            lambda page: [timelinejs.encoded(e.fact, spec.actors) for e in page],
            timelinejs.TAIL,
            b",",
        )
    raise ValueError(f"unknown export format {spec.format!r}")


def _csv_page(spec: ExportSpec, page: list[Exported]) -> bytes:
    if spec.rows == "actor":
        rows = [row for e in page for row in csv_rows.actor_rows(e.fact, spec.actors)]
    else:
        rows = [csv_rows.fact_row(e.fact) for e in page]
    return _csv_text(rows)


def _csv_text(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)  # RFC 4180 line ends
    return buffer.getvalue().encode()
