"""The whole benchmark suite in one run, each target beside a baseline measured in the same run.

    .venv/bin/python -m bench [--quick] [--only 1,2,4] [--backend sqlite|postgres|both] [--markdown PATH]

Baselines (same run, same machine): B1 a FastAPI echo of a fact-sized POST, B2 raw inserts into a
table of the event store's shape (one row per commit, and 1,000 rows per transaction), B3 a FastAPI
GET of a small JSON object. Targets: 1 single-fact HTTP appends; 2 import (store, read models, batch
POSTs, peak memory); 3 projection rebuild; 4 state at a date on a skewed store (in-process and over
HTTP, server memory); 5 cost growth with the store's size; 7 webhook latency and throughput; 8 reads
over HTTP on the same store (timelines, the busiest actor, two processes, counts, the web page's
slider step, conditional GETs).

Prints progress to standard error and one table to standard output: each target, its figure, its
baseline, the ratio, and PASS or SHORT (by how much). See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common.databases import (
    PgDatabases,
    bench_postgres_url,
    postgres_server_version,
)
from bench.common.errors import BenchError
from bench.common.machine import finish_date, machine_info
from bench.common.processes import raise_interrupt, stop_all, workspace
from bench.common.stats import progress
from bench.report import SPECS, Figure, Report, markdown, print_report, put_all
from bench.targets import appends, imports, state, webhooks
from bench.targets.context import ACTORS, ZIPF, Ctx
from bench.targets.http import resolve_wrk


@dataclass(frozen=True)
class Target:
    numbers: frozenset[int]  # the --only numbers that run it
    keys: tuple[str, ...]  # its rows in the table
    run: Callable[[Ctx, str], list[Figure]]


TARGETS = (
    Target(frozenset({1}), ("1",), appends.run),
    Target(frozenset({2, 3}), ("2a", "2b", "2c", "2d", "3"), imports.run),
    Target(frozenset({4, 5, 8}), tuple(s.key for s in SPECS if s.key[0] in "458"), state.run),
    Target(frozenset({7}), ("7a", "7b"), webhooks.run),
)
NUMBERS = tuple(sorted(set().union(*(t.numbers for t in TARGETS))))
HTTP_NUMBERS = {1, 4, 8}  # the targets that need a load generator


def parse_only(text: str | None) -> set[int]:
    if not text:
        return set(NUMBERS)
    chosen: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part == "6":  # memory: the import's peak RSS (2d) and the server's (4m)
            chosen |= {2, 4}
            continue
        if not part.isdigit() or int(part) not in NUMBERS:
            raise argparse.ArgumentTypeError(f"unknown target {part!r}: choose among 1,2,3,4,5,6,7,8")
        chosen.add(int(part))
    return chosen


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--facts", type=int, help="facts in the state store of targets 4 and 5 (default 1000000; --quick 5000)"
    )
    parser.add_argument(
        "--import-facts",
        type=int,
        help="N, the facts of the import file (default 200000; --quick 1000); 2N are imported too for the memory check",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        help="measured window of each HTTP target and of B2's one-row commits (default 10; --quick 1)",
    )
    parser.add_argument("--warmup", type=float, help="warm-up before each HTTP window (default 3; --quick 1)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run")
    parser.add_argument(
        "--only",
        type=parse_only,
        default=None,
        help="comma list of targets to run (1,2,3,4,5,7,8; 6 = the memory rows, i.e. 2 and 4)",
    )
    parser.add_argument(
        "--growth-facts",
        type=int,
        help="the cost-growth curve's (5) largest store: loaded further after targets 4 and 8 "
        "(default --facts; e.g. 5000000, which takes about an hour more)",
    )
    parser.add_argument("--markdown", type=Path, help="also write the report as Markdown to this file")
    parser.add_argument(
        "--zipf",
        type=float,
        default=ZIPF,
        help=f"actor popularity exponent (default {ZIPF}: the busiest actor in ~5%% of the facts)",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=None,
        help="before each measurement, wait up to this many seconds for a quiet machine (default 20; --quick 0)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the work folder (logs, SQLite files, wrk scripts) and the PostgreSQL databases",
    )
    args = parser.parse_args(argv)
    args.argv = argv
    quick = args.quick
    defaults = {
        "facts": (1_000_000, 5_000),
        "import_facts": (200_000, 1_000),
        "seconds": (10.0, 1.0),
        "warmup": (3.0, 1.0),
        "wait_idle": (20.0, 0.0),
    }
    for name, (full, small) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    args.only = args.only or set(NUMBERS)
    args.growth_facts = max(args.growth_facts or 0, args.facts)
    # --quick: the fewest runs that still exercise every row (a smoke run, not a measurement).
    args.queries = 30 if quick else 300
    args.query_warmup = 5 if quick else 20
    args.query_seconds = 5.0 if quick else 30.0
    args.appends = 20 if quick else 200
    args.webhook_facts = 200 if quick else 2000
    args.webhook_warmup_facts = 10 if quick else 25
    args.webhook_baseline_seconds = 1.0 if quick else max(2.0, args.seconds / 2)
    if not (
        1_000 <= args.facts <= 5_000_000
        and args.growth_facts <= 10_000_000
        and 1_000 <= args.import_facts <= 2_000_000
        and 1 <= args.seconds <= 600
        and 0 <= args.warmup <= 60
        and 1 <= args.connections <= 256
    ):
        parser.error(
            "need 1000 <= --facts <= 5000000, --growth-facts <= 10000000, 1000 <= --import-facts <= 2000000, "
            "1 <= --seconds <= 600, 0 <= --warmup <= 60, 1 <= --connections <= 256"
        )
    return args


def postgres_databases(args: argparse.Namespace, backends: list[str]) -> PgDatabases | None | int:
    """Where the PostgreSQL phases get their databases; an exit status when that cannot be had."""
    if "postgres" not in backends:
        return None
    given = os.environ.get("TIMELINE_BENCH_POSTGRES_URL", "")
    if given and bench_postgres_url("postgres", "") is None:
        return 2
    if not given and shutil.which("psql") is None:
        print(
            "--backend postgres needs psql (to create a throwaway database) or TIMELINE_BENCH_POSTGRES_URL",
            file=sys.stderr,
        )
        return 2
    return PgDatabases(given or None, args.keep)


def run_targets(ctx: Ctx, backends: list[str], started: float) -> None:
    """Each chosen target on each backend; a failed measurement fails its rows, not the run."""
    only = ctx.args.only
    for target in TARGETS:
        if not only & target.numbers:
            continue
        for backend in backends:
            progress(
                f"target {'/'.join(str(t) for t in sorted(only & target.numbers))} ({backend}) "
                f"[{time.monotonic() - started:.0f} s] ..."
            )
            try:
                put_all(ctx.report, backend, target.run(ctx, backend))
            except BenchError as exc:
                progress(f"  failed: {exc}")
                ctx.report.fail([k for k in target.keys if int(k[0]) in only], backend, str(exc).splitlines()[0])
                stop_all()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    report = Report(backends)
    pg = postgres_databases(args, backends)
    if isinstance(pg, int):
        return pg
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGHUP, raise_interrupt)
    started = time.monotonic()
    report.info.update(machine_info())
    report.info["run"] = (
        f"{'--quick sizes' if args.quick else 'full sizes'}: state store {args.facts:,} facts over "
        f"{ACTORS:,} actors (Zipf s={args.zipf:g}), growth curve to {args.growth_facts:,}, "
        f"import N={args.import_facts:,}, HTTP targets "
        f"{args.warmup:g} s warm-up + {args.seconds:g} s, {args.connections} connections"
    )
    code = 0
    try:
        with workspace(args.keep, "bench-suite-", progress) as workdir:
            ctx = Ctx(args, workdir, report, None, pg)
            if args.only & HTTP_NUMBERS:
                ctx.wrk = resolve_wrk(report)
            run_targets(ctx, backends, started)
            finish_date(report.info)
            report.info["date"] += f" ({time.monotonic() - started:.0f} s)"
            describe_backends(report, backends, pg)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        report.notes.insert(0, "the run was interrupted: the figures are partial")
        code = 130
    finally:
        stop_all()
        if pg is not None:
            pg.drop_all()
    print_report(report, args)
    if args.markdown:
        args.markdown.write_text(markdown(report, args))
        progress(f"wrote {args.markdown}")
    if code == 0 and report.failed:
        code = 1
    return code


def describe_backends(report: Report, backends: list[str], pg: PgDatabases | None) -> None:
    from importlib.metadata import version

    stores = {
        "sqlite": f"eventsourcing.sqlite on SQLite {sqlite3.sqlite_version} (WAL, synchronous left at FULL)",
        "postgres": "eventsourcing.postgres (psycopg)",
    }
    report.info["event store"] = f"eventsourcing {version('eventsourcing')}; " + "; ".join(stores[b] for b in backends)
    if "postgres" in backends and pg is not None:
        url = pg.given or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        where = "the given database, wiped per phase" if pg.given else "a throwaway database per phase"
        report.info["postgresql"] = f"{postgres_server_version(url)} on 127.0.0.1 ({where})"
    report.info["httpx"] = httpx.__version__


if __name__ == "__main__":
    sys.exit(main())
