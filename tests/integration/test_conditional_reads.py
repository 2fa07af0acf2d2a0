"""Reads carry validators: ETag, 304 for a client that holds the answer, immutable answers
for a settled ``as_of`` (docs/api.md "Caching")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.progress import SETTLE_SECONDS
from service.bootstrap import Container, bootstrap
from service.settings import Settings
from tests.support.answers import assert_problem
from tests.support.reads import iso
from tests.support.subscriptions import FakeResolver
from tests.support.time_travel import statement
from tests.support.tokens import READ
from tests.support.writes import record

IMMUTABLE = "max-age=31536000, immutable"
START = datetime(2026, 3, 1, 12, tzinfo=UTC)


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed(settings: Settings, resolver: FakeResolver, clock: Clock) -> Iterator[Container]:
    container = bootstrap(settings, apply_migrations=False, clock=clock, resolve=resolver)
    try:
        yield container
    finally:
        container.close()


@pytest.fixture
def api(timed: Container) -> Iterator[TestClient]:
    with TestClient(create_app(timed, run_workers=True)) as test_client:
        yield test_client


def speak(client: TestClient, speaker: str = "hungary", **changes: Any) -> dict[str, Any]:
    return record(client, statement(speaker, changes.pop("occurred_at", "2020-01-07"), **changes))


def read(client: TestClient, path: str, tag: str | None = None, headers: dict[str, str] = READ, **params: Any) -> Any:
    sent = {**headers, **({"If-None-Match": tag} if tag is not None else {})}
    return client.get(path, params={k: v for k, v in params.items() if v is not None}, headers=sent)


def reads(event_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every GET read, with parameters that select the recorded fact."""
    return [
        ("/v1/actors/hungary/state", {}),
        ("/v1/actors/hungary/state", {"at": "2020-01-08"}),
        ("/v1/state", {"at": "2020-01-08"}),
        ("/v1/actors/hungary/timeline", {}),
        ("/v1/actors", {}),
        ("/v1/events", {"type": "StatementIssued"}),
        (f"/v1/events/{event_id}", {}),
        ("/v1/stats", {"by": "month"}),
        ("/v1/changes", {}),
        ("/v1/export", {"format": "jsonl"}),
    ]


def test_every_read_answers_304_to_a_client_holding_its_tag_until_a_new_fact(api: TestClient, clock: Clock) -> None:
    first = speak(api)
    tags, bodies = {}, {}
    for path, params in reads(first["event_id"]):
        full = read(api, path, min_position=first["position"], **params)
        assert full.status_code == 200, (path, full.text)
        tag = tags[path, str(params)] = full.headers["ETag"]
        bodies[path, str(params)] = full.content
        assert tag.startswith('W/"'), path
        assert full.headers["Cache-Control"] == "private, no-cache", path
        assert full.headers["Vary"] == "Authorization", path
        held = read(api, path, tag, **params)
        assert held.status_code == 304, (path, held.text)
        assert held.content == b"", path
        assert held.headers["ETag"] == tag, path
    second = speak(api, summary="hungary speaks again", occurred_at="2020-01-06")
    clock.advance(1)  # an export is a snapshot as of the moment of the request
    for path, params in reads(first["event_id"]):
        fresh = read(api, path, tags[path, str(params)], min_position=second["position"], **params)
        assert fresh.status_code == 200, path
        assert fresh.headers["ETag"] != tags[path, str(params)], path
        # The first fact's own answer is the same again: the tag follows the read models, not the answer.
        assert fresh.content != bodies[path, str(params)] or path.startswith("/v1/events/"), path


def test_a_new_fact_changes_the_tag_and_the_full_answer_comes(api: TestClient) -> None:
    first = speak(api)
    before = read(api, "/v1/actors/hungary/state", min_position=first["position"])
    second = speak(api, summary="hungary speaks again")
    after = read(api, "/v1/actors/hungary/state", before.headers["ETag"], min_position=second["position"])
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.json()["event_count"] == before.json()["event_count"] + 1


def test_an_answer_pinned_in_the_settled_past_is_immutable_and_keeps_its_strong_tag(
    api: TestClient, clock: Clock
) -> None:
    stored = speak(api)
    read(api, "/v1/actors/hungary/state", min_position=stored["position"])
    pinned = iso(clock.now + timedelta(seconds=1))
    clock.advance(SETTLE_SECONDS + 2)
    answer = read(api, "/v1/actors/hungary/timeline", as_of=pinned)
    assert answer.headers["Cache-Control"] == f"private, {IMMUTABLE}"
    tag = answer.headers["ETag"]
    assert not tag.startswith("W/")
    later = speak(api, summary="recorded after the moment pinned")
    clock.advance(1)
    held = read(api, "/v1/actors/hungary/timeline", tag, as_of=pinned, min_position=later["position"])
    assert held.status_code == 304
    assert held.headers["ETag"] == tag
    assert held.headers["Cache-Control"] == f"private, {IMMUTABLE}"
    full = read(api, "/v1/actors/hungary/timeline", as_of=pinned)
    assert full.content == answer.content


