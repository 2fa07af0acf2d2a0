"""Synthetic facts and the store they make: the generator every benchmark draws its facts from,
and the in-process loader (facts, corrections, retractions, read models caught up)."""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bench.common.errors import BenchError
from bench.common.stats import progress
from service.bootstrap import Container
from service.domain.corrections import CorrectionIn, RetractionIn
from service.domain.facts import validate_fact

BATCH = 1000  # facts per record_facts call, and per POST /v1/events/batch (the API's most)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
START = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
SPAN_S = 2 * 365 * 86400  # occurred_at spread over two years from START
END = START + dt.timedelta(seconds=SPAN_S)

COUNTRIES = (
    "IQ",
    "SY",
    "KW",
    "JO",
    "TR",
    "IR",
    "SA",
    "QA",
    "BH",
    "AE",
    "US",
    "GB",
    "FR",
    "DE",
    "IT",
    "ES",
    "NL",
    "DK",
    "NO",
    "CA",
    "AU",
    "PL",
)
MISSIONS = ("inherent-resolve", "nato-mission-iraq", "counter-daesh", "gulf-shield", "sea-guardian", "training-iraq")
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
# Corrections and retractions have no batch command: one at a time they took most of a large
# load on PostgreSQL (a commit each); the store serves concurrent commands, as from request threads.
CHANGE_THREADS = 4


