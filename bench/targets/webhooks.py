"""Target 7: webhook delivery against a local receiver in its own process. Latency: facts POSTed
one at a time at a steady rate, from each 201 to the receiver's first arrival of its delivery.
Throughput: facts recorded in batches, until the receiver holds all their deliveries, beside the
receiver's raw capacity measured in the same run with the service stopped. Every fact must be
delivered exactly once."""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common.databases import libpq_url, postgres_server_version
from bench.common.dataset import BATCH
from bench.common.errors import BenchError
from bench.common.machine import CpuWindow, machine_info, quiet_or_note
from bench.common.processes import (
    TOKEN,
    ServiceProcess,
    clean_env,
    free_port,
    log_tail,
    start_child,
    start_server,
    stop,
    stop_server,
    wait_answering,
)
from bench.common.stats import fmt_ms, progress
from bench.loadgen import make_body
from bench.report import Figure
from bench.targets.context import Ctx
from bench.targets.webhook_receiver import HOOK_PATH, RAW_PATH, REQUEST_TIMEOUT_S
from bench.targets.webhook_report import Phases, report

HELPER = "bench.targets.webhook_receiver"


class Receiver:
    """The receiver process and a client for what it recorded."""

    def __init__(self, child: ServiceProcess, base: str) -> None:
        self.child = child
        self.base = base
        self.client = httpx.Client(base_url=base, timeout=30.0, trust_env=False)

    @classmethod
    def start(cls, workdir: Path) -> Receiver:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        child = start_child(
            "receiver",
            [sys.executable, "-m", HELPER, "receiver", "--port", str(port)],
            clean_env(),
            workdir / "receiver.log",
        )
        wait_answering(child, base)
        return cls(child, base)

    def count(self) -> dict[str, Any]:
        return self.client.get("/count").json()

    def dump(self, path: str = HOOK_PATH) -> list[tuple[str | None, int, int | None, str | None]]:
        return [tuple(r) for r in orjson.loads(self.client.get("/dump", params={"path": path}).content)]  # type: ignore[misc]

    def sample(self) -> bytes:
        return self.client.get("/sample").content

    def wait_for(self, n: int, timeout: float, poll: float = 0.02) -> tuple[bool, int]:
        """Wait until the receiver holds at least n deliveries on /hook."""
        deadline = time.monotonic() + timeout
        while True:
            if self.child.process.poll() is not None:
                raise BenchError(f"the receiver exited with {self.child.process.returncode}\n{log_tail(self.child)}")
            have = self.count()[HOOK_PATH]["n"]
            if have >= n:
                return True, have
            if time.monotonic() >= deadline:
                return False, have
            time.sleep(poll)

    def close(self) -> None:
        self.client.close()
        stop(self.child)


def post_json(client: httpx.Client, path: str, body: bytes, expect: int = 201) -> tuple[Any, int]:
    """POST; returns (answer JSON, monotonic ns when the answer was complete)."""
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    done = time.monotonic_ns()
    if response.status_code != expect:
        raise BenchError(f"POST {path} answered {response.status_code}: {response.text[:300]}")
    return orjson.loads(response.content), done


def service_deliveries(client: httpx.Client, sub_id: str) -> dict[str, Any]:
    """The service's own view of the subscription's messages (GET .../deliveries, paged)."""
    statuses: dict[str, int] = {}
    attempts_hist: dict[int, int] = {}
    codes: dict[str, int] = {}
    cursor = None
    deadline = time.monotonic() + 120
    while True:
        params: dict[str, Any] = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
        response = client.get(f"/v1/subscriptions/{sub_id}/deliveries", params=params)
        if response.status_code != 200:
            raise BenchError(f"GET deliveries answered {response.status_code}: {response.text[:300]}")
        page = response.json()
        for item in page["items"]:
            statuses[item["status"]] = statuses.get(item["status"], 0) + 1
            attempts_hist[len(item["attempts"])] = attempts_hist.get(len(item["attempts"]), 0) + 1
            for attempt in item["attempts"]:
                code = str(attempt["status_code"]) if attempt["status_code"] else (attempt["error"] or "?")[:60]
                codes[code] = codes.get(code, 0) + 1
        cursor = page["next_cursor"]
        if not cursor:
            break
        if time.monotonic() > deadline:
            raise BenchError("paging the deliveries took over 120 s")
    return {"statuses": statuses, "attempts": dict(sorted(attempts_hist.items())), "codes": codes}


