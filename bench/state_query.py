"""Read latency at scale: an actor's state at a date (and a timeline page) over a large store.

    .venv/bin/python -m bench.state_query [--facts 100000] [--actors 1000] [--backend sqlite|postgres]
                                          [--queries 300]

In one run it

* builds a fresh store — SQLite: a new file in a temporary folder; PostgreSQL: the database in
  ``TIMELINE_BENCH_POSTGRES_URL``, whose ``public`` schema is dropped and recreated first;
* loads N synthetic facts over M actors (Zipf-like actor popularity; deployments, repositionings
  with known and unknown counts, suspensions and resumptions of a few missions, strikes,
  statements; occurred over two years; varied publication times) through
  ``container.store.record_facts`` in batches of 1000, then corrects a few percent of them
  (personnel or occurred_at, reported later) and retracts about 1 %, then catches the read models
  up with ``container.read_models.catch_up()``; each phase is timed on its own;
* measures in-process, with a fresh connection from ``container.engine`` per query (as the API
  does), ``queries.actor_state`` for the median and the busiest actor under the current record,
  ``as_of`` a past transaction time, and ``as_of`` + ``reported_by``, each at a random ``at``;
  and ``queries.timeline`` pages of 100;
* splits the state query into SQL + fetch (raw driver, body as text), JSON decoding and the fold;
* prints the figures, the store's size, the machine, and the query plans of the SQL that
  ``actor_state`` runs (EXPLAIN QUERY PLAN / EXPLAIN (ANALYZE, BUFFERS)).

Everything is bounded in time (see --max-load-seconds, --max-seconds). See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, event, func, select, text

from bench.append_http import bench_postgres_url
from bench.append_http import workspace as shared_workspace
from service.bootstrap import Container, bootstrap
from service.domain.corrections import CorrectionIn, RetractionIn
from service.domain.facts import validate_fact
from service.domain.replay import fold_inputs
from service.readmodels import queries
from service.readmodels.queries import Axes, FactFilter
from service.readmodels.tables import fact_actors, fact_revisions, fact_versions
from service.runtime import tune_garbage_collector
from service.settings import Settings

REPO = Path(__file__).resolve().parent.parent
BATCH = 1000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
START = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
SPAN_S = 2 * 365 * 86400  # occurred_at spread over two years from START
END = START + dt.timedelta(seconds=SPAN_S)

COUNTRIES = ("IQ", "SY", "KW", "JO", "TR", "IR", "SA", "QA", "BH", "AE", "US", "GB", "FR", "DE", "IT", "ES",
             "NL", "DK", "NO", "CA", "AU", "PL")
MISSIONS = ("inherent-resolve", "nato-mission-iraq", "counter-daesh", "gulf-shield", "sea-guardian",
            "training-iraq")
TYPE_WEIGHTS = (
    ("PersonnelDeployed", 20),
    ("PersonnelRepositioned", 20),
    ("MissionSuspended", 4),
    ("MissionResumed", 4),
    ("StrikeOccurred", 27),
    ("StatementIssued", 25),
)
CORRECTED_SHARE = 0.03
RETRACTED_SHARE = 0.01


class BenchError(RuntimeError):
    pass


def us(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- machine --------------------------------------------------------------------------------


def machine_info(backend: str) -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo", encoding="ascii") as fh:
        mem = f"{int(fh.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "service", "migrations"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        commit = rev + (" (+ uncommitted changes in service/ or migrations/)" if dirty else "")
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": str(usable),
        "cpu": model,
        "memory": mem,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "backend": backend,
        "service commit": commit,
    }


# --- synthetic facts ------------------------------------------------------------------------


@dataclass
class Meta:
    """What the correction step needs to know of a generated fact."""

    event_id: str
    type: str
    personnel: int | None
    occurred: dt.datetime
    reported: dt.datetime


class Generator:
    def __init__(self, actors: int, seed: int, zipf_s: float):
        self.rng = random.Random(seed)
        self.actor_ids = [f"actor-{i:04d}" for i in range(1, actors + 1)]  # actor-0001 is the most named
        weights = [1.0 / (rank ** zipf_s) for rank in range(1, actors + 1)]
        self.cum: list[float] = []
        total = 0.0
        for w in weights:
            total += w
            self.cum.append(total)
        self.locations = [
            {
                "id": f"site-{k:03d}",
                "name": f"Site {k}",
                "country": COUNTRIES[k % len(COUNTRIES)],
                "lat": round(self.rng.uniform(10, 50), 4),
                "lon": round(self.rng.uniform(-10, 60), 4),
            }
            for k in range(300)
        ]
        self.types = [t for t, _ in TYPE_WEIGHTS]
        self.type_cum = []
        acc = 0
        for _, w in TYPE_WEIGHTS:
            acc += w
            self.type_cum.append(acc)

    def actor(self, *not_: str) -> str:
        for _ in range(5):
            pick = self.rng.choices(self.actor_ids, cum_weights=self.cum, k=1)[0]
            if pick not in not_:
                return pick
        return self.rng.choice([a for a in self.actor_ids[:10] if a not in not_])

    def fact(self, index: int) -> tuple[dict[str, Any], Meta]:
        rng = self.rng
        kind = rng.choices(self.types, cum_weights=self.type_cum, k=1)[0]
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        occurred = START + dt.timedelta(seconds=rng.randrange(SPAN_S))
        day_only = rng.random() < 0.08
        if day_only:
            occurred = occurred.replace(hour=0, minute=0, second=0)
        delay = dt.timedelta(seconds=min(rng.expovariate(1 / 64800), 30 * 86400))  # mean 18 h
        reported = occurred + delay
        raw: dict[str, Any] = {
            "event_id": event_id,
            "type": kind,
            "occurred_at": occurred.strftime("%Y-%m-%d") if day_only else iso(occurred),
            "summary": f"{kind} #{index}: synthetic fact for the state-query benchmark",
            "sources": [{"url": f"https://news.example.org/{index}", "publisher": "Example News"}],
            "confidence": rng.choice(("confirmed", "reported", "reported", "claimed")),
        }
        if rng.random() < 0.95:
            raw["reported_at"] = iso(reported)
        # else: no reported_at and no published_at, so the fact is reported when it is recorded
        personnel: int | None = None
        primary = self.actor()
        if kind == "PersonnelDeployed":
            personnel = rng.randrange(10, 5000)
            raw["actors"] = [{"id": primary, "role": "actor"}]
            if rng.random() < 0.7:
                raw["actors"].append({"id": self.actor(primary), "role": "host"})
            raw["personnel"] = personnel
            raw["location"] = rng.choice(self.locations)
            if rng.random() < 0.5:
                raw["mission"] = rng.choice(MISSIONS)
        elif kind == "PersonnelRepositioned":
            raw["actors"] = [{"id": primary, "role": "actor"}]
            if rng.random() < 0.5:
                raw["actors"].append({"id": self.actor(primary), "role": "host"})
            if rng.random() < 0.2:
                raw["actors"].append({"id": self.actor(primary), "role": "announced_by"})
            if rng.random() < 0.6:  # known count; else unknown
                personnel = rng.randrange(5, 1500)
                raw["personnel"] = personnel
            ends = rng.random()
            if ends < 0.6:
                raw["from"], raw["to"] = rng.sample(self.locations, 2)
            elif ends < 0.8:
                raw["from"] = rng.choice(self.locations)
            else:
                raw["to"] = rng.choice(self.locations)
            if rng.random() < 0.2:
                raw["temporary"] = True
        elif kind in ("MissionSuspended", "MissionResumed"):
            raw["actors"] = [{"id": primary, "role": "actor"}]
            if rng.random() < 0.5:
                raw["actors"].append({"id": self.actor(primary), "role": "host"})
            raw["mission"] = rng.choice(MISSIONS)
            if kind == "MissionSuspended":
                if rng.random() < 0.5:
                    personnel = rng.randrange(50, 5000)
                    raw["personnel"] = personnel
                raw["reason"] = "security situation after a strike on a base hosting coalition forces"
                raw["temporary"] = rng.random() < 0.7
        elif kind == "StrikeOccurred":
            raw["actors"] = [{"id": primary, "role": "perpetrator"}]
            if rng.random() < 0.8:
                raw["actors"].append({"id": self.actor(primary), "role": "target"})
            if rng.random() < 0.1:
                raw["actors"].append({"id": self.actor(primary), "role": "ordered_by"})
            raw["means"] = rng.choice(("drone", "air", "missile", "artillery", "unknown"))
            if rng.random() < 0.5:
                raw["fatalities"] = rng.randrange(0, 40)
            raw["location"] = rng.choice(self.locations)
        else:  # StatementIssued
            raw["actors"] = [{"id": primary, "role": "speaker"}]
            if rng.random() < 0.5:
                raw["actors"].append({"id": self.actor(primary), "role": "subject"})
            if rng.random() < 0.2:
                raw["actors"].append({"id": self.actor(primary), "role": "addressee"})
            raw["text"] = ("The ministry said that the forces remain committed to the mission and that "
                           "their posture is under review after the latest events in the region. ") * 2
            raw["channel"] = rng.choice(("statement", "press_conference", "social_media"))
        return raw, Meta(event_id, kind, personnel, occurred, reported)


# --- load -----------------------------------------------------------------------------------


@dataclass
class LoadFigures:
    facts: int = 0
    validate_s: float = 0.0
    append_s: float = 0.0
    corrections: int = 0
    corrections_s: float = 0.0
    retractions: int = 0
    retractions_s: float = 0.0
    catch_up_events: int = 0
    catch_up_s: float = 0.0
    catch_up_changes: int = 0
    catch_up_changes_s: float = 0.0
    analyze_s: float | None = None
    notes: list[str] = field(default_factory=list)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load(container: Container, args: argparse.Namespace, figures: LoadFigures) -> None:
    deadline = time.monotonic() + args.max_load_seconds

    def check_deadline(stage: str) -> None:
        if time.monotonic() > deadline:
            raise BenchError(f"loading took longer than --max-load-seconds={args.max_load_seconds:g} ({stage})")

    last = [time.monotonic()]

    def on_batch(applied: int, position: int) -> None:
        if time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            progress(f"  projected {applied} events (position {position})")
        check_deadline("projection catch-up")

    gen = Generator(args.actors, args.seed, args.zipf)
    metas: list[Meta] = []
    done = 0
    while done < args.facts:
        n = min(BATCH, args.facts - done)
        raws = []
        for i in range(n):
            raw, meta = gen.fact(done + i)
            raws.append(raw)
            metas.append(meta)
        t0 = time.perf_counter()
        validated = [validate_fact(raw) for raw in raws]
        t1 = time.perf_counter()
        recorded = container.store.record_facts(validated)
        t2 = time.perf_counter()
        if not all(r.created for r in recorded):
            raise BenchError("record_facts reported facts as already stored: the database was not empty")
        figures.validate_s += t1 - t0
        figures.append_s += t2 - t1
        done += n
        figures.facts = done
        if done % 10000 == 0 or done == args.facts:
            progress(f"  recorded {done}/{args.facts} facts ({done / figures.append_s:.0f} facts/s append)")
        check_deadline("appending")

    progress("  catching up the read models with the recorded facts ...")
    t0 = time.perf_counter()
    figures.catch_up_events = container.read_models.catch_up(on_batch)
    figures.catch_up_s = time.perf_counter() - t0

    rng = random.Random(args.seed + 1)
    chosen = rng.sample(range(len(metas)), k=round(len(metas) * (CORRECTED_SHARE + RETRACTED_SHARE)))
    n_correct = round(len(metas) * CORRECTED_SHARE)
    to_correct, to_retract = chosen[:n_correct], chosen[n_correct:]
    t0 = time.perf_counter()
    for k, index in enumerate(to_correct):
        meta = metas[index]
        later = meta.reported + dt.timedelta(days=rng.uniform(1, 30))
        if meta.personnel is not None and rng.random() < 0.7:
            new = meta.personnel + rng.choice((-1, 1)) * rng.randrange(1, 200)
            changes: dict[str, Any] = {"personnel": new if new >= 0 and new != meta.personnel else meta.personnel + 7}
        else:
            shift = dt.timedelta(hours=rng.choice((-1, 1)) * rng.uniform(1, 72))
            changes = {"occurred_at": iso(min(max(meta.occurred + shift, START), END))}
            if changes["occurred_at"] == iso(meta.occurred):
                changes = {"occurred_at": iso(meta.occurred + dt.timedelta(hours=5))}
        container.store.correct_fact(
            meta.event_id,
            CorrectionIn(changes=changes, reason="benchmark correction: a later report", reported_at=iso(later)),
        )
        if (k + 1) % 1000 == 0:
            progress(f"  corrected {k + 1}/{len(to_correct)}")
            check_deadline("correcting")
    t1 = time.perf_counter()
    for k, index in enumerate(to_retract):
        meta = metas[index]
        later = meta.reported + dt.timedelta(days=rng.uniform(1, 30))
        container.store.retract_fact(
            meta.event_id, RetractionIn(reason="benchmark retraction: found to be false", reported_at=iso(later))
        )
        if (k + 1) % 500 == 0:
            check_deadline("retracting")
    t2 = time.perf_counter()
    figures.corrections, figures.corrections_s = len(to_correct), t1 - t0
    figures.retractions, figures.retractions_s = len(to_retract), t2 - t1
    progress(f"  {len(to_correct)} corrections, {len(to_retract)} retractions recorded; catching up ...")

    t0 = time.perf_counter()
    figures.catch_up_changes = container.read_models.catch_up(on_batch)
    figures.catch_up_changes_s = time.perf_counter() - t0
    if container.engine.dialect.name == "postgresql":
        # Autovacuum would analyze these tables soon after such a load anyway; do it now so that
        # the plans below do not depend on when it happens to run.
        t0 = time.perf_counter()
        with container.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        figures.analyze_s = time.perf_counter() - t0


# --- store facts ----------------------------------------------------------------------------


@dataclass
class StoreFacts:
    facts: int
    revisions: int
    corrected: int
    retracted: int
    versions: int
    actor_rows: int
    actors_named: int
    busiest: str
    busiest_facts: int
    busiest_rows: int
    median: str
    median_facts: int
    median_rows: int
    recorded_us: list[int]  # the transaction time of every revision, sorted
    size: str


def store_facts(container: Container, db_path: Path | None) -> StoreFacts:
    engine = container.engine
    with engine.connect() as conn:
        facts = conn.execute(select(func.count()).select_from(fact_revisions)
                             .where(fact_revisions.c.revision == 1)).scalar_one()
        revisions = conn.execute(select(func.count()).select_from(fact_revisions)).scalar_one()
        corrected = conn.execute(select(func.count()).select_from(fact_revisions)
                                 .where(fact_revisions.c.kind == "corrected")).scalar_one()
        retracted = conn.execute(select(func.count()).select_from(fact_revisions)
                                 .where(fact_revisions.c.kind == "retracted")).scalar_one()
        versions = conn.execute(select(func.count()).select_from(fact_versions)).scalar_one()
        actor_rows = conn.execute(select(func.count()).select_from(fact_actors)).scalar_one()
        # Facts per actor: distinct facts naming it in their current version (retracted included).
        per_actor = conn.execute(
            select(fact_actors.c.actor_id, func.count(fact_actors.c.event_id.distinct()))
            .where(fact_actors.c.superseded_us.is_(None))
            .group_by(fact_actors.c.actor_id)
        ).all()
        rows_per_actor = dict(conn.execute(
            select(fact_actors.c.actor_id, func.count()).group_by(fact_actors.c.actor_id)
        ).all())
        recorded = list(conn.execute(
            select(fact_revisions.c.recorded_us).order_by(fact_revisions.c.recorded_us)
        ).scalars())
        if engine.dialect.name == "postgresql":
            size_bytes = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            size = f"{size_bytes / 2**20:.0f} MiB (pg_database_size)"
        else:
            size = "unknown"
    if db_path is not None:
        total = sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*") if p.is_file())
        size = f"{total / 2**20:.0f} MiB (SQLite file + WAL)"
    ranked = sorted(per_actor, key=lambda r: (-r[1], r[0]))
    busiest = ranked[0]
    median = ranked[len(ranked) // 2]
    return StoreFacts(
        facts=facts, revisions=revisions, corrected=corrected, retracted=retracted, versions=versions,
        actor_rows=actor_rows, actors_named=len(ranked),
        busiest=busiest[0], busiest_facts=busiest[1], busiest_rows=rows_per_actor[busiest[0]],
        median=median[0], median_facts=median[1], median_rows=rows_per_actor[median[0]],
        recorded_us=recorded, size=size,
    )


# --- measuring ------------------------------------------------------------------------------


def _cpu_sample() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values[:8]) - idle, sum(values[:8])


def ncpu() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class CpuWindow:
    """CPU used over a window: by this process, and by everything else, in % of one core."""

    def __enter__(self) -> CpuWindow:
        self.machine0 = _cpu_sample()
        self.own0 = time.process_time()
        self.wall0 = time.monotonic()
        self.own_pct: float | None = None
        self.other_pct: float | None = None
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.monotonic() - self.wall0
        machine1 = _cpu_sample()
        if wall <= 0:
            return
        self.own_pct = 100 * (time.process_time() - self.own0) / wall
        if self.machine0 and machine1 and machine1[1] > self.machine0[1]:
            busy = (machine1[0] - self.machine0[0]) / (machine1[1] - self.machine0[1])
            self.other_pct = max(0.0, 100 * busy * ncpu() - self.own_pct)


def wait_for_quiet(limit_s: float, threshold: float = 15.0) -> float | None:
    """Wait (at most limit_s) until the machine is under threshold % busy for 2 s; the last reading."""
    deadline = time.monotonic() + limit_s
    quiet, busy = 0, None
    while True:
        first = _cpu_sample()
        time.sleep(1.0)
        second = _cpu_sample()
        if first is None or second is None or second[1] <= first[1]:
            return None
        busy = 100 * (second[0] - first[0]) / (second[1] - first[1])
        quiet = quiet + 1 if busy < threshold else 0
        if quiet >= 2 or time.monotonic() >= deadline:
            return busy


@dataclass
class Series:
    name: str
    actor: str
    times_ms: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    planned: int = 0
    cut_short: bool = False
    own_cpu: float | None = None
    other_cpu: float | None = None


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Params:
    at_us: int
    axes: Axes
    from_us: int | None = None


def make_params(rng: random.Random, kind: str, sf: StoreFacts, n: int) -> list[Params]:
    out = []
    for _ in range(n):
        at_us = rng.randrange(us(START), us(END))
        as_of = rng.choice(sf.recorded_us)  # the moment some revision was recorded
        reported_by = rng.randrange(us(START), us(END + dt.timedelta(days=30)))
        if kind == "now":
            axes = Axes()
        elif kind == "as_of":
            axes = Axes(as_of_us=as_of)
        else:
            axes = Axes(as_of_us=as_of, reported_by_us=reported_by)
        out.append(Params(at_us, axes, from_us=rng.randrange(us(START), us(END))))
    return out


def measure(
    engine: Engine, series: Series, params: list[Params], run: Callable[[Any, Params], int],
    warmup: int, max_seconds: float,
) -> Series:
    """Runs ``params[:warmup]`` unmeasured, then times the rest (until ``max_seconds``)."""
    measured = params[warmup:]
    series.planned = len(measured)
    for p in params[:warmup]:
        with engine.connect() as conn:
            run(conn, p)
    gc.collect()
    started = time.monotonic()
    with CpuWindow() as cpu:
        for p in measured:
            if time.monotonic() - started > max_seconds:
                series.cut_short = True
                break
            t0 = time.perf_counter()
            with engine.connect() as conn:
                n = run(conn, p)
            series.times_ms.append((time.perf_counter() - t0) * 1000)
            series.rows.append(n)
    series.own_cpu, series.other_cpu = cpu.own_pct, cpu.other_pct
    return series


def run_state(actor: str) -> Callable[[Any, Params], int]:
    def run(conn: Any, p: Params) -> int:
        return int(queries.actor_state(conn, actor, p.axes, p.at_us)["event_count"])
    return run


def run_timeline(actor: str, from_random: bool) -> Callable[[Any, Params], int]:
    def run(conn: Any, p: Params) -> int:
        filt = FactFilter(from_us=p.from_us) if from_random else FactFilter()
        return len(queries.timeline(conn, actor, p.axes, filt, None, 100).items)
    return run


# --- capturing actor_state's SQL: plans and the time breakdown --------------------------------


class Capture:
    """Records the SELECTs sent to the driver while on (SQLAlchemy before_cursor_execute)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.statements: list[tuple[str, Any]] = []

    def _listener(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.statements.append((statement, parameters))

    def __enter__(self) -> Capture:
        event.listen(self.engine, "before_cursor_execute", self._listener)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._listener)


