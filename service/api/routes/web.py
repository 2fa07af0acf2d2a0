"""The web timeline at ``/``, the API's Swagger UI at ``/docs``, and their files: always open, no auth.

The page talks to ``/v1`` with the bearer token the user gives it (``#token=…`` or the token
field); the files themselves hold no data, so serving them to anyone is safe. Every file goes
out with the same headers as the pages: a file opened on its own (an SVG, an HTML file under
``/vendor``) must not be framed or run anything from elsewhere either.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from service.web import DOCS_HTML, INDEX_HTML, STATIC_DIR, VENDOR_DIR

# Self only: no CDN, no inline script; styles set through the CSSOM are not inline styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# The page keeps its token in the address's fragment: no Referer may carry the address away.
# The files are not fingerprinted: let browsers keep them but revalidate (ETag / Last-Modified).
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
def index() -> Response:
    return FileResponse(INDEX_HTML, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


# FastAPI's own /docs writes Swagger UI's start-up as an inline script and loads it from a
# CDN; this page loads the copy shipped in the package and starts it from static/docs.js.
@router.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
def docs() -> Response:
    return FileResponse(DOCS_HTML, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


class _Assets(StaticFiles):
    """StaticFiles with the pages' headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def install(app: FastAPI) -> None:
    """Serve the pages, their files at ``/static``, and the vendored libraries at ``/vendor``."""
    app.include_router(router)
    app.mount("/static", _Assets(directory=STATIC_DIR), name="static")
    app.mount("/vendor", _Assets(directory=VENDOR_DIR), name="vendor")
