"""Importing files in-process: what a JSON file may hold, errors named as the API names them, actor profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container
from service.domain.actors import ActorProfileIn, profile_record
from service.domain.aggregates import actor_aggregate_id
from service.imports.loading import ImportReport, import_rows
from service.imports.reading import open_fact_file
from tests.support.tokens import WRITE

STATEMENT = {
    "type": "StatementIssued",
    "occurred_at": "2020-01-06",
    "summary": "s",
    "text": "t",
    "actors": [{"id": "mark-esper", "role": "speaker"}],
}


def dry_run(container: Container, path: Path) -> ImportReport:
    with open_fact_file(path) as source:
        return import_rows(container.store, source.rows(), dry_run=True)


@pytest.mark.parametrize(
    ("document", "facts"),
    [(STATEMENT, 1), ({"events": [STATEMENT, {**STATEMENT, "summary": "t"}]}, 2), ([STATEMENT], 1)],
    ids=["one fact", "batch body", "array"],
)
def test_a_json_file_holds_what_the_api_takes(container: Container, tmp_path: Path, document: Any, facts: int) -> None:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(document))
    report = dry_run(container, path)
    assert (report.read, report.valid, report.errors) == (facts, facts, [])


def test_a_json_file_of_something_else_is_reported_not_skipped(container: Container, tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps({"events": {"type": "StatementIssued"}}))
    report = dry_run(container, path)
    assert report.valid == 0
    assert [(e.line, e.field) for e in report.errors] == [(1, "")]
    assert "array of facts" in report.errors[0].reason


def test_bad_rows_are_named_as_the_api_names_them(container: Container, client: TestClient, tmp_path: Path) -> None:
    rows = [
        {"summary": "no type"},
        {**STATEMENT, "occurred_until": "2020-01-01"},
        {**STATEMENT, "type": "Rumour"},
    ]
    path = tmp_path / "facts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    report = dry_run(container, path)
    assert [(e.line, e.field) for e in report.errors] == [(1, "type"), (2, "occurred_until"), (3, "type")]
    assert report.errors[1].reason == "occurred_until is before occurred_at"
    # The API answers the same fact with the same field and message.
    answer = client.post("/v1/events", json=rows[1], headers=WRITE).json()
    assert [(e["field"], e["message"]) for e in answer["errors"]] == [("occurred_until", report.errors[1].reason)]


def test_missing_profiles_are_registered_once_and_existing_ones_kept(container: Container) -> None:
    store = container.store
    store.register_actor(profile_record("nato", ActorProfileIn(name="NATO", kind="alliance")))
    profiles = [
        profile_record(actor, ActorProfileIn(name=name))
        for actor, name in [("nato", "North Atlantic Treaty Organization"), ("iraq", "Iraq"), ("iraq", "Iraq again")]
    ]
    # "iraq" twice in one call: the one transaction fails on the unique key, and the profiles
    # are then settled one at a time, so each actor is registered once.
    assert store.register_missing_actors(profiles) == 1
    assert store.register_missing_actors(profiles) == 0
    assert store.repository.get(actor_aggregate_id("nato")).profile["kind"] == "alliance"
    assert store.repository.get(actor_aggregate_id("iraq")).profile["name"] == "Iraq"
