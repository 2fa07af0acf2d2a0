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
import contextlib
import datetime as dt
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench"
FACT_TOPICS = (
    "StrikeOccurred",
    "MissionSuspended",
    "MissionResumed",
    "PersonnelDeployed",
    "PersonnelRepositioned",
    "StatementIssued",
)
START_TIMEOUT_S = 90.0  # the service applies migrations before it listens
STOP_TIMEOUT_S = 15.0


class BenchError(RuntimeError):
    pass


# --- machine --------------------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo", encoding="ascii") as fh:
        kib = int(fh.readline().split()[1])
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "service", "migrations"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        commit = rev + (" (+ uncommitted changes in service/ or migrations/)" if dirty else "")
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": str(usable),
        "cpu": model,
        "memory": mem,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "service commit": commit,
    }


# --- child processes ------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path


_children: list[Child] = []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_child(name: str, argv: list[str], env: dict[str, str], log_path: Path) -> Child:
    log = open(log_path, "wb")  # noqa: SIM115 (the child owns it; closed below)
    try:
        proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that stop() reaches its children too
        )
    finally:
        log.close()
    child = Child(name, proc, log_path)
    _children.append(child)
    return child


def stop(child: Child) -> int | None:
    """SIGTERM the child's process group, then SIGKILL after a grace period."""
    proc = child.proc
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT_S)
    else:
        # The leader is gone; anything it left in its group goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    if child in _children:
        _children.remove(child)
    return proc.returncode


def stop_all() -> None:
    for child in list(reversed(_children)):
        with contextlib.suppress(Exception):
            stop(child)