def state_sql(engine: Engine, actor: str, p: Params) -> tuple[str, Any, dict[str, Any], float]:
    """The one SELECT actor_state sends (statement, parameters), its answer, and its time in ms."""
    with Capture(engine) as cap:
        t0 = time.perf_counter()
        with engine.connect() as conn:
            state = queries.actor_state(conn, actor, p.axes, p.at_us)
        total_ms = (time.perf_counter() - t0) * 1000
    selects = [s for s in cap.statements if "fact_actors" in s[0]]
    if len(selects) != 1:
        raise BenchError(f"expected actor_state to send one SELECT on fact_actors, saw {len(cap.statements)}: "
                         f"{[s[0][:80] for s in cap.statements]}")
    return selects[0][0], selects[0][1], state, total_ms


def raw_rows(engine: Engine, statement: str, parameters: Any, prefix: str = "") -> list[tuple[Any, ...]]:
    """Run SQL on the driver's own cursor; JSON comes back as text (no decoding)."""
    with engine.connect() as conn:
        dbapi = conn.connection.driver_connection
        cur = dbapi.cursor()
        try:
            if engine.dialect.name == "postgresql":
                from psycopg.types.string import TextLoader

                cur.adapters.register_loader("json", TextLoader)
                cur.adapters.register_loader("jsonb", TextLoader)
            cur.execute(prefix + statement, parameters)
            return list(cur.fetchall())
        finally:
            cur.close()


