"""Webhook subscriptions (admin scope)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from starlette.responses import Response

from service.api.deps import Cursor, DispatcherDep, Limit, SubscriptionsDep, require
from service.api.responses import JSON
from service.api.schemas import (
    PROBLEM,
    DeliveryPage,
    DeliveryStatus,
    NewSubscription,
    Replayed,
    ReplayIn,
    Secret,
    Subscription,
    SubscriptionIn,
    SubscriptionList,
    SubscriptionPatch,
)
from service.domain.webhooks import SubscriptionChange

router = APIRouter(prefix="/v1/subscriptions", tags=["webhooks"], dependencies=[require("admin")])


@router.post(
    "",
    status_code=201,
    summary="Subscribe a URL to recorded changes",
    responses={201: {"model": NewSubscription}, 422: PROBLEM},
)
def create_subscription(new: SubscriptionIn, subscriptions: SubscriptionsDep) -> JSON:
    created = subscriptions.create(new.url, types=new.types, actors=new.actors, description=new.description)
    return JSON(created, status_code=201)


@router.get("", summary="All subscriptions", responses={200: {"model": SubscriptionList}})
def list_subscriptions(subscriptions: SubscriptionsDep) -> JSON:
    return JSON({"items": subscriptions.list()})


@router.get("/{subscription_id}", summary="One subscription", responses={200: {"model": Subscription}, 404: PROBLEM})
def get_subscription(subscription_id: UUID, subscriptions: SubscriptionsDep) -> JSON:
    return JSON(subscriptions.get(str(subscription_id)))


@router.patch(
    "/{subscription_id}",
    summary="Change URL, filters or status (active, paused)",
    responses={200: {"model": Subscription}, 404: PROBLEM, 422: PROBLEM},
)
def update_subscription(subscription_id: UUID, patch: SubscriptionPatch, subscriptions: SubscriptionsDep) -> JSON:
    return JSON(subscriptions.update(str(subscription_id), SubscriptionChange(**patch.model_dump())))


@router.delete("/{subscription_id}", status_code=204, summary="Delete a subscription", responses={404: PROBLEM})
def delete_subscription(subscription_id: UUID, subscriptions: SubscriptionsDep) -> Response:
    subscriptions.delete(str(subscription_id))
    return Response(status_code=204)


@router.post(
    "/{subscription_id}/rotate-secret",
    summary="New secret; the old one keeps signing for 24 h",
    responses={200: {"model": Secret}, 404: PROBLEM},
)
def rotate_secret(subscription_id: UUID, subscriptions: SubscriptionsDep) -> JSON:
    return JSON(subscriptions.rotate_secret(str(subscription_id)))


@router.get(
    "/{subscription_id}/deliveries",
    summary="Messages and their attempts",
    responses={200: {"model": DeliveryPage}, 404: PROBLEM, 422: PROBLEM},
)
def list_deliveries(
    subscription_id: UUID,
    subscriptions: SubscriptionsDep,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> JSON:
    return JSON(subscriptions.deliveries(str(subscription_id), status, cursor, limit))


@router.post(
    "/{subscription_id}/replay",
    summary="Send again the changes after a position or since a time",
    responses={200: {"model": Replayed}, 404: PROBLEM, 422: PROBLEM},
)
def replay(subscription_id: UUID, body: ReplayIn, subscriptions: SubscriptionsDep, dispatcher: DispatcherDep) -> JSON:
    result = subscriptions.replay(str(subscription_id), after=body.after, since=body.since)
    dispatcher.wake()
    return JSON(result)
