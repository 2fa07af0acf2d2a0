"""Request dependencies: the parts of the container a route uses, auth scopes, read
consistency, and the parameters routes share."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.types import DecoratedCallable
from pydantic import BaseModel
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

# Routes take everything they depend on from here. The scope markers' check is
# service.api.auth's, made before the body is read; the parameters are service.api.params'.
from service.api.auth import CanRead as CanRead
from service.api.auth import CanWrite as CanWrite
from service.api.auth import require as require
from service.api.params import ActorParam as ActorParam
from service.api.params import AtParam as AtParam
from service.api.params import AxesDep as AxesDep
from service.api.params import Cursor as Cursor
from service.api.params import FactFilterDep as FactFilterDep
from service.api.params import FromParam as FromParam
from service.api.params import Limit as Limit
from service.api.params import ToParam as ToParam
from service.api.params import TypeParam as TypeParam
from service.api.params import echo_axes as echo_axes
from service.api.params import fact_filter as fact_filter
from service.api.params import pinned as pinned
from service.api.params import valid_time as valid_time
from service.api.progress import Progress
from service.api.read_answers import ReadAnswer
from service.api.schemas import READ_PROBLEMS, cached_answers
from service.bootstrap import Container
from service.domain.errors import InvalidInputError, NotCaughtUpError, PositionBeyondLogError
from service.domain.facts import MAX_POSITION
from service.observability.metrics import Metrics, StoreReading
from service.readmodels.worker import PositionWatch
from service.store.application import TimelineApplication
from service.store.group_commit import GroupCommitter
from service.store.health import StorageHealth
from service.webhooks.dispatcher import Dispatcher
from service.webhooks.subscriptions import Subscriptions

T = TypeVar("T")


def _container(request: Request) -> Container:
    # Routes never take the container itself: each takes the one part it uses, below.
    container: Container = request.app.state.container
    return container


def _part(take: Callable[[Container], T]) -> Callable[[Request], Coroutine[Any, Any, T]]:
    # A coroutine, since taking a part never blocks: a plain function would cost every
    # request a hop to the thread pool and back.
    async def part(request: Request) -> T:
        return take(_container(request))

    return part


StoreDep = Annotated[TimelineApplication, Depends(_part(lambda c: c.store))]


async def get_appends(request: Request) -> GroupCommitter:
    appends: GroupCommitter = request.app.state.appends
    return appends


AppendsDep = Annotated[GroupCommitter, Depends(get_appends)]


SubscriptionsDep = Annotated[Subscriptions, Depends(_part(lambda c: c.subscriptions))]


DispatcherDep = Annotated[Dispatcher, Depends(_part(lambda c: c.dispatcher))]


# --- reading ---------------------------------------------------------------------------


def _wait(container: Container, min_position: int) -> None:
    try:
        reached = container.wait_for_position(min_position, container.settings.read_wait)
    except PositionBeyondLogError as exc:
        message = f"no append has reached position {min_position}; the log ends at {exc.head}"
        raise InvalidInputError(
            f"min_position: {message}", errors=[{"field": "min_position", "message": message}]
        ) from None
    if not reached:
        raise NotCaughtUpError(f"the read models have not reached position {min_position} yet; retry")


MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        le=MAX_POSITION,
        description=(
            "wait (bounded) until the read models include this position, one an append "
            "returned; a position beyond the log's last one is refused"
        ),
    ),
]


def read_route(
    router: APIRouter, path: str, summary: str, model: type[BaseModel], *problems: int
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """A GET in the read scope, documented with the problems any read may answer."""
    return router.get(
        path,
        dependencies=[CanRead],
        summary=summary,
        responses=cached_answers({"model": model}, *problems, *READ_PROBLEMS),
    )


def _progress(request: Request) -> Progress:
    progress: Progress = request.app.state.progress
    return progress


async def read_answer(request: Request, min_position: MinPosition = None) -> ReadAnswer:
    """The moment of the request and the ``min_position`` wait are taken here, not through
    dependencies of their own: each dependency FastAPI solves costs a read tens of
    microseconds (profiled, docs/performance.md)."""
    container = _container(request)
    if min_position is not None:
        # The wait blocks (it polls the database): in the thread pool, and only when asked for.
        await run_in_threadpool(_wait, container, min_position)
        _progress(request).advance(min_position)
    return ReadAnswer(request, container, _progress(request), container.clock())


# A read's answer: the moment of the request (``read.now``), validators and 304s, and its
# query on a read-model connection in a read slot.
Read = Annotated[ReadAnswer, Depends(read_answer)]


Connect = Callable[[], AbstractContextManager[Connection]]


# For answers that read page by page (exports, the stream): a read slot and its connection
# per page, so a long answer never holds one while it waits on its client.
Reading = Annotated[Connect, Depends(_part(lambda c: c.reading))]


ReadModelsWatch = Annotated[PositionWatch, Depends(_part(lambda c: c.read_models.watch))]


# --- operations ---------------------------------------------------------------------------


Database = Annotated[Engine, Depends(_part(lambda c: c.engine))]


StoreReadingDep = Annotated[Callable[[], StoreReading], Depends(_part(lambda c: c.store_reading))]


StorageDep = Annotated[StorageHealth, Depends(_part(lambda c: c.storage))]


MetricsDep = Annotated[Metrics, Depends(_part(lambda c: c.metrics))]
