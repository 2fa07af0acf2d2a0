"""Recording the rows of a file: validated one by one, recorded in batches.

A bad row is reported with its line and field and never stops the good rows,
which are recorded in batches (each batch one transaction). Every fact gets an
id derived from its source, so re-importing a file records nothing new.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import orjson
from pydantic import ValidationError

from service.domain.actors import ActorProfileIn, profile_record
from service.domain.errors import TimelineError
from service.domain.facts import validate_fact
from service.domain.field_errors import field_errors
from service.imports.reading import Row
from service.store.application import TimelineApplication

BATCH_SIZE = 1000
PROGRESS_EVERY = 256  # rows between progress updates: a redraw per row would cost more than the row
# Fixed for good: the ids of facts imported without one depend on it.
CONTENT_NAMESPACE = UUID("c4389029-9352-47df-8094-659fa8684c0d")


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
    profiles: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass
class _Valid:
    line: int
    fact: Any
    names: dict[str, str]


def import_rows(
    store: TimelineApplication,
    rows: Iterable[Row],
    *,
    dry_run: bool = False,
    progress: Callable[[], None] | None = None,
) -> ImportReport:
    report = ImportReport()
    batch: list[_Valid] = []
    known_actors: set[str] = set()
    for row in rows:
        report.read += 1
        if progress and report.read % PROGRESS_EVERY == 0:
            progress()
        if row.problem is not None:
            report.errors.append(RowError(row.line, *row.problem))
            continue
        try:
            fact = with_event_id(validate_fact(row.raw))
        except ValidationError as exc:
            report.errors.extend(RowError(row.line, e["field"], e["message"]) for e in field_errors(exc.errors(), ""))
            continue
        report.valid += 1
        batch.append(_Valid(row.line, fact, row.names))
        if len(batch) >= BATCH_SIZE:
            _flush(store, batch, report, dry_run, known_actors)
    _flush(store, batch, report, dry_run, known_actors)
    if progress:
        progress()
    return report


def with_event_id(fact: Any) -> Any:
    """The fact with its own event_id, or one derived from its content.

    The same content gives the same id, so a file without ids re-imports as
    "already stored" rather than as copies.
    """
    if fact.event_id is not None:
        return fact
    record = fact.to_record()
    del record["event_id"]
    content = orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode()
    return fact.model_copy(update={"event_id": uuid5(CONTENT_NAMESPACE, content)})


def _flush(
    store: TimelineApplication, batch: list[_Valid], report: ImportReport, dry_run: bool, known_actors: set[str]
) -> None:
    if not batch or dry_run:
        batch.clear()
        return
    try:
        outcomes = store.record_facts([row.fact for row in batch])
        loaded = list(batch)
    except TimelineError:
        # One row conflicts with the store: record the rest one by one.
        outcomes, loaded = [], []
        for row in batch:
            try:
                outcomes.extend(store.record_facts([row.fact]))
                loaded.append(row)
            except TimelineError as exc:
                report.errors.append(RowError(row.line, _store_field(exc), exc.detail))
    for outcome in outcomes:
        if outcome.created:
            report.recorded += 1
        else:
            report.unchanged += 1
    report.profiles += _register_new_actors(store, [row.names for row in loaded], known_actors)
    batch.clear()


def _register_new_actors(store: TimelineApplication, names: list[dict[str, str]], known: set[str]) -> int:
    """Profiles for the batch's actors that have none yet; a profile a user registered or edited is kept."""
    profiles = []
    for actor_id, name in ((a, n) for batch in names for a, n in batch.items()):
        if actor_id in known:
            continue
        known.add(actor_id)
        try:
            profiles.append(profile_record(actor_id, ActorProfileIn(name=name)))
        except ValidationError:
            continue  # a name no profile can hold: the facts name the actor all the same
    return store.register_missing_actors(profiles) if profiles else 0


def write_errors_csv(path: Path, errors: Iterable[RowError]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("line", "field", "reason"))
        writer.writerows((error.line, error.field, error.reason) for error in errors)


def _store_field(exc: TimelineError) -> str:
    # The store names fields of a batch ("events.0.event_id"); the row is the batch here.
    names = [error["field"].split(".", 2)[2:] for error in exc.errors if error.get("field")]
    return names[0][0] if names and names[0] else ""
