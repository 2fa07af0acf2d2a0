"""The built-in demo data: the January 2020 NATO-in-Iraq article, as facts."""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson

from service.domain.actors import ActorProfileIn, profile_record
from service.domain.facts import validate_fact
from service.store.application import TimelineApplication

DEMO_FILE = "nato-iraq-2020-01.json"


def demo_data() -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(resources.files(__package__).joinpath(DEMO_FILE).read_bytes())
    return data


def load_demo(store: TimelineApplication) -> int:
    """Record the demo actors and facts; loading twice records nothing new."""
    data = demo_data()
    for actor in data["actors"]:
        profile = ActorProfileIn.model_validate({k: v for k, v in actor.items() if k != "id"})
        store.register_actor(profile_record(actor["id"], profile))
    outcomes = store.record_facts([validate_fact(raw) for raw in data["events"]])
    return sum(outcome.created for outcome in outcomes)
