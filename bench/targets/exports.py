"""Exports, counts and imports on a store of N synthetic facts, each beside a same-run baseline.

    .venv/bin/python -m bench.targets.exports                    # 100,000 facts on SQLite
    .venv/bin/python -m bench.targets.exports --facts 20000 --backend postgres

What it prints (standard output; progress goes to standard error), with the machine:

- **exports**: every format and CSV layout, in-process (``exports.chunks`` over
  ``queries.all_facts``, as the route streams it): facts/s, MB/s and the ratio to
  **R**, the raw read of the same rows in the same order (one SELECT of the bodies,
  each dumped with orjson): the floor any export pays to read the data.
- **export over HTTP**: ``GET /v1/export`` (jsonl, csv) from a real ``serve`` on the
  same store, read by a streaming client: time to the first byte, total, and the
  server's peak RSS before and after (an export must not hold the file in memory).
- **stats**: ``GET /v1/stats`` by day, week and month over the whole store, in-process
  (p50 of 7 runs), beside **C**, a plain count of the same facts grouped by type.
- **imports**: the same facts written as JSON Lines, as this service's CSV and as an
  ACLED-style CSV, each imported in-process into a fresh store
  (``service.imports``): rows/s, the ratio to the JSON Lines import.

Nothing is asserted: the figures are for reading, beside their machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from bench.common.databases import reset_postgres
from bench.common.dataset import BATCH, Generator
from bench.common.machine import machine_info, proc_status_kib
from bench.common.processes import TOKEN, serving
from bench.common.stats import progress
from bench.targets.context import ACTORS, ZIPF
from service.bootstrap import Container, bootstrap
from service.domain.facts import validate_fact
from service.domain.stats import bucket_counts
from service.formats import exports
from service.formats.csv_rows import FACT_COLUMNS, fact_row
from service.imports.loading import import_rows
from service.imports.reading import open_fact_file
from service.readmodels import queries
from service.readmodels.tables import fact_versions
from service.runtime import tune_garbage_collector
from service.settings import Settings

ACLED_COLUMNS = (
    "event_id_cnty",
    "event_date",
    "time_precision",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "actor2",
    "country",
    "iso",
    "location",
    "latitude",
    "longitude",
    "source",
    "notes",
    "fatalities",
    "timestamp",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.targets.exports", description=__doc__.split("\n")[0])
    parser.add_argument("--facts", type=int, default=100_000, help="facts in the store (default 100,000)")
    parser.add_argument("--import-facts", type=int, default=20_000, help="rows per import file (default 20,000)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def database_url(backend: str, folder: Path, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / f'{name}.sqlite3'}"
    url = os.environ.get("TIMELINE_BENCH_POSTGRES_URL")
    if not url:
        raise SystemExit("--backend postgres needs TIMELINE_BENCH_POSTGRES_URL (a throwaway database: it is wiped)")
    reset_postgres(url)
    return url


def generated(n: int, seed: int) -> list[dict[str, Any]]:
    gen = Generator(actors=ACTORS, seed=seed, zipf_s=ZIPF)
    return [gen.fact(i)[0] for i in range(n)]


def load(container: Container, raws: list[dict[str, Any]]) -> None:
    for start in range(0, len(raws), BATCH):
        container.store.record_facts([validate_fact(raw) for raw in raws[start : start + BATCH]])
    container.read_models.catch_up()
    if container.engine.dialect.name == "postgresql":
        # Autovacuum analyzes a freshly loaded table soon anyway; before it does, the planner
        # sorts every row for each export page instead of walking the index (80 ms vs 4 ms).
        with container.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def timed(run: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    size = run()
    return time.perf_counter() - started, size


def raw_read(container: Container) -> int:
    """Baseline R: the same rows, same order, one query, each body dumped as it is stored."""
    fr = fact_versions
    size = 0
    with container.engine.connect() as conn:
        query = (
            select(fr.c.body)
            .where(fr.c.superseded_us.is_(None), fr.c.reported_until_us.is_(None), fr.c.status == "active")
            .order_by(fr.c.occurred_us, fr.c.first_position)
        )
        for (body,) in conn.execute(query):
            size += len(orjson.dumps(body)) + 1
    return size


def export_bytes(container: Container, spec: exports.ExportSpec) -> int:
    def item(row: Any) -> exports.Exported:
        return exports.Exported(queries.fact_view(row), row.recorded_us)

    pages = queries.all_facts(
        container.reading,
        queries.Axes(as_of_us=int(time.time() * 1e6)),
        queries.FactFilter(),
        include_retracted=spec.keeps_retracted,
        item=item,
    )
    return sum(len(chunk) for chunk in exports.chunks(spec, pages))


def section_exports(container: Container, facts: int) -> dict[str, float]:
    """Facts/s of the raw read R and of every export format and layout."""
    print(f"\nexports of {facts:,} facts, in-process (ratio to R, the raw read of the same rows)")
    base_s, base_size = timed(lambda: raw_read(container))
    figures = {"R facts/s": facts / base_s}
    print(f"  {'R raw read':<22} {facts / base_s:>9,.0f} facts/s {base_size / base_s / 1e6:>7.1f} MB/s   1.00")
    for fmt, rows in (
        ("jsonl", "fact"),
        ("csv", "fact"),
        ("csv", "actor"),
        ("geojson", "fact"),
        ("ics", "fact"),
        ("timelinejs", "fact"),
    ):
        spec = exports.ExportSpec(fmt, rows)
        seconds, size = timed(lambda spec=spec: export_bytes(container, spec))
        label = f"{fmt}" + (" per actor" if rows == "actor" else "")
        print(
            f"  {label:<22} {facts / seconds:>9,.0f} facts/s {size / seconds / 1e6:>7.1f} MB/s"
            f"   {base_s / seconds:.2f}   ({size / 1e6:.1f} MB)"
        )
        figures[f"export {label} facts/s"] = facts / seconds
    return figures


def peak_rss_mb(pid: int) -> float:
    kib = proc_status_kib(pid, "VmHWM")
    return float("nan") if kib is None else kib / 1024


def section_http(url: str, folder: Path, facts: int) -> dict[str, float]:
    """Seconds to the first byte and to the end of GET /v1/export, per format, from a real server."""
    figures: dict[str, float] = {}
    with serving(url, f"{TOKEN}:read", folder / "serve.log", "--no-workers", timeout=60) as server:
        print(f"\nexport over HTTP from `serve` ({facts:,} facts; server peak RSS before -> after)")
        for fmt in ("jsonl", "csv"):
            before = peak_rss_mb(server.pid)
            started = time.perf_counter()
            first = None
            size = 0
            with httpx.stream(
                "GET",
                f"{server.base_url}/v1/export",
                params={"format": fmt},
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=600,
            ) as response:
                for chunk in response.iter_raw():
                    first = first or time.perf_counter() - started
                    size += len(chunk)
            total = time.perf_counter() - started
            print(
                f"  {fmt:<8} first byte {1000 * (first or 0):6.1f} ms, {total:6.2f} s, {facts / total:>8,.0f} facts/s,"
                f" {size / 1e6:6.1f} MB; RSS {before:.0f} -> {peak_rss_mb(server.pid):.0f} MB"
            )
            figures[f"HTTP {fmt} s"] = total
    return figures


def section_stats(container: Container, facts: int) -> dict[str, float]:
    """Milliseconds of each count (p50 of 7), beside C."""
    print(f"\nstats over {facts:,} facts, in-process (p50 of 7; C = a count of the same facts grouped by type)")
    fr = fact_versions

    def count_by_type() -> int:
        with container.engine.connect() as conn:
            conditions = [fr.c.superseded_us.is_(None), fr.c.reported_until_us.is_(None), fr.c.status == "active"]
            return len(conn.execute(select(fr.c.type, func.count()).where(*conditions).group_by(fr.c.type)).all())

    def p50(run: Callable[[], Any]) -> float:
        return statistics.median(timed(lambda: (run(), 0)[1])[0] for _ in range(7))

    base = p50(count_by_type)
    figures = {"C ms": 1000 * base}
    print(f"  {'C count by type':<22} {1000 * base:8.1f} ms   1.00")
    # actor-0001 is the busiest actor (about 5 % of the facts), actor-0300 one of the quiet ones.
    for by, actors in (("day", ()), ("week", ()), ("month", ()), ("month", ("actor-0001",)), ("day", ("actor-0300",))):

        def run(by: str = by, actors: tuple[str, ...] = actors) -> Any:
            with container.engine.connect() as conn:
                daily = queries.daily_counts(conn, queries.Axes(), queries.FactFilter(actors=actors))
                return bucket_counts(daily, by)  # type: ignore[arg-type]

        seconds = p50(run)
        label = f"by {by}" + (f", {actors[0]}" if actors else "")
        print(f"  {label:<22} {1000 * seconds:8.1f} ms   {base / seconds:.2f}")
        figures[f"counts {label} ms"] = 1000 * seconds
    return figures


def acled_rows(raws: list[dict[str, Any]]) -> Iterator[dict[str, str]]:
    """ACLED-style rows for the strikes and statements among the facts (other types have no ACLED form)."""
    for n, raw in enumerate(raws):
        place = raw.get("location") or {"name": "Baghdad", "country": "IQ", "lat": 33.3, "lon": 44.4}
        if raw["type"] == "StrikeOccurred":
            kinds = ("Explosions/Remote violence", "Air/drone strike")
        elif raw["type"] == "StatementIssued":
            kinds = ("Strategic developments", "Agreement")
        else:
            continue
        sides = [a["id"] for a in raw["actors"]] + ["civilians"]
        yield {
            "event_id_cnty": f"IRQ{n}",
            "event_date": raw["occurred_at"][:10],
            "time_precision": "1",
            "event_type": kinds[0],
            "sub_event_type": kinds[1],
            "actor1": sides[0],
            "assoc_actor_1": "",
            "actor2": sides[1],
            "country": "Iraq",
            "iso": "368",
            "location": place["name"],
            "latitude": str(place.get("lat", "")),
            "longitude": str(place.get("lon", "")),
            "source": "Example News; Wire",
            "notes": f"On that day a drone strike was reported ({n}).",
            "fatalities": str(raw.get("fatalities") or 0),
            "timestamp": "1580000000",
        }


def write_files(folder: Path, raws: list[dict[str, Any]]) -> dict[str, Path]:
    paths = {"jsonl": folder / "facts.jsonl", "csv": folder / "facts.csv", "acled": folder / "acled.csv"}
    with paths["jsonl"].open("wb") as out:
        for raw in raws:
            out.write(orjson.dumps(raw) + b"\n")
    with paths["csv"].open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(FACT_COLUMNS)
        for raw in raws:
            fact = validate_fact(raw).to_record()
            writer.writerow(fact_row({**fact, "recorded_at": None, "position": None, "revision": None, "status": None}))
    with paths["acled"].open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, ACLED_COLUMNS)
        writer.writeheader()
        writer.writerows(acled_rows(raws))
    return paths


def section_imports(backend: str, folder: Path, n: int, seed: int) -> dict[str, float]:
    """Rows/s of each import file."""
    figures: dict[str, float] = {}
    raws = generated(n, seed + 1)
    paths = write_files(folder, raws)
    print(f"\nimports, in-process into a fresh store (ratio to the JSON Lines import of the same {n:,} facts)")
    base = None
    for kind, path in paths.items():
        container = bootstrap(Settings(database_url=database_url(backend, folder, f"import-{kind}"), _env_file=None))  # type: ignore[call-arg]
        try:
            with open_fact_file(path) as source:
                seconds, rows = timed(lambda source=source, c=container: import_rows(c.store, source.rows()).read)
            recorded = container.store.max_position()
        finally:
            container.close()
        base = base or rows / seconds
        print(
            f"  {kind:<8} {rows:>7,} rows {rows / seconds:>9,.0f} rows/s   {rows / seconds / base:.2f}"
            f"   ({recorded:,} events in the store)"
        )
        figures[f"import {kind} rows/s"] = rows / seconds
    return figures


def run(backend: str, folder: Path, facts: int, import_facts: int, seed: int) -> dict[str, float]:
    """Every section on a store of ``facts`` facts in ``folder``; each prints its table and returns its figures."""
    url = database_url(backend, folder, "store")
    container = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    try:
        progress(f"loading {facts:,} facts ...")
        load(container, generated(facts, seed))
        figures = section_exports(container, facts) | section_stats(container, facts)
    finally:
        container.close()
    return figures | section_http(url, folder, facts) | section_imports(backend, folder, import_facts, seed)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tune_garbage_collector()
    with tempfile.TemporaryDirectory(prefix="timeline-bench-exports-") as work:
        for key, value in (machine_info() | {"backend": args.backend}).items():
            print(f"{key}: {value}")
        run(args.backend, Path(work), args.facts, args.import_facts, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
