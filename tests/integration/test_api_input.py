"""Bad facts over HTTP: every refusal is a 4xx problem+json naming the field, and writes nothing.

Also bodies that are not strict JSON or too large, and accepted input that must stay readable.
Read parameters, actor profiles and the shapes of good answers have files of their own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container
from tests.support.answers import assert_problem
from tests.support.bad_facts import BAD_FACTS
from tests.support.facts import DROP, TYPE_PARTS, valid_fact
from tests.support.tokens import ADMIN, READ, WRITE
from tests.support.writes import assert_refused_and_nothing_written, post_fact, record

# --- valid facts, one per type (the type table of docs/api.md) -------------------------------


# --- assertions ------------------------------------------------------------------------


# --- POST /v1/events: bad facts ----------------------------------------------------------


# One of each kind of refusal: a type, a role, a reference, a length, a URL, a body that is not an object.
THROUGH_HTTP = {
    "unknown-type",
    "strike-without-perpetrator",
    "country-xx",
    "summary-too-long",
    "source-javascript-url",
    "array-instead-of-object",
    "string-instead-of-object",
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
        "/v1/events",
        fact_text(location='{"name": "Iraq", "country": "IQ", "country": "KW"}'),
        "duplicate key 'country'",
        id="nested-duplicate-key",
    ),
    pytest.param("/v1/events", fact_text(personnel="NaN"), "NaN", id="nan"),
    pytest.param("/v1/events", fact_text(personnel="-Infinity"), "-Infinity", id="minus-infinity"),
    pytest.param(
        "/v1/events/batch",
        '{"events": [' + fact_text() + ", " + fact_text(text='"x"') + "]}",
        "duplicate key 'text'",
        id="batch-duplicate-key",
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
