"""The webhook target's figures from what its phases recorded: latency and throughput, the
printed report, and the exactly-once accounting of every delivery."""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common.machine import finish_date
from bench.common.stats import fmt, pct

Delivery = tuple[str | None, int, int | None, str | None]  # (webhook-id, arrival ns, position, event_id)


@dataclass
class Phases:
    """What the latency, throughput and raw-capacity phases recorded."""

    lat_rows: list[tuple[str, int, int]] = field(default_factory=list)  # (event_id, ns sent, ns 201)
    lat_post_ns: list[int] = field(default_factory=list)
    late_sends: int = 0
    n_lat: int = 0
    achieved_rate: float = 0.0
    cpu_lat: dict[str, float | None] = field(default_factory=dict)
    tp_ids: set[str] = field(default_factory=set)
    t_tp0: int = 0
    t_tp_recorded: int = 0
    batches: int = 0
    cpu_tp: dict[str, float | None] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    service_view: dict[str, Any] = field(default_factory=dict)
    sample: bytes = b""
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)


def ms(ns: float | None) -> str:
    return "-" if ns is None else f"{ns / 1e6:.1f}"


def cpu_text(c: dict[str, float | None]) -> str:
    names = {"service": "service", "receiver": "receiver", "bench": "bench client", "other": "other"}
    return ", ".join(f"{names[k]} {c[k]:.0f}%" for k in names if c.get(k) is not None)


def print_rows(rows: list[tuple[str, str, str]]) -> None:
    header = ("figure", "value", "how")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(2)]
    print(f"{header[0].ljust(widths[0])}  {header[1].rjust(widths[1])}  {header[2]}")
    print(f"{'-' * widths[0]}  {'-' * widths[1]}  {'-' * 40}")
    for name, value, how in rows:
        print(f"{name.ljust(widths[0])}  {value.rjust(widths[1])}  {how}".rstrip())


def first_arrivals(phases: Phases, posted: dict[str, int]) -> tuple[dict[str, int], int]:
    """Each event's first arrival (ns), and how many deliveries carried another position than its 201's."""
    first: dict[str, int] = {}
    pos_mismatch = 0
    for _wid, arrived, position, event_id in phases.deliveries:
        if event_id is not None and (event_id not in first or arrived < first[event_id]):
            first[event_id] = arrived
        if event_id in posted and posted[event_id] != position:
            pos_mismatch += 1
    return first, pos_mismatch


def headline(phases: Phases, first: dict[str, int]) -> dict[str, Any]:
    """Latencies (ns, sorted) and the throughput phase's rates and moments."""
    lat = sorted(first[e] - done for e, _sent, done in phases.lat_rows if e in first)
    tp_arrivals = sorted(first[e] for e in phases.tp_ids if e in first)
    tp_total_s = (tp_arrivals[-1] - phases.t_tp0) / 1e9 if tp_arrivals else None
    tp_span_s = (tp_arrivals[-1] - tp_arrivals[0]) / 1e9 if len(tp_arrivals) > 1 else None
    tp_rate = len(tp_arrivals) / tp_total_s if tp_total_s else None
    cap = phases.raw["async"]["requests_per_s"]
    shape = phases.raw["threads"]["requests_per_s"]
    return {
        "lat": lat,
        "lat_missing": sum(1 for e, _s, _d in phases.lat_rows if e not in first),
        "post_lat": sorted(phases.lat_post_ns),
        "tp_arrivals": tp_arrivals,
        "tp_total_s": tp_total_s,
        "tp_rate": tp_rate,
        "tp_span_s": tp_span_s,
        "tp_span_rate": (len(tp_arrivals) - 1) / tp_span_s if tp_span_s else None,
        "rec_s": (phases.t_tp_recorded - phases.t_tp0) / 1e9,
        "first_after_s": (tp_arrivals[0] - phases.t_tp0) / 1e9 if tp_arrivals else None,
        "after_last_batch_s": (tp_arrivals[-1] - phases.t_tp_recorded) / 1e9 if tp_arrivals else None,
        "cap": cap,
        "ratio": tp_rate / cap if tp_rate and cap else None,
        "ratio_threads": tp_rate / shape if tp_rate and shape else None,
    }


