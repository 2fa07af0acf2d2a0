"""Webhook subscriptions over HTTP: create, read, change, delete, who may, and which URLs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.answers import assert_problem
from tests.support.subscriptions import TIMEOUT, strike, subscribe
from tests.support.tokens import ADMIN, READ, WRITE
from tests.support.webhook_receiver import Receiver
from tests.support.writes import record

# --- the subscription API --------------------------------------------------------------


def test_create_get_list_patch_delete(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("crud")
    response = hooks.post(
        "/v1/subscriptions",
        json={
            "url": endpoint.url,
            "types": ["StrikeOccurred", "StatementIssued"],
            "actors": ["nato", "us"],
            "description": "analysts' desk",
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) > len("whsec_") + 16
    assert created["status"] == "active"
    assert created["url"] == endpoint.url
    assert created["types"] == ["StrikeOccurred", "StatementIssued"]
    assert created["actors"] == ["nato", "us"]
    assert created["description"] == "analysts' desk"
    assert created["created_at"].endswith("Z")
    uuid.UUID(created["id"])
    sub_id = created["id"]

    # The secret is shown at creation only.
    got = hooks.get(f"/v1/subscriptions/{sub_id}", headers=ADMIN)
    assert got.status_code == 200, got.text
    assert "secret" not in got.json() and secret not in got.text
    assert {k: got.json()[k] for k in ("id", "url", "types", "actors", "status")} == {
        k: created[k] for k in ("id", "url", "types", "actors", "status")
    }
    listed = hooks.get("/v1/subscriptions", headers=ADMIN)
    assert listed.status_code == 200, listed.text
    assert [s["id"] for s in listed.json()["items"]] == [sub_id]
    assert secret not in listed.text and all("secret" not in s for s in listed.json()["items"])

    other = receiver.endpoint("crud-2")
    patched = hooks.patch(
        f"/v1/subscriptions/{sub_id}",
        json={"url": other.url, "types": ["MissionSuspended"], "actors": ["canada"], "status": "paused"},
        headers=ADMIN,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["url"], body["types"], body["actors"], body["status"]) == (
        other.url,
        ["MissionSuspended"],
        ["canada"],
        "paused",
    )
    assert secret not in patched.text
    again = hooks.get(f"/v1/subscriptions/{sub_id}", headers=ADMIN).json()
    assert (again["url"], again["types"], again["actors"], again["status"]) == (
        other.url,
        ["MissionSuspended"],
        ["canada"],
        "paused",
    )
    resumed = hooks.patch(f"/v1/subscriptions/{sub_id}", json={"status": "active"}, headers=ADMIN)
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    assert resumed.json()["types"] == ["MissionSuspended"]  # a partial PATCH keeps the rest

    deleted = hooks.delete(f"/v1/subscriptions/{sub_id}", headers=ADMIN)
    assert deleted.status_code == 204, deleted.text
    assert_problem(hooks.get(f"/v1/subscriptions/{sub_id}", headers=ADMIN), 404)
    assert_problem(hooks.delete(f"/v1/subscriptions/{sub_id}", headers=ADMIN), 404)
    assert_problem(hooks.patch(f"/v1/subscriptions/{sub_id}", json={"status": "active"}, headers=ADMIN), 404)
    assert hooks.get("/v1/subscriptions", headers=ADMIN).json()["items"] == []
    assert_problem(hooks.get(f"/v1/subscriptions/{uuid.uuid4()}", headers=ADMIN), 404)


def test_a_deleted_subscription_receives_nothing(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("deleted")
    sub = subscribe(hooks, endpoint)
    assert hooks.delete(f"/v1/subscriptions/{sub['id']}", headers=ADMIN).status_code == 204
    record(hooks, strike())
    probe = receiver.endpoint("probe")
    subscribe(hooks, probe)
    record(hooks, strike())
    probe.wait_count(1, TIMEOUT)  # the dispatcher is alive and has had its chance
    assert endpoint.quiet(0.5) == [] and endpoint.snapshot() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/subscriptions"),
        ("post", "/v1/subscriptions"),
        ("get", "/v1/subscriptions/{id}"),
        ("patch", "/v1/subscriptions/{id}"),
        ("delete", "/v1/subscriptions/{id}"),
        ("post", "/v1/subscriptions/{id}/rotate-secret"),
        ("get", "/v1/subscriptions/{id}/deliveries"),
        ("post", "/v1/subscriptions/{id}/replay"),
    ],
)
def test_subscriptions_need_the_admin_scope(hooks: TestClient, receiver: Receiver, method: str, path: str) -> None:
    endpoint = receiver.endpoint("auth")
    sub = subscribe(hooks, endpoint)
    url = path.format(id=sub["id"])
    body: dict[str, Any] | None = None
    if method == "post" and path == "/v1/subscriptions":
        body = {"url": endpoint.url}
    elif "replay" in path:
        body = {"after": 0}
    elif method == "patch":
        body = {"status": "paused"}
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}
    assert_problem(hooks.request(method.upper(), url, **kwargs), 401)
    assert_problem(hooks.request(method.upper(), url, headers={"Authorization": "Bearer nope"}, **kwargs), 401)
    assert_problem(hooks.request(method.upper(), url, headers=WRITE, **kwargs), 403)
    assert_problem(hooks.request(method.upper(), url, headers=READ, **kwargs), 403)
    # Nothing was changed by the refused calls.
    listed = hooks.get("/v1/subscriptions", headers=ADMIN).json()["items"]
    assert [(s["id"], s["status"]) for s in listed] == [(sub["id"], "active")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"types": ["Earthquake"]}, "types"),
        ({"types": "StrikeOccurred"}, "types"),
        ({"actors": ["NATO forces!"]}, "actors"),
        ({"actors": [""]}, "actors"),
        ({"url": "ftp://127.0.0.1/x"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": None}, "url"),
        ({"secret": "whsec_mine"}, "secret"),
        ({"status": "active", "colour": "red"}, None),
    ],
)
def test_bad_subscription_bodies_are_422_problems(
    hooks: TestClient, receiver: Receiver, body: dict[str, Any], field: str | None
) -> None:
    endpoint = receiver.endpoint("bad")
    problem = assert_problem(hooks.post("/v1/subscriptions", json={"url": endpoint.url, **body}, headers=ADMIN), 422)
    if field is not None:
        assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    else:
        assert {e["field"] for e in problem["errors"]} & {"status", "colour"}, problem
    assert hooks.get("/v1/subscriptions", headers=ADMIN).json()["items"] == []

    # The same rules on PATCH (status is a PATCH field, but not 'disabled' or 'deleted').
    sub = subscribe(hooks, endpoint)
    patch = {k: v for k, v in body.items() if k != "status"} or {"status": "deleted"}
    if patch == {"url": None}:
        return  # on PATCH, null means "leave it as it is"
    assert_problem(hooks.patch(f"/v1/subscriptions/{sub['id']}", json=patch, headers=ADMIN), 422)
    assert hooks.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN).json()["url"] == endpoint.url


def test_patch_status_only_active_or_paused(hooks: TestClient, receiver: Receiver) -> None:
    sub = subscribe(hooks, receiver.endpoint("status"))
    for status in ("disabled", "deleted", "ACTIVE", ""):
        assert_problem(
            hooks.patch(f"/v1/subscriptions/{sub['id']}", json={"status": status}, headers=ADMIN), 422, "status"
        )
    assert hooks.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN).json()["status"] == "active"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://10.1.2.3/x",
        "http://localhost:9/x",
        "http://169.254.169.254/latest",
        "http://[::1]:9/x",
        "http://192.168.0.10/x",
        "http://224.0.0.1/x",
        "http://0.0.0.0:9/x",
        "http://[::ffff:10.0.0.1]/x",
        "http://2130706433/x",
        "http://[fe80::1]/x",
        "https://127.0.0.1/x",
    ],
)
def test_private_and_loopback_urls_are_refused_without_an_allow_list(client: TestClient, url: str) -> None:
    # The plain `client` fixture has no TIMELINE_WEBHOOK_ALLOW_HOSTS.
    problem = assert_problem(client.post("/v1/subscriptions", json={"url": url}, headers=ADMIN), 422, "url")
    assert any(e["field"] == "url" for e in problem["errors"])
    assert client.get("/v1/subscriptions", headers=ADMIN).json()["items"] == []


def test_allow_list_names_only_what_it_names(hooks: TestClient, receiver: Receiver) -> None:
    sub = subscribe(hooks, receiver.endpoint("allowed"))  # 127.0.0.1 is allow-listed
    for url in ("http://10.1.2.3/x", "http://192.168.1.1/x", "http://[::1]:9/x"):
        assert_problem(hooks.post("/v1/subscriptions", json={"url": url}, headers=ADMIN), 422, "url")
        assert_problem(hooks.patch(f"/v1/subscriptions/{sub['id']}", json={"url": url}, headers=ADMIN), 422, "url")
    assert hooks.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN).json()["url"] == sub["url"]