def _on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def wait_healthy(child: Child, base: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(base_url=base, timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if child.proc.poll() is not None:
                raise BenchError(f"{child.name} exited with {child.proc.returncode} before answering\n{log_tail(child)}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get("/healthz").status_code == 200:
                    return
            time.sleep(0.1)
    raise BenchError(f"{child.name} did not answer /healthz within {START_TIMEOUT_S:.0f} s\n{log_tail(child)}")


def machine_busy_pct(interval: float = 1.0) -> float | None:
    """Share of all CPUs busy over the next ``interval`` seconds, from /proc/stat."""

    def sample() -> tuple[int, int] | None:
        try:
            with open("/proc/stat", encoding="ascii") as fh:
                values = [int(v) for v in fh.readline().split()[1:]]
        except OSError:
            return None
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values[:8]) - idle, sum(values[:8])

    first = sample()
    time.sleep(interval)
    second = sample()
    if first is None or second is None or second[1] <= first[1]:
        return None
    return 100.0 * (second[0] - first[0]) / (second[1] - first[1])


def wait_for_quiet(limit_s: float, threshold: float = 15.0) -> tuple[bool, float | None]:
    """Wait (at most limit_s) until the machine is below threshold% busy for 2 s in a row."""
    deadline = time.monotonic() + limit_s
    quiet = 0
    busy = None
    while True:
        busy = machine_busy_pct(1.0)
        if busy is None:
            return True, None
        quiet = quiet + 1 if busy < threshold else 0
        if quiet >= 2:
            return True, busy
        if time.monotonic() >= deadline:
            return False, busy


def log_tail(child: Child, lines: int = 30) -> str:
    try:
        text = child.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    | " + line for line in text[-lines:])


def log_problems(child: Child) -> dict[str, int]:
    """Counts of worrying lines in a server's log (5xx answers, tracebacks, errors)."""
    counts = {"tracebacks": 0, "ERROR lines": 0, "5xx in access log": 0}
    try:
        with open(child.log_path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("Traceback"):
                    counts["tracebacks"] += 1
                if " ERROR " in line or line.startswith("ERROR:"):
                    counts["ERROR lines"] += 1
                if 'HTTP/1.1" 5' in line:
                    counts["5xx in access log"] += 1
    except OSError:
        pass
    return counts


# --- load -----------------------------------------------------------------------------------


def run_load(
    child: Child, base: str, args: argparse.Namespace, workdir: Path, token: str, path: str = "/v1/events",
    get: bool = False,
) -> dict[str, Any]:
    """Drive ``child`` with bench/loadgen.py in its own process: POSTs of unique facts to ``path``
    (or GETs of ``path`` with ``get``); the load generator's JSON result."""
    quiet_before: float | None = None
    was_quiet = True
    if args.wait_idle > 0:
        was_quiet, quiet_before = wait_for_quiet(args.wait_idle)
    out = workdir / f"load-{child.name.split()[0]}.json"
    argv = [
        sys.executable, "-m", "bench.loadgen",
        "--url", f"{base}{path}",
        "--connections", str(args.connections),
        "--warmup", str(args.warmup),
        "--seconds", str(args.seconds),
        "--request-timeout", str(args.request_timeout),
        "--server-pid", str(child.proc.pid),
        "--run-id", uuid.uuid4().hex[:8],
        "--out", str(out),
    ]
    if token:
        argv += ["--token", token]
    if args.shared_pool:
        argv.append("--shared-pool")
    if get:
        argv.append("--get")
    limit = args.warmup + args.seconds + args.request_timeout + 60
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMELINE_")}
    loadgen = start_child("loadgen", argv, env, workdir / f"loadgen-{child.name.split()[0]}.log")
    try:
        loadgen.proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        raise BenchError(f"the load generator did not finish within {limit:.0f} s") from None
    finally:
        code = stop(loadgen)
    if code != 0 or not out.exists():
        raise BenchError(f"the load generator failed (exit {code})\n{log_tail(loadgen)}")
    result = orjson.loads(out.read_bytes())
    result["machine_busy_before_pct"] = quiet_before
    result["machine_quiet_before"] = was_quiet
    return result


# --- store accounting -------------------------------------------------------------------------


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


def _fact_rows(rows: list[tuple[str, str]]) -> list[str]:
    out = []
    for originator_id, topic in rows:
        name = topic.replace(":", ".").rsplit(".", 1)[-1]
        if name in FACT_TOPICS:
            out.append(str(uuid.UUID(originator_id)))
    return out


def ids_in_sqlite(path: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute(
            "SELECT originator_id, topic FROM stored_events WHERE originator_version = 1"
        ).fetchall()
    finally:
        conn.close()
    return _fact_rows(rows)


def libpq_url(sqlalchemy_url: str) -> str:
    parts = urlsplit(sqlalchemy_url)
    scheme = parts.scheme.split("+", 1)[0]
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def ids_in_postgres(url: str) -> list[str] | None:
    """Via the psql client, if installed; None when it is not."""
    psql = shutil.which("psql")
    if psql is None:
        return None
    result = subprocess.run(
        [psql, libpq_url(url), "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c",
         "SELECT originator_id, topic FROM stored_events WHERE originator_version = 1"],
        capture_output=True, text=True, timeout=120,
    )
    if result.returncode != 0:
        raise BenchError(f"psql failed: {result.stderr.strip()}")
    rows = [tuple(line.split("\t", 1)) for line in result.stdout.splitlines() if line.strip()]
    return _fact_rows(rows)  # type: ignore[arg-type]


def postgres_server_version(url: str) -> str:
    psql = shutil.which("psql")
    if psql is None:
        return "unknown (no psql)"
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        result = subprocess.run(
            [psql, libpq_url(url), "-X", "-A", "-t", "-c", "SHOW server_version"],
            capture_output=True, text=True, timeout=30,
        )
        if result.returncode == 0:
            return result.stdout.strip()
    return "unknown"


# --- report ---------------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def errors_text(result: dict[str, Any]) -> str:
    errs = result["errors_in_window"]
    return str(sum(errs.values())) + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(errs.items()))})" if errs else "")


def other_cpu_pct(r: dict[str, Any]) -> float | None:
    """CPU used during the window by everything but the server and the load generator, in % of one core
    (a database server's processes included)."""
    if r["machine_busy_pct"] is None or r["server_cpu_pct"] is None or r["loadgen_cpu_pct"] is None:
        return None
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0.0, r["machine_busy_pct"] * ncpu - r["server_cpu_pct"] - r["loadgen_cpu_pct"])


