"""Every export stays well-formed whatever a stored text holds.

Writes now refuse control characters (tests/integration/test_text_fields.py), but facts
recorded before that may hold them: each format escapes on output regardless.
The hostile fact here goes into the store as such a fact did, past validation,
and each export is read back with a real parser of its format.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import geojson
import icalendar
import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container
from service.domain.facts import validate_fact
from tests.support.facts import valid_fact
from tests.support.tokens import READ

FORGED = "\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:forged\r\nSUMMARY:forged\r\nDTSTART:20200101T000000Z"
# What a line-splitting reader (str.splitlines, a JavaScript string) takes for a line end.
ODD_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
HOSTILE = {
    "summary": '=HYPERLINK("https://evil.example")' + FORGED,
    "text": "line one\r\nline two\rthree" + ODD_BREAKS + '"quoted", and ; \\ a backslash\x1b[31m' + FORGED,
    "location": {"name": "Baghdad" + ODD_BREAKS + FORGED, "country": "IQ", "lat": 33.3, "lon": 44.4},
    "sources": [
        {
            "url": "https://example.org/a" + FORGED,
            "publisher": "Agency" + ODD_BREAKS + FORGED,
            "quote": "\"\r\n=cmd|' /C calc'!A0\r\n,",
        }
    ],
}


class _StoredBeforeTheRule:
    """A fact as an older version of the service recorded it: its record, unchecked."""

    def __init__(self, record: dict[str, Any]):
        self.record = record

    def to_record(self) -> dict[str, Any]:
        return self.record


@pytest.fixture
def hostile(client: TestClient, container: Container) -> dict[str, Any]:
    """Two facts stored past validation, the first hostile; the API's view of both."""
    records = []
    for extra in (HOSTILE, {"summary": "An ordinary statement"}):
        fact = validate_fact(valid_fact(location={"name": "Baghdad", "country": "IQ", "lat": 33.3, "lon": 44.4}))
        records.append({**fact.to_record(), "event_id": None, **extra})
    stored = container.store.record_facts([_StoredBeforeTheRule(r) for r in records])
    assert container.wait_for_position(container.store.max_position(), 10)
    listed = client.get("/v1/events", params={"limit": 10}, headers=READ).json()["items"]
    by_id = {f["event_id"]: f for f in listed}
    return {"facts": [by_id[s.fact["event_id"]] for s in stored]}


def exported(client: TestClient, fmt: str) -> bytes:
    response = client.get("/v1/export", params={"format": fmt}, headers=READ)
    assert response.status_code == 200, response.text
    return response.content


def test_ics_holds_exactly_the_stored_events_with_no_injected_line(client: TestClient, hostile: dict[str, Any]) -> None:
    data = exported(client, "ics")
    lines = data.split(b"\r\n")
    assert lines[-1] == b"" and all(b"\r" not in line and b"\n" not in line for line in lines)
    assert all(len(line) <= 75 for line in lines)
    # A reader that splits lines the Unicode way sees the same lines.
    assert data.decode().splitlines() == [line.decode() for line in lines[:-1]]
    assert lines.count(b"BEGIN:VEVENT") == 2 and lines.count(b"END:VEVENT") == 2

    calendar = icalendar.Calendar.from_ical(data)
    events = list(calendar.walk("VEVENT"))
    wanted = [f["event_id"] for f in hostile["facts"]]
    assert sorted(str(e["UID"]) for e in events) == sorted(wanted)
    event = next(e for e in events if str(e["UID"]) == wanted[0])
    assert str(event["SUMMARY"]).startswith('=HYPERLINK("https://evil.example")')
    assert "END:VEVENT" in str(event["SUMMARY"])  # kept as text, not as a line of the calendar
    url = str(event["URL"])
    assert url.startswith("https://example.org/a") and not any(c in url for c in "\r\n ")


def test_csv_keeps_each_fact_in_its_row_and_each_text_in_its_cell(client: TestClient, hostile: dict[str, Any]) -> None:
    rows = list(csv.DictReader(io.StringIO(exported(client, "csv").decode(), newline="")))
    assert [r["event_id"] for r in rows] == [f["event_id"] for f in hostile["facts"]]
    fact, row = hostile["facts"][0], rows[0]
    assert row["summary"] == "'" + fact["summary"]  # a formula, neutralised
    assert row["text"] == fact["text"] and row["location_name"] == fact["location"]["name"]
    assert json.loads(row["sources"]) == fact["sources"]


def test_json_lines_is_one_line_per_fact_for_any_line_reader(client: TestClient, hostile: dict[str, Any]) -> None:
    text = exported(client, "jsonl").decode()
    assert text.endswith("\n")
    for lines in (text.split("\n")[:-1], text.splitlines()):
        assert [json.loads(line) for line in lines] == hostile["facts"]


def test_geojson_is_valid_with_one_feature_per_fact(client: TestClient, hostile: dict[str, Any]) -> None:
    data = exported(client, "geojson").decode()
    collection = geojson.loads(data)
    assert collection.is_valid, collection.errors()
    assert [f["id"] for f in collection["features"]] == [f["event_id"] for f in hostile["facts"]]
    properties = collection["features"][0]["properties"]
    assert properties["summary"] == hostile["facts"][0]["summary"]
    assert properties["place"] == hostile["facts"][0]["location"]["name"]
    assert len(data.splitlines()) == 1


def test_timelinejs_is_one_json_document_with_escaped_html(client: TestClient, hostile: dict[str, Any]) -> None:
    data = exported(client, "timelinejs").decode()
    document = json.loads(data)
    assert [e["unique_id"] for e in document["events"]] == [f["event_id"] for f in hostile["facts"]]
    assert "&quot;" in document["events"][0]["text"]["headline"]
    assert len(data.splitlines()) == 1
