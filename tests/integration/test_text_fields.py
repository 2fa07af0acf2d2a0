"""What a text field of a write may hold: no character that is syntax in an export.

A source URL with CR LF in it once went into the iCalendar export as it was sent,
so any write token could add events to every subscriber's calendar. Every write
(facts, corrections, retractions, actor profiles, subscriptions, imports) now
refuses such characters with a 422 naming the field, and writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.bootstrap import Container
from service.domain.facts import validate_fact
from service.domain.field_errors import field_errors
from service.imports.loading import import_rows
from service.imports.reading import open_fact_file
from tests.support.answers import assert_problem
from tests.support.facts import valid_fact
from tests.support.tokens import ADMIN, WRITE
from tests.support.writes import assert_refused_and_nothing_written, correct, record, retract

ICS_INJECTION = "https://example.org/a\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:forged\r\nUID:forged"

# Refused in any field: each breaks some export or how it is displayed.
NEVER = {
    "cr-lf": "a\r\nb",
    "lf": "a\nb",
    "cr": "a\rb",
    "tab": "a\tb",
    "vt": "a\x0bb",
    "esc": "a\x1b[31mb",
    "del": "a\x7fb",
    "nel": "a\x85b",
    "c1": "a\x9bb",
    "line-sep": "a\u2028b",
    "para-sep": "a\u2029b",
    "rlo": "a\u202eb",
    "rli": "a\u2067b",
    "nul": "a\x00b",
}
# Refused in a multi-line text too (line feeds, CR LF and tabs are not).
NEVER_IN_LONG_TEXT = {k: v for k, v in NEVER.items() if k not in ("cr-lf", "lf", "cr", "tab")}


def _with(fact: dict[str, Any], path: str, value: str) -> dict[str, Any]:
    """The fact with the value put at a dotted path such as ``sources.0.url``."""
    target: Any = fact
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return fact


ONE_LINE_FIELDS = [
    ("StatementIssued", "summary"),
    ("StatementIssued", "sources.0.url"),
    ("StatementIssued", "sources.0.publisher"),
    ("PersonnelDeployed", "location.name"),
    ("PersonnelRepositioned", "to.name"),
    ("StrikeOccurred", "target_description"),
    ("MissionSuspended", "mission_name"),
    ("MissionSuspended", "mission"),
    ("StatementIssued", "actors.0.id"),
]
LONG_TEXT_FIELDS = [("StatementIssued", "text"), ("MissionSuspended", "reason"), ("StatementIssued", "sources.0.quote")]


def _refusal(raw: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        validate_fact(raw)
    return field_errors(caught.value.errors(), "")


@pytest.mark.parametrize(("kind", "field"), ONE_LINE_FIELDS)
@pytest.mark.parametrize("value", NEVER.values(), ids=NEVER.keys())
def test_one_line_fields_refuse_controls_line_breaks_and_bidi_controls(kind: str, field: str, value: str) -> None:
    raw = _with(valid_fact(kind, sources=[{"url": "https://example.org/a", "quote": "q"}]), field, value)
    if field == "sources.0.url":
        raw = _with(raw, field, "https://example.org/" + value)
    assert field in {e["field"] for e in _refusal(raw)}


@pytest.mark.parametrize(("kind", "field"), LONG_TEXT_FIELDS)
@pytest.mark.parametrize("value", NEVER_IN_LONG_TEXT.values(), ids=NEVER_IN_LONG_TEXT.keys())
def test_multi_line_texts_refuse_every_control_but_line_breaks_and_tabs(kind: str, field: str, value: str) -> None:
    raw = _with(valid_fact(kind, sources=[{"url": "https://example.org/a", "quote": "q"}]), field, value)
    assert field in {e["field"] for e in _refusal(raw)}


def test_multi_line_texts_keep_their_lines_with_lf_as_the_one_line_break() -> None:
    fact = validate_fact(valid_fact(text="first\r\nsecond\rthird\n\tfourth \u200f(rtl mark)"))
    assert fact.text == "first\nsecond\nthird\n\tfourth \u200f(rtl mark)"


def test_the_message_names_the_character_and_where_it_is() -> None:
    (error,) = _refusal(valid_fact(summary="Strike\u202eat dawn"))
    assert error["field"] == "summary"
    assert "U+202E" in error["message"] and "character 7" in error["message"]


# --- through the API, on both stores ---------------------------------------------------------


def test_an_ics_injection_in_a_source_url_is_refused_and_nothing_is_written(
    client: TestClient, container: Container
) -> None:
    body = valid_fact(sources=[{"url": ICS_INJECTION}])
    problem = assert_refused_and_nothing_written(client, container, body, 422, "sources.0.url")
    assert any("U+000D" in e["message"] for e in problem["errors"])
    batch = {"events": [valid_fact(), valid_fact(summary="Two\r\nlines")]}
    assert_problem(client.post("/v1/events/batch", json=batch, headers=WRITE), 422, "events.1.summary")


def test_corrections_and_retractions_refuse_them_too(client: TestClient, container: Container) -> None:
    stored = record(client, valid_fact())
    before = container.store.max_position()
    refused = [
        (correct(client, stored["event_id"], sources=[{"url": ICS_INJECTION}]), "sources.0.url"),
        (correct(client, stored["event_id"], {"summary": "new\r\nEND:VEVENT"}), "changes.summary"),
        (correct(client, stored["event_id"], {"sources": [{"url": ICS_INJECTION}]}), "changes.sources.0.url"),
        (correct(client, stored["event_id"], {"summary": "fine"}, reason="bad \x1b[2J reason"), "reason"),
        (retract(client, stored["event_id"], reason="gone\u2028for good"), "reason"),
    ]
    for response, field in refused:
        assert_problem(response, 422, field)
    assert container.store.max_position() == before


def test_actor_profiles_refuse_them(client: TestClient, container: Container) -> None:
    before = container.store.max_position()
    for body, field in [
        ({"name": "NATO\r\nX-INJECTED:1"}, "name"),
        ({"name": "NATO", "aliases": ["ok", "a\tb"]}, "aliases.1"),
    ]:
        assert_problem(client.put("/v1/actors/nato", json=body, headers=WRITE), 422, field)
    assert container.store.max_position() == before


def test_subscription_descriptions_refuse_them(client: TestClient) -> None:
    body = {"url": "https://hooks.example.org/in", "description": "ours\r\nsecond line"}
    assert_problem(client.post("/v1/subscriptions", json=body, headers=ADMIN), 422, "description")


def test_an_import_reports_the_api_message_for_the_same_row(
    client: TestClient, container: Container, tmp_path: Path
) -> None:
    fact = valid_fact(sources=[{"url": ICS_INJECTION}])
    api = assert_problem(client.post("/v1/events", json=fact, headers=WRITE), 422, "sources.0.url")
    path = tmp_path / "facts.jsonl"
    path.write_text(json.dumps(valid_fact()) + "\n" + json.dumps(fact) + "\n")
    with open_fact_file(path) as source:
        report = import_rows(container.store, source.rows(), dry_run=True)
    assert [(e.line, e.field) for e in report.errors] == [(2, "sources.0.url")]
    assert report.errors[0].reason == next(e["message"] for e in api["errors"] if e["field"] == "sources.0.url")