def figure_rows(args: argparse.Namespace, phases: Phases, h: dict[str, Any]) -> list[tuple[str, str, str]]:
    lat, post_lat, raw = h["lat"], h["post_lat"], phases.raw
    return [
        (
            "append -> first delivery, p50 ms",
            ms(pct(lat, 50)),
            (
                f"{len(lat)} facts POSTed one at a time at {phases.achieved_rate:.1f}/s (target {args.rate:g}/s), "
                f"from each 201 to the receiver's arrival"
            ),
        ),
        ("append -> first delivery, p99 ms", ms(pct(lat, 99)), ""),
        ("append -> first delivery, max ms", ms(lat[-1] if lat else None), f"min {ms(lat[0] if lat else None)} ms"),
        (
            "  POST /v1/events itself, p50 / p99 ms",
            f"{ms(pct(post_lat, 50))} / {ms(pct(post_lat, 99))}",
            "request sent -> 201 read",
        ),
        ("  CPU during the latency phase", "", cpu_text(phases.cpu_lat) + " (% of one core)"),
        (
            "deliveries/s (dispatcher)",
            fmt(h["tp_rate"], ".0f"),
            (
                f"{len(h['tp_arrivals'])} deliveries / {fmt(h['tp_total_s'], '.2f')} s from the first batch POST "
                f"to the last arrival"
            ),
        ),
        (
            "  recording the batches",
            f"{fmt(args.facts / h['rec_s'], '.0f')}/s",
            f"{phases.batches} x POST /v1/events/batch: {h['rec_s']:.2f} s",
        ),
        ("  first arrival after first POST", f"{fmt(h['first_after_s'], '.2f')} s", ""),
        ("  last arrival after last 201", f"{fmt(h['after_last_batch_s'], '.2f')} s", ""),
        ("  first -> last arrival rate", f"{fmt(h['tp_span_rate'], '.0f')}/s", f"over {fmt(h['tp_span_s'], '.2f')} s"),
        ("  CPU during the throughput phase", "", cpu_text(phases.cpu_tp) + " (% of one core)"),
        (
            "receiver raw capacity (req/s)",
            fmt(h["cap"], ".0f"),
            (
                f"asyncio+httpx, {args.connections} one-connection clients, {raw['async']['window_s']:.1f} s; "
                f"client {fmt(raw['async']['client_cpu_pct'], '.0f')}%, receiver "
                f"{fmt(raw['async']['receiver_cpu_pct'], '.0f')}%, errors {sum(raw['async']['errors'].values())}"
            ),
        ),
        (
            "dispatcher's client shape (req/s)",
            fmt(raw["threads"]["requests_per_s"], ".0f"),
            (
                f"one httpx.Client, {args.connections} threads, signing each, no database; client "
                f"{fmt(raw['threads']['client_cpu_pct'], '.0f')}%, receiver "
                f"{fmt(raw['threads']['receiver_cpu_pct'], '.0f')}%, errors {sum(raw['threads']['errors'].values())}"
            ),
        ),
        ("ratio deliveries/s / raw capacity", fmt(h["ratio"], ".3f"), ""),
        ("ratio deliveries/s / client shape", fmt(h["ratio_threads"], ".3f"), ""),
    ]


def accounting(
    args: argparse.Namespace, phases: Phases, posted: dict[str, int], pos_mismatch: int, h: dict[str, Any]
) -> dict[str, Any]:
    """Prints the delivery accounting; whether every fact was delivered exactly once, and the counts."""
    by_wid: Counter[str | None] = Counter(wid for wid, _a, _p, _e in phases.deliveries)
    wid_event: dict[str | None, str | None] = {}
    for wid, _arrived, _position, event_id in phases.deliveries:
        wid_event.setdefault(wid, event_id)
    dup = {w: c for w, c in by_wid.items() if c > 1}
    delivered_events = {e for e in wid_event.values() if e is not None}
    missing = set(posted) - delivered_events
    unexpected = delivered_events - set(posted)
    multi_wid = sum(1 for c in Counter(wid_event.values()).values() if c > 1)
    out_of_order = highest = 0
    for _wid, _arrived, position, _event in sorted(phases.deliveries, key=lambda r: r[1]):
        if position is not None:
            out_of_order += position < highest
            highest = max(highest, position)
    view = phases.service_view
    print()
    print("Delivery accounting:")
    print(
        f"  facts answered 201:            {len(posted)}  ({args.warmup_facts} warm-up + {phases.n_lat} latency + "
        f"{args.facts} throughput)"
    )
    print(f"  deliveries received (/hook):   {len(phases.deliveries)}  (distinct webhook-ids: {len(by_wid)})")
    print(
        f"  duplicates:                    {sum(c - 1 for c in dup.values())} extra deliveries of "
        f"{len(dup)} webhook-ids"
    )
    print(
        f"  facts never delivered:         {len(missing)};  deliveries of unknown facts: {len(unexpected)};  "
        f"facts under several webhook-ids: {multi_wid};  position != 201 position: {pos_mismatch}"
    )
    print(
        f"  arrived after a later position: {out_of_order}  (first attempts of one subscription should "
        "arrive in log order)"
    )
    print(
        f"  service's view (deliveries):   statuses {view['statuses']}, attempts per message "
        f"{view['attempts']}, attempt outcomes {view['codes']}"
    )
    ok = (
        len(by_wid) == len(posted)
        and not dup
        and not missing
        and not unexpected
        and not multi_wid
        and not pos_mismatch
        and len(h["tp_arrivals"]) == len(phases.tp_ids)
        and not h["lat_missing"]
    )
    print(f"  result:                        {'OK — every fact delivered exactly once' if ok else 'MISMATCH'}")
    return {"ok": ok, "duplicates": sum(c - 1 for c in dup.values()), "missing": len(missing)}


