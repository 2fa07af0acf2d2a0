"""How benchmarks and tests start Debian's chromium headless on a machine with a closed network."""

from __future__ import annotations

# Without the background-networking switches chromium keeps opening connections that a closed
# network refuses; the rest keep a headless run quiet and repeatable.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
