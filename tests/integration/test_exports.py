"""``GET /v1/export``: each format read back with a real parser of that format, on both backends.

The export must say what ``GET /v1/events`` says (same filters, axes and order),
in a form the analyst's tool reads: csv for spreadsheets, GeoJSON for GIS,
iCalendar for calendars (corrections as updates, retractions as cancellations),
TimelineJS for storytelling, JSON Lines for scripts.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Any

import geojson
import icalendar
import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container
from service.domain.facts import validate_fact
from service.formats.csv_rows import ACTOR_COLUMNS, FACT_COLUMNS, raw_fact
from tests.support.answers import assert_problem
from tests.support.facts import valid_fact
from tests.support.reads import just_before
from tests.support.tokens import READ
from tests.support.writes import corrected, record, retract


def export(client: TestClient, fmt: str, **params: Any) -> Any:
    response = client.get("/v1/export", params={"format": fmt, **params}, headers=READ)
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    return response


def listed(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/events", params={"limit": 1000, **params}, headers=READ)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def csv_dicts(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def strike_id(client: TestClient) -> str:
    return listed(client, type="StrikeOccurred")[0]["event_id"]


@pytest.fixture
def changed(demo_client: TestClient, container: Container) -> dict[str, Any]:
    """The demo data with the strike corrected and one statement retracted."""
    strike = strike_id(demo_client)
    correction = corrected(demo_client, strike, {"fatalities": 10}, reason="the death toll was published")
    statement = next(f for f in listed(demo_client, type="StatementIssued") if f["summary"].startswith("Media"))
    retracted = retract(demo_client, statement["event_id"])
    assert retracted.status_code == 201, retracted.text
    assert container.wait_for_position(retracted.json()["change_position"], 10)
    return {"strike": strike, "correction": correction, "retracted": statement}


def test_csv_has_one_row_per_listed_fact_in_list_order_and_reads_back(
    demo_client: TestClient, changed: dict[str, Any]
) -> None:
    response = export(demo_client, "csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = csv_dicts(response.text)
    facts = listed(demo_client)
    assert list(rows[0]) == list(FACT_COLUMNS)
    assert [r["event_id"] for r in rows] == [f["event_id"] for f in facts]
    assert changed["retracted"]["event_id"] not in {r["event_id"] for r in rows}
    strike = next(r for r in rows if r["event_id"] == changed["strike"])
    assert strike["fatalities"] == "10" and strike["revision"] == "2"
    # Every row is a fact again: the columns hold all the fact says.
    for row, fact in zip(rows, facts, strict=True):
        again = validate_fact(raw_fact(row)).to_record()
        assert again == {k: fact[k] for k in again}


def test_csv_per_actor_has_a_row_per_actor_and_role(demo_client: TestClient, changed: dict[str, Any]) -> None:
    rows = csv_dicts(export(demo_client, "csv", rows="actor").text)
    facts = listed(demo_client)
    assert list(rows[0]) == list(ACTOR_COLUMNS)
    expected = [(a["id"], a["role"], f["event_id"]) for f in facts for a in f["actors"]]
    assert [(r["actor_id"], r["actor_role"], r["event_id"]) for r in rows] == expected

    nato = csv_dicts(export(demo_client, "csv", rows="actor", actor="nato").text)
    assert nato and {r["actor_id"] for r in nato} == {"nato"}
    assert [r["event_id"] for r in nato] == [f["event_id"] for f in listed(demo_client, actor="nato")]


def test_csv_cells_that_look_like_formulas_are_defused_and_read_back(client: TestClient) -> None:
    fact = record(client, valid_fact(summary='=HYPERLINK("http://evil.example","click")'))
    rows = csv_dicts(export(client, "csv", min_position=fact["position"]).text)
    assert rows[0]["summary"].startswith("'=")
    assert raw_fact(rows[0])["summary"] == fact["summary"]


def test_jsonl_is_the_listed_facts_line_by_line(demo_client: TestClient, changed: dict[str, Any]) -> None:
    response = export(demo_client, "jsonl", type="StatementIssued,StrikeOccurred", **{"from": "2020-01-03"})
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines == listed(demo_client, type="StatementIssued,StrikeOccurred", **{"from": "2020-01-03"})
    assert lines and {f["type"] for f in lines} == {"StatementIssued", "StrikeOccurred"}


def test_geojson_is_valid_with_a_point_per_located_fact(demo_client: TestClient, changed: dict[str, Any]) -> None:
    response = export(demo_client, "geojson")
    assert response.headers["content-type"].startswith("application/geo+json")
    collection = geojson.loads(response.text)
    assert collection.is_valid, collection.errors()
    located = {}
    for fact in listed(demo_client):
        place = next((fact[k] for k in ("location", "to", "from") if (fact.get(k) or {}).get("lat") is not None), None)
        if place:
            located[fact["event_id"]] = [place["lon"], place["lat"]]
    assert located, "the demo data has located facts"
    assert {f["id"]: f["geometry"]["coordinates"] for f in collection["features"]} == located
    strike = next(f for f in collection["features"] if f["id"] == changed["strike"])
    assert strike["geometry"]["type"] == "Point"
    assert strike["properties"]["fatalities"] == 10 and strike["properties"]["type"] == "StrikeOccurred"


def test_icalendar_has_revisions_as_sequence_and_retractions_cancelled(
    demo_client: TestClient, changed: dict[str, Any]
) -> None:
    response = export(demo_client, "ics")
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(response.text)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    facts = listed(demo_client)
    assert set(events) == {f["event_id"] for f in facts} | {changed["retracted"]["event_id"]}
    strike = events[changed["strike"]]
    assert int(strike["SEQUENCE"]) == 2
    assert str(strike["STATUS"]) == "CONFIRMED"
    cancelled = events[changed["retracted"]["event_id"]]
    assert str(cancelled["STATUS"]) == "CANCELLED" and int(cancelled["SEQUENCE"]) == 2
    for fact in facts:
        start = events[fact["event_id"]].decoded("DTSTART")
        if fact["precision"] in ("day", "week", "month", "year"):
            assert type(start) is date and start.isoformat() == fact["occurred_at"][:10]
        else:
            assert isinstance(start, datetime) and start.isoformat().replace("+00:00", "") in fact["occurred_at"]
    # Iran's pledge is an interval: the all-day DTEND is exclusive, the day after its last day.
    pledge = next(f for f in facts if f["occurred_until"])
    assert events[pledge["event_id"]].decoded("DTEND").isoformat() > pledge["occurred_until"][:10]


def test_icalendar_as_of_before_the_changes_shows_the_first_revision(
    demo_client: TestClient, changed: dict[str, Any]
) -> None:
    fact = demo_client.get(f"/v1/events/{changed['strike']}", headers=READ).json()
    before = just_before(fact["revisions"][1]["recorded_at"])  # the correction came before the retraction
    calendar = icalendar.Calendar.from_ical(export(demo_client, "ics", as_of=before).text)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert int(events[changed["strike"]]["SEQUENCE"]) == 1
    assert str(events[changed["retracted"]["event_id"]]["STATUS"]) != "CANCELLED"


def test_timelinejs_groups_by_actor_with_dates_at_their_precision(
    demo_client: TestClient, changed: dict[str, Any]
) -> None:
    document = export(demo_client, "timelinejs").json()
    slides = document["events"]
    facts = {f["event_id"]: f for f in listed(demo_client)}
    assert [s["unique_id"] for s in slides] == list(facts)
    for slide in slides:
        fact = facts[slide["unique_id"]]
        assert slide["group"] in {a["id"] for a in fact["actors"]}
        parts = slide["start_date"]
        assert parts["year"] == fact["occurred_at"][:4]
        expected = {
            "year": {"year"},
            "month": {"year", "month"},
            "day": {"year", "month", "day"},
            "week": {"year", "month", "day"},
        }.get(fact["precision"])
        if expected:
            assert set(parts) == expected
    by_nato = export(demo_client, "timelinejs", actor="nato").json()["events"]
    assert by_nato and {s["group"] for s in by_nato} == {"nato"}


def test_timelinejs_escapes_html_from_facts(client: TestClient) -> None:
    fact = record(client, valid_fact(summary="<script>alert(1)</script> strike", text="<b>bold</b>"))
    slide = export(client, "timelinejs", min_position=fact["position"]).json()["events"][0]
    assert "<script>" not in slide["text"]["headline"] and "&lt;script&gt;" in slide["text"]["headline"]
    assert "<b>" not in slide["text"]["text"]


def test_export_streams_past_one_page_in_order(client: TestClient, container: Container) -> None:
    facts = [
        validate_fact(valid_fact(occurred_at=f"2021-{1 + n % 12:02d}-{1 + n % 28:02d}", summary=f"statement {n}"))
        for n in range(2500)
    ]
    for start in range(0, len(facts), 1000):
        container.store.record_facts(facts[start : start + 1000])
    assert container.wait_for_position(container.store.max_position(), 30)
    lines = export(client, "jsonl").text.splitlines()
    assert len(lines) == 2500
    keys = [(f["occurred_at"], f["position"]) for f in map(json.loads, lines)]
    assert keys == sorted(keys)
    assert len(csv_dicts(export(client, "csv").text)) == 2500


def test_export_is_a_snapshot_as_of_the_request(demo_client: TestClient, changed: dict[str, Any]) -> None:
    response = export(demo_client, "jsonl")
    as_of = response.headers["x-timeline-as-of"]
    again = export(demo_client, "jsonl", as_of=as_of)
    assert again.text == response.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "format"),
        ({"format": "xlsx"}, "format"),
        ({"format": "csv", "rows": "both"}, "rows"),
        ({"format": "jsonl", "rows": "actor"}, "rows"),
        ({"format": "timelinejs", "rows": "actor"}, "rows"),
        ({"format": "csv", "type": "Rumour"}, "type"),
        ({"format": "csv", "from": "2020-01-05T00:00:00"}, "from"),
        ({"format": "csv", "as_of": "yesterday"}, "as_of"),
        ({"format": "csv", "actor": "Not A Slug"}, "actor"),
        ({"format": "ics", "from": "2020-02-01", "to": "2020-01-01"}, "to"),
    ],
)
def test_bad_export_query_is_422_problem(client: TestClient, params: dict[str, str], field: str) -> None:
    assert_problem(client.get("/v1/export", params=params, headers=READ), 422, field)


def test_export_needs_the_read_scope_when_tokens_are_set(client: TestClient) -> None:
    assert client.get("/v1/export", params={"format": "csv"}).status_code == 401


def test_icalendar_text_survives_escaping_and_folding(client: TestClient) -> None:
    summary = "Frappe près de l'aéroport; «ذكرت» 2, 3 \\ 4 — " + "émoji 🛰️ " * 12
    text = "Line one,\nline two; with a tab\tand a backslash \\."  # controls: test_export_escaping.py
    fact = record(client, valid_fact(summary=summary, text=text, occurred_at="9999-12-30", occurred_until="9999-12-31"))
    body = export(client, "ics", min_position=fact["position"]).content
    assert all(len(line) <= 75 for line in body.split(b"\r\n")), "lines are folded at 75 octets"
    event = next(iter(icalendar.Calendar.from_ical(body.decode()).walk("VEVENT")))
    assert str(event["SUMMARY"]) == summary
    assert text in str(event["DESCRIPTION"])
    assert event.decoded("DTSTART") == date(9999, 12, 30)
    assert "DTEND" not in event  # the day after 9999-12-31 cannot be written; the event keeps its start
