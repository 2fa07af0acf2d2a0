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
    recorded: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


def read_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for each fact; JSON Lines are streamed."""
    with path.open("rb") as handle:
        head = handle.read(1024).lstrip()
        handle.seek(0)
        if head.startswith(b"[") or head.startswith(b"{") and _is_single_document(path):
            document = orjson.loads(handle.read())
            rows = document.get("events", []) if isinstance(document, dict) else document
            for index, row in enumerate(rows):
                yield index + 1, row
            return
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield number, orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield number, _Unparsable(str(exc))


def _is_single_document(path: Path) -> bool:
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return False
    return isinstance(document, dict) and "events" in document


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
