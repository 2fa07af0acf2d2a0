"""What the suite's targets share in one run: options, work folder, report, databases, and the
baselines measured once per run and reused."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common.databases import PgDatabases, fresh_database, release_database
from bench.common.machine import quiet_or_note
from bench.report import Report

if TYPE_CHECKING:
    from bench.targets.http import Load

ACTORS = 1000
ZIPF = 0.62  # with 1,000 actors, the busiest one is in about 5 % of the facts (bench.common.dataset's generator)
DISTURBED_PCT = 25.0  # other processes' CPU (% of one core) above which a figure is flagged as disturbed


@dataclass
class Ctx:
    args: argparse.Namespace
    workdir: Path
    report: Report
    wrk: str | None
    pg: PgDatabases | None
    b1: Load | None = None
    b3: Load | None = None
    b2: dict[str, dict[str, float]] = field(default_factory=dict)
    sample: list[tuple[str, bytes]] = field(default_factory=list)
    files: tuple[Path, Path] | None = None
    disturbed: list[str] = field(default_factory=list)

    def quiet(self, what: str) -> None:
        quiet_or_note(self.args.wait_idle, what, self.report.notes)

    def note(self, text: str) -> None:
        self.report.notes.append(text)

    def fresh_db(self, backend: str, phase: str) -> tuple[str, Path | None]:
        """(SQLAlchemy URL, SQLite path or None) of a new, empty database for one phase."""
        return fresh_database(self.workdir, self.pg, backend, phase)

    def release_db(self, url: str, path: Path | None) -> None:
        release_database(self.pg, self.args.keep, url, path)
