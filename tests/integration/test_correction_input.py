"""Corrections and retractions that must be refused, and what an accepted one answers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container
from tests.support.answers import assert_problem
from tests.support.facts import valid_fact
from tests.support.reads import fact_by_id, listed_ids, revisions
from tests.support.tokens import WRITE
from tests.support.writes import correct, corrected, record, retract

# --- correction input errors ----------------------------------------------------------------------


def fact_of(type_: str) -> dict[str, Any]:
    return valid_fact(type_, summary=f"a {type_} to correct")


BAD_CORRECTIONS = [
    *[
        pytest.param("StatementIssued", {"changes": {field: value}}, f"changes.{field}", id=f"fixed-{field}")
        for field, value in [
            ("event_id", str(uuid.uuid4())),
            ("type", "StrikeOccurred"),
            ("recorded_at", "2020-01-01T00:00:00Z"),
            ("position", 1),
            ("revision", 7),
            ("status", "retracted"),
        ]
    ],
    pytest.param("StatementIssued", {"changes": {"means": "drone"}}, "changes.means", id="field-of-another-type"),
    pytest.param("StatementIssued", {"changes": {"colour": "red"}}, "changes.colour", id="field-of-no-type"),
    pytest.param(
        "StatementIssued",
        {"changes": {"actors": [{"id": "us", "role": "on_behalf_of"}]}},
        "changes.actors",
        id="statement-without-speaker",
    ),
    pytest.param(
        "StrikeOccurred",
        {"changes": {"actors": [{"id": "qasem-soleimani", "role": "target"}]}},
        "changes.actors",
        id="strike-without-perpetrator",
    ),
    pytest.param(
        "StatementIssued",
        {"changes": {"actors": [{"id": "us", "role": "speaker"}, {"id": "us", "role": "speaker"}]}},
        "changes.actors",
        id="duplicate-actor-role",
    ),
    pytest.param(
        "StatementIssued",
        {"changes": {"actors": [{"id": "us", "role": "pilot"}]}},
        "changes.actors",
        id="role-the-type-does-not-list",
    ),
    pytest.param("PersonnelDeployed", {"changes": {"personnel": -1}}, "changes.personnel", id="personnel-negative"),
    pytest.param("PersonnelDeployed", {"changes": {"personnel": None}}, "changes.personnel", id="personnel-required"),
    pytest.param(
        "StatementIssued",
        {"changes": {"occurred_at": "2020-01-07T10:00:00"}},
        "changes.occurred_at",
        id="occurred-at-naive",
    ),
    pytest.param(
        "StatementIssued", {"changes": {"occurred_at": "2020-13-01"}}, "changes.occurred_at", id="occurred-at-month-13"
    ),
    pytest.param(
        "StatementIssued",
        {"changes": {"occurred_until": "2020-01-01"}},
        "changes",
        id="occurred-until-before-occurred-at",
    ),
    pytest.param("StatementIssued", {"changes": {"summary": None}}, "changes.summary", id="summary-null"),
    pytest.param(
        "StatementIssued", {"changes": {"channel": "carrier-pigeon"}}, "changes.channel", id="channel-unknown"
    ),
    pytest.param("StatementIssued", {"changes": {"text": ""}}, "changes.text", id="text-empty"),
    pytest.param("StrikeOccurred", {"changes": {"fatalities": -3}}, "changes.fatalities", id="fatalities-negative"),
    pytest.param(
        "StatementIssued",
        {"changes": {"sources": [{"url": "not a url"}]}},
        "changes.sources",
        id="sources-replaced-with-a-bad-url",
    ),
    pytest.param(
        "StatementIssued", {"changes": {"summary": "a StatementIssued to correct"}}, "changes", id="same-value"
    ),
    pytest.param("StatementIssued", {"changes": {}}, "changes", id="empty-changes"),
    pytest.param("StatementIssued", {}, "changes", id="no-changes-no-sources"),
    pytest.param(
        "StatementIssued",
        {"sources": [{"url": "https://example.org/article"}]},
        "changes",
        id="only-a-source-already-cited",
    ),
    pytest.param("StatementIssued", {"changes": {"summary": "x"}, "reason": None}, "reason", id="reason-missing"),
    pytest.param("StatementIssued", {"changes": {"summary": "x"}, "reason": ""}, "reason", id="reason-empty"),
    pytest.param("StatementIssued", {"changes": {"summary": "x"}, "reason": "   "}, "reason", id="reason-blank"),
    pytest.param("StatementIssued", {"changes": ["summary"]}, "changes", id="changes-not-an-object"),
    pytest.param(
        "StatementIssued",
        {"changes": {"summary": "x"}, "reported_at": "2020-01-07T10:00:00"},
        "reported_at",
        id="correction-reported-at-naive",
    ),
    pytest.param(
        "StatementIssued",
        {"changes": {"summary": "x"}, "sources": [{"url": "ftp:/x"}]},
        "sources",
        id="added-source-bad-url",
    ),
    pytest.param("StatementIssued", {"changes": {"summary": "x"}, "why": "typo"}, "why", id="unknown-body-key"),
]


@pytest.mark.parametrize(("type_", "body", "field"), BAD_CORRECTIONS)
def test_a_bad_correction_is_422_naming_the_field_and_writes_nothing(
    client: TestClient, container: Container, type_: str, body: dict[str, Any], field: str
) -> None:
    fact = record(client, fact_of(type_))
    payload = {"reason": "the record was wrong", **body}
    payload = {k: v for k, v in payload.items() if not (k == "reason" and v is None)}
    before = container.store.max_position()
    response = client.post(f"/v1/events/{fact['event_id']}/corrections", json=payload, headers=WRITE)
    assert_problem(response, 422, field)
    assert container.store.max_position() == before
    read = fact_by_id(client, fact["event_id"], min_position=fact["position"])
    assert (read["revision"], len(read["revisions"])) == (1, 1)
    assert {k: v for k, v in read.items() if k != "revisions"} == fact


def test_a_correction_that_makes_the_fact_over_64_kib_is_413(client: TestClient, container: Container) -> None:
    fact = record(client, fact_of("StatementIssued"))
    quote = "q" * 20_000
    big = [{"url": f"https://example.org/big/{i}", "quote": quote} for i in range(4)]
    before = container.store.max_position()
    assert_problem(correct(client, fact["event_id"], sources=big), 413)
    assert_problem(correct(client, fact["event_id"], {"sources": big}), 413)
    assert container.store.max_position() == before
    assert fact_by_id(client, fact["event_id"], min_position=fact["position"])["revision"] == 1


@pytest.mark.parametrize("path", ["corrections", "retraction"])
def test_changing_an_unknown_fact_is_404(client: TestClient, container: Container, path: str) -> None:
    record(client, fact_of("StatementIssued"))
    before = container.store.max_position()
    body = {"changes": {"summary": "x"}, "reason": "r"} if path == "corrections" else {"reason": "r"}
    response = client.post(f"/v1/events/{uuid.uuid4()}/{path}", json=body, headers=WRITE)
    assert_problem(response, 404)
    assert container.store.max_position() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "reason", id="no-reason"),
        pytest.param({"reason": ""}, "reason", id="empty-reason"),
        pytest.param({"reason": "dup", "reported_at": "yesterday"}, "reported_at", id="bad-reported-at"),
        pytest.param({"reason": "dup", "changes": {"summary": "x"}}, "changes", id="changes-in-a-retraction"),
    ],
)
def test_a_bad_retraction_is_422_and_writes_nothing(
    client: TestClient, container: Container, body: dict[str, Any], field: str
) -> None:
    fact = record(client, fact_of("StatementIssued"))
    before = container.store.max_position()
    response = client.post(f"/v1/events/{fact['event_id']}/retraction", json=body, headers=WRITE)
    assert_problem(response, 422, field)
    assert container.store.max_position() == before
    assert fact_by_id(client, fact["event_id"], min_position=fact["position"])["status"] == "active"
    assert fact["event_id"] in listed_ids(client, min_position=fact["position"])


def test_a_correction_with_only_sources_appends_them(client: TestClient) -> None:
    fact = record(client, fact_of("StatementIssued"))
    added = {"url": "https://example.org/follow-up", "publisher": "Follow-up", "published_at": "2020-01-08T09:00:00Z"}
    answer = corrected(client, fact["event_id"], sources=[added], reason="another source")
    assert answer["revision"] == 2
    urls = [s["url"] for s in answer["sources"]]
    assert urls == [s["url"] for s in fact["sources"]] + [added["url"]]
    assert answer["sources"][-1]["published_at"] == "2020-01-08T09:00:00.000000Z"
    assert answer["reported_at"] == fact["reported_at"]  # new sources do not move the fact's report
    history = revisions(client, fact["event_id"], min_position=answer["change_position"])
    assert [s["url"] for s in history[1]["changes"]["sources_added"]] == [added["url"]]
    assert set(history[1]["changes"]) == {"sources_added"}
    # The correction itself was published with its earliest source.
    assert history[1]["reported_at"] == "2020-01-08T09:00:00.000000Z"


def test_changes_sources_replaces_them(client: TestClient) -> None:
    fact = record(client, fact_of("StatementIssued"))
    replacement = [{"url": "https://example.org/right-article", "publisher": "Right"}]
    answer = corrected(client, fact["event_id"], {"sources": replacement}, reason="wrong article cited")
    assert [s["url"] for s in answer["sources"]] == ["https://example.org/right-article"]
    history = revisions(client, fact["event_id"], min_position=answer["change_position"])
    assert [s["url"] for s in history[1]["changes"]["sources"]] == ["https://example.org/right-article"]
    assert "sources_added" not in history[1]["changes"]
    then = fact_by_id(client, fact["event_id"], min_position=answer["change_position"], as_of=fact["recorded_at"])
    assert [s["url"] for s in then["sources"]] == [s["url"] for s in fact["sources"]]


def test_changes_sources_and_added_sources_together(client: TestClient) -> None:
    fact = record(client, fact_of("StatementIssued"))
    answer = corrected(
        client,
        fact["event_id"],
        {"sources": [{"url": "https://example.org/replacement"}]},
        sources=[{"url": "https://example.org/extra"}],
    )
    assert [s["url"] for s in answer["sources"]] == ["https://example.org/replacement", "https://example.org/extra"]


# --- the answer to a correction ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("correction", "reported_at"),
    [
        pytest.param({"changes": {"summary": "new headline"}}, "2020-01-07T08:00:00.000000Z", id="no-reported-at"),
        pytest.param(
            {
                "changes": {"summary": "new headline"},
                "reported_at": "2020-01-09T00:00:00Z",
                "sources": [{"url": "https://example.org/late", "published_at": "2020-01-09T00:00:00Z"}],
            },
            "2020-01-07T08:00:00.000000Z",
            id="the-corrections-own-reported-at-and-sources",
        ),
        pytest.param(
            {"changes": {"summary": "new headline", "reported_at": "2020-01-06T22:00:00+01:00"}},
            "2020-01-06T21:00:00.000000Z",
            id="changes-reported-at",
        ),
    ],
)
def test_a_correction_answers_201_with_the_fact_at_revision_2(
    client: TestClient, correction: dict[str, Any], reported_at: str
) -> None:
    fact = record(client, fact_of("StatementIssued") | {"reported_at": "2020-01-07T08:00:00Z"})
    assert fact["reported_at"] == "2020-01-07T08:00:00.000000Z"
    response = client.post(
        f"/v1/events/{fact['event_id']}/corrections", json={"reason": "headline", **correction}, headers=WRITE
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["revision"], answer["status"], answer["summary"]) == (2, "active", "new headline")
    assert (answer["event_id"], answer["position"], answer["recorded_at"]) == (
        fact["event_id"],
        fact["position"],
        fact["recorded_at"],
    )
    assert answer["change_position"] > answer["position"]
    assert answer["reported_at"] == reported_at
    read = fact_by_id(client, fact["event_id"], min_position=answer["change_position"])
    assert {k: v for k, v in read.items() if k != "revisions"} == {
        k: v for k, v in answer.items() if k != "change_position"
    }


def test_a_correction_does_not_move_a_reported_at_left_to_the_recording(client: TestClient) -> None:
    fact = record(client, fact_of("StatementIssued"))  # no reported_at, sources without dates
    assert fact["reported_at"] == fact["recorded_at"]
    answer = corrected(
        client,
        fact["event_id"],
        {"summary": "new"},
        sources=[{"url": "https://example.org/dated", "published_at": "2020-01-01T00:00:00Z"}],
    )
    assert answer["reported_at"] == fact["recorded_at"]
    read = fact_by_id(client, fact["event_id"], min_position=answer["change_position"])
    assert read["reported_at"] == fact["recorded_at"]


def test_a_retraction_answers_201_with_the_retracted_fact(client: TestClient) -> None:
    fact = record(client, fact_of("StatementIssued"))
    response = retract(client, fact["event_id"], reason="false report")
    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["status"], answer["revision"], answer["position"]) == ("retracted", 2, fact["position"])
    assert answer["change_position"] > fact["position"]
    assert {k: v for k, v in answer.items() if k not in ("status", "revision", "change_position")} == {
        k: v for k, v in fact.items() if k not in ("status", "revision")
    }
