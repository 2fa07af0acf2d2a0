"""The web timeline: a static page (HTML, CSS, ES modules) shipped in the package, no build step."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

STATIC_DIR = Path(str(files(__name__) / "static"))
INDEX_HTML = STATIC_DIR / "index.html"