@dataclass
class Breakdown:
    name: str
    actor: str
    total: list[float] = field(default_factory=list)
    sql: list[float] = field(default_factory=list)
    decode: list[float] = field(default_factory=list)
    fold: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    mismatches: int = 0


def breakdown(engine: Engine, name: str, actor: str, params: list[Params], max_seconds: float) -> Breakdown:
    loads = getattr(engine.dialect, "_json_deserializer", None) or json.loads
    out = Breakdown(name, actor)
    started = time.monotonic()
    for p in params:
        if time.monotonic() - started > max_seconds:
            break
        statement, parameters, state, total_ms = state_sql(engine, actor, p)
        t0 = time.perf_counter()
        rows = raw_rows(engine, statement, parameters)
        t1 = time.perf_counter()
        inputs = [(frozenset(r[0][1:-1].split(",")), loads(r[1]) if isinstance(r[1], (str, bytes)) else r[1])
                  for r in rows]
        t2 = time.perf_counter()
        folded = fold_inputs(inputs)
        t3 = time.perf_counter()
        if folded != state:
            out.mismatches += 1
        out.total.append(total_ms)
        out.sql.append((t1 - t0) * 1000)
        out.decode.append((t2 - t1) * 1000)
        out.fold.append((t3 - t2) * 1000)
        out.rows.append(len(rows))
    return out


