"""The demo data answers the questions the article raises, on both backends."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.tokens import READ


def state(client: TestClient, actor: str, at: str, **params: str) -> dict:
    response = client.get(f"/v1/actors/{actor}/state", params={"at": at, **params}, headers=READ)
    assert response.status_code == 200, response.text
    return response.json()


def test_nato_mission_active_before_suspension_and_suspended_after(demo_client: TestClient) -> None:
    before = state(demo_client, "nato", "2020-01-03")
    after = state(demo_client, "nato", "2020-01-05")
    assert before["missions"]["nato-mission-iraq"]["status"] == "active"
    assert after["missions"]["nato-mission-iraq"] == {
        "status": "suspended",
        "since": "2020-01-04T00:00:00.000000Z",
        "personnel": 500,
    }
    assert after["at"] == "2020-01-05T23:59:59.999999Z"


def test_canada_is_present_in_kuwait_only_after_the_repositioning(demo_client: TestClient) -> None:
    before = state(demo_client, "canada", "2020-01-06")
    after = state(demo_client, "canada", "2020-01-08")
    assert "KW" not in before["deployments"]
    assert before["deployments"]["IQ"]["personnel"] == 500
    assert after["deployments"]["KW"]["location"]["country"] == "KW"
    # "some" of the 500 moved: neither end has a known count any more.
    assert after["deployments"]["KW"]["personnel_known"] is False
    assert after["deployments"]["IQ"] == {
        "personnel": None,
        "personnel_known": False,
        "location": {"name": "Iraq", "country": "IQ"},
    }


def test_us_perpetrated_one_strike_by_january_4(demo_client: TestClient) -> None:
    assert state(demo_client, "us", "2020-01-02")["strikes"]["perpetrated"] == 0
    assert state(demo_client, "us", "2020-01-04")["strikes"] == {"perpetrated": 1, "targeted": 0}
    assert state(demo_client, "qasem-soleimani", "2020-01-04")["strikes"]["targeted"] == 1


def test_romania_moves_its_14_soldiers_out(demo_client: TestClient) -> None:
    assert state(demo_client, "romania", "2020-01-05")["deployments"]["IQ"]["personnel"] == 14
    assert state(demo_client, "romania", "2020-01-08")["deployments"]["IQ"]["personnel"] == 0


def test_world_state_lists_only_actors_with_visible_facts(demo_client: TestClient) -> None:
    response = demo_client.get("/v1/state", params={"at": "2020-01-02"}, headers=READ)
    assert response.status_code == 200
    actors = response.json()["actors"]
    assert "us" in actors and "canada" in actors
    assert "mark-esper" not in actors  # his statement comes later
    narrowed = demo_client.get("/v1/state", params={"at": "2020-01-02", "actor": "us"}, headers=READ).json()
    assert list(narrowed["actors"]) == ["us"]


@pytest.mark.parametrize("at", ["2018-06-01", "2020-01-03", "2020-01-04", "2020-01-06T20:00:00Z", "2020-01-08"])
def test_world_state_for_named_actors_is_their_part_of_the_whole(demo_client: TestClient, at: str) -> None:
    # Named actors are folded from their own rows, the whole world from every fact: same answer.
    named = ["nato", "canada", "romania", "mark-esper", "us", "iran", "nobody-at-all"]
    for params in ({"at": at}, {"at": at, "reported_by": "2020-01-06T21:00:00Z"}):
        whole = demo_client.get("/v1/state", params=params, headers=READ).json()["actors"]
        part = demo_client.get("/v1/state", params={**params, "actor": ",".join(named)}, headers=READ).json()
        assert part["actors"] == {a: s for a, s in whole.items() if a in named}
        assert list(part["actors"]) == sorted(part["actors"])


def test_timeline_is_ordered_by_occurred_time(demo_client: TestClient) -> None:
    items = demo_client.get("/v1/actors/us/timeline", headers=READ).json()["items"]
    keys = [(i["occurred_at"], i["position"]) for i in items]
    assert keys == sorted(keys)
    assert {i["role"] for i in items} >= {"actor", "perpetrator"}


def test_demo_load_is_idempotent(demo_client: TestClient, container) -> None:  # noqa: ANN001
    from service.demo import load_demo

    before = container.store.max_position()
    assert load_demo(container.store) == 0
    assert container.store.max_position() == before


def test_actors_list_carries_registered_names_and_counts(demo_client: TestClient) -> None:
    items = {a["id"]: a for a in demo_client.get("/v1/actors", headers=READ).json()["items"]}
    assert items["nato"]["name"] == "NATO"
    assert items["nato"]["kind"] == "alliance"
    assert items["mark-esper"]["parent"] == "us"
    assert items["us"]["event_count"] >= 3
    assert items["nato"]["first_occurred_at"] == "2018-01-01T00:00:00.000000Z"
