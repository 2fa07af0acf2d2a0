"""Actor profiles: the display data a user registers for a slug."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.domain.facts import Slug, Text

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


class _SlugCheck(BaseModel):
    id: Slug


def check_slug(value: str) -> str:
    """Raises pydantic's ValidationError when ``value`` is not an actor slug."""
    return _SlugCheck(id=value).id