def test_as_of_now_in_the_future_or_too_recent_is_not_immutable(api: TestClient, clock: Clock) -> None:
    stored = speak(api)
    recent = iso(clock.now)
    clock.advance(SETTLE_SECONDS / 2)
    for as_of in (recent, iso(clock.now), iso(clock.now + timedelta(days=1)), None):
        answer = read(api, "/v1/actors/hungary/timeline", as_of=as_of, min_position=stored["position"])
        assert answer.status_code == 200
        assert "immutable" not in answer.headers["Cache-Control"], as_of
        assert answer.headers["ETag"].startswith('W/"'), as_of


def test_state_at_the_clock_changes_its_tag_when_a_future_fact_comes_due(api: TestClient, clock: Clock) -> None:
    due = iso(clock.now + timedelta(hours=1))
    stored = speak(api, occurred_at=due)
    before = read(api, "/v1/actors/hungary/state", min_position=stored["position"])
    assert before.json()["event_count"] == 0
    clock.advance(1800)
    assert read(api, "/v1/actors/hungary/state", before.headers["ETag"]).status_code == 304
    clock.advance(3600)
    after = read(api, "/v1/actors/hungary/state", before.headers["ETag"])
    assert after.status_code == 200
    assert after.json()["event_count"] == 1


def test_an_as_of_is_immutable_only_once_the_read_models_have_applied_the_log(timed: Container, clock: Clock) -> None:
    # No projection worker at first: the log holds a fact the read models have not applied.
    with TestClient(create_app(timed)) as lagging:
        stored = speak(lagging)
        clock.advance(SETTLE_SECONDS * 2)
        answer = read(lagging, "/v1/events", as_of=iso(START))
        assert answer.status_code == 200
        assert answer.json()["items"] == []
        assert "immutable" not in answer.headers["Cache-Control"]
        timed.start_workers()
        assert timed.wait_for_position(stored["position"], 10)
        caught_up = read(lagging, "/v1/events", as_of=iso(START))
        assert [item["event_id"] for item in caught_up.json()["items"]] == [stored["event_id"]]
        assert caught_up.headers["Cache-Control"] == f"private, {IMMUTABLE}"


def test_open_reads_are_public_and_do_not_vary_on_authorization(
    database_url: str, resolver: FakeResolver, clock: Clock
) -> None:
    settings = Settings(database_url=database_url, api_tokens="", postgres_pool_size=2, _env_file=None)
    container = bootstrap(settings, apply_migrations=False, clock=clock, resolve=resolver)
    try:
        with TestClient(create_app(container, run_workers=True)) as open_api:
            clock.advance(SETTLE_SECONDS + 1)
            settled = read(open_api, "/v1/events", headers={}, as_of=iso(START))
            assert settled.headers["Cache-Control"] == f"public, {IMMUTABLE}"
            current = read(open_api, "/v1/events", headers={})
            assert current.headers["Cache-Control"] == "no-cache"
            assert "Vary" not in current.headers
    finally:
        container.close()


def test_a_304_still_needs_a_valid_token(api: TestClient) -> None:
    stored = speak(api)
    tag = read(api, "/v1/actors/hungary/state", min_position=stored["position"]).headers["ETag"]
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        refused = read(api, "/v1/actors/hungary/state", tag, headers=headers)
        assert_problem(refused, 401)
        assert "ETag" not in refused.headers


def test_if_none_match_star_answers_304_for_an_answer_and_404_for_none(api: TestClient) -> None:
    stored = speak(api)
    assert read(api, "/v1/actors/hungary/state", "*", min_position=stored["position"]).status_code == 304
    assert_problem(read(api, "/v1/actors/nobody-at-all/state", "*"), 404)


@pytest.mark.parametrize(
    "header",
    ['"unterminated', "W/", "no quotes", ",,,", '"a" "b"', 'W/W/"x"', "\u00e9\u00e9", "x" * 10_000, '*, "a"'],
)
def test_a_malformed_if_none_match_gets_the_full_answer(api: TestClient, header: str) -> None:
    stored = speak(api)
    answer = api.get(
        "/v1/actors/hungary/timeline",
        params={"min_position": stored["position"]},
        headers={**READ, "If-None-Match": header.encode()},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"]


def test_an_unknown_actor_is_404_whatever_tag_is_sent(api: TestClient) -> None:
    tag = read(api, "/v1/actors").headers["ETag"]
    assert_problem(read(api, "/v1/actors/nobody-at-all/timeline", tag), 404)


def test_a_304_is_counted_and_logged_under_its_route(api: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    stored = speak(api)
    tag = read(api, "/v1/actors/hungary/state", min_position=stored["position"]).headers["ETag"]
    with caplog.at_level("INFO", logger="service.requests"):
        assert read(api, "/v1/actors/hungary/state", tag).status_code == 304
    logged = [r for r in caplog.records if r.name == "service.requests" and getattr(r, "status", None) == 304]
    assert [getattr(r, "route", None) for r in logged] == ["/v1/actors/{actor_id}/state"]
    metrics = api.get("/metrics").text
    assert 'route="/v1/actors/{actor_id}/state",status="304"' in metrics
