"""``GET /v1/stats``: facts and fatalities per day, ISO week and month, under the filters and time axes."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.domain.stats import MAX_BUCKETS, TooManyBucketsError, bucket_counts
from tests.support.answers import assert_problem
from tests.support.facts import valid_fact
from tests.support.reads import just_before
from tests.support.tokens import READ
from tests.support.writes import corrected, record, retract

# --- the roll-up alone ------------------------------------------------------------------


def test_days_roll_up_into_monday_weeks_and_calendar_months_with_empty_buckets() -> None:
    daily = [
        (date(2020, 1, 3), "StrikeOccurred", 1, 10),  # a Friday
        (date(2020, 1, 5), "StatementIssued", 2, 0),  # the Sunday of the same ISO week
        (date(2020, 1, 6), "StatementIssued", 3, 0),  # Monday: the next week
        (date(2020, 3, 1), "StrikeOccurred", 1, 4),
    ]
    weeks, total = bucket_counts(daily, "week")
    assert weeks[0]["start"] == "2019-12-30T00:00:00.000000Z" and weeks[0]["end"] == "2020-01-06T00:00:00.000000Z"
    assert (weeks[0]["count"], weeks[0]["fatalities"]) == (3, 10)
    assert weeks[0]["types"] == {"StatementIssued": 2, "StrikeOccurred": 1}
    assert weeks[1]["count"] == 3
    assert weeks[2]["count"] == 0 and weeks[2]["types"] == {}
    assert total == {"count": 7, "fatalities": 14, "types": {"StatementIssued": 5, "StrikeOccurred": 2}}

    months, _ = bucket_counts(daily, "month")
    assert [(m["start"][:10], m["count"]) for m in months] == [("2020-01-01", 6), ("2020-02-01", 0), ("2020-03-01", 1)]
    assert months[-1]["end"] == "2020-04-01T00:00:00.000000Z"


def test_bounds_widen_the_range_and_too_many_buckets_is_an_error() -> None:
    days, total = bucket_counts([], "day", date(2020, 1, 1), date(2020, 1, 3))
    assert [d["count"] for d in days] == [0, 0, 0] and total["count"] == 0
    assert bucket_counts([], "day") == ([], {"count": 0, "fatalities": 0, "types": {}})
    with pytest.raises(TooManyBucketsError):
        bucket_counts([], "day", date(2000, 1, 1), date(2000, 1, 1).replace(year=2000 + MAX_BUCKETS // 365 + 1))
    last, _ = bucket_counts([(date(9999, 12, 31), "StrikeOccurred", 1, 0)], "month")
    assert last == [
        {
            "start": "9999-12-01T00:00:00.000000Z",
            "end": None,
            "count": 1,
            "fatalities": 0,
            "types": {"StrikeOccurred": 1},
        }
    ]


# --- over HTTP, on both backends ------------------------------------------------------------


def stats(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/stats", params=params, headers=READ)
    assert response.status_code == 200, response.text
    return response.json()


def strike(occurred_at: str, fatalities: int | None, perpetrator: str = "us") -> dict[str, Any]:
    return valid_fact(
        "StrikeOccurred",
        occurred_at=occurred_at,
        reported_at="2020-01-04T12:00:00Z",
        fatalities=fatalities,
        actors=[{"id": perpetrator, "role": "perpetrator"}, {"id": "iran", "role": "target"}],
    )


def test_counts_and_fatalities_per_day_match_the_facts(client: TestClient) -> None:
    record(client, strike("2020-01-03T00:30:00Z", 10))
    record(client, strike("2020-01-03T23:59:00+00:00", None))
    record(client, strike("2020-01-04T01:00:00+03:00", 2))  # 2020-01-03 in UTC
    last = record(client, valid_fact(occurred_at="2020-01-05"))
    body = stats(client, by="day", min_position=last["position"])
    assert [(b["start"][:10], b["count"], b["fatalities"]) for b in body["buckets"]] == [
        ("2020-01-03", 3, 12),
        ("2020-01-04", 0, 0),
        ("2020-01-05", 1, 0),
    ]
    assert body["total"] == {"count": 4, "fatalities": 12, "types": {"StatementIssued": 1, "StrikeOccurred": 3}}

    only_us = stats(client, by="month", actor="us", type="StrikeOccurred")
    assert only_us["buckets"] == [
        {
            "start": "2020-01-01T00:00:00.000000Z",
            "end": "2020-02-01T00:00:00.000000Z",
            "count": 3,
            "fatalities": 12,
            "types": {"StrikeOccurred": 3},
        }
    ]
    window = stats(client, by="day", **{"from": "2020-01-02", "to": "2020-01-04"})
    assert [(b["start"][:10], b["count"]) for b in window["buckets"]] == [
        ("2020-01-02", 0),
        ("2020-01-03", 3),
        ("2020-01-04", 0),
    ]


def test_days_before_1970_are_counted_on_their_own_day(client: TestClient) -> None:
    # Integer division truncates towards zero on both backends: a naive day number would put
    # 1969-12-31 23:00 on 1970-01-01.
    record(client, strike("1969-12-31T23:00:00Z", 1))
    last = record(client, strike("1970-01-01T01:00:00Z", 2))
    body = stats(client, by="day", min_position=last["position"])
    assert [(b["start"][:10], b["count"], b["fatalities"]) for b in body["buckets"]] == [
        ("1969-12-31", 1, 1),
        ("1970-01-01", 1, 2),
    ]


def test_stats_follow_corrections_retractions_and_the_time_axes(client: TestClient) -> None:
    first = record(client, strike("2020-01-03", 10))
    second = record(client, strike("2020-01-03", 5))
    fixed = corrected(client, first["event_id"], {"fatalities": 12}, reported_at="2020-02-01T00:00:00Z")
    gone = retract(client, second["event_id"])
    assert gone.status_code == 201
    now = stats(client, by="day", min_position=gone.json()["change_position"])
    assert now["total"]["count"] == 1 and now["total"]["fatalities"] == 12

    revisions = client.get(f"/v1/events/{first['event_id']}", headers=READ).json()["revisions"]
    before = stats(client, by="day", as_of=just_before(revisions[1]["recorded_at"]))
    assert before["total"]["count"] == 2 and before["total"]["fatalities"] == 15
    assert fixed["revision"] == 2
    # By the end of January the correction (published in February) and the retraction (published
    # when it was recorded) were not public yet: both strikes count, at their first figures.
    published = stats(client, by="day", reported_by="2020-01-31")
    assert published["total"]["count"] == 2 and published["total"]["fatalities"] == 15


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"by": "year"}, "by"),
        ({"by": "day", "from": "1900-01-01", "to": "2020-01-01"}, "by"),
        ({"from": "2020-01-01T00:00:00"}, "from"),
        ({"type": "Rumour"}, "type"),
        ({"actor": "NATO!"}, "actor"),
        ({"as_of": "soon"}, "as_of"),
    ],
)
def test_bad_stats_query_is_422_problem(client: TestClient, params: dict[str, str], field: str) -> None:
    assert_problem(client.get("/v1/stats", params=params, headers=READ), 422, field)
