"""Append throughput over HTTP: the service's POST /v1/events against an HTTP ceiling.

    .venv/bin/python -m bench.append_http [--seconds 10] [--connections 16] [--backend sqlite|postgres]

In one run it starts, one after the other on free loopback ports:

* B1 — ``bench/baseline_app.py``: FastAPI + uvicorn, one worker, a POST endpoint that
  validates a fact-shaped pydantic body and returns it with 201 (no store at all);
* the service — ``python -m service serve`` on a fresh database (SQLite: a new file in a
  temporary folder; PostgreSQL: the URL in ``TIMELINE_BENCH_POSTGRES_URL``);

drives each with ``bench/loadgen.py`` in a separate process (asyncio + httpx, N keep-alive
connections, unique bodies, warm-up, then a fixed window), prints a table and the ratio
service/B1 with the machine it ran on, then checks that the store holds exactly the facts
that were answered 201. Every child process is ended before the command returns.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.common.databases import (
    bench_postgres_url,
    ids_in_postgres,
    ids_in_sqlite,
    libpq_url,
    postgres_server_version,
)
from bench.common.errors import BenchError
from bench.common.machine import finish_date, machine_info
from bench.common.processes import (
    TOKEN,
    raise_interrupt,
    start_server,
    stop_all,
    stop_server,
    workspace,
)
from bench.common.stats import fmt
from bench.targets.http import other_cpu_pct, run_load


def ids_from_changes(base: str, min_position: int) -> tuple[set[str], int]:
    """Event ids of 'recorded' changes from GET /v1/changes (the read model), waiting for min_position."""
    ids: set[str] = set()
    rows = 0
    after = 0
    deadline = time.monotonic() + 120
    with httpx.Client(
        base_url=base, timeout=30.0, trust_env=False, headers={"authorization": f"Bearer {TOKEN}"}
    ) as client:
        while True:
            params: dict[str, Any] = {"after": after, "limit": 1000}
            if min_position:
                params["min_position"] = min_position
            response = client.get("/v1/changes", params=params)
            if response.status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            if response.status_code != 200:
                raise BenchError(f"GET /v1/changes answered {response.status_code}: {response.text[:300]}")
            page = response.json()
            items = page["items"]
            if not items:
                return ids, rows
            for item in items:
                if item["kind"] == "recorded":
                    rows += 1
                    ids.add(str(uuid.UUID(item["event_id"])))
            after = page["next_after"]
            if time.monotonic() > deadline:
                raise BenchError("paging GET /v1/changes took over 120 s")


def errors_text(result: dict[str, Any]) -> str:
    errs = result["errors_in_window"]
    return str(sum(errs.values())) + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(errs.items()))})" if errs else "")


def print_table(rows: list[tuple[str, dict[str, Any]]]) -> None:
    header = ("target", "requests/s", "p50 ms", "p99 ms", "errors", "server CPU", "loadgen CPU", "other CPU")
    lines = [header]
    for name, r in rows:
        lines.append(
            (
                name,
                fmt(r["requests_per_s"], ".0f"),
                fmt(r["p50_ms"], ".1f"),
                fmt(r["p99_ms"], ".1f"),
                errors_text(r),
                fmt(r["server_cpu_pct"], ".0f") + "%",
                fmt(r["loadgen_cpu_pct"], ".0f") + "%",
                fmt(other_cpu_pct(r), ".0f") + "%",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.append_http", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per target (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up before the window (default 2)")
    parser.add_argument("--request-timeout", type=float, default=30.0, help="per-request timeout (default 30)")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=120.0,
        help="before each target, wait up to this many seconds for the machine to be quiet "
        "(<15%% busy for 2 s); 0 to skip (default 120)",
    )
    parser.add_argument(
        "--shared-pool",
        action="store_true",
        help="load generator: one httpx pool of N connections instead of N one-connection "
        "clients (costs the client about twice the CPU per request)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = parser.parse_args(argv)
    if not (0 < args.seconds <= 600 and 1 <= args.connections <= 1024 and 0 <= args.warmup <= 60):
        parser.error("need 0 < --seconds <= 600, 1 <= --connections <= 1024, 0 <= --warmup <= 60")
    return args


def measure_b1(args: argparse.Namespace, workdir: Path, notes: list[str]) -> dict[str, Any]:
    """B1, the HTTP ceiling."""
    b1, base = start_server("B1 baseline", None, "", workdir)
    try:
        print(f"B1 up on {base}; {args.warmup:g} s warm-up + {args.seconds:g} s ...", flush=True)
        return run_load(b1, base, args, workdir, token="")
    finally:
        stop_server(b1, notes)


def measure_service(
    args: argparse.Namespace, db_url: str, backend_desc: str, workdir: Path, notes: list[str]
) -> tuple[dict[str, Any], set[str], set[str], int]:
    """The service; (load result, ids in /v1/changes before, ids after, rows in /v1/changes)."""
    svc, base = start_server(f"service ({args.backend})", db_url, f"{TOKEN}:write", workdir)
    try:
        before_ids, _ = ids_from_changes(base, 0)
        if before_ids:
            notes.append(f"the database was not empty: {len(before_ids)} facts before the run")
        print(f"service up on {base} ({backend_desc}); {args.warmup:g} s warm-up + {args.seconds:g} s ...", flush=True)
        r_svc = run_load(svc, base, args, workdir, token=TOKEN)
        changes_ids, changes_rows = ids_from_changes(base, r_svc["max_position"])
    finally:
        stop_server(svc, notes)
    return r_svc, before_ids, changes_ids, changes_rows


def print_accounting(
    r_svc: dict[str, Any],
    before_ids: set[str],
    changes_ids: set[str],
    changes_rows: int,
    store_ids: list[str] | None,
    store_how: str,
) -> bool:
    """The store and /v1/changes against the 201 answers; whether they hold exactly the same facts."""
    created_set = {str(uuid.UUID(i)) for i in r_svc["created_ids"]}
    new_changes = changes_ids - before_ids
    print()
    print("Accounting (service):")
    print(
        f"  requests sent:                 {r_svc['sent_total']}"
        f"  (answers by status: {r_svc['status_total'] or '{}'};"
        f" no answer: {sum(r_svc['exceptions_total'].values())})"
    )
    print(f"  201 answers (whole run):       {r_svc['created_total']}  (distinct event_ids: {len(created_set)})")
    print(f"  GET /v1/changes 'recorded':    {len(new_changes)} new  ({changes_rows} rows in total)")
    ok = True
    if store_ids is None:
        print("  store:                         not read (no psql client on PATH)")
    else:
        new_store = set(store_ids) - before_ids
        print(f"  store ({store_how}): {len(new_store)} new facts  ({len(store_ids)} rows in total)")
        missing, extra = created_set - new_store, new_store - created_set
        if missing or extra or len(store_ids) != len(set(store_ids)):
            ok = False
            print(f"  MISMATCH: {len(missing)} answered 201 but not stored, {len(extra)} stored without a 201 answer")
    if new_changes != created_set:
        ok = False
        print(
            f"  MISMATCH in /v1/changes: {len(created_set - new_changes)} missing, "
            f"{len(new_changes - created_set)} unexpected"
        )
    print(f"  result:                        {'OK — store == 201 answers' if ok else 'MISMATCH'}")
    return ok


def load_notes(args: argparse.Namespace, results: list[tuple[str, dict[str, Any]]], notes: list[str]) -> None:
    unknown = sum(results[-1][1]["exceptions_total"].values())
    if unknown:
        notes.append(
            f"{unknown} requests got no answer (outcome unknown; a stored fact without a 201 is then possible)"
        )
    for name, r in results:
        if r["unfinished_requests"]:
            notes.append(f"{name}: {r['unfinished_requests']} requests still in flight at the drain limit")
        non2xx = {k: v for k, v in r["status_total"].items() if not k.startswith("2")}
        if non2xx:
            notes.append(f"{name}: non-2xx answers over the whole run: {non2xx}; first: {r['first_error_bodies'][:2]}")
        if r["exceptions_total"]:
            notes.append(f"{name}: transport errors over the whole run: {r['exceptions_total']}")
        if not r.get("machine_quiet_before", True):
            notes.append(
                f"{name}: the machine was still {r['machine_busy_before_pct']:.0f}% busy with other "
                f"work after waiting {args.wait_idle:g} s; this figure is disturbed"
            )
        other = other_cpu_pct(r)
        if other is not None and other > 15 and not (args.backend == "postgres" and name.startswith("service")):
            notes.append(
                f"{name}: other processes used {other:.0f}% of a core during the window; this figure is disturbed"
            )
        if r["loadgen_cpu_pct"] and r["loadgen_cpu_pct"] > 85:
            notes.append(
                f"{name}: the load generator used {r['loadgen_cpu_pct']:.0f}% of a core: "
                "it may be the bottleneck, so read this figure as a lower bound"
            )


def run(args: argparse.Namespace, pg_url: str, workdir: Path) -> int:
    info = machine_info()
    notes: list[str] = []
    r_b1 = measure_b1(args, workdir, notes)
    if args.backend == "sqlite":
        db_path: Path | None = workdir / "timeline.sqlite3"
        db_url, backend_desc = f"sqlite:///{db_path}", "SQLite file in a fresh temporary folder"
    else:
        db_path, db_url = None, pg_url
        backend_desc = f"PostgreSQL {postgres_server_version(pg_url)} at {libpq_url(pg_url).split('@')[-1]}"
    r_svc, before_ids, changes_ids, changes_rows = measure_service(args, db_url, backend_desc, workdir, notes)
    results = [("B1 FastAPI echo (ceiling)", r_b1), (f"service ({args.backend})", r_svc)]
    # The store is read after the service has stopped.
    if db_path is not None:
        store_ids: list[str] | None = ids_in_sqlite(db_path)
        store_how = f"stored_events in {db_path.name}, read after the service stopped"
    else:
        store_ids = ids_in_postgres(pg_url)
        store_how = "stored_events via psql, read after the service stopped"
    print()
    print(
        "Append over HTTP: POST /v1/events, closed loop, "
        f"{args.connections} keep-alive connections, {args.warmup:g} s warm-up + {args.seconds:g} s "
        "measured per target; only 2xx counted"
    )
    print(f"service backend: {backend_desc}")
    print()
    print_table(results)
    ratio = r_svc["requests_per_s"] / r_b1["requests_per_s"] if r_b1["requests_per_s"] else None
    print()
    print(f"ratio service/B1 (requests/s): {fmt(ratio, '.3f')}")
    print()
    finish_date(info)
    for key, value in info.items():
        print(f"{key + ':':16}{value}")
    print(
        f"{'load generator:':16}separate process, {r_svc.get('event_loop', '?')}, httpx {httpx.__version__}, "
        f"{r_svc.get('client_pools', '?')}"
    )
    ok = print_accounting(r_svc, before_ids, changes_ids, changes_rows, store_ids, store_how)
    load_notes(args, results, notes)
    if notes:
        print()
        print("Notes:")
        for note in notes:
            print(f"  - {note}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pg_url = bench_postgres_url(args.backend, "an empty database: the service's migrations create the tables")
    if pg_url is None:
        return 2
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGHUP, raise_interrupt)
    try:
        with workspace(args.keep, "bench-append-http-") as workdir:
            return run(args, pg_url, workdir)
    except BenchError as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