def plan(engine: Engine, statement: str, parameters: Any) -> list[str]:
    if engine.dialect.name == "sqlite":
        rows = raw_rows(engine, statement, parameters, prefix="EXPLAIN QUERY PLAN ")
        depth: dict[int, int] = {0: -1}
        lines = []
        for node_id, parent, _unused, detail in rows:
            depth[node_id] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node_id] + detail)
        return lines
    rows = raw_rows(engine, statement, parameters, prefix="EXPLAIN (ANALYZE, BUFFERS) ")
    return [r[0] for r in rows]


# --- report ---------------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(header: tuple[str, ...], rows: list[tuple[str, ...]], left: int = 2) -> None:
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        cells = [c.ljust(w) for c, w in zip(line[:left], widths[:left], strict=True)]
        cells += [c.rjust(w) for c, w in zip(line[left:], widths[left:], strict=True)]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s" if seconds > 0 else "-"


# --- main -----------------------------------------------------------------------------------


def _on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def libpq_url(sqlalchemy_url: str) -> str:
    parts = urlsplit(sqlalchemy_url)
    return urlunsplit((parts.scheme.split("+", 1)[0], parts.netloc, parts.path, parts.query, parts.fragment))


def reset_postgres(url: str) -> str:
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10) as conn:
        conn.execute("SET statement_timeout = '120s'")
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
        version = conn.execute("SHOW server_version").fetchone()
    return str(version[0]) if version else "unknown"