def print_table(rows: list[tuple[str, dict[str, Any]]]) -> None:
    header = ("target", "requests/s", "p50 ms", "p99 ms", "errors", "server CPU", "loadgen CPU", "other CPU")
    lines = [header]
    for name, r in rows:
        lines.append((
            name,
            fmt(r["requests_per_s"], ".0f"),
            fmt(r["p50_ms"], ".1f"),
            fmt(r["p99_ms"], ".1f"),
            errors_text(r),
            fmt(r["server_cpu_pct"], ".0f") + "%",
            fmt(r["loadgen_cpu_pct"], ".0f") + "%",
            fmt(other_cpu_pct(r), ".0f") + "%",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


# --- main -----------------------------------------------------------------------------------


@contextlib.contextmanager
def workspace(keep: bool, prefix: str = "bench-append-http-", say: Callable[[str], None] = print) -> Iterator[Path]:
    """A temporary folder for a run's files, removed afterwards unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            say(f"\n(kept the work folder {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


def clean_env() -> dict[str, str]:
    """This environment without TIMELINE_* settings (the benchmark sets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TIMELINE_")}


def bench_postgres_url(backend: str, what: str) -> str | None:
    """The PostgreSQL URL for ``--backend postgres`` ("" for SQLite); None after saying why not."""
    if backend != "postgres":
        return ""
    url = os.environ.get("TIMELINE_BENCH_POSTGRES_URL", "")
    if not url:
        print(
            "--backend postgres needs TIMELINE_BENCH_POSTGRES_URL, e.g.\n"
            "  TIMELINE_BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/timeline_bench\n"
            f"({what}). Nothing was run.",
            file=sys.stderr,
        )
        return None
    host = urlsplit(url).hostname
    if host not in {"127.0.0.1", "localhost", "::1"}:
        print(f"refusing a non-loopback PostgreSQL host {host!r}", file=sys.stderr)
        return None
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.append_http", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per target (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up before the window (default 2)")
    parser.add_argument("--request-timeout", type=float, default=30.0, help="per-request timeout (default 30)")
    parser.add_argument("--wait-idle", type=float, default=120.0,
                        help="before each target, wait up to this many seconds for the machine to be quiet "
                             "(<15%% busy for 2 s); 0 to skip (default 120)")
    parser.add_argument("--shared-pool", action="store_true",
                        help="load generator: one httpx pool of N connections instead of N one-connection "
                             "clients (costs the client about twice the CPU per request)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = parser.parse_args(argv)
    if not (0 < args.seconds <= 600 and 1 <= args.connections <= 1024 and 0 <= args.warmup <= 60):
        parser.error("need 0 < --seconds <= 600, 1 <= --connections <= 1024, 0 <= --warmup <= 60")

    pg_url = bench_postgres_url(args.backend, "an empty database: the service's migrations create the tables")
    if pg_url is None:
        return 2

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    info = machine_info()
    results: list[tuple[str, dict[str, Any]]] = []
    notes: list[str] = []
    exit_code = 0
    try:
        with workspace(args.keep) as workdir:
            # ---- B1: the HTTP ceiling ----
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            b1 = start_child(
                "B1 baseline", [sys.executable, "-m", "bench.baseline_app", "--host", "127.0.0.1", "--port", str(port)],
                clean_env(), workdir / "b1.log",
            )
            try:
                wait_healthy(b1, base)
                print(f"B1 up on {base}; {args.warmup:g} s warm-up + {args.seconds:g} s ...", flush=True)
                r_b1 = run_load(b1, base, args, workdir, token="")
            finally:
                stop(b1)
            results.append(("B1 FastAPI echo (ceiling)", r_b1))
            for k, v in log_problems(b1).items():
                if v:
                    notes.append(f"B1 log: {v} {k}")

            # ---- the service ----
            if args.backend == "sqlite":
                db_path = workdir / "timeline.sqlite3"
                db_url = f"sqlite:///{db_path}"
                backend_desc = "SQLite file in a fresh temporary folder"
            else:
                db_path = None
                db_url = pg_url
                backend_desc = f"PostgreSQL {postgres_server_version(pg_url)} at {libpq_url(pg_url).split('@')[-1]}"
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            env = clean_env() | {
                "TIMELINE_DATABASE_URL": db_url,
                "TIMELINE_API_TOKENS": f"{TOKEN}:write",
            }
            svc = start_child(
                f"service ({args.backend})",
                [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env, workdir / "service.log",
            )
            try:
                wait_healthy(svc, base)
                before_ids, _ = ids_from_changes(base, 0)
                if before_ids:
                    notes.append(f"the database was not empty: {len(before_ids)} facts before the run")
                print(f"service up on {base} ({backend_desc}); {args.warmup:g} s warm-up + {args.seconds:g} s ...",
                      flush=True)
                r_svc = run_load(svc, base, args, workdir, token=TOKEN)
                changes_ids, changes_rows = ids_from_changes(base, r_svc["max_position"])
            finally:
                svc_code = stop(svc)
            results.append((f"service ({args.backend})", r_svc))
            # uvicorn re-raises the SIGTERM it handled after a graceful shutdown: -15 is normal.
            if svc_code not in (0, -signal.SIGTERM, None):
                notes.append(f"the service exited with {svc_code} when stopped (-9: it had to be killed)")
            for k, v in log_problems(svc).items():
                if v:
                    notes.append(f"service log: {v} {k}")

            # ---- store accounting, after the service has stopped ----
            if db_path is not None:
                store_ids: list[str] | None = ids_in_sqlite(db_path)
                store_how = f"stored_events in {db_path.name}, read after the service stopped"
            else:
                store_ids = ids_in_postgres(pg_url)
                store_how = "stored_events via psql, read after the service stopped"

            print()
            print("Append over HTTP: POST /v1/events, closed loop, "
                  f"{args.connections} keep-alive connections, {args.warmup:g} s warm-up + {args.seconds:g} s "
                  "measured per target; only 2xx counted")
            print(f"service backend: {backend_desc}")
            print()
            print_table(results)
            ratio = r_svc["requests_per_s"] / r_b1["requests_per_s"] if r_b1["requests_per_s"] else None
            print()
            print(f"ratio service/B1 (requests/s): {fmt(ratio, '.3f')}")
            print()
            info["date"] = f"{info['date']} to {dt.datetime.now(dt.UTC).strftime('%H:%M:%S UTC')}"
            for key, value in info.items():
                print(f"{key + ':':16}{value}")
            print(f"{'load generator:':16}separate process, {r_svc.get('event_loop', '?')}, httpx {httpx.__version__}, "
                  f"{r_svc.get('client_pools', '?')}")

            # ---- accounting ----
            created = r_svc["created_total"]
            created_set = {str(uuid.UUID(i)) for i in r_svc["created_ids"]}
            new_changes = changes_ids - before_ids
            print()
            print("Accounting (service):")
            print(f"  requests sent:                 {r_svc['sent_total']}"
                  f"  (answers by status: {r_svc['status_total'] or '{}'};"
                  f" no answer: {sum(r_svc['exceptions_total'].values())})")
            print(f"  201 answers (whole run):       {created}  (distinct event_ids: {len(created_set)})")
            print(f"  GET /v1/changes 'recorded':    {len(new_changes)} new  ({changes_rows} rows in total)")
            ok = True
            if store_ids is None:
                print("  store:                         not read (no psql client on PATH)")
            else:
                new_store = set(store_ids) - before_ids
                print(f"  store ({store_how}): {len(new_store)} new facts"
                      f"  ({len(store_ids)} rows in total)")
                missing = created_set - new_store
                extra = new_store - created_set
                if missing or extra or len(store_ids) != len(set(store_ids)):
                    ok = False
                    print(f"  MISMATCH: {len(missing)} answered 201 but not stored, "
                          f"{len(extra)} stored without a 201 answer")
            if new_changes != created_set:
                ok = False
                print(f"  MISMATCH in /v1/changes: {len(created_set - new_changes)} missing, "
                      f"{len(new_changes - created_set)} unexpected")
            unknown = sum(r_svc["exceptions_total"].values())
            if unknown:
                notes.append(f"{unknown} requests got no answer (outcome unknown; a stored fact without a 201 "
                             "is then possible)")
            print(f"  result:                        {'OK — store == 201 answers' if ok else 'MISMATCH'}")
            if not ok:
                exit_code = 1

            for name, r in results:
                if r["unfinished_requests"]:
                    notes.append(f"{name}: {r['unfinished_requests']} requests still in flight at the drain limit")
                non2xx = {k: v for k, v in r["status_total"].items() if not k.startswith("2")}
                if non2xx:
                    notes.append(f"{name}: non-2xx answers over the whole run: {non2xx}; "
                                 f"first: {r['first_error_bodies'][:2]}")
                if r["exceptions_total"]:
                    notes.append(f"{name}: transport errors over the whole run: {r['exceptions_total']}")
                if not r.get("machine_quiet_before", True):
                    notes.append(f"{name}: the machine was still {r['machine_busy_before_pct']:.0f}% busy with other "
                                 f"work after waiting {args.wait_idle:g} s; this figure is disturbed")
                other = other_cpu_pct(r)
                if other is not None and other > 15 and not (args.backend == "postgres" and name.startswith("service")):
                    notes.append(f"{name}: other processes used {other:.0f}% of a core during the window; "
                                 "this figure is disturbed")
                if r["loadgen_cpu_pct"] and r["loadgen_cpu_pct"] > 85:
                    notes.append(f"{name}: the load generator used {r['loadgen_cpu_pct']:.0f}% of a core: "
                                 "it may be the bottleneck, so read this figure as a lower bound")
            if notes:
                print()
                print("Notes:")
                for note in notes:
                    print(f"  - {note}")
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