def phase_notes(args: argparse.Namespace, phases: Phases, h: dict[str, Any], notes: list[str]) -> None:
    if phases.counts.get("bad"):
        notes.append(f"the receiver saw {phases.counts['bad']} malformed requests or bodies")
    if phases.late_sends:
        notes.append(
            f"latency phase: {phases.late_sends} POSTs left more than one interval late (the POSTs could "
            "not keep the rate)"
        )
    if h["lat"] and h["lat"][0] < 0:
        notes.append("some deliveries arrived before the client had read the 201 (negative latencies)")
    other = phases.cpu_tp.get("other")
    if other and other > 15 and args.backend == "sqlite":
        notes.append(f"throughput phase: other processes used {other:.0f}% of a core")
    for mode, r in phases.raw.items():
        if r["errors"]:
            notes.append(f"raw capacity ({mode}): errors {r['errors']}")
        if r["client_cpu_pct"] and r["client_cpu_pct"] > 85:
            notes.append(
                f"raw capacity ({mode}): the client used {r['client_cpu_pct']:.0f}% of a core, so it may "
                "bound that figure (read it as a lower bound of the receiver's capacity)"
            )


def report(
    args: argparse.Namespace,
    phases: Phases,
    posted: dict[str, int],
    backend_desc: str,
    info: dict[str, str],
    notes: list[str],
    figures: dict[str, Any] | None,
) -> bool:
    """Prints the figures, the machine, the accounting and the notes; whether the accounting held."""
    first, pos_mismatch = first_arrivals(phases, posted)
    h = headline(phases, first)
    print()
    print(
        f"Webhook delivery: one subscription, receiver in its own process on 127.0.0.1 "
        f"(asyncio/httptools, answers 204; {len(phases.sample)}-byte delivery bodies)"
    )
    print(f"service backend: {backend_desc}")
    print()
    print_rows(figure_rows(args, phases, h))
    print()
    finish_date(info)
    for key, value in info.items():
        print(f"{key + ':':16}{value}")
    print(f"{'httpx:':16}{httpx.__version__}")
    counted = accounting(args, phases, posted, pos_mismatch, h)
    lat = h["lat"]
    if figures is not None:
        figures.update(
            {
                "latency_p50_ms": pct(lat, 50) / 1e6 if lat else None,  # type: ignore[operator]
                "latency_p99_ms": pct(lat, 99) / 1e6 if lat else None,  # type: ignore[operator]
                "latency_facts": len(lat),
                "rate": phases.achieved_rate,
                "deliveries_per_s": h["tp_rate"],
                "deliveries": len(h["tp_arrivals"]),
                "span_rate": h["tp_span_rate"],
                "raw_capacity": h["cap"],
                "client_shape": phases.raw["threads"]["requests_per_s"],
                "exactly_once": counted["ok"],
                "facts_posted": len(posted),
                "duplicates": counted["duplicates"],
                "missing": counted["missing"],
                "service_cpu_pct": phases.cpu_tp.get("service"),
            }
        )
    phase_notes(args, phases, h, notes)
    if notes:
        print()
        print("Notes:")
        for note in notes:
            print(f"  - {note}")
    return bool(counted["ok"])