def workspace(keep: bool) -> contextlib.AbstractContextManager[Path]:
    return shared_workspace(keep, "bench-state-query-")



def run_benchmark(container: Container, args: argparse.Namespace, info: dict[str, str], db_path: Path | None,
           run_started: float) -> None:
    progress(f"loading {args.facts} facts over {args.actors} actors into {args.backend} ...")
    figures = LoadFigures()
    t0 = time.perf_counter()
    load(container, args, figures)
    load_s = time.perf_counter() - t0
    sf = store_facts(container, db_path)
    engine = container.engine

    rng = random.Random(args.seed + 2)
    n_all = args.warmup + args.queries
    kinds = {k: make_params(rng, k, sf, n_all) for k in ("now", "as_of", "as_of_rep")}
    axes_label = {"now": "current", "as_of": "as_of", "as_of_rep": "as_of+reported_by"}
    plan_list: list[tuple[str, str, Callable[[Any, Params], int], list[Params]]] = []
    for who, actor in (("median", sf.median), ("busiest", sf.busiest)):
        for k in ("now", "as_of", "as_of_rep"):
            plan_list.append((f"state {who}, {axes_label[k]}, random at", actor, run_state(actor),
                              kinds[k]))
    plan_list += [
        ("timeline median, first page of 100, current", sf.median, run_timeline(sf.median, False),
         kinds["now"]),
        ("timeline median, first page of 100, as_of", sf.median, run_timeline(sf.median, False),
         kinds["as_of"]),
        ("timeline busiest, 100 from random date, current", sf.busiest, run_timeline(sf.busiest, True),
         kinds["now"]),
        ("timeline busiest, 100 from random date, as_of", sf.busiest, run_timeline(sf.busiest, True),
         kinds["as_of"]),
    ]
    busy_before = None
    if args.wait_idle > 0:
        progress(f"waiting up to {args.wait_idle:g} s for a quiet machine ...")
        busy_before = wait_for_quiet(args.wait_idle)
    results: list[Series] = []
    for name, actor, run, params in plan_list:
        progress(f"measuring {name} ...")
        series = Series(name, actor)
        measure(engine, series, params, run, warmup=args.warmup, max_seconds=args.max_seconds)
        results.append(series)

    progress("timing the parts of actor_state (SQL, JSON decoding, fold) ...")
    n_break = min(args.queries, 100)
    breaks = [
        breakdown(engine, "median, as_of", sf.median, kinds["as_of"][args.warmup:][:n_break],
                  args.max_seconds / 2),
        breakdown(engine, "busiest, as_of", sf.busiest, kinds["as_of"][args.warmup:][:n_break],
                  args.max_seconds / 2),
    ]

    # Plans, with the parameters of one as_of query at a date late in the span.
    plan_params = Params(at_us=us(END) - 86400 * 10**6 * 30,
                         axes=Axes(as_of_us=sf.recorded_us[len(sf.recorded_us) // 2]))
    median_sql, median_params, median_state, _ = state_sql(engine, sf.median, plan_params)
    median_plan = plan(engine, median_sql, median_params)
    busiest_sql, busiest_params, busiest_state, _ = state_sql(engine, sf.busiest, plan_params)
    busiest_plan = plan(engine, busiest_sql, busiest_params)

    # ---------------- report ----------------
    print()
    print(f"State-query benchmark ({args.backend}): {args.facts} facts over {args.actors} actors "
          f"(Zipf s={args.zipf:g}, seed {args.seed}), in-process, a fresh connection per query")
    print()
    print("Load")
    table(("phase", "count", "seconds", "rate"), [
        ("validate (validate_fact)", f"{figures.facts} facts", f"{figures.validate_s:.1f}",
         rate(figures.facts, figures.validate_s)),
        ("store append (record_facts, batches of 1000)", f"{figures.facts} facts",
         f"{figures.append_s:.1f}", rate(figures.facts, figures.append_s)),
        ("projection catch-up of the facts (catch_up)", f"{figures.catch_up_events} events",
         f"{figures.catch_up_s:.1f}", rate(figures.catch_up_events, figures.catch_up_s)),
        ("corrections (correct_fact, one at a time)", f"{figures.corrections}",
         f"{figures.corrections_s:.1f}", rate(figures.corrections, figures.corrections_s)),
        ("retractions (retract_fact, one at a time)", f"{figures.retractions}",
         f"{figures.retractions_s:.1f}", rate(figures.retractions, figures.retractions_s)),
        ("projection catch-up of the changes (catch_up)", f"{figures.catch_up_changes} events",
         f"{figures.catch_up_changes_s:.1f}", rate(figures.catch_up_changes, figures.catch_up_changes_s)),
        *([("ANALYZE (PostgreSQL)", "", f"{figures.analyze_s:.1f}", "")] if figures.analyze_s else []),
        ("total (incl. generating the facts)", "", f"{load_s:.1f}", ""),
    ], left=2)
    print("(the read models are caught up twice: after the facts are appended, then after the corrections and "
          "retractions)")
    print()
    print("Store")
    print(f"  facts {sf.facts:,}; revisions {sf.revisions:,} ({sf.corrected:,} corrections, "
          f"{sf.retracted:,} retractions)")
    print(f"  fact_versions rows {sf.versions:,}; fact_actors rows {sf.actor_rows:,}; "
          f"actors named {sf.actors_named:,}; size {sf.size}")
    print(f"  busiest actor {sf.busiest}: {sf.busiest_facts:,} facts ({sf.busiest_rows:,} fact_actors rows)")
    print(f"  median actor  {sf.median}: {sf.median_facts:,} facts ({sf.median_rows:,} fact_actors rows)")
    print()
    print(f"Queries (ms; {args.warmup} warm-up runs each, then up to {args.queries} measured, "
          f"at most {args.max_seconds:g} s per row; 'rows' = facts folded / items returned, mean)")
    body = []
    for s in results:
        n = f"{len(s.times_ms)}" + ("*" if s.cut_short else "")
        mean_rows = sum(s.rows) / len(s.rows) if s.rows else None
        body.append((s.name, n, fmt(mean_rows, ".0f"),
                     fmt(pct(s.times_ms, 50), ".2f"), fmt(pct(s.times_ms, 90), ".2f"),
                     fmt(pct(s.times_ms, 99), ".2f"), fmt(max(s.times_ms) if s.times_ms else None, ".2f"),
                     fmt(s.own_cpu, ".0f") + "%", fmt(s.other_cpu, ".0f") + "%"))
    table(("query", "n", "rows", "p50", "p90", "p99", "max", "own CPU", "other CPU"), body, left=1)
    if any(s.cut_short for s in results):
        print("  * cut short by --max-seconds: fewer runs than --queries")
    other_label = ("other processes, PostgreSQL's backend included" if engine.dialect.name == "postgresql"
                   else "other processes")
    print(f"  own CPU = this process, other CPU = {other_label}, in % of one core over the row's measured runs")
    disturbed = [s.name for s in results if s.other_cpu is not None and s.other_cpu > 15
                 and engine.dialect.name != "postgresql"]
    if busy_before is not None and busy_before >= 15:
        print(f"  NOTE: the machine was still {busy_before:.0f}% busy (all CPUs) after waiting {args.wait_idle:g} s")
    if disturbed:
        print(f"  NOTE: other processes used more than 15% of a core during {len(disturbed)} of the rows: "
              "those figures are disturbed")
    print()
    print("actor_state split (ms, mean / p99 of each part over the same as_of runs; SQL+fetch = the captured "
          "SELECT on the driver's own cursor, body as text; rest = total - parts: SQLAlchemy's result "
          "handling and connection checkout)")
    brows = []
    for b in breaks:
        parts = [sum(x) / len(x) if x else None for x in (b.total, b.sql, b.decode, b.fold)]
        rest = None if None in parts else parts[0] - parts[1] - parts[2] - parts[3]  # type: ignore[operator]
        brows.append((b.name, str(len(b.total)), fmt(sum(b.rows) / len(b.rows) if b.rows else None, ".0f"),
                      *(f"{fmt(m, '.2f')} / {fmt(pct(x, 99), '.2f')}"
                        for m, x in zip(parts, (b.total, b.sql, b.decode, b.fold), strict=True)),
                      fmt(rest, ".2f")))
    table(("actor_state", "n", "rows", "total", "SQL+fetch", "JSON decode", "fold", "rest"), brows, left=1)
    mismatched = [b.name for b in breaks if b.mismatches]
    if mismatched:
        print(f"  note: the split's own fold differed from actor_state's answer for: {', '.join(mismatched)}")
    print("  JSON decoder (the engine's): "
          f"{getattr(getattr(engine.dialect, '_json_deserializer', None), '__module__', None) or 'json'}.loads")
    print()
    info["date"] = f"{info['date']} to {dt.datetime.now(dt.UTC).strftime('%H:%M:%S UTC')}"
    for key, value in info.items():
        print(f"{key + ':':16}{value}")
    print()
    explain = "EXPLAIN QUERY PLAN" if args.backend == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS)"
    print(f"SQL that actor_state sends (median actor {sf.median}, as_of = when the middle revision was recorded, "
          f"at = {iso(dt.datetime.fromtimestamp(plan_params.at_us / 1e6, dt.UTC))}; "
          f"{median_state['event_count']} facts folded):")
    print("  " + " ".join(median_sql.split()))
    print(f"  parameters: {median_params}")
    print()
    print(f"{explain}, median actor {sf.median}:")
    for line in median_plan:
        print("  " + line)
    print()
    print(f"{explain}, busiest actor {sf.busiest} (same axes and at; "
          f"{busiest_state['event_count']} facts folded):")
    for line in busiest_plan:
        print("  " + line)
    print()
    print(f"(whole run: {time.monotonic() - run_started:.0f} s)")



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.state_query", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--facts", type=int, default=100_000, help="facts to load (default 100000)")
    parser.add_argument("--actors", type=int, default=1000, help="distinct actors (default 1000)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--queries", type=int, default=300, help="measured runs per query kind (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured runs before each kind (default 20)")
    parser.add_argument("--max-seconds", type=float, default=30.0,
                        help="cap on the measured time of each query kind; fewer runs are then reported "
                             "(default 30)")
    parser.add_argument("--max-load-seconds", type=float, default=1200.0,
                        help="give up if loading and catching up take longer (default 1200)")
    parser.add_argument("--wait-idle", type=float, default=60.0,
                        help="before the queries, wait up to this many seconds for the machine to be quiet "
                             "(<15%% busy for 2 s); 0 skips (default 60)")
    parser.add_argument("--zipf", type=float, default=1.0, help="exponent of the actor popularity (default 1.0)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (SQLite file)")
    args = parser.parse_args(argv)
    if not (1 <= args.facts <= 5_000_000 and 2 <= args.actors <= 100_000 and 1 <= args.queries <= 100_000):
        parser.error("need 1 <= --facts <= 5000000, 2 <= --actors <= 100000, 1 <= --queries <= 100000")

    pg_url = bench_postgres_url(args.backend, "its public schema is dropped and recreated")
    if pg_url is None:
        return 2

    info = machine_info(args.backend)
    run_started = time.monotonic()
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        with workspace(args.keep) as workdir:
            if args.backend == "sqlite":
                db_path: Path | None = workdir / "timeline.sqlite3"
                db_url = f"sqlite:///{db_path}"
                info["backend"] = ("SQLite file in a fresh temporary folder "
                                   "(the service's engine: WAL, synchronous=NORMAL)")
            else:
                db_path = None
                db_url = pg_url
                version = reset_postgres(pg_url)
                info["backend"] = (f"PostgreSQL {version} at {libpq_url(pg_url).split('@')[-1]} "
                                   "(public schema dropped and recreated)")
            container = bootstrap(Settings(database_url=db_url, api_tokens=""))
            tune_garbage_collector()  # as the service's commands do
            try:
                run_benchmark(container, args, info, db_path, run_started)
            finally:
                container.close()
    except BenchError as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
