"""What the log holds is a data format: stable topics, versioned payloads."""

from __future__ import annotations

from sqlalchemy import text

from service.bootstrap import Container
from service.domain.facts import validate_fact


def test_stored_topics_are_the_event_names(container: Container) -> None:
    container.store.record_facts(
        [
            validate_fact(
                {
                    "type": "MissionSuspended",
                    "occurred_at": "2020-01-04",
                    "summary": "NATO suspends training",
                    "actors": [{"id": "nato", "role": "actor"}],
                    "mission": "nato-mission-iraq",
                }
            )
        ]
    )
    container.store.register_actor({"id": "nato", "name": "NATO", "kind": "alliance", "parent": None, "aliases": []})
    with container.engine.connect() as conn:
        topics = [row[0] for row in conn.execute(text("SELECT topic FROM stored_events ORDER BY 1"))]
    assert topics == ["ActorRegistered", "MissionSuspended"]


def test_appending_never_reads_history(container: Container) -> None:
    """Recording a new fact costs one insert: the store is not read for it."""
    calls = []
    recorder = container.store.recorder
    original = recorder.select_events
    recorder.select_events = lambda *a, **k: calls.append(a) or original(*a, **k)  # type: ignore[method-assign]
    try:
        container.store.record_facts(
            [
                validate_fact(
                    {
                        "type": "StatementIssued",
                        "occurred_at": "2020-01-06",
                        "summary": "s",
                        "text": "t",
                        "actors": [{"id": "mark-esper", "role": "speaker"}],
                    }
                )
            ]
        )
    finally:
        recorder.select_events = original  # type: ignore[method-assign]
    assert calls == []


def test_the_log_stays_readable_by_the_librarys_own_json_transcoder(container: Container) -> None:
    """Events are written with orjson, in the library's format: either transcoder reads the other's."""
    from eventsourcing.persistence import (
        DatetimeAsISO,
        DecimalAsStr,
        JSONTranscoder,
        UUIDAsHex,
    )

    from service.domain.corrections import CorrectionIn

    (fact,) = container.store.record_facts(
        [
            validate_fact(
                {
                    "type": "PersonnelDeployed",
                    "occurred_at": "2020-01-02",
                    "summary": "Österreich sends staff",
                    "actors": [{"id": "austria", "role": "actor"}],
                    "personnel": 12,
                    "location": {"name": "Erbil", "country": "IQ", "lat": 36.19, "lon": 44.01},
                }
            )
        ]
    )
    container.store.correct_fact(fact.fact["event_id"], CorrectionIn(changes={"personnel": 14}, reason="revised"))
    container.store.register_actor({"id": "austria", "name": "Austria", "kind": "state", "parent": None, "aliases": []})
    stock = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        stock.register(transcoding)
    ours = container.store.mapper.transcoder
    with container.engine.connect() as conn:
        states = [bytes(row[0]) for row in conn.execute(text("SELECT state FROM stored_events"))]
    assert len(states) == 3
    for state in states:
        decoded = stock.decode(state)
        assert ours.decode(state) == decoded
        assert ours.decode(stock.encode(decoded)) == decoded
        assert stock.decode(ours.encode(decoded)) == decoded