def us(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


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
        weights = [1.0 / (rank**zipf_s) for rank in range(1, actors + 1)]
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
        personnel = self._BODIES[kind](self, raw, self.actor())
        return raw, Meta(event_id, kind, personnel, occurred, reported)

    def _deployed(self, raw: dict[str, Any], primary: str) -> int | None:
        rng = self.rng
        personnel = rng.randrange(10, 5000)
        raw["actors"] = [{"id": primary, "role": "actor"}]
        if rng.random() < 0.7:
            raw["actors"].append({"id": self.actor(primary), "role": "host"})
        raw["personnel"] = personnel
        raw["location"] = rng.choice(self.locations)
        if rng.random() < 0.5:
            raw["mission"] = rng.choice(MISSIONS)
        return personnel

    def _repositioned(self, raw: dict[str, Any], primary: str) -> int | None:
        rng = self.rng
        personnel = None
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
        return personnel

    def _mission(self, raw: dict[str, Any], primary: str) -> int | None:
        rng = self.rng
        personnel = None
        raw["actors"] = [{"id": primary, "role": "actor"}]
        if rng.random() < 0.5:
            raw["actors"].append({"id": self.actor(primary), "role": "host"})
        raw["mission"] = rng.choice(MISSIONS)
        if raw["type"] == "MissionSuspended":
            if rng.random() < 0.5:
                personnel = rng.randrange(50, 5000)
                raw["personnel"] = personnel
            raw["reason"] = "security situation after a strike on a base hosting coalition forces"
            raw["temporary"] = rng.random() < 0.7
        return personnel

    def _strike(self, raw: dict[str, Any], primary: str) -> int | None:
        rng = self.rng
        raw["actors"] = [{"id": primary, "role": "perpetrator"}]
        if rng.random() < 0.8:
            raw["actors"].append({"id": self.actor(primary), "role": "target"})
        if rng.random() < 0.1:
            raw["actors"].append({"id": self.actor(primary), "role": "ordered_by"})
        raw["means"] = rng.choice(("drone", "air", "missile", "artillery", "unknown"))
        if rng.random() < 0.5:
            raw["fatalities"] = rng.randrange(0, 40)
        raw["location"] = rng.choice(self.locations)
        return None

    def _statement(self, raw: dict[str, Any], primary: str) -> int | None:
        rng = self.rng
        raw["actors"] = [{"id": primary, "role": "speaker"}]
        if rng.random() < 0.5:
            raw["actors"].append({"id": self.actor(primary), "role": "subject"})
        if rng.random() < 0.2:
            raw["actors"].append({"id": self.actor(primary), "role": "addressee"})
        raw["text"] = (
            "The ministry said that the forces remain committed to the mission and that "
            "their posture is under review after the latest events in the region. "
        ) * 2
        raw["channel"] = rng.choice(("statement", "press_conference", "social_media"))
        return None

    _BODIES: ClassVar[dict[str, Callable[[Generator, dict[str, Any], str], int | None]]] = {
        "PersonnelDeployed": _deployed,
        "PersonnelRepositioned": _repositioned,
        "MissionSuspended": _mission,
        "MissionResumed": _mission,
        "StrikeOccurred": _strike,
        "StatementIssued": _statement,
    }


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


class Deadline:
    """Loading is bounded: a BenchError names the stage that overran."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.last_progress = time.monotonic()

    def check(self, stage: str) -> None:
        if time.monotonic() > self.at:
            raise BenchError(f"loading took longer than --max-load-seconds={self.seconds:g} ({stage})")

    def on_batch(self, applied: int, position: int) -> None:
        """The read models' catch-up callback: progress every 10 s, and the bound."""
        if time.monotonic() - self.last_progress > 10:
            self.last_progress = time.monotonic()
            progress(f"  projected {applied} events (position {position})")
        self.check("projection catch-up")


def load(container: Container, args: argparse.Namespace, figures: LoadFigures) -> None:
    """``args.facts`` generated facts, then 3 % corrected and 1 % retracted, each step caught up
    in the read models (``args``: facts, actors, seed, zipf, max_load_seconds)."""
    deadline = Deadline(args.max_load_seconds)
    metas = record_generated(container, args, figures, deadline)
    progress("  catching up the read models with the recorded facts ...")
    t0 = time.perf_counter()
    figures.catch_up_events = container.read_models.catch_up(deadline.on_batch)
    figures.catch_up_s = time.perf_counter() - t0
    correct_and_retract(container, metas, random.Random(args.seed + 1), figures, deadline)
    t0 = time.perf_counter()
    figures.catch_up_changes = container.read_models.catch_up(deadline.on_batch)
    figures.catch_up_changes_s = time.perf_counter() - t0
    if container.engine.dialect.name == "postgresql":
        # Autovacuum would analyze these tables soon after such a load anyway; do it now so that
        # the plans do not depend on when it happens to run.
        t0 = time.perf_counter()
        with container.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        figures.analyze_s = time.perf_counter() - t0


def record_generated(
    container: Container, args: argparse.Namespace, figures: LoadFigures, deadline: Deadline
) -> list[Meta]:
    """Validate and record the generated facts in batches of BATCH; what each correction needs to know."""
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
        deadline.check("appending")
    return metas


def _correction(meta: Meta, rng: random.Random) -> CorrectionIn:
    """A later report: another personnel count (most of the time, when there is one) or another date."""
    later = meta.reported + dt.timedelta(days=rng.uniform(1, 30))
    if meta.personnel is not None and rng.random() < 0.7:
        new = meta.personnel + rng.choice((-1, 1)) * rng.randrange(1, 200)
        changes: dict[str, Any] = {"personnel": new if new >= 0 and new != meta.personnel else meta.personnel + 7}
    else:
        shift = dt.timedelta(hours=rng.choice((-1, 1)) * rng.uniform(1, 72))
        changes = {"occurred_at": iso(min(max(meta.occurred + shift, START), END))}
        if changes["occurred_at"] == iso(meta.occurred):
            changes = {"occurred_at": iso(meta.occurred + dt.timedelta(hours=5))}
    return CorrectionIn(changes=changes, reason="benchmark correction: a later report", reported_at=iso(later))


def correct_and_retract(
    container: Container, metas: list[Meta], rng: random.Random, figures: LoadFigures, deadline: Deadline
) -> None:
    """CORRECTED_SHARE of the facts corrected, then RETRACTED_SHARE retracted, CHANGE_THREADS
    commands at a time (each fact is changed once, so they never conflict)."""
    chosen = rng.sample(range(len(metas)), k=round(len(metas) * (CORRECTED_SHARE + RETRACTED_SHARE)))
    n_correct = round(len(metas) * CORRECTED_SHARE)
    corrections = [(metas[i].event_id, _correction(metas[i], rng)) for i in chosen[:n_correct]]
    retractions = [
        (
            metas[i].event_id,
            RetractionIn(
                reason="benchmark retraction: found to be false",
                reported_at=iso(metas[i].reported + dt.timedelta(days=rng.uniform(1, 30))),
            ),
        )
        for i in chosen[n_correct:]
    ]
    t0 = time.perf_counter()
    run_commands(container.store.correct_fact, corrections, deadline, "correcting")
    t1 = time.perf_counter()
    run_commands(container.store.retract_fact, retractions, deadline, "retracting")
    t2 = time.perf_counter()
    figures.corrections, figures.corrections_s = len(corrections), t1 - t0
    figures.retractions, figures.retractions_s = len(retractions), t2 - t1
    progress(f"  {len(corrections)} corrections, {len(retractions)} retractions recorded; catching up ...")


def run_commands(
    command: Callable[[str, Any], Any], items: list[tuple[str, Any]], deadline: Deadline, stage: str
) -> None:
    """Each ``command(event_id, change)``, CHANGE_THREADS at a time, as concurrent requests would send them."""
    with ThreadPoolExecutor(CHANGE_THREADS, thread_name_prefix="bench-change") as pool:
        for start in range(0, len(items), BATCH):
            list(pool.map(lambda item: command(*item), items[start : start + BATCH]))
            progress(f"  {stage} {min(start + BATCH, len(items))}/{len(items)}")
            deadline.check(stage)
