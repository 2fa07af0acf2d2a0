"""Exports: the facts a list would show, streamed as CSV, JSON Lines, GeoJSON, iCalendar or TimelineJS."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response, StreamingResponse

from service.api import conditional
from service.api.deps import AxesDep, CanRead, FactFilterDep, Read, Reading, pinned
from service.api.schemas import CACHE_HEADERS, NOT_MODIFIED, PROBLEM
from service.domain.errors import InvalidInputError
from service.domain.instants import format_instant, micros_to_text
from service.formats import exports
from service.readmodels import queries

router = APIRouter(prefix="/v1/export", tags=["exports"])

# JSON formats are one document (an object); the others are text.
EXPORT_CONTENT = {
    media.split(";")[0]: {"schema": {"type": "object" if media.endswith("json") else "string"}}
    for media in exports.MEDIA_TYPES.values()
}


def _exported(row: Any) -> exports.Exported:
    return exports.Exported(queries.fact_view(row), row.recorded_us)


@router.get(
    "",
    dependencies=[CanRead],
    summary="Export facts as CSV, JSON Lines, GeoJSON, iCalendar or TimelineJS",
    description=(
        "The facts `GET /v1/events` would list (same filters and time axes, same order), streamed. "
        "An export is one snapshot: `as_of` defaults to the moment of the request, given back in "
        "`X-Timeline-As-Of`. Retracted facts are left out, except from iCalendar, where they are "
        "`STATUS:CANCELLED` so that calendars drop them."
    ),
    response_class=StreamingResponse,
    responses={
        200: {"description": "the export, streamed", "content": EXPORT_CONTENT, "headers": CACHE_HEADERS},
        304: NOT_MODIFIED,
        422: PROBLEM,
        503: PROBLEM,
    },
)
async def export_facts(
    read: Read,
    reading: Reading,
    axes: AxesDep,
    format_: Annotated[exports.ExportFormat, Query(alias="format")],
    filt: FactFilterDep,
    rows: Annotated[exports.RowsPer, Query(description="csv: one row per fact, or one per (fact, actor)")] = "fact",
) -> Response:
    if rows != "fact" and format_ != "csv":
        # Said rather than ignored: a client asking for per-actor rows would otherwise get per-fact ones.
        message = f"rows={rows} applies to format=csv only"
        raise InvalidInputError(message, errors=[{"field": "rows", "message": message}])
    spec = exports.ExportSpec(format_, rows, tuple(filt.actors))
    # The format is a query parameter, not negotiated from Accept: the tag covers it already.
    found = await read.validators(axes.as_of_us)
    if read.held(found):
        return conditional.not_modified(found)
    snapshot = pinned(axes, read.now)
    pages = queries.all_facts(reading, snapshot, filt, include_retracted=spec.keeps_retracted, item=_exported)
    stamp = read.now.strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        exports.chunks(spec, pages),
        media_type=exports.MEDIA_TYPES[format_],
        headers={
            "Content-Disposition": f'attachment; filename="timeline-{stamp}.{exports.EXTENSIONS[format_]}"',
            "X-Timeline-As-Of": micros_to_text(snapshot.as_of_us) or format_instant(read.now),
            **found.headers(),
        },
    )
