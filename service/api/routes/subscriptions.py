"""Webhook subscriptions (admin scope)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from starlette.responses import Response

from service.api.deps import Cursor, DispatcherDep, Limit, SubscriptionsDep, require
from service.api.responses import JSON
from service.api.schemas import (
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
    answers,
)
from service.domain.webhooks import SubscriptionChange

router = APIRouter(prefix="/v1/subscriptions", tags=["webhooks"], dependencies=[require("admin")])


@router.post(
    "",
    status_code=201,
    summary="Subscribe a URL to recorded changes",
    responses=answers(NewSubscription, 422, status=201),
)
def create_subscription(new: SubscriptionIn, subscriptions: SubscriptionsDep) -> JSON:
    created = subscriptions.create(new.url, types=new.types, actors=new.actors, description=new.description)
    return JSON(created, status_code=201)


@router.get("", summary="All subscriptions", responses=answers(SubscriptionList))
def list_subscriptions(subscriptions: SubscriptionsDep) -> JSON:
    return JSON({"items": subscriptions.list()})


@router.get("/{subscription_id}", summary="One subscription", responses=answers(Subscription, 404))
def get_subscription(subscription_id: UUID, subscriptions: SubscriptionsDep) -> JSON:
    return JSON(subscriptions.get(str(subscription_id)))


@router.patch(
    "/{subscription_id}",
    summary="Change URL, filters or status (active, paused)",
    responses=answers(Subscription, 404, 422),
)
def update_subscription(subscription_id: UUID, patch: SubscriptionPatch, subscriptions: SubscriptionsDep) -> JSON:
    return JSON(subscriptions.update(str(subscription_id), SubscriptionChange(**patch.model_dump())))


@router.delete("/{subscription_id}", status_code=204, summary="Delete a subscription", responses=answers(None, 404))
def delete_subscription(subscription_id: UUID, subscriptions: SubscriptionsDep) -> Response:
    subscriptions.delete(str(subscription_id))
    return Response(status_code=204)


@router.post(
    "/{subscription_id}/rotate-secret",
    summary="New secret; the old one keeps signing for 24 h",
    responses=answers(Secret, 404),
)
def rotate_secret(subscription_id: UUID, subscriptions: SubscriptionsDep) -> JSON:
    return JSON(subscriptions.rotate_secret(str(subscription_id)))


@router.get(
    "/{subscription_id}/deliveries", summary="Messages and their attempts", responses=answers(DeliveryPage, 404, 422)
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
    responses=answers(Replayed, 404, 422),
)
def replay(subscription_id: UUID, body: ReplayIn, subscriptions: SubscriptionsDep, dispatcher: DispatcherDep) -> JSON:
    result = subscriptions.replay(str(subscription_id), after=body.after, since=body.since)
    dispatcher.wake()
    return JSON(result)
