"""Webhook delivery: append-to-delivery latency and deliveries per second, against a local receiver.

    .venv/bin/python -m bench.webhooks [--facts 2000] [--backend sqlite|postgres]

In one run it starts, each on a free port on 127.0.0.1 and each in its own process:

* a receiver — a minimal HTTP/1.1 server (asyncio, uvloop and httptools when installed) that
  answers every ``POST`` with 204 and records, per request, its arrival time (CLOCK_MONOTONIC,
  which every process on the machine shares), its ``webhook-id`` header and the body's
  ``data.position`` and ``data.event.event_id``;
* the service — ``python -m service serve`` on a fresh database (SQLite: a new file in a
  temporary folder; PostgreSQL: the URL in ``TIMELINE_BENCH_POSTGRES_URL``), token ``bench:admin``,
  ``TIMELINE_WEBHOOK_ALLOW_HOSTS=127.0.0.1``, with one subscription to the receiver;

then measures

1. latency: facts POSTed one at a time at a steady rate (default 50/s for 10 s, after a short
   warm-up); for each, the time from its 201 to the receiver's arrival of its first delivery;
2. throughput: ``--facts`` facts recorded with ``POST /v1/events/batch`` (1,000 per batch), then
   the time until the receiver holds all their deliveries;
3. the receiver's raw capacity in the same run (the service stopped): a separate process POSTs a
   real delivery body to it over 16 keep-alive connections (asyncio + httpx), and once more in
   the dispatcher's own shape (one ``httpx.Client`` shared by 16 threads, Standard Webhooks
   signature computed per request, no database);

prints a table with the machine it ran on, and checks that every fact was delivered exactly once.
Every child process is ended before the command returns. The measurement is
``bench.targets.webhooks`` (the suite's target 7); see bench/README.md.
"""

from __future__ import annotations

import argparse
import signal
import sys

from bench.common.databases import bench_postgres_url
from bench.common.errors import BenchError
from bench.common.processes import raise_interrupt, stop_all, workspace
from bench.targets.webhooks import measure


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhooks", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--facts", type=int, default=2000, help="facts for the throughput phase (default 2000)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rate", type=float, default=50.0, help="facts per second in the latency phase (default 50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency phase (default 10)")
    parser.add_argument(
        "--warmup-facts",
        type=int,
        default=25,
        help="facts sent at the same rate before the latency phase, not measured (default 25)",
    )
    parser.add_argument(
        "--connections", type=int, default=16, help="connections / threads of the raw-capacity clients (default 16)"
    )
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=5.0,
        help="measured window of each raw-capacity client (default 5, after 1 s warm-up)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="seconds to wait after the last delivery for late duplicates (default 2)",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=60.0,
        help="before each phase, wait up to this many seconds for the machine to be quiet "
        "(<15%% busy for 2 s); 0 to skip (default 60)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = parser.parse_args(argv)
    if not (
        1 <= args.facts <= 100_000
        and 0 < args.rate <= 1000
        and 0 < args.seconds <= 600
        and 0 <= args.warmup_facts <= 10_000
        and 1 <= args.connections <= 256
        and 0 < args.baseline_seconds <= 120
        and 0 <= args.settle <= 60
    ):
        parser.error(
            "need 1 <= --facts <= 100000, 0 < --rate <= 1000, 0 < --seconds <= 600, "
            "1 <= --connections <= 256, 0 < --baseline-seconds <= 120, 0 <= --settle <= 60"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    pg_url = bench_postgres_url(args.backend, "an empty database: the service's migrations create the tables")
    if pg_url is None:
        return 2
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGHUP, raise_interrupt)
    exit_code = 0
    try:
        with workspace(args.keep, "bench-webhooks-") as workdir:
            exit_code = measure(args, pg_url, workdir, {}, [])
    except BenchError as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        exit_code = 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        exit_code = 130
    finally:
        stop_all()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