def quiet(args: argparse.Namespace, what: str, notes: list[str]) -> None:
    quiet_or_note(args.wait_idle, what, notes, "its figures are disturbed")


@dataclass
class Session:
    """One run's service, subscription and what it was sent."""

    args: argparse.Namespace
    notes: list[str]
    receiver: Receiver
    client: httpx.Client
    pids: dict[str, int]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    posted: dict[str, int] = field(default_factory=dict)  # event_id -> position in its 201


def start_service(
    args: argparse.Namespace, pg_url: str, workdir: Path, receiver: Receiver, notes: list[str]
) -> tuple[ServiceProcess, Session, str, str]:
    """The service on a fresh database with one subscription to the receiver; (server, session,
    subscription id, backend description)."""
    if args.backend == "sqlite":
        db_url = f"sqlite:///{workdir / 'timeline.sqlite3'}"
        backend_desc = "SQLite file in a fresh temporary folder"
    else:
        db_url = pg_url
        backend_desc = f"PostgreSQL {postgres_server_version(pg_url)} at {libpq_url(pg_url).split('@')[-1]}"
    svc, base = start_server(
        "service", db_url, f"{TOKEN}:admin", workdir, {"TIMELINE_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}
    )
    client = httpx.Client(
        base_url=base, timeout=REQUEST_TIMEOUT_S, trust_env=False, headers={"authorization": f"Bearer {TOKEN}"}
    )
    session = Session(args, notes, receiver, client, {"service": svc.process.pid, "receiver": receiver.child.pid})
    existing = client.get("/v1/subscriptions")
    if existing.status_code != 200:
        raise BenchError(f"GET /v1/subscriptions answered {existing.status_code}: {existing.text[:300]}")
    if existing.json()["items"]:
        raise BenchError("the database already has subscriptions; give an empty database")
    head = client.get("/v1/changes", params={"after": 0, "limit": 1})
    if head.status_code == 200 and head.json()["items"]:
        notes.append(
            "the database was not empty (facts before the run; they are not delivered: the "
            "subscription starts at the current position)"
        )
    sub, _ = post_json(client, "/v1/subscriptions", orjson.dumps({"url": f"{receiver.base}{HOOK_PATH}"}))
    print(f"receiver on {receiver.base}; service on {base} ({backend_desc}); subscription {sub['id']}", flush=True)
    return svc, session, sub["id"], backend_desc


def latency_phase(s: Session, phases: Phases) -> None:
    """Facts one at a time at --rate after --warmup-facts; each one's 201 time kept for the latency."""
    args = s.args
    quiet(args, "latency phase", s.notes)
    n_lat = max(1, round(args.rate * args.seconds))
    interval_ns = int(1e9 / args.rate)
    print(f"latency: {args.warmup_facts} warm-up + {n_lat} facts, one at a time at {args.rate:g}/s ...", flush=True)
    cpu = CpuWindow(s.pids)
    t_start = time.monotonic_ns()
    t_lat0 = t_start
    for i in range(args.warmup_facts + n_lat):
        due = t_start + i * interval_ns
        now = time.monotonic_ns()
        if due > now:
            time.sleep((due - now) / 1e9)
        elif now - due > interval_ns:
            phases.late_sends += 1
        if i == args.warmup_facts:
            cpu.start()
            t_lat0 = time.monotonic_ns()
        event_id, body = make_body(s.run_id, 0, i)
        sent = time.monotonic_ns()
        fact, done = post_json(s.client, "/v1/events", body)
        s.posted[event_id] = fact["position"]
        if i >= args.warmup_facts:
            phases.lat_rows.append((event_id, sent, done))
            phases.lat_post_ns.append(done - sent)
    t_lat1 = time.monotonic_ns()
    ok, have = s.receiver.wait_for(len(s.posted), timeout=60.0)
    phases.cpu_lat = cpu.stop()
    if not ok:
        s.notes.append(f"latency phase: only {have} of {len(s.posted)} deliveries within 60 s of the last POST")
    phases.n_lat = n_lat
    phases.achieved_rate = n_lat / ((t_lat1 - t_lat0) / 1e9) if n_lat and t_lat1 > t_lat0 else 0.0


def throughput_phase(s: Session, phases: Phases) -> None:
    """--facts facts in batches, then until the receiver holds every delivery (and --settle more)."""
    args = s.args
    quiet(args, "throughput phase", s.notes)
    before = len(s.posted)
    bodies = [make_body(s.run_id, 1, i) for i in range(args.facts)]
    batches = [bodies[i : i + BATCH] for i in range(0, len(bodies), BATCH)]
    print(f"throughput: {args.facts} facts in {len(batches)} batch(es) of up to {BATCH} ...", flush=True)
    cpu = CpuWindow(s.pids).start()
    phases.t_tp0 = time.monotonic_ns()
    for batch in batches:
        payload = b'{"events":[' + b",".join(b for _, b in batch) + b"]}"
        answer, _ = post_json(s.client, "/v1/events/batch", payload)
        for (event_id, _), fact in zip(batch, answer["items"], strict=True):
            if fact["event_id"] != event_id:
                raise BenchError("the batch answer is not in the order of the batch")
            s.posted[event_id] = fact["position"]
            phases.tp_ids.add(event_id)
    phases.t_tp_recorded = time.monotonic_ns()
    phases.batches = len(batches)
    limit = max(60.0, args.facts / 10)
    ok, have = s.receiver.wait_for(len(s.posted), timeout=limit, poll=0.05)
    phases.cpu_tp = cpu.stop()
    if not ok:
        s.notes.append(
            f"throughput phase: only {have - before} of {args.facts} deliveries within {limit:.0f} s of the last batch"
        )
    time.sleep(args.settle)  # late duplicates, if any


def run_raw(receiver: Receiver, mode: str, body_file: Path, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The receiver's raw capacity with one client shape, from the helper process's JSON result."""
    out = workdir / f"raw-{mode}.json"
    argv = [
        sys.executable,
        "-m",
        HELPER,
        "rawload",
        "--url",
        f"{receiver.base}{RAW_PATH}",
        "--mode",
        mode,
        "--body-file",
        str(body_file),
        "--connections",
        str(args.connections),
        "--warmup",
        "1",
        "--seconds",
        str(args.baseline_seconds),
        "--server-pid",
        str(receiver.child.pid),
        "--out",
        str(out),
    ]
    child = start_child(f"raw-{mode}", argv, clean_env(), workdir / f"raw-{mode}.log")
    limit = 1 + args.baseline_seconds + REQUEST_TIMEOUT_S + 30
    try:
        child.process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        raise BenchError(f"the raw-capacity client ({mode}) did not finish within {limit:.0f} s") from None
    finally:
        code = stop(child)
    if code != 0 or not out.exists():
        raise BenchError(f"the raw-capacity client ({mode}) failed (exit {code})\n{log_tail(child)}")
    return orjson.loads(out.read_bytes())


def raw_phase(args: argparse.Namespace, receiver: Receiver, workdir: Path, phases: Phases, notes: list[str]) -> None:
    """The service stopped: a real delivery body replayed at the receiver by both client shapes."""
    phases.sample = receiver.sample()
    if not phases.sample:
        raise BenchError("the receiver has no delivery body to replay")
    body_file = workdir / "delivery-body.json"
    body_file.write_bytes(phases.sample)
    for mode in ("async", "threads"):
        quiet(args, f"raw capacity ({mode})", notes)
        print(
            f"raw capacity ({mode}): {args.connections} connections, 1 s warm-up + {args.baseline_seconds:g} s ...",
            flush=True,
        )
        phases.raw[mode] = run_raw(receiver, mode, body_file, args, workdir)


def measure(
    args: argparse.Namespace,
    pg_url: str,
    workdir: Path,
    info: dict[str, str],
    notes: list[str],
    figures: dict[str, Any] | None = None,
) -> int:
    """The three phases and the report (standard output); ``figures``, when given, receives the headline
    figures. 0 when every fact was delivered exactly once."""
    receiver = Receiver.start(workdir)
    info.update(machine_info())  # here, so that "service commit" is the code the service starts with
    phases = Phases()
    svc, session, sub_id, backend_desc = start_service(args, pg_url, workdir, receiver, notes)
    try:
        latency_phase(session, phases)
        throughput_phase(session, phases)
        phases.deliveries = receiver.dump(HOOK_PATH)
        phases.counts = receiver.count()
        phases.service_view = service_deliveries(session.client, sub_id)
    finally:
        session.client.close()
        stop_server(svc, notes)
    raw_phase(args, receiver, workdir, phases, notes)
    receiver.close()
    ok = report(args, phases, session.posted, backend_desc, info, notes, figures)
    return 0 if ok else 1


def run(ctx: Ctx, backend: str) -> list[Figure]:
    """Target 7 in the suite: the phases at the suite's window, their report on standard error."""
    a = ctx.args
    wargs = argparse.Namespace(
        facts=a.webhook_facts,
        backend=backend,
        rate=50.0,
        seconds=a.seconds,
        warmup_facts=a.webhook_warmup_facts,
        connections=16,
        baseline_seconds=a.webhook_baseline_seconds,
        settle=1.0 if a.quick else 2.0,
        wait_idle=a.wait_idle,
        keep=a.keep,
    )
    workdir = ctx.workdir / f"webhooks-{backend}"
    workdir.mkdir()
    pg_url = ctx.pg.fresh("webhooks") if backend == "postgres" and ctx.pg else ""
    figures: dict[str, Any] = {}
    notes: list[str] = []
    progress(
        f"  webhooks ({backend}): latency at 50/s for {a.seconds:g} s, then {a.webhook_facts:,} facts in "
        "batches (bench.webhooks; its report follows on standard error) ..."
    )
    try:
        with contextlib.redirect_stdout(sys.stderr):
            code = measure(wargs, pg_url, workdir, {}, notes, figures)
    finally:
        if pg_url and ctx.pg:
            ctx.pg.done(pg_url)
    if code != 0 or not figures.get("exactly_once"):
        ctx.report.failed = True
    for note in notes:
        ctx.note(f"webhooks ({backend}): {note}")
    once = "every fact delivered exactly once" if figures.get("exactly_once") else "MISMATCH in the delivery accounting"
    return [
        Figure(
            "7a",
            figures.get("latency_p50_ms"),
            detail=f"{figures.get('latency_facts')} facts POSTed one at a time at {figures.get('rate', 0):.1f}/s; "
            f"p99 {fmt_ms(figures.get('latency_p99_ms'))} ms; {once} ({figures.get('facts_posted')} facts)",
        ),
        Figure(
            "7b",
            figures.get("deliveries_per_s"),
            figures.get("raw_capacity"),
            "receiver raw",
            f"{figures.get('deliveries')} deliveries from the first batch POST to the last arrival; "
            f"first -> last arrival {figures.get('span_rate') or 0:,.0f}/s; the receiver's raw capacity "
            f"(asyncio+httpx client) {figures.get('raw_capacity') or 0:,.0f} req/s, the dispatcher's client "
            f"shape {figures.get('client_shape') or 0:,.0f} req/s",
        ),
    ]
