"""Group commit: single-fact appends that arrive together share one transaction.

Driven directly in an event loop, so that a group is exactly the facts handed over in one
turn; on both backends. Over HTTP the same committer serves POST /v1/events.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest

from service.bootstrap import Container
from service.domain.errors import FactConflictError
from service.domain.facts import FACT_ADAPTER
from service.store.group_commit import GroupCommitter


def fact(**changes: Any) -> Any:
    body = {
        "type": "StatementIssued",
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2020-01-06",
        "summary": "a statement",
        "actors": [{"id": "spokesman", "role": "speaker"}],
        "text": "words",
        **changes,
    }
    return FACT_ADAPTER.validate_python(body)


def in_one_turn(committer: GroupCommitter, facts: list[Any]) -> list[Any]:
    """Hands every fact over in one turn of a fresh loop; each outcome or exception, in order."""

    async def run() -> list[Any]:
        futures = [committer.record(f) for f in facts]
        return await asyncio.gather(*futures, return_exceptions=True)

    return asyncio.run(run())


@pytest.fixture
def saves(container: Container) -> list[int]:
    """The number of events of each save the store makes."""
    seen: list[int] = []
    container.store.save_observers.append(lambda events, _seconds: seen.append(events))
    return seen


def test_facts_handed_over_together_are_one_save_and_each_gets_its_own_answer(
    container: Container, saves: list[int]
) -> None:
    facts = [fact(summary=f"statement {i}") for i in range(20)]
    outcomes = in_one_turn(GroupCommitter(container.store.record_facts), facts)
    assert saves == [20]
    assert [o.fact["event_id"] for o in outcomes] == [str(f.event_id) for f in facts]
    assert all(o.created for o in outcomes)
    positions = [o.fact["position"] for o in outcomes]
    assert positions == sorted(positions) and len(set(positions)) == 20
    for outcome in outcomes:
        assert container.store.stored_fact(outcome.fact["event_id"]) == outcome.fact


def test_a_conflict_in_a_group_fails_only_its_own_request(container: Container, saves: list[int]) -> None:
    committer = GroupCommitter(container.store.record_facts)
    stored = fact()
    (first,) = in_one_turn(committer, [stored])
    conflicting = fact(event_id=str(stored.event_id), summary="another body")
    others = [fact(), fact()]
    outcomes = in_one_turn(committer, [others[0], conflicting, others[1]])
    assert isinstance(outcomes[1], FactConflictError)
    assert [o.created for o in (outcomes[0], outcomes[2])] == [True, True]
    assert container.store.stored_fact(str(stored.event_id)) == first.fact  # unchanged
    assert all(container.store.stored_fact(str(f.event_id)) is not None for f in others)


def test_the_same_fact_twice_in_a_group_is_recorded_once_and_the_second_is_a_repeat(
    container: Container, saves: list[int]
) -> None:
    once = fact()
    head = container.store.max_position()
    outcomes = in_one_turn(GroupCommitter(container.store.record_facts), [once, once])
    assert [o.created for o in outcomes] == [True, False]
    assert outcomes[0].fact == outcomes[1].fact
    assert container.store.max_position() == head + 1


def test_groups_are_cut_at_max_group(container: Container, saves: list[int]) -> None:
    in_one_turn(GroupCommitter(container.store.record_facts, max_group=4), [fact() for _ in range(10)])
    assert saves == [4, 4, 2]


def test_a_commit_that_waits_does_not_stop_the_event_loop_and_later_facts_form_the_next_group(
    container: Container, saves: list[int]
) -> None:
    """A commit stuck on the database (a lock, an outage) must leave the loop serving other requests."""
    gate = threading.Event()

    def held(facts: Any) -> Any:
        gate.wait(timeout=5)  # bounded, so that a loop it blocks comes back and the test fails
        return container.store.record_facts(facts)

    committer = GroupCommitter(held)

    async def run() -> tuple[float, list[Any]]:
        first = committer.record(fact())
        started = time.monotonic()
        await asyncio.sleep(0.05)  # meanwhile the first group commits, held at the gate
        waited = time.monotonic() - started
        later = [committer.record(fact()) for _ in range(3)]
        gate.set()
        return waited, await asyncio.gather(first, *later)

    waited, outcomes = asyncio.run(run())
    assert waited < 1.0, f"the event loop was blocked {waited:.1f}s by a commit"
    assert all(o.created for o in outcomes)
    assert saves == [1, 3]
    committer.close()
