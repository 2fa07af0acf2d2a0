"""The time axes on facts recorded late and on the demo data: occurred time orders a timeline,
``reported_by`` shows what was public at a time. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.reads import get_ok, just_before, listed, listed_ids, state, timeline_ids, world
from tests.support.time_travel import statement
from tests.support.writes import record

# --- late-recorded facts with early occurred_at ------------------------------------------------


def test_a_late_recorded_early_fact_is_ordered_by_occurred_time(client: TestClient) -> None:
    fifth = record(client, statement("late-speaker", "2020-01-05"))
    seventh_a = record(client, statement("late-speaker", "2020-01-07", summary="first on the 7th"))
    seventh_b = record(client, statement("late-speaker", "2020-01-07", summary="second on the 7th"))
    late = record(client, statement("late-speaker", "2020-01-02"))
    assert late["position"] > seventh_b["position"] > seventh_a["position"] > fifth["position"]
    wait = late["position"]

    expected = [late["event_id"], fifth["event_id"], seventh_a["event_id"], seventh_b["event_id"]]
    assert listed_ids(client, min_position=wait) == expected
    assert timeline_ids(client, "late-speaker", min_position=wait) == expected
    # Paging keeps the order.
    first_page = get_ok(client, "/v1/events", limit=2, min_position=wait)
    second_page = get_ok(client, "/v1/events", limit=2, cursor=first_page["next_cursor"], min_position=wait)
    assert [i["event_id"] for i in first_page["items"] + second_page["items"]] == expected

    before = just_before(late["recorded_at"])
    assert state(client, "late-speaker", at="2020-01-03", min_position=wait)["statements"] == 1
    assert state(client, "late-speaker", at="2020-01-03", min_position=wait, as_of=before)["statements"] == 0
    at_recording = {"min_position": wait, "as_of": late["recorded_at"]}
    assert state(client, "late-speaker", at="2020-01-03", **at_recording)["statements"] == 1
    assert listed_ids(client, min_position=wait, as_of=before) == expected[1:]
    assert timeline_ids(client, "late-speaker", min_position=wait, as_of=before) == expected[1:]
    assert "late-speaker" not in world(client, at="2020-01-03", min_position=wait, as_of=before)
    assert world(client, at="2020-01-03", min_position=wait)["late-speaker"]["statements"] == 1


# --- reported_by on the demo data --------------------------------------------------------------


def demo_statements(client: TestClient, reported_by: str) -> list[str]:
    items = listed(client, type="StatementIssued", reported_by=reported_by)
    return [i["summary"] for i in items]


def has(summaries: list[str], words: str) -> bool:
    return any(words in s for s in summaries)


def test_reported_by_shows_what_was_public_before_the_clarification(demo_client: TestClient) -> None:
    evening = demo_statements(demo_client, "2020-01-06T21:00:00Z")
    assert has(evening, "letter tells Iraq coalition will reposition")  # Seely, 18:30
    assert has(evening, "Media outlets report Seely letter")  # the withdrawal reading, 19:00
    assert not has(evening, "Esper")  # the clarification, 23:00
    next_day = demo_statements(demo_client, "2020-01-07")
    assert has(next_day, "Esper: no plans for American troops to leave Iraq")
    assert has(next_day, "letter tells Iraq") and has(next_day, "Media outlets report")


def test_reported_by_changes_the_us_statement_count(demo_client: TestClient) -> None:
    # statements count facts where us is speaker or on_behalf_of: the Seely letter, then Esper.
    assert state(demo_client, "us", reported_by="2020-01-06T21:00:00Z")["statements"] == 1
    assert state(demo_client, "us", reported_by="2020-01-07")["statements"] == 2
    assert state(demo_client, "us")["statements"] == 2
    evening = world(demo_client, reported_by="2020-01-06T21:00:00Z")
    assert "mark-esper" not in evening and "william-seely" in evening
    assert "mark-esper" in world(demo_client, reported_by="2020-01-07")
