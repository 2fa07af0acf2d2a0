"""The API refuses what it does not understand: unknown query parameters, positions no
append has reached, more actors than one read may name, instants outside the documented form.

Each refusal is a 422 problem+json naming the parameter, answered at once, writing nothing.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import openapi_document
from service.bootstrap import Container, bootstrap
from service.domain.actors import MAX_ACTORS_PER_QUERY
from service.domain.facts import validate_fact
from service.settings import Settings
from tests.support.answers import assert_problem
from tests.support.facts import valid_fact
from tests.support.tokens import ADMIN, READ, WRITE
from tests.support.writes import record

# One read URL per GET operation of the document that takes query parameters or none,
# with the ids that exist after `recorded`; `{event_id}` is filled in per test.
READS = [
    "/v1/events",
    "/v1/events/{event_id}",
    "/v1/actors",
    "/v1/actors/nato/timeline",
    "/v1/actors/nato/state",
    "/v1/state",
    "/v1/stats",
    "/v1/export?format=csv",
    "/v1/changes",
    "/v1/subscriptions",
    "/healthz",
    "/readyz",
    "/metrics",
]
ACTOR_LISTS = ["/v1/events", "/v1/state", "/v1/stats", "/v1/export?format=csv"]


@pytest.fixture
def recorded(client: TestClient, container: Container) -> dict[str, Any]:
    """A fact naming nato, in the read models."""
    fact = record(client, valid_fact(actors=[{"id": "nato", "role": "speaker"}]))
    assert container.wait_for_position(fact["position"], 10)
    return fact


def _url(template: str, recorded: dict[str, Any]) -> str:
    return template.replace("{event_id}", recorded["event_id"])


def _with(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


# --- unknown query parameters ---------------------------------------------------------------


@pytest.mark.parametrize("query", ["country=KW", "actr=us"])
def test_an_unknown_filter_on_the_list_is_refused_not_ignored(client: TestClient, recorded: dict, query: str) -> None:
    name = query.split("=")[0]
    body = assert_problem(client.get(f"/v1/events?{query}", headers=READ), 422, name)
    assert name in body["detail"]


@pytest.mark.parametrize("template", READS)
def test_every_operation_refuses_a_query_parameter_it_does_not_take(
    client: TestClient, recorded: dict, template: str
) -> None:
    url = _url(template, recorded)
    assert client.get(url, headers=ADMIN).status_code == 200, "the operation does not answer without the typo"
    body = assert_problem(client.get(_with(url, "actr=us&zz=1"), headers=ADMIN), 422, "actr")
    assert {e["field"] for e in body["errors"]} >= {"actr", "zz"}


def test_the_stream_refuses_an_unknown_parameter_before_streaming(client: TestClient) -> None:
    with client.stream("GET", "/v1/stream?afterr=3", headers=READ) as response:
        response.read()
        assert_problem(response, 422, "afterr")


def test_a_write_with_an_unknown_query_parameter_records_nothing(client: TestClient, container: Container) -> None:
    before = container.store.max_position()
    response = client.post("/v1/events?dry_run=true", json=valid_fact(), headers=WRITE)
    assert_problem(response, 422, "dry_run")
    assert container.store.max_position() == before


def test_every_documented_parameter_is_still_taken(client: TestClient, recorded: dict) -> None:
    params = {
        "type": "StatementIssued",
        "actor": "nato",
        "role": "speaker",
        "from": "2020-01-01",
        "to": "2020-01-31",
        "as_of": "2030-01-01",
        "reported_by": "2030-01-01",
        "min_position": recorded["position"],
        "limit": 10,
    }
    documented = {
        p["name"] for p in openapi_document()["paths"]["/v1/events"]["get"]["parameters"] if p["in"] == "query"
    }
    assert set(params) <= documented
    response = client.get("/v1/events", params=params, headers=READ)
    assert response.status_code == 200, response.text
    assert [f["event_id"] for f in response.json()["items"]] == [recorded["event_id"]]


def test_the_web_page_keeps_its_view_in_the_query_string(client: TestClient) -> None:
    # The page's script reads these; the server must serve the page whatever they are.
    response = client.get("/?actors=nato,us&types=StrikeOccurred&date=2020-01-04&fact=x&from=a&to=b")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


# --- min_position -------------------------------------------------------------------------


def test_min_position_beyond_the_log_is_422_at_once_naming_the_head(
    client: TestClient, container: Container, recorded: dict
) -> None:
    started = time.monotonic()
    response = client.get("/v1/events", params={"min_position": 9223372036854775806}, headers=READ)
    elapsed = time.monotonic() - started
    body = assert_problem(response, 422, "min_position")
    assert str(container.store.max_position()) in body["detail"]
    assert elapsed < container.settings.read_wait / 2, f"waited {elapsed:.1f} s before refusing"


def test_min_position_just_past_the_head_is_refused_on_every_read(client: TestClient, container: Container) -> None:
    beyond = container.store.max_position() + 1
    for path in ("/v1/events", "/v1/actors", "/v1/state", "/v1/changes", "/v1/stats", "/v1/export?format=jsonl"):
        assert_problem(client.get(_with(path, f"min_position={beyond}"), headers=READ), 422, "min_position")


def test_a_position_another_process_acknowledged_is_waited_for_not_refused(
    client: TestClient, container: Container, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    container.stop_workers()  # this process's read models stay behind
    monkeypatch.setattr(container.settings, "read_wait", 0.3)
    other = bootstrap(settings, apply_migrations=False)
    try:
        [outcome] = other.store.record_facts([validate_fact(valid_fact())])
    finally:
        other.close()
    response = client.get("/v1/events", params={"min_position": outcome.fact["position"]}, headers=READ)
    assert_problem(response, 503)
    assert response.headers["retry-after"]


# --- actor lists ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ACTOR_LISTS)
def test_more_actors_than_one_read_may_name_is_422_naming_the_limit(client: TestClient, path: str) -> None:
    many = ",".join(f"actor-{i}" for i in range(MAX_ACTORS_PER_QUERY + 1))
    body = assert_problem(client.get(_with(path, f"actor={many}"), headers=READ), 422, "actor")
    assert str(MAX_ACTORS_PER_QUERY) in body["detail"]


@pytest.mark.parametrize("path", ACTOR_LISTS)
def test_as_many_actors_as_the_limit_are_read(client: TestClient, recorded: dict, path: str) -> None:
    many = ",".join(["nato", *(f"actor-{i}" for i in range(MAX_ACTORS_PER_QUERY - 1))])
    assert client.get(_with(path, f"actor={many}"), headers=READ).status_code == 200


def test_the_actor_limit_is_in_the_document() -> None:
    import re

    [actor] = [p for p in openapi_document()["paths"]["/v1/state"]["get"]["parameters"] if p["name"] == "actor"]
    pattern = actor["schema"]["pattern"]
    assert re.match(pattern, ",".join(["nato"] * MAX_ACTORS_PER_QUERY))
    assert not re.match(pattern, ",".join(["nato"] * (MAX_ACTORS_PER_QUERY + 1)))
    assert str(MAX_ACTORS_PER_QUERY) in actor["description"]


# --- instants -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["2011-W01-2T00:05:23+00:00", "2020-01-07x15:00Z", "2020-01-07_15:00:00+03:00"])
def test_an_instant_outside_the_documented_form_is_refused(client: TestClient, container: Container, text: str) -> None:
    before = container.store.max_position()
    assert_problem(client.post("/v1/events", json=valid_fact(occurred_at=text), headers=WRITE), 422, "occurred_at")
    assert container.store.max_position() == before
    assert_problem(client.get("/v1/events", params={"from": text}, headers=READ), 422, "from")


# --- methods a path does not take -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/v1/events", "GET, POST"),
        ("DELETE", "/v1/events", "GET, POST"),
        # `batch` is no event id: the path takes POST only, so the method is what is wrong.
        ("GET", "/v1/events/batch", "POST"),
        ("PUT", "/v1/subscriptions/7d3c9a5e-0000-4000-8000-000000000000", "DELETE, GET, PATCH"),
    ],
)
def test_a_method_the_path_does_not_take_is_405_naming_every_method_it_does(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path, headers=ADMIN)
    assert_problem(response, 405)
    assert response.headers["allow"] == allowed


def test_an_id_that_is_no_id_on_a_path_that_takes_the_method_is_still_422(client: TestClient) -> None:
    assert_problem(client.get("/v1/events/not-an-id", headers=READ), 422)
