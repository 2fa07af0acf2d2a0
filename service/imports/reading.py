"""Files of facts, row by row: JSON, JSON Lines, this service's CSV, ACLED's CSV.

Every format yields the same ``Row``: its line in the file and the raw fact, or
the field and reason that kept it from being one. CSV and JSON Lines are
streamed; the file is read through a byte counter so that progress can be shown
against the file's size.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from service.formats.acled import AcledRowError, acled_fact, actor_names
from service.formats.csv_rows import CsvRowError, raw_fact

BOM = b"\xef\xbb\xbf"
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")


class FileFormat(str, Enum):
    auto = "auto"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    acled = "acled"


class FormatError(ValueError):
    """A file whose format cannot be told, or is not the one asked for."""


@dataclass(frozen=True)
class Row:
    line: int
    raw: Any = None
    problem: tuple[str, str] | None = None  # (field, reason) when the row is no fact
    # Actor id -> display name, for profiles the import registers when the actor has none.
    names: dict[str, str] = field(default_factory=dict)


class _CountingReader(io.RawIOBase):
    """Counts the bytes taken from the file, for a progress bar over its size."""

    def __init__(self, raw: io.FileIO):
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        read = self._raw.readinto(buffer)
        self.count += read or 0
        return read or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


class FactFile:
    """An open file of facts in a known format; use as a context manager."""

    def __init__(self, path: Path, file_format: FileFormat):
        self.path = path
        self.format = file_format
        self.size = path.stat().st_size
        self._counter = _CountingReader(path.open("rb", buffering=0))
        self._binary = io.BufferedReader(self._counter)

    @property
    def bytes_read(self) -> int:
        return self._counter.count

    def rows(self) -> Iterator[Row]:
        if self.format is FileFormat.json:
            return _json_rows(self._binary)
        if self.format is FileFormat.jsonl:
            return _json_line_rows(self._binary)
        text = io.TextIOWrapper(self._binary, encoding="utf-8-sig", errors="replace", newline="")
        return _our_csv_rows(text) if self.format is FileFormat.csv else _acled_rows(text)

    def close(self) -> None:
        self._binary.close()

    def __enter__(self) -> FactFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_fact_file(path: Path, requested: FileFormat = FileFormat.auto) -> FactFile:
    """The file, opened in the format asked for, or told by its content; raises FormatError."""
    return FactFile(path, detect_format(path, requested))


def detect_format(path: Path, requested: FileFormat = FileFormat.auto) -> FileFormat:
    suffix = path.suffix.lower()
    if requested in (FileFormat.csv, FileFormat.acled):
        found = _csv_kind(path)
        if found is not requested:
            raise FormatError(f"not {requested.value.upper()}: {_csv_needs(path)}")
        return requested
    if requested is not FileFormat.auto:
        return requested
    if suffix in JSON_LINES_SUFFIXES:
        return FileFormat.jsonl
    if suffix == ".json":
        return FileFormat.json
    start = _first_bytes(path).lstrip()
    if suffix != ".csv" and start[:1] == b"[":
        return FileFormat.json
    if suffix != ".csv" and start[:1] == b"{":
        return FileFormat.jsonl if _is_one_fact_a_line(path) else FileFormat.json
    found = _csv_kind(path)
    if found is None:
        raise FormatError(_csv_needs(path))
    return found


def _first_bytes(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(4096).removeprefix(BOM)


def _is_one_fact_a_line(path: Path) -> bool:
    with path.open("rb") as handle:
        first = handle.readline().removeprefix(BOM)
    try:
        head = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return isinstance(head, dict) and "events" not in head


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        try:
            return _columns(next(csv.reader(handle), []))
        except csv.Error:
            return []


def _columns(cells: list[str]) -> list[str]:
    return [cell.strip().lower() for cell in cells]


def _csv_kind(path: Path) -> FileFormat | None:
    header = set(_header(path))
    if "event_id_cnty" in header:
        return FileFormat.acled
    if {"type", "occurred_at"} <= header:
        return FileFormat.csv
    return None


def _csv_needs(path: Path) -> str:
    found = ", ".join(_header(path)[:12]) or "nothing"
    return (
        "expected JSON, JSON Lines, or a CSV whose header has event_id_cnty (ACLED) "
        f"or type and occurred_at (this service's CSV); the first line has: {found}"
    )


# --- JSON -------------------------------------------------------------------------


def _json_rows(binary: BinaryIO) -> Iterator[Row]:
    try:
        document = orjson.loads(binary.read().removeprefix(BOM))
    except orjson.JSONDecodeError as exc:
        yield Row(1, problem=("", f"not JSON: {exc}"))
        return
    # The shapes the API takes: a batch body, or one fact; and a plain array of facts.
    if isinstance(document, dict):
        rows = document["events"] if "events" in document else [document]
    else:
        rows = document
    if not isinstance(rows, list):
        yield Row(1, problem=("", 'expected a fact, a JSON array of facts, {"events": [...]}, or JSON Lines'))
        return
    for index, raw in enumerate(rows):
        yield Row(index + 1, raw)


def _json_line_rows(binary: BinaryIO) -> Iterator[Row]:
    for number, line in enumerate(binary, start=1):
        text = line.removeprefix(BOM) if number == 1 else line
        if not text.strip():
            continue
        try:
            yield Row(number, orjson.loads(text))
        except orjson.JSONDecodeError as exc:
            yield Row(number, problem=("", f"not JSON: {exc}"))


# --- CSV --------------------------------------------------------------------------


def _csv_records(text: io.TextIOBase) -> Iterator[tuple[int, dict[str, str] | None, str]]:
    """(line where the row starts, column -> cell, problem) for each row that has a cell.

    The line is the physical line: a quoted cell can span several.
    """
    reader = csv.reader(text)
    try:
        header = _columns(next(reader, []))
    except csv.Error:
        return
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, None, f"not CSV: {exc}"
            continue
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, and the empty rows spreadsheets leave
        if len(cells) > len(header):
            yield start, None, f"{len(cells)} cells, but the header names {len(header)} columns"
            continue
        yield start, dict(zip(header, cells, strict=False)), ""


def _our_csv_rows(text: io.TextIOBase) -> Iterator[Row]:
    previous: object = None
    for line, record, problem in _csv_records(text):
        if record is None:
            yield Row(line, problem=("", problem))
            continue
        if "actor_id" in record:
            # One row per (fact, actor): each repeats the whole fact, so the first stands for it.
            fact_cells = tuple(v for k, v in record.items() if k not in ("actor_id", "actor_role"))
            key = record.get("event_id", "").strip() or fact_cells
            if key == previous:
                continue
            previous = key
        try:
            yield Row(line, raw_fact(record))
        except CsvRowError as exc:
            yield Row(line, problem=(exc.column, str(exc)))


def _acled_rows(text: io.TextIOBase) -> Iterator[Row]:
    for line, record, problem in _csv_records(text):
        if record is None:
            yield Row(line, problem=("", problem))
            continue
        try:
            yield Row(line, acled_fact(record), names=actor_names(record))
        except AcledRowError as exc:
            yield Row(line, problem=(exc.field, str(exc)))
