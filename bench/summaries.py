"""Stored partial folds: decoding and combining block summaries, beside folding the same facts.

    .venv/bin/python -m bench.summaries [--blocks 100] [--block-facts 16,64,256] [--locations 300,20]
                                        [--history 50000] [--runs 200]

One actor's history in the shape of the benchmark store's (``bench/common/dataset.py``: its type
mix, six missions, known and unknown counts, moves with one or two ends), in which the actor
plays each fact's main role, over ``--locations`` sites (300 is the dataset's; the busiest actor
of a large store meets them all). Two ways of cutting it into blocks, per ``--block-facts``:

* ``--blocks`` blocks of that many facts;
* binary: ``--history`` facts (50,000: the busiest actor of a 1,000,000-fact store) in the blocks a
  binary counter of whole blocks keeps, largest first (32768, 16384, 512, 256, 64 facts for 64),
  the last partial block left out (a read folds it).

Each block is summarised (``service.domain.summaries``) and kept as the JSON bytes a database
column would hold. Then, in the same run, each as the median and p99 of ``--runs`` runs of
process CPU time (after one warm-up; the three take turns):

* fold: ``replay.fold_inputs`` over all the blocks' facts, already decoded: a state read today,
  without its SQL and JSON decoding;
* loads: ``orjson.loads`` of the stored summaries (the driver's share of a read);
* read: the same loads, then ``from_json`` of each, ``combine_all`` and ``state_of``: a read from
  the stored bytes to the state. (``read - loads`` is this module's share. Measured apart, on
  summaries decoded once, it came out three times higher when it took turns with the fold than
  when it ran alone: the fold had pushed them out of the caches, which a read's own fresh
  decoding does not.)

It prints the machine, the kilobytes stored for one read and the figures; the combined state is
checked against the fold before anything is timed.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench.common.dataset import Generator
from bench.common.machine import machine_info
from bench.common.stats import pct, progress, table
from service.domain.facts import validate_fact
from service.domain.replay import fold_input, fold_inputs, roles_by_actor
from service.domain.summaries import combine_all, from_json, state_of, summarize, to_json
from service.runtime import tune_garbage_collector

Row = tuple[frozenset[str], dict[str, Any]]


def history(facts: int, locations: int, seed: int = 7) -> list[Row]:
    """(roles, fold input) of ``facts`` generated facts for their first-named actor, in fact order."""
    generator = Generator(actors=1000, seed=seed, zipf_s=0.62)
    generator.locations = generator.locations[:locations]
    records = [validate_fact(generator.fact(i)[0]).to_record() for i in range(facts)]
    records.sort(key=lambda record: record["occurred_at"])
    rows = []
    for record in records:
        roles = frozenset(roles_by_actor(record)[record["actors"][0]["id"]])
        rows.append((roles, fold_input(record, roles)))
    return rows


def timed(works: list[Callable[[], object]], runs: int) -> list[list[float]]:
    """CPU milliseconds per run of each.

    CPU time, not wall time: on a shared machine a run waits for a core as long as it computes.
    The works take turns, so that what noise is left (caches, frequency) falls on all.
    """
    times: list[list[float]] = [[] for _ in works]
    for run in range(runs + 1):
        for work, series in zip(works, times, strict=True):
            start = time.process_time()
            work()
            if run:  # the first is a warm-up
                series.append((time.process_time() - start) * 1000)
    return times


def even_blocks(block_facts: int, count: int) -> list[int]:
    return [block_facts] * count


def binary_blocks(block_facts: int, facts: int) -> list[int]:
    """Block sizes as a binary counter of whole blocks would keep them: largest first."""
    whole = facts // block_facts
    return [block_facts << bit for bit in reversed(range(whole.bit_length())) if whole >> bit & 1]


def measure(layout: str, sizes: list[int], locations: int, runs: int) -> tuple[str, ...]:
    rows = history(sum(sizes), locations)
    bounds = list(itertools.accumulate(sizes, initial=0))
    blocks = [rows[a:b] for a, b in itertools.pairwise(bounds)]
    stored = [orjson.dumps(to_json(summarize(block))) for block in blocks]

    def read() -> dict[str, Any]:
        return state_of(combine_all(from_json(orjson.loads(raw)) for raw in stored))

    if orjson.dumps(read()) != orjson.dumps(fold_inputs(rows)):
        raise SystemExit("the combined summaries do not give the fold's state")
    tune_garbage_collector()  # as the service does: what was built so far is never scanned
    fold, loads, whole = timed([lambda: fold_inputs(rows), lambda: [orjson.loads(raw) for raw in stored], read], runs)
    return (
        layout,
        f"{len(rows):,}",
        f"{len(blocks)}",
        f"{locations}",
        f"{sum(map(len, stored)) / 1000:,.1f}",
        *(f"{statistics.median(t):.3f} / {pct(t, 99):.3f}" for t in (fold, loads, whole)),
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.summaries", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--blocks", type=int, default=100)
    parser.add_argument("--block-facts", default="16,64,256", help="comma list of facts per block")
    parser.add_argument("--locations", default="300,20", help="comma list of site counts")
    parser.add_argument("--history", type=int, default=50_000, help="facts of the binary layout's actor")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)
    for key, value in machine_info().items():
        print(f"{key}: {value}")
    print(f"CPU milliseconds per read, median / p99 of {args.runs} runs")
    lines = []
    for block_facts in (int(n) for n in args.block_facts.split(",")):
        layouts = {
            f"{args.blocks} x {block_facts}": even_blocks(block_facts, args.blocks),
            f"binary, {block_facts} up": binary_blocks(block_facts, args.history),
        }
        for layout, sizes in layouts.items():
            for locations in (int(n) for n in args.locations.split(",")):
                progress(f"{layout} over {locations} sites ...")
                lines.append(measure(layout, sizes, locations, args.runs))
    header = ("blocks", "facts", "summaries", "sites", "kB stored", "fold facts", "loads", "read (loads + combine)")
    table(header, lines, left=1)


if __name__ == "__main__":
    main(sys.argv[1:])
