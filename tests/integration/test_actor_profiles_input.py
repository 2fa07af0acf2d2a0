"""Bad actor profiles over HTTP: a 422 naming the field, and the stored profile unchanged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container
from tests.support.answers import assert_problem
from tests.support.facts import valid_fact
from tests.support.tokens import READ, WRITE
from tests.support.writes import record

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
    container.stop_workers()  # see the note above the year-1000 tests in test_api_input.py
    assert read.status_code == 200, read.text
    assert "nul-actor" in {a["id"] for a in read.json()["items"]}
