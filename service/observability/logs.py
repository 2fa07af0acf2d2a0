"""Log set-up: one JSON object a line (or plain text), each with the request id it belongs to.

The request id comes from the ``X-Request-ID`` middleware's context variable, so
every line a request causes (in the event loop or in a worker thread) carries it.
Nothing here logs headers or bodies: tokens and webhook secrets never reach a log.
"""

from __future__ import annotations

import logging
import sys

from asgi_correlation_id import CorrelationIdFilter
from pythonjsonlogger.orjson import OrjsonFormatter

# Uvicorn's access log is replaced by the request log (route, duration, request id); httpx
# would log every webhook URL, and a subscriber's URL can itself be a secret.
QUIET = {"uvicorn.access": logging.WARNING, "httpx": logging.WARNING}


def configure(level: str, fmt: str = "json") -> None:
    """Route every logger, uvicorn's included, through one handler on standard error."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(CorrelationIdFilter(default_value=None))
    if fmt == "json":
        handler.setFormatter(
            OrjsonFormatter(
                "{asctime}{levelname}{name}{message}{correlation_id}",
                style="{",
                rename_fields={
                    "asctime": "time",
                    "levelname": "level",
                    "name": "logger",
                    "correlation_id": "request_id",
                },
                datefmt="%Y-%m-%dT%H:%M:%S%z",
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(correlation_id)s]: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(quiet)
