"""The web timeline: a static page (HTML, CSS, ES modules) shipped in the package, no build step.

``vendor/`` holds front-end libraries as their npm packages publish them, with their licences
(docs/decisions/0009-no-cdn-vendored-swagger-ui.md says which and how to refresh them).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

STATIC_DIR = Path(str(files(__name__) / "static"))
INDEX_HTML = STATIC_DIR / "index.html"
DOCS_HTML = STATIC_DIR / "docs.html"
VENDOR_DIR = Path(str(files(__name__) / "vendor"))
