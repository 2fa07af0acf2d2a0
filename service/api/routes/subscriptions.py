"""Webhook subscriptions (admin scope)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from starlette.responses import Response

from service.api.deps import ContainerDep, Cursor, Limit, require
from service.api.responses import JSON
from service.api.schemas import PROBLEM, _Doc
from service.domain.webhooks import ReplayIn, SubscriptionIn, SubscriptionPatch

router = APIRouter(prefix="/v1/subscriptions", tags=["webhooks"], dependencies=[require("admin")])


class Subscription(_Doc):
    id: str
    url: str
    types: list[str]
    actors: list[str]
    description: str | None
    status: Literal["active", "paused", "disabled"]
    created_at: str
    start_position: int
    disabled_reason: str | None


class NewSubscription(Subscription):
    secret: str


class SubscriptionList(_Doc):
    items: list[Subscription]


class Secret(_Doc):
    secret: str
    previous_secret_valid_until: str


class Attempt(_Doc):
    at: str
    status_code: int | None
    latency_ms: int
    error: str | None


class Delivery(_Doc):
    message_id: str
    position: int
    event_id: str
    type: str
    fact_type: str
    status: Literal["pending", "delivered", "failed"]
    next_attempt_at: str | None
    attempts: list[Attempt]


class DeliveryPage(_Doc):
    items: list[Delivery]
    next_cursor: str | None


class Replayed(_Doc):
    after: int
    messages: int


@router.post("", status_code=201, summary="Subscribe a URL to recorded changes",
             responses={201: {"model": NewSubscription}, 422: PROBLEM})
def create_subscription(new: SubscriptionIn, container: ContainerDep) -> JSON:
    return JSON(container.subscriptions.create(new), status_code=201)


@router.get("", summary="All subscriptions", responses={200: {"model": SubscriptionList}})
def list_subscriptions(container: ContainerDep) -> JSON:
    return JSON({"items": container.subscriptions.list()})


@router.get("/{subscription_id}", summary="One subscription", responses={200: {"model": Subscription}, 404: PROBLEM})
def get_subscription(subscription_id: UUID, container: ContainerDep) -> JSON:
    return JSON(container.subscriptions.get(str(subscription_id)))


@router.patch("/{subscription_id}", summary="Change URL, filters or status (active, paused)",
              responses={200: {"model": Subscription}, 404: PROBLEM, 422: PROBLEM})
def update_subscription(subscription_id: UUID, patch: SubscriptionPatch, container: ContainerDep) -> JSON:
    return JSON(container.subscriptions.update(str(subscription_id), patch))


@router.delete("/{subscription_id}", status_code=204, summary="Delete a subscription",
               responses={404: PROBLEM})
def delete_subscription(subscription_id: UUID, container: ContainerDep) -> Response:
    container.subscriptions.delete(str(subscription_id))
    return Response(status_code=204)


@router.post("/{subscription_id}/rotate-secret", summary="New secret; the old one keeps signing for 24 h",
             responses={200: {"model": Secret}, 404: PROBLEM})
def rotate_secret(subscription_id: UUID, container: ContainerDep) -> JSON:
    return JSON(container.subscriptions.rotate_secret(str(subscription_id)))


@router.get("/{subscription_id}/deliveries", summary="Messages and their attempts",
            responses={200: {"model": DeliveryPage}, 404: PROBLEM, 422: PROBLEM})
def list_deliveries(
    subscription_id: UUID,
    container: ContainerDep,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> JSON:
    return JSON(container.subscriptions.deliveries(str(subscription_id), status, cursor, limit))


@router.post("/{subscription_id}/replay", summary="Send again the changes after a position or since a time",
             responses={200: {"model": Replayed}, 404: PROBLEM, 422: PROBLEM})
def replay(subscription_id: UUID, body: ReplayIn, container: ContainerDep) -> JSON:
    result = container.subscriptions.replay(str(subscription_id), body)
    container.dispatcher.wake()
    return JSON(result)
