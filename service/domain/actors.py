"""Actor profiles: the display data a user registers for a slug."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.domain.errors import InvalidInputError
from service.domain.facts import SLUG_PATTERN, Slug
from service.domain.lists import list_pattern, split_list
from service.domain.text import MAX_SLUG, Text

ActorKind = Literal["state", "alliance", "armed_group", "person", "organisation"]


class ActorProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text
    kind: ActorKind | None = None
    parent: Slug | None = None
    aliases: Annotated[list[Text], Field(max_length=50)] = []


def profile_record(actor_id: str, profile: ActorProfileIn) -> dict[str, Any]:
    if profile.parent == actor_id:
        raise ValueError("an actor cannot be its own parent")
    return {
        "id": actor_id,
        "name": profile.name,
        "kind": profile.kind,
        "parent": profile.parent,
        "aliases": list(dict.fromkeys(profile.aliases)),
    }


_SLUG = re.compile(SLUG_PATTERN)

# Actors one read may name (`actor=a,b,...`). Each costs the state fold and the filters their
# own work: 9,500 of them made one request take 2 s of CPU and held up every other read.
MAX_ACTORS_PER_QUERY = 200
ACTOR_LIST_PATTERN = list_pattern(SLUG_PATTERN.removeprefix("^").removesuffix("$"), most=MAX_ACTORS_PER_QUERY)


def actor_list(field: str, value: str | None) -> list[str]:
    """The actor ids of a comma-separated list; InvalidInputError naming the field if any is not
    a slug or there are more than MAX_ACTORS_PER_QUERY."""
    items = split_list(value)
    if len(items) > MAX_ACTORS_PER_QUERY:
        message = f"at most {MAX_ACTORS_PER_QUERY} actors per request, not {len(items)}"
        raise InvalidInputError(f"{field}: {message}", errors=[{"field": field, "message": message}])
    return check_slug_list(field, items)


def check_slug_list(field: str, values: list[str]) -> list[str]:
    """The values, if all are actor slugs; otherwise InvalidInputError naming the field."""
    bad = [v for v in values if len(v) > MAX_SLUG or not _SLUG.match(v)]
    if bad:
        raise InvalidInputError(
            f"{field}: not an actor id: {', '.join(bad)}",
            errors=[{"field": field, "message": "actor ids are lowercase slugs like 'nato' or 'qasem-soleimani'"}],
        )
    return values
