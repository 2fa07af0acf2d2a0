"""Bearer tokens and scopes: who may read, who may write, and how a refusal looks.

conftest configures ``read-token:read``, ``write-token:write`` and ``admin-token:admin``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.bootstrap import Container, bootstrap
from service.settings import Settings
from tests.support.answers import assert_problem
from tests.support.facts import valid_fact
from tests.support.tokens import ADMIN, READ, WRITE

READ_PATHS = [
    "/v1/events",
    f"/v1/events/{uuid.UUID(int=1)}",
    "/v1/actors",
    "/v1/actors/nato/timeline",
    "/v1/actors/nato/state",
    "/v1/state",
    "/v1/changes",
]


def writes() -> list[Any]:
    """(method, path, json) of each write call a 'write' token may make."""
    return [
        pytest.param("POST", "/v1/events", valid_fact(), id="post-event"),
        pytest.param("POST", "/v1/events/batch", {"events": [valid_fact()]}, id="post-batch"),
        pytest.param("PUT", "/v1/actors/nato", {"name": "NATO"}, id="put-actor"),
    ]


def call(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.request(method, path, json=body, headers=headers or {})


def assert_unauthorized(response: Any) -> None:
    assert_problem(response, 401)
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer"), response.headers


@contextmanager
def client_with(settings: Settings, **update: Any) -> Iterator[tuple[TestClient, Container]]:
    container = bootstrap(settings.model_copy(update=update))
    try:
        with TestClient(create_app(container, run_workers=True)) as test_client:
            yield test_client, container
    finally:
        container.close()


# --- tokens configured (the conftest client) -------------------------------------------


@pytest.mark.parametrize("path", READ_PATHS)
def test_read_without_token_is_401_with_www_authenticate(client: TestClient, path: str) -> None:
    assert_unauthorized(client.get(path))


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer no-such-token", id="unknown-token"),
        pytest.param("Bearer read-token-but-longer", id="token-with-suffix"),
        pytest.param("Bearer read", id="token-prefix"),
        pytest.param("Basic cmVhZC10b2tlbjo=", id="basic-scheme"),
        pytest.param("read-token", id="no-scheme"),
        pytest.param("Bearer ", id="empty-bearer"),
    ],
)
def test_read_with_unknown_or_malformed_token_is_401(client: TestClient, authorization: str) -> None:
    assert_unauthorized(client.get("/v1/events", headers={"Authorization": authorization}))


@pytest.mark.parametrize(("method", "path", "body"), writes())
def test_write_without_token_is_401_and_writes_nothing(
    client: TestClient, container: Container, method: str, path: str, body: Any
) -> None:
    before = container.store.max_position()
    assert_unauthorized(call(client, method, path, body))
    assert container.store.max_position() == before


@pytest.mark.parametrize(("method", "path", "body"), writes())
def test_write_with_unknown_token_is_401_and_writes_nothing(
    client: TestClient, container: Container, method: str, path: str, body: Any
) -> None:
    before = container.store.max_position()
    assert_unauthorized(call(client, method, path, body, {"Authorization": "Bearer no-such-token"}))
    assert container.store.max_position() == before


@pytest.mark.parametrize(("method", "path", "body"), writes())
def test_write_with_read_token_is_403_and_writes_nothing(
    client: TestClient, container: Container, method: str, path: str, body: Any
) -> None:
    before = container.store.max_position()
    assert_problem(call(client, method, path, body, READ), 403)
    assert container.store.max_position() == before


def test_unauthenticated_invalid_fact_is_401_not_422(client: TestClient) -> None:
    # Who may write is settled before what is written is looked at.
    assert_unauthorized(client.post("/v1/events", json={"type": "Nope"}))


def test_read_token_invalid_fact_is_403_not_422(client: TestClient) -> None:
    assert_problem(client.post("/v1/events", json={"type": "Nope"}, headers=READ), 403)


def bad_bodies() -> list[Any]:
    """(path, body, content-length) that would be a 400 or a 413 from a caller allowed to write."""
    return [
        pytest.param("/v1/events", b'{"type": ', None, id="malformed"),
        pytest.param("/v1/events/", b'{"type": "a", "type": "b"}', None, id="duplicate-key-trailing-slash"),
        pytest.param("/v1/events", b'{"type": "a", "type": "b"}', None, id="duplicate-key"),
        pytest.param("/v1/events", b'{"fatalities": NaN}', None, id="nan"),
        pytest.param("/v1/events", b"{}", str(64 * 1024 * 1024), id="declared-too-large"),
        pytest.param("/v1/events/batch", b"[" + b" " * (17 * 1024 * 1024) + b"]", None, id="too-large"),
    ]


@pytest.mark.parametrize(("path", "body", "length"), bad_bodies())
def test_unauthenticated_bad_body_is_401_not_400_or_413(
    client: TestClient, container: Container, path: str, body: bytes, length: str | None
) -> None:
    # The body of a caller who may not write is never looked at, so it cannot change the answer.
    headers = {"content-type": "application/json", **({"content-length": length} if length else {})}
    before = container.store.max_position()
    assert_unauthorized(client.post(path, content=body, headers=headers))
    assert container.store.max_position() == before


@pytest.mark.parametrize(("path", "body", "length"), bad_bodies())
def test_read_token_bad_body_is_403_not_400_or_413(
    client: TestClient, path: str, body: bytes, length: str | None
) -> None:
    headers = {"content-type": "application/json", **READ, **({"content-length": length} if length else {})}
    assert_problem(client.post(path, content=body, headers=headers), 403)


@pytest.mark.parametrize(("path", "body", "length"), bad_bodies())
def test_write_token_bad_body_is_still_400_or_413(
    client: TestClient, path: str, body: bytes, length: str | None
) -> None:
    headers = {"content-type": "application/json", **WRITE, **({"content-length": length} if length else {})}
    response = client.post(path, content=body, headers=headers)
    assert_problem(response, 413 if length or len(body) > 1024 * 1024 else 400)


@pytest.mark.parametrize("headers", [READ, WRITE, ADMIN], ids=["read", "write", "admin"])
@pytest.mark.parametrize("path", ["/v1/events", "/v1/actors", "/v1/state", "/v1/changes"])
def test_every_token_can_read(client: TestClient, headers: dict[str, str], path: str) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("headers", [WRITE, ADMIN], ids=["write", "admin"])
@pytest.mark.parametrize(("method", "path", "body"), writes())
def test_write_and_admin_tokens_can_write(
    client: TestClient, headers: dict[str, str], method: str, path: str, body: Any
) -> None:
    response = call(client, method, path, body, headers)
    assert response.status_code in (200, 201), response.text


def test_write_token_reads_back_what_it_wrote(client: TestClient) -> None:
    stored = client.post("/v1/events", json=valid_fact(), headers=WRITE).json()
    response = client.get(
        f"/v1/events/{stored['event_id']}", params={"min_position": stored["position"]}, headers=WRITE
    )
    assert response.status_code == 200, response.text
    assert response.json()["event_id"] == stored["event_id"]


def test_bearer_scheme_is_case_insensitive(client: TestClient) -> None:
    response = client.get("/v1/events", headers={"Authorization": "bearer read-token"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_health_endpoints_need_no_token(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text


# --- TIMELINE_PUBLIC_READS=true ----------------------------------------------------------


@pytest.fixture
def public_reads(settings: Settings) -> Iterator[tuple[TestClient, Container]]:
    with client_with(settings, public_reads=True) as built:
        yield built


@pytest.mark.parametrize("path", READ_PATHS)
def test_public_reads_open_gets_without_token(public_reads: tuple[TestClient, Container], path: str) -> None:
    client, _ = public_reads
    client.put("/v1/actors/nato", json={"name": "NATO"}, headers=WRITE)
    response = client.get(path, params={"min_position": 1})
    assert response.status_code in (200, 404), response.text  # 404: the made-up event id
    if response.status_code == 404:
        assert path.startswith("/v1/events/")


@pytest.mark.parametrize(("method", "path", "body"), writes())
def test_public_reads_still_need_a_token_to_write(
    public_reads: tuple[TestClient, Container], method: str, path: str, body: Any
) -> None:
    client, container = public_reads
    before = container.store.max_position()
    assert_unauthorized(call(client, method, path, body))
    assert container.store.max_position() == before


def test_public_reads_still_refuse_writes_by_a_read_token(public_reads: tuple[TestClient, Container]) -> None:
    client, container = public_reads
    before = container.store.max_position()
    assert_problem(client.post("/v1/events", json=valid_fact(), headers=READ), 403)
    assert container.store.max_position() == before


def test_public_reads_still_let_a_write_token_write(public_reads: tuple[TestClient, Container]) -> None:
    client, _ = public_reads
    assert client.post("/v1/events", json=valid_fact(), headers=WRITE).status_code == 201


# --- no tokens configured at all -----------------------------------------------------------


@pytest.fixture
def tokenless(settings: Settings) -> Iterator[tuple[TestClient, Container]]:
    with client_with(settings, api_tokens="") as built:
        yield built


@pytest.mark.parametrize("path", ["/v1/events", "/v1/actors", "/v1/state", "/v1/changes"])
def test_without_tokens_reads_are_open(tokenless: tuple[TestClient, Container], path: str) -> None:
    client, _ = tokenless
    response = client.get(path)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("method", "path", "body"), writes())
@pytest.mark.parametrize(
    "headers",
    [{}, READ, WRITE, ADMIN],
    ids=["no-token", "read-token", "write-token", "admin-token"],
)
def test_without_tokens_writes_are_refused_with_401(
    tokenless: tuple[TestClient, Container], method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    # No token is configured, so none of these is known: every write is refused.
    client, container = tokenless
    before = container.store.max_position()
    assert_unauthorized(call(client, method, path, body, headers))
    assert container.store.max_position() == before


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_without_tokens_health_endpoints_answer(tokenless: tuple[TestClient, Container], path: str) -> None:
    client, _ = tokenless
    assert client.get(path).status_code == 200
