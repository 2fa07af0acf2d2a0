"""Bad input over HTTP: every refusal is a 4xx problem+json naming the field, and writes nothing.

Also the shapes a user sees in good answers: UTC ``Z`` times with microseconds,
date-only facts as the start of their day, the ``reported_at`` default.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container
from tests.support.answers import assert_problem
from tests.support.bad_facts import BAD_FACTS
from tests.support.facts import DROP, TYPE_PARTS, valid_fact
from tests.support.tokens import ADMIN, READ, WRITE
from tests.support.writes import assert_refused_and_nothing_written, post_fact, record

UTC_MICROS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")

# --- valid facts, one per type (the type table of docs/api.md) -------------------------------


# --- assertions ------------------------------------------------------------------------


# --- POST /v1/events: bad facts ----------------------------------------------------------


# One of each kind of refusal: a type, a role, a reference, a length, a URL, a body that is not an object.
THROUGH_HTTP = {
    "unknown-type", "strike-without-perpetrator", "country-xx", "summary-too-long", "source-javascript-url",
    "array-instead-of-object", "string-instead-of-object",
}


@pytest.mark.parametrize(("body", "fields"), [case for case in BAD_FACTS if case.id in THROUGH_HTTP])
def test_bad_fact_is_refused_with_422_naming_the_field(
    client: TestClient, container: Container, body: Any, fields: tuple[str, ...]
) -> None:
    assert_refused_and_nothing_written(client, container, body, 422, *fields)


@pytest.mark.parametrize("type_", sorted(TYPE_PARTS))
def test_the_valid_fact_of_each_type_is_recorded(client: TestClient, type_: str) -> None:
    # The baseline the bad cases above depart from must itself be good.
    stored = record(client, valid_fact(type_))
    assert stored["type"] == type_
    assert stored["revision"] == 1 and stored["status"] == "active"


def test_internal_field_name_from_underscore_is_not_accepted(client: TestClient, container: Container) -> None:
    # The contract's field is "from"; "from_" is the Python attribute behind it, not an API field.
    body = valid_fact("PersonnelRepositioned", **{"from": DROP, "from_": {"name": "Iraq", "country": "IQ"}})
    assert_refused_and_nothing_written(client, container, body, 422, "from_")


def test_malformed_json_is_400_problem(client: TestClient, container: Container) -> None:
    before = container.store.max_position()
    response = client.post(
        "/v1/events", content=b'{"type": "StatementIssued",', headers={**WRITE, "content-type": "application/json"}
    )
    assert_problem(response, 400)
    assert container.store.max_position() == before


def fact_text(**raw: str) -> str:
    """A valid fact as JSON text, with ``raw`` fields spliced in as they are (not encoded)."""
    text = json.dumps(valid_fact())
    for name, value in raw.items():
        text = text[:-1] + f', "{name}": {value}' + "}"
    return text


NOT_STRICT_JSON = [
    pytest.param("/v1/events", fact_text(summary='"a second summary"'), "duplicate key 'summary'", id="duplicate-key"),
    pytest.param(
        "/v1/events", fact_text(location='{"name": "Iraq", "country": "IQ", "country": "KW"}'),
        "duplicate key 'country'", id="nested-duplicate-key",
    ),
    pytest.param("/v1/events", fact_text(personnel="NaN"), "NaN", id="nan"),
    pytest.param("/v1/events", fact_text(personnel="-Infinity"), "-Infinity", id="minus-infinity"),
    pytest.param(
        "/v1/events/batch", '{"events": [' + fact_text() + ", " + fact_text(text='"x"') + "]}",
        "duplicate key 'text'", id="batch-duplicate-key",
    ),
    pytest.param("/v1/actors/nato", '{"name": "NATO", "name": "OTAN"}', "duplicate key 'name'", id="actor-duplicate"),
]


@pytest.mark.parametrize(("path", "text", "reason"), NOT_STRICT_JSON)
def test_json_with_duplicate_keys_or_nan_is_400_and_writes_nothing(
    client: TestClient, container: Container, path: str, text: str, reason: str
) -> None:
    before = container.store.max_position()
    method = client.put if path.startswith("/v1/actors/") else client.post
    response = method(path, content=text.encode(), headers={**WRITE, "content-type": "application/json"})
    problem = assert_problem(response, 400, "body")
    assert reason in problem["detail"], problem
    assert container.store.max_position() == before


def test_a_body_without_content_type_is_held_to_strict_json_too(client: TestClient, container: Container) -> None:
    before = container.store.max_position()
    response = client.post("/v1/events", content=fact_text(summary='"again"').encode(), headers=WRITE)
    assert_problem(response, 400, "body")
    assert container.store.max_position() == before


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_400_not_500(client: TestClient, container: Container, depth: int) -> None:
    before = container.store.max_position()
    body = '{"events": ' + "[" * depth + "]" * depth + "}"
    headers = {**WRITE, "content-type": "application/json"}
    response = client.post("/v1/events/batch", content=body.encode(), headers=headers)
    assert_problem(response, 400, "body")
    assert container.store.max_position() == before


def test_body_over_64_kib_is_413_problem(client: TestClient, container: Container) -> None:
    quote = "q" * 20_000
    body = valid_fact(sources=[{"url": f"https://example.org/{i}", "quote": quote} for i in range(4)])
    assert len(str(body)) > 64 * 1024
    assert_refused_and_nothing_written(client, container, body, 413)


def test_batch_fact_over_64_kib_of_canonical_json_is_413_naming_its_index(
    client: TestClient, container: Container
) -> None:
    quote = "q" * 20_000
    big = valid_fact(sources=[{"url": f"https://example.org/{i}", "quote": quote} for i in range(4)])
    before = container.store.max_position()
    response = client.post("/v1/events/batch", json={"events": [valid_fact(), big, valid_fact()]}, headers=WRITE)
    assert_problem(response, 413, "events.1")
    assert container.store.max_position() == before


def test_batch_body_over_16_mib_is_413_problem(client: TestClient, container: Container) -> None:
    before = container.store.max_position()
    response = client.post(
        "/v1/events/batch",
        content=b" " * (16 * 1024 * 1024 + 1),
        headers={**WRITE, "content-type": "application/json"},
    )
    assert_problem(response, 413)
    assert container.store.max_position() == before


# Accepted input must stay readable: a value the service takes must not break what follows.
# When it does, the projection retries in a background thread, logging tracebacks; the tests
# stop the workers before asserting, so that the failure report is not formatted while that
# thread formats its own (CPython 3.11 can crash pytest with "AST constructor recursion
# depth mismatch" when both run at once).


def test_fact_before_year_1000_is_refused_or_answered_with_a_four_digit_year(
    client: TestClient, container: Container
) -> None:
    response = post_fact(client, valid_fact(occurred_at="0999-01-01"))
    container.stop_workers()
    if response.status_code != 201:
        assert_problem(response, 422, "occurred_at")
        return
    assert response.json()["occurred_at"] == "0999-01-01T00:00:00.000000Z"


def test_fact_before_year_1000_does_not_stall_later_reads(client: TestClient, container: Container) -> None:
    early = post_fact(client, valid_fact(occurred_at="0999-01-01"))
    if early.status_code != 201:
        container.stop_workers()
        assert_problem(early, 422, "occurred_at")
        return
    later = record(client, valid_fact(summary="a later, ordinary fact"))
    read = client.get("/v1/events", params={"min_position": later["position"]}, headers=READ)
    container.stop_workers()
    assert read.status_code == 200, read.text
    assert {early.json()["event_id"], later["event_id"]} <= {i["event_id"] for i in read.json()["items"]}


# --- query parameters -------------------------------------------------------------------

BAD_LIST_QUERIES = [
    pytest.param({"limit": 0}, "limit", id="limit-0"),
    pytest.param({"limit": 1001}, "limit", id="limit-1001"),
    pytest.param({"limit": "ten"}, "limit", id="limit-not-a-number"),
    pytest.param({"type": "EarthquakeOccurred"}, "type", id="unknown-type"),
    pytest.param({"type": "StrikeOccurred,Nope"}, "type", id="one-unknown-type-in-list"),
    pytest.param({"role": "pilot"}, "role", id="unknown-role"),
    pytest.param({"actor": "NATO"}, "actor", id="actor-not-a-slug"),
    pytest.param({"from": "2020-13-01"}, "from", id="from-month-13"),
    pytest.param({"from": "January"}, "from", id="from-not-a-date"),
    pytest.param({"to": "2020-01-07T10:00:00"}, "to", id="to-without-offset"),
    pytest.param({"as_of": "2020-01-07T10:00:00"}, "as_of", id="as-of-without-offset"),
    pytest.param({"reported_by": "2020-01-07T10:00:00"}, "reported_by", id="reported-by-without-offset"),
    pytest.param({"from": "2020-02-01", "to": "2020-01-01"}, "to", id="to-before-from"),
    pytest.param({"cursor": "garbage!!"}, "cursor", id="cursor-garbage"),
    pytest.param({"cursor": "bm90IGpzb24"}, "cursor", id="cursor-base64-of-text"),
    pytest.param({"min_position": -1}, "min_position", id="min-position-negative"),
]


@pytest.mark.parametrize(("params", "field"), BAD_LIST_QUERIES)
def test_bad_list_query_is_422_naming_the_parameter(client: TestClient, params: dict, field: str) -> None:
    assert_problem(client.get("/v1/events", params=params, headers=READ), 422, field)


# Cursors are opaque, but a client can still send one it made up: well-formed base64 JSON
# of the right length with the wrong kinds of values. That is bad input too, never a 500.
FORGED_CURSORS = [
    pytest.param("WyJ4IiwieSJd", id="two-strings"),  # ["x","y"]
    pytest.param("WyIyMDIwIix7ImEiOjF9XQ", id="string-and-object"),  # ["2020",{"a":1}]
    pytest.param("WzEuNSwiYSJd", id="float-and-string"),  # [1.5,"a"]
]


def answering_500s(client: TestClient) -> TestClient:
    """The same running app, answering a server error as the 500 a user would get."""
    return TestClient(client.app, raise_server_exceptions=False)


@pytest.mark.parametrize("cursor", FORGED_CURSORS)
@pytest.mark.parametrize("path", ["/v1/events", "/v1/actors/nato/timeline"])
def test_forged_cursor_is_4xx_not_500(client: TestClient, path: str, cursor: str) -> None:
    position = record(client, valid_fact(actors=[{"id": "nato", "role": "speaker"}]))["position"]
    params = {"cursor": cursor, "min_position": position}
    response = answering_500s(client).get(path, params=params, headers=READ)
    assert_problem(response, 422, "cursor")


@pytest.mark.parametrize("cursor", ["W251bGxd", "WzEuNV0"], ids=["null", "float"])  # [null], [1.5]
def test_forged_actor_list_cursor_is_4xx_not_500(client: TestClient, cursor: str) -> None:
    position = record(client, valid_fact())["position"]
    params = {"cursor": cursor, "min_position": position}
    response = answering_500s(client).get("/v1/actors", params=params, headers=READ)
    assert_problem(response, 422, "cursor")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        pytest.param("/v1/actors/nato/state", {"at": "yesterday"}, "at", id="state-at-yesterday"),
        pytest.param("/v1/actors/nato/state", {"at": "2020-01-07T10:00:00"}, "at", id="state-at-naive"),
        pytest.param("/v1/actors/nato/state", {"as_of": "2020-02-30"}, "as_of", id="state-as-of-feb-30"),
        pytest.param("/v1/actors/nato/timeline", {"limit": 0}, "limit", id="timeline-limit-0"),
        pytest.param("/v1/actors/nato/timeline", {"from": "2020-13-01"}, "from", id="timeline-bad-from"),
        pytest.param("/v1/actors/BAD_ID/timeline", {}, "actor_id", id="timeline-uppercase-id"),
        pytest.param("/v1/actors/BAD_ID/state", {}, "actor_id", id="state-uppercase-id"),
        pytest.param("/v1/events/not-a-uuid", {}, "event_id", id="event-not-a-uuid"),
        pytest.param("/v1/changes", {"after": -1}, "after", id="changes-after-negative"),
        pytest.param("/v1/actors", {"limit": 1001}, "limit", id="actors-limit-1001"),
    ],
)
def test_bad_read_parameter_is_422_naming_it(client: TestClient, path: str, params: dict, field: str) -> None:
    record(client, valid_fact(actors=[{"id": "nato", "role": "speaker"}]))
    assert_problem(client.get(path, params=params, headers=READ), 422, field)


def test_unknown_event_id_is_404_problem(client: TestClient) -> None:
    assert_problem(client.get(f"/v1/events/{uuid.uuid4()}", headers=READ), 404)


@pytest.mark.parametrize("view", ["timeline", "state"])
def test_actor_nobody_names_is_404_problem(client: TestClient, view: str) -> None:
    position = record(client, valid_fact())["position"]
    response = client.get(f"/v1/actors/nobody/{view}", params={"min_position": position}, headers=READ)
    assert_problem(response, 404)


def test_actor_named_only_by_a_later_fact_has_an_empty_state(client: TestClient) -> None:
    fact = record(client, valid_fact(occurred_at="2020-01-07", actors=[{"id": "romania", "role": "speaker"}]))
    response = client.get(
        "/v1/actors/romania/state", params={"at": "2020-01-01", "min_position": fact["position"]}, headers=READ
    )
    assert response.status_code == 200, response.text
    state = response.json()
    assert state["event_count"] == 0
    assert state["last_event"] is None
    assert state["statements"] == 0


def test_actor_named_only_by_a_later_fact_has_an_empty_timeline(client: TestClient) -> None:
    fact = record(client, valid_fact(occurred_at="2020-01-07", actors=[{"id": "romania", "role": "speaker"}]))
    response = client.get(
        "/v1/actors/romania/timeline", params={"to": "2020-01-01", "min_position": fact["position"]}, headers=READ
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


# --- PUT /v1/actors/{id} ----------------------------------------------------------------

BAD_PROFILES = [
    pytest.param("nato", {"name": "NATO", "colour": "blue"}, "colour", id="unknown-field"),
    pytest.param("nato", {"name": "NATO", "kind": "country"}, "kind", id="kind-not-in-list"),
    pytest.param("nato", {"name": "NATO", "parent": "nato"}, "parent", id="own-parent"),
    pytest.param("nato", {"name": "NATO", "parent": "Not A Slug"}, "parent", id="parent-not-a-slug"),
    pytest.param("nato", {"name": ""}, "name", id="empty-name"),
    pytest.param("nato", {"name": "   "}, "name", id="blank-name"),
    pytest.param("nato", {"kind": "alliance"}, "name", id="missing-name"),
    pytest.param("nato", {"name": "NATO", "aliases": [""]}, "aliases", id="empty-alias"),
    pytest.param("nato", {"name": "NATO", "aliases": "North Atlantic"}, "aliases", id="aliases-not-a-list"),
]


@pytest.mark.parametrize(("actor_id", "body", "field"), BAD_PROFILES)
def test_bad_actor_profile_is_422_and_changes_nothing(
    client: TestClient, container: Container, actor_id: str, body: dict, field: str
) -> None:
    saved = client.put("/v1/actors/nato", json={"name": "NATO", "kind": "alliance"}, headers=WRITE)
    assert saved.status_code == 200, saved.text
    before = container.store.max_position()
    assert_problem(client.put(f"/v1/actors/{actor_id}", json=body, headers=WRITE), 422, field)
    assert container.store.max_position() == before
    actors = client.get("/v1/actors", params={"min_position": before}, headers=READ).json()["items"]
    nato = next(a for a in actors if a["id"] == "nato")
    assert (nato["name"], nato["kind"], nato["parent"]) == ("NATO", "alliance", None)


def test_actor_profile_for_a_bad_id_is_422(client: TestClient, container: Container) -> None:
    before = container.store.max_position()
    assert_problem(client.put("/v1/actors/NATO", json={"name": "NATO"}, headers=WRITE), 422, "actor_id")
    assert container.store.max_position() == before


def test_actor_name_with_nul_is_refused_or_stays_readable(client: TestClient, container: Container) -> None:
    # PostgreSQL text cannot hold NUL: the service must refuse it or store it some other way,
    # not accept it and then fail to project it (which stalls every later read).
    response = client.put("/v1/actors/nul-actor", json={"name": "a\u0000b"}, headers=WRITE)
    if response.status_code != 200:
        container.stop_workers()
        assert_problem(response, 422, "name")
        return
    later = record(client, valid_fact(summary="a later, ordinary fact"))
    read = client.get("/v1/actors", params={"min_position": later["position"]}, headers=READ)
    container.stop_workers()  # see the note above the year-1000 tests
    assert read.status_code == 200, read.text
    assert "nul-actor" in {a["id"] for a in read.json()["items"]}


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
    response = client.get(
        f"/v1/events/{stored['event_id']}", params={"min_position": stored["position"]}, headers=READ
    )
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


def test_positions_beyond_64_bits_and_non_integer_replays_are_refused(client, container) -> None:  # noqa: ANN001
    """Found by fuzzing: these were 500s (integer overflow) or silently accepted (false as 0)."""


    container.dispatcher.stop()  # nothing is delivered; only the replay input is checked
    container.subscriptions.allow_hosts = "127.0.0.1"

    assert client.get("/v1/changes", params={"after": 2**63}, headers=ADMIN).status_code == 422
    assert client.get("/v1/events", params={"min_position": 2**63}, headers=ADMIN).status_code == 422
    created = client.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/x"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    sub = created.json()["id"]
    assert client.post(f"/v1/subscriptions/{sub}/replay", json={"after": 0}, headers=ADMIN).status_code == 200
    for body in ({"after": 2**63}, {"after": False}, {"after": "3"}, {"after": 1.0}):
        assert client.post(f"/v1/subscriptions/{sub}/replay", json=body, headers=ADMIN).status_code == 422


def test_a_body_that_is_not_utf8_is_malformed_json(client) -> None:  # noqa: ANN001


    response = client.post("/v1/events", content=b"\xff", headers={**WRITE, "content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "body"
