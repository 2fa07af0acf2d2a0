"""The committed OpenAPI document is the app's own."""

from __future__ import annotations

import json
from pathlib import Path

from service.api.app import openapi_document

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    committed = json.loads(COMMITTED.read_text())
    assert committed == json.loads(json.dumps(openapi_document())), (
        "openapi/openapi.json is out of date: run `crisis-timeline openapi --output openapi/openapi.json`"
    )


def test_every_contract_path_is_documented() -> None:
    paths = openapi_document()["paths"]
    for path in (
        "/v1/events",
        "/v1/events/batch",
        "/v1/events/{event_id}",
        "/v1/actors",
        "/v1/actors/{actor_id}",
        "/v1/actors/{actor_id}/timeline",
        "/v1/actors/{actor_id}/state",
        "/v1/state",
        "/v1/changes",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    post = paths["/v1/events"]["post"]
    assert "examples" in json.dumps(post["requestBody"])
