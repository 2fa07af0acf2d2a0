"""The web timeline at ``/`` and its static assets at ``/static``: always open, no auth.

The page talks to ``/v1`` with the bearer token the user gives it (``#token=…`` or the token
field); the files themselves hold no data, so serving them to anyone is safe.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from service.web import INDEX_HTML, STATIC_DIR

# Self only: no CDN, no inline script; styles set through the CSSOM are not inline styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# The files are not fingerprinted: let browsers keep them but revalidate (ETag / Last-Modified).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    **SECURITY_HEADERS,
}

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
def index() -> Response:
    return FileResponse(INDEX_HTML, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


class _Assets(StaticFiles):
    """StaticFiles with revalidation and nosniff headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "no-cache")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def install(app: FastAPI) -> None:
    """Serve the page at ``/`` and its assets at ``/static``."""
    app.include_router(router)
    app.mount("/static", _Assets(directory=STATIC_DIR), name="static")
