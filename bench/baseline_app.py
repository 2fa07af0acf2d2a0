"""B1 and B3: the HTTP ceilings — a minimal FastAPI app on uvicorn, one worker.

``POST /v1/events`` validates a pydantic body of the same shape as a fact
(the envelope plus the type-specific fields, see docs/api.md "Facts")
and returns it with 201. No store, no I/O: whatever the service does beyond
this (normalisation, the event store commit, projections) is the difference
the benchmark measures.

B3, the read ceiling: ``GET /v1/ping`` returns a small JSON object (about the
size of a short actor state's envelope) with 200 — what a GET costs on this
stack when the handler reads nothing.

Run: ``python -m bench.baseline_app --host 127.0.0.1 --port 8001``.
It runs uvicorn the way ``python -m service serve`` does (default loop and
HTTP implementation, log level ``info`` so access logging is on too).
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from service.domain.facts import FACT_TYPES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActorRef(_Strict):
    id: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=50)


class Location(_Strict):
    name: str | None = None
    country: str | None = Field(default=None, min_length=2, max_length=2)


class Source(_Strict):
    url: str = Field(min_length=1, max_length=2000)
    publisher: str | None = None
    quote: str | None = None
    published_at: datetime | date | None = None


class FactIn(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    event_id: UUID | None = None
    type: Literal[FACT_TYPES]  # type: ignore[valid-type]  # the service's own list of types
    occurred_at: datetime | date
    occurred_until: datetime | date | None = None
    precision: Literal["instant", "minute", "hour", "day", "month", "year"] | None = None
    reported_at: datetime | date | None = None
    summary: str = Field(min_length=1, max_length=2000)
    actors: list[ActorRef] = Field(min_length=1)
    location: Location | None = None
    sources: list[Source] = Field(default_factory=list)
    confidence: Literal["confirmed", "reported", "claimed", "disputed"] = "reported"
    refers_to: list[UUID] = Field(default_factory=list)
    # type-specific fields (all optional here: the ceiling does not check per-type rules)
    text: str | None = None
    channel: str | None = None
    means: str | None = None
    fatalities: int | None = Field(default=None, ge=0)
    target_description: str | None = None
    mission: str | None = None
    mission_name: str | None = None
    personnel: int | None = Field(default=None, ge=0)
    reason: str | None = None
    temporary: bool | None = None
    from_: Location | None = Field(default=None, alias="from")
    to: Location | None = None


app = FastAPI(title="bench baseline (B1)", docs_url=None, redoc_url=None)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/v1/ping")
async def ping() -> dict[str, object]:
    return {"actor": "ping", "at": "2020-01-05T23:59:59.999999Z", "event_count": 0, "statements": 0}


@app.post("/v1/events", status_code=201)
async def record_event(fact: FactIn) -> FactIn:
    return fact


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, workers=None)


if __name__ == "__main__":
    main()
