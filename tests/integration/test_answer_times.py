"""The shapes a user sees in good answers: UTC ``Z`` times with microseconds, date-only facts as
the start of their day, the ``reported_at`` default.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.support.facts import DROP, valid_fact
from tests.support.tokens import READ
from tests.support.writes import record

UTC_MICROS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


# --- good answers: times and defaults -------------------------------------------------


def test_date_only_occurred_at_is_the_start_of_its_day_with_precision_day(client: TestClient) -> None:
    stored = record(client, valid_fact(occurred_at="2020-01-07", precision=DROP))
    assert stored["occurred_at"] == "2020-01-07T00:00:00.000000Z"
    assert stored["precision"] == "day"


def test_date_time_occurred_at_defaults_to_precision_exact(client: TestClient) -> None:
    stored = record(client, valid_fact(occurred_at="2020-01-07T15:00:00Z", precision=DROP))
    assert stored["precision"] == "exact"


def test_offsets_are_answered_in_utc_with_z_and_microseconds(client: TestClient) -> None:
    stored = record(
        client,
        valid_fact(
            occurred_at="2020-01-07T15:00:00+03:00",
            occurred_until="2020-01-07T18:30:00.5+03:00",
            reported_at="2020-01-07T20:00:00-05:00",
        ),
    )
    assert stored["occurred_at"] == "2020-01-07T12:00:00.000000Z"
    assert stored["occurred_until"] == "2020-01-07T15:30:00.500000Z"
    assert stored["reported_at"] == "2020-01-08T01:00:00.000000Z"
    assert UTC_MICROS.match(stored["recorded_at"]), stored["recorded_at"]


def test_read_answers_use_utc_z_with_microseconds(client: TestClient) -> None:
    stored = record(client, valid_fact(occurred_at="2020-01-07T15:00:00+03:00"))
    response = client.get(f"/v1/events/{stored['event_id']}", params={"min_position": stored["position"]}, headers=READ)
    assert response.status_code == 200, response.text
    fact = response.json()
    for key in ("occurred_at", "reported_at", "recorded_at"):
        assert UTC_MICROS.match(fact[key]), (key, fact[key])
    assert fact["occurred_at"] == "2020-01-07T12:00:00.000000Z"
    for revision in fact["revisions"]:
        assert UTC_MICROS.match(revision["recorded_at"]), revision


def test_reported_at_defaults_to_the_earliest_source_published_at(client: TestClient) -> None:
    sources = [
        {"url": "https://example.org/later", "published_at": "2020-01-08T10:00:00+01:00"},
        {"url": "https://example.org/undated"},
        {"url": "https://example.org/earlier", "published_at": "2020-01-07T20:00:00Z"},
    ]
    stored = record(client, valid_fact(reported_at=DROP, sources=sources))
    assert stored["reported_at"] == "2020-01-07T20:00:00.000000Z"
    read = client.get(f"/v1/events/{stored['event_id']}", params={"min_position": stored["position"]}, headers=READ)
    assert read.json()["reported_at"] == "2020-01-07T20:00:00.000000Z"


def test_reported_at_defaults_to_recorded_at_without_dated_sources(client: TestClient) -> None:
    stored = record(client, valid_fact(reported_at=DROP, sources=[{"url": "https://example.org/undated"}]))
    assert stored["reported_at"] == stored["recorded_at"]
    read = client.get(f"/v1/events/{stored['event_id']}", params={"min_position": stored["position"]}, headers=READ)
    assert read.json()["reported_at"] == stored["recorded_at"]


def test_given_reported_at_wins_over_source_dates(client: TestClient) -> None:
    sources = [{"url": "https://example.org/a", "published_at": "2020-01-07T20:00:00Z"}]
    stored = record(client, valid_fact(reported_at="2020-01-09", sources=sources))
    assert stored["reported_at"] == "2020-01-09T00:00:00.000000Z"
