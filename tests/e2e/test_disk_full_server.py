"""The real server on a SQLite file whose disk fills up under eight concurrent writers.

The disk is a small tmpfs (tests/support/diskspace.py; root only, skipped elsewhere), filled at
once with a filler file while the writers run. On the full disk every append is refused
with a 507 problem+json over a connection that stays open, reads keep answering and
/readyz says why; once the filler is deleted, appends resume without a restart and the
read models catch up. Then: nothing acknowledged is lost or doubled (tests/support/acknowledged.py)
and SQLite's ``PRAGMA integrity_check`` passes.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from bench.common.processes import serving, wait_until
from tests.support.acknowledged import READ, TOKENS, Writers, get, verify_database
from tests.support.diskspace import (
    assert_accepted_or_refused_as_full,
    fill,
    free_and_resume,
    small_disk,
)
from tests.support.marks import EXCLUSIVE
from tests.support.reports import report

pytestmark = [pytest.mark.e2e, EXCLUSIVE]


def test_sqlite_disk_fills_under_writers_refuses_with_507_and_resumes_without_restart(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "24m") as disk:
        database = disk / "timeline.sqlite3"
        url = f"sqlite:///{database}"
        with serving(url, TOKENS, tmp_path / "server" / "server.log") as server:
            writers = Writers(server.base_url)
            writers.start()
            try:
                wait_until(lambda: writers.acknowledged_count() >= 20, 15, what="the first acknowledgements")
                # The projections cannot write on a full disk either: the read checked below
                # must already be in the read models before the disk fills.
                wait_until(
                    lambda: get(server, "/v1/actors/speaker-0/timeline", READ).status_code == 200,
                    15,
                    what="speaker-0's facts in the read models",
                )
                filler = fill(disk)
                wait_until(lambda: any(a.status == 507 for a in list(writers.attempts)), 15, what="a 507")

                ready = get(server, "/readyz")
                assert ready.status_code == 503, ready.text
                assert ready.json()["status"] == "storage full"
                assert "disk full" in ready.json()["storage"]["detail"]
                listed = get(server, "/v1/events", READ, limit=5)
                assert listed.status_code == 200 and listed.json()["items"], listed.text
                timeline = get(server, "/v1/actors/speaker-0/timeline", READ)
                assert timeline.status_code == 200, timeline.text
                refused = [a for a in list(writers.attempts) if a.status == 507]
                assert wait_until(lambda: len([a for a in writers.attempts if a.status == 507]) > len(refused), 10)

                freed, resumed = free_and_resume(filler, writers)
            finally:
                writers.stop()

            tally = assert_accepted_or_refused_as_full(writers, server)
            statuses = Counter(a.status for a in tally.attempts)

            numbers, _ = verify_database(server, url, tally, "sqlite disk full")
            with sqlite3.connect(database) as conn:
                integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            assert integrity == "ok"
            lost = numbers["acknowledged_facts"] - numbers["found_facts"]
            report(
                f"[sqlite disk full] appends refused with 507: {statuses[507]}, accepted: {statuses[201]}, "
                f"facts lost: {lost}, integrity_check: {integrity}, "
                f"time to resume after the space was freed: {resumed.ended - freed:.2f}s"
            )
