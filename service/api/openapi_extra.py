"""What FastAPI cannot derive for the OpenAPI document: rules checked in code, and links.

A document looser than the service leaves clients (and generated tests) to learn its rules
from 422s; a rule stated here must be exactly one the code enforces, or a generated
client would send what the service refuses, or be told a refusal is wrong. Every rule
below is derived from the definition the validation itself uses (``ROLES``, the URL
check), never restated by hand.

Links say which answer feeds which call: a recorded fact's ``event_id`` its reads,
corrections and retraction; a subscription's ``id`` its operations. They make the whole
API reachable from the operations that create things, for clients and stateful testing.
"""

from __future__ import annotations

from typing import Any

from service.api.schemas import SubscriptionPatch
from service.domain.facts import FACT_TYPES, ROLES
from service.domain.text import URL_PATTERN

# Location.country: two letters, either case (upper-cased, then looked up in ISO 3166-1).
COUNTRY_PATTERN = r"^[A-Za-z]{2}$"

EVENT_ID = {"event_id": "$response.body#/event_id"}
SUBSCRIPTION = {"subscription_id": "$response.body#/id"}
ACTOR = {"actor_id": "$response.body#/id"}
SUBSCRIPTION_OPERATIONS = [
    ("/v1/subscriptions/{subscription_id}", method, SUBSCRIPTION) for method in ("get", "patch", "delete")
] + [
    ("/v1/subscriptions/{subscription_id}/" + tail, method, SUBSCRIPTION)
    for tail, method in (("rotate-secret", "post"), ("deliveries", "get"), ("replay", "post"))
]


def fact_operations(fact: str, position: str) -> list[tuple[str, str, dict[str, str]]]:
    """What an answer holding a fact at JSON pointer ``fact`` feeds; its reads wait for the
    write's ``position`` (a field of the fact), so they see it. The lists are fed by the
    changes feed, which this links to."""
    after = {"min_position": f"$response.body#{fact}/{position}"}
    event_id = {"event_id": f"$response.body#{fact}/event_id"}
    first_actor = {"actor_id": f"$response.body#{fact}/actors/0/id", **after}
    return [
        ("/v1/events/{event_id}", "get", {**event_id, **after}),
        ("/v1/events/{event_id}/corrections", "post", event_id),
        ("/v1/events/{event_id}/retraction", "post", event_id),
        ("/v1/actors/{actor_id}/timeline", "get", first_actor),
        ("/v1/actors/{actor_id}/state", "get", first_actor),
        ("/v1/actors/{actor_id}", "put", {"actor_id": f"$response.body#{fact}/actors/0/id"}),
        ("/v1/changes", "get", {"after": f"$response.body#{fact}/{position}"}),
    ]


# The changes feed's `next_after` is a position the read models have reached: every list
# read there sees at least what the page showed, and the feed goes on from it.
AFTER_CHANGES = {"min_position": "$response.body#/next_after"}
CHANGES_OPERATIONS = [
    ("/v1/changes", "get", {"after": "$response.body#/next_after"}),
    *((path, "get", AFTER_CHANGES) for path in ("/v1/events", "/v1/actors", "/v1/state", "/v1/stats", "/v1/export")),
]


# (path, method, status) -> the operations its answer feeds, with the parameters it fills.
LINKS: dict[tuple[str, str, str], list[tuple[str, str, dict[str, str]]]] = {
    ("/v1/events", "post", "201"): fact_operations("", "position"),
    ("/v1/events/batch", "post", "201"): fact_operations("/items/0", "position"),
    ("/v1/events/{event_id}/corrections", "post", "201"): fact_operations("", "change_position"),
    ("/v1/events/{event_id}/retraction", "post", "201"): fact_operations("", "change_position")[:1],
    ("/v1/actors/{actor_id}", "put", "200"): [
        ("/v1/actors/{actor_id}/timeline", "get", ACTOR),
        ("/v1/actors/{actor_id}/state", "get", ACTOR),
    ],
    ("/v1/changes", "get", "200"): CHANGES_OPERATIONS,
    # The facts a list showed, as a file.
    ("/v1/events", "get", "200"): [("/v1/export", "get", {})],
    ("/v1/subscriptions", "post", "201"): SUBSCRIPTION_OPERATIONS,
    ("/v1/subscriptions/{subscription_id}", "get", "200"): SUBSCRIPTION_OPERATIONS[1:],
    ("/v1/subscriptions/{subscription_id}", "patch", "200"): SUBSCRIPTION_OPERATIONS,
    # A service that is up is asked whether it is ready, then for its figures.
    ("/healthz", "get", "200"): [("/readyz", "get", {})],
    ("/readyz", "get", "200"): [("/metrics", "get", {})],
}


def refine(document: dict[str, Any]) -> None:
    """Adds the rules and links above to FastAPI's ``document``, in place."""
    schemas = document["components"]["schemas"]
    for kind in FACT_TYPES:
        _state_roles(schemas[kind], kind)
    schemas["Source"]["properties"]["url"]["pattern"] = URL_PATTERN
    schemas["Location"]["properties"]["country"]["pattern"] = COUNTRY_PATTERN
    # PersonnelRepositioned: a move has an end, where it came from, where it went, or both.
    schemas["PersonnelRepositioned"]["anyOf"] = [
        _present(end, {"$ref": "#/components/schemas/Location"}) for end in ("from", "to")
    ]
    _not_nullable(schemas["SubscriptionPatch"], SubscriptionPatch.NOT_NULL)
    # A replay starts after a position or at a time: exactly one of them.
    schemas["ReplayIn"]["oneOf"] = [
        _present("after", {"type": "integer"}),
        _present("since", {"type": "string"}),
    ]
    _add_links(document)


def _present(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The field is given, and not null."""
    return {"required": [name], "properties": {name: schema}}


def _not_nullable(schema: dict[str, Any], names: tuple[str, ...]) -> None:
    """Fields that may be left out but not sent as null."""
    for name in names:
        field = schema["properties"][name]
        choices = [c for c in field.pop("anyOf") if c != {"type": "null"}]
        assert len(choices) == 1, (name, choices)
        field.update(choices[0])


def _state_roles(schema: dict[str, Any], kind: str) -> None:
    required, optional = ROLES[kind]
    actors = schema["properties"]["actors"]
    actors["items"] = {
        "allOf": [actors["items"]],
        "properties": {"role": {"enum": sorted(required | optional)}},
    }
    # At least one actor in a required role; no actor twice in one role.
    actors["contains"] = {"properties": {"role": {"enum": sorted(required)}}, "required": ["role"]}
    actors["uniqueItems"] = True
    schema["properties"]["refers_to"]["uniqueItems"] = True


def _add_links(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for (path, method, status), targets in LINKS.items():
        response = paths[path][method]["responses"][status]
        links = response.setdefault("links", {})
        for target_path, target_method, parameters in targets:
            target = paths[target_path][target_method]
            link: dict[str, Any] = {"operationId": target["operationId"]}
            if parameters:
                link["parameters"] = parameters
            links[target["operationId"]] = link
