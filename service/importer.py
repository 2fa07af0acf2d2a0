"""Loading facts from files (JSON array, ``{"events": [...]}``, or JSON Lines).

Rows are validated one by one: a bad row is reported with its line and field
and never stops the good rows, which are recorded in batches (each batch one
transaction; re-importing the same file records nothing new).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from service.domain.errors import TimelineError
from service.domain.facts import validate_fact
from service.store.application import TimelineApplication

BATCH_SIZE = 1000


@dataclass
class RowError:
    line: int
    field: str
    reason: str


@dataclass
class ImportReport:
    read: int = 0
    valid: int = 0
    recorded: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


def read_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line or index, parsed object) for each fact; JSON Lines are streamed."""
    if _is_json_lines(path):
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield number, orjson.loads(line)
                    except orjson.JSONDecodeError as exc:
                        yield number, _Unparsable(str(exc))
        return
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        yield 1, _Unparsable(str(exc))
        return
    rows = document.get("events", []) if isinstance(document, dict) else document
    if not isinstance(rows, list):
        yield 1, _Unparsable("expected a JSON array of facts, {\"events\": [...]}, or JSON Lines")
        return
    for index, row in enumerate(rows):
        yield index + 1, row


def _is_json_lines(path: Path) -> bool:
    """By name (.jsonl, .ndjson), else when the first line is a whole fact on its own."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return True
    if path.suffix.lower() == ".json":
        return False
    with path.open("rb") as handle:
        first = handle.readline()
    try:
        head = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return isinstance(head, dict) and "events" not in head


@dataclass
class _Unparsable:
    reason: str


def import_rows(
    store: TimelineApplication,
    rows: Iterable[tuple[int, Any]],
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    report = ImportReport()
    batch: list[tuple[int, Any]] = []
    for line, raw in rows:
        report.read += 1
        if isinstance(raw, _Unparsable):
            report.errors.append(RowError(line, "", f"not JSON: {raw.reason}"))
            continue
        try:
            batch.append((line, validate_fact(raw)))
            report.valid += 1
        except ValidationError as exc:
            for error in exc.errors():
                report.errors.append(RowError(line, _field(error["loc"]), error["msg"]))
            continue
        if len(batch) >= BATCH_SIZE:
            _flush(store, batch, report, dry_run)
            if progress:
                progress(report.read)
    _flush(store, batch, report, dry_run)
    if progress:
        progress(report.read)
    return report


def _flush(store: TimelineApplication, batch: list[tuple[int, Any]], report: ImportReport, dry_run: bool) -> None:
    if not batch or dry_run:
        batch.clear()
        return
    try:
        outcomes = store.record_facts([fact for _, fact in batch])
    except TimelineError:
        # One row conflicts with the store: record the rest one by one.
        outcomes = []
        for line, fact in batch:
            try:
                outcomes.extend(store.record_facts([fact]))
            except TimelineError as exc:
                report.errors.append(RowError(line, "event_id", exc.detail))
    for outcome in outcomes:
        if outcome.created:
            report.recorded += 1
        else:
            report.unchanged += 1
    batch.clear()


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {
        "StrikeOccurred", "MissionSuspended", "MissionResumed",
        "PersonnelDeployed", "PersonnelRepositioned", "StatementIssued",
    }:
        parts = parts[1:]
    return ".".join(parts)
