"""Read-your-writes: ``min_position`` makes a write visible to the next read, or answers 503
with Retry-After when it cannot in time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.bootstrap import bootstrap
from service.settings import Settings
from tests.support.answers import assert_problem
from tests.support.facts import valid_fact
from tests.support.tokens import READ
from tests.support.writes import new_id, post_batch, record

# --- read-your-writes ---------------------------------------------------------------------


def test_timeline_with_min_position_includes_the_fact_just_recorded(client: TestClient) -> None:
    stored = record(client, valid_fact(actors=[{"id": "hungary", "role": "speaker"}]))
    response = client.get("/v1/actors/hungary/timeline", params={"min_position": stored["position"]}, headers=READ)
    assert response.status_code == 200, response.text
    assert [i["event_id"] for i in response.json()["items"]] == [stored["event_id"]]


def test_fact_read_with_min_position_right_after_recording(client: TestClient) -> None:
    stored = record(client, valid_fact())
    response = client.get(f"/v1/events/{stored['event_id']}", params={"min_position": stored["position"]}, headers=READ)
    assert response.status_code == 200, response.text


def test_state_with_min_position_counts_the_fact_just_recorded(client: TestClient) -> None:
    stored = record(client, valid_fact(actors=[{"id": "hungary", "role": "speaker"}]))
    response = client.get("/v1/actors/hungary/state", params={"min_position": stored["position"]}, headers=READ)
    assert response.status_code == 200, response.text
    assert response.json()["event_count"] == 1
    assert response.json()["statements"] == 1


def test_timeline_with_min_position_includes_a_whole_batch(client: TestClient) -> None:
    facts = [valid_fact(event_id=new_id(), actors=[{"id": "hungary", "role": "speaker"}]) for _ in range(5)]
    items = post_batch(client, facts).json()["items"]
    response = client.get("/v1/actors/hungary/timeline", params={"min_position": items[-1]["position"]}, headers=READ)
    assert {i["event_id"] for i in response.json()["items"]} == {f["event_id"] for f in facts}


@pytest.fixture
def impatient_client(settings: Settings) -> Iterator[TestClient]:
    """The API with read_wait 0.2 s and no projection running: the read models stay behind."""
    container = bootstrap(settings.model_copy(update={"read_wait": 0.2}))
    try:
        with TestClient(create_app(container, run_workers=False)) as test_client:
            yield test_client
    finally:
        container.close()


@pytest.mark.parametrize(
    "path", ["/v1/events", "/v1/actors", "/v1/changes", "/v1/state", "/v1/actors/hungary/timeline"]
)
def test_min_position_not_reached_in_time_is_503_with_retry_after(impatient_client: TestClient, path: str) -> None:
    # A position the log holds (so it is worth waiting for) that the read models have not reached.
    fact = record(impatient_client, valid_fact(actors=[{"id": "hungary", "role": "speaker"}]))
    started = time.monotonic()
    response = impatient_client.get(path, params={"min_position": fact["position"]}, headers=READ)
    assert_problem(response, 503)
    assert response.headers.get("retry-after", "").isdigit()
    assert time.monotonic() - started < 3, "the read waited longer than read_wait"
