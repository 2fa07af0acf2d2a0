"""The suite's report: what each row measures and its goal, the cells the targets fill, and the
table (plain text and Markdown) with its baselines, details, notes and machine."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from bench.common.stats import table

BACKEND_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


# --- what the table shows -------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    op: str  # ">=" or "<="
    threshold: float
    on: str = "value"  # or "ratio"
    postgres: float | None = None  # PostgreSQL's own threshold, where it differs

    def text(self, unit: str) -> str:
        pg = "" if self.postgres is None else f" (PostgreSQL {self.postgres:g})"
        if self.on == "ratio":
            return f"ratio {self.op} {self.threshold:g}{pg}"
        return f"{self.op} {self.threshold:,g} {unit}".rstrip() + pg

    def threshold_for(self, backend: str) -> float:
        return self.postgres if backend == "postgres" and self.postgres is not None else self.threshold


@dataclass(frozen=True)
class Spec:
    key: str
    title: str
    unit: str
    spec: str  # format of the figure
    goal: Goal | None


HTTP_READ = Goal(">=", 0.5, "ratio", postgres=0.35)  # an HTTP read beside B3, the bare framework's GET
SPECS = [
    Spec("1", "HTTP appends, POST /v1/events", "req/s", ",.0f", Goal(">=", 0.6, "ratio")),
    Spec("2a", "import: facts/s into the store", "facts/s", ",.0f", Goal(">=", 25_000)),
    Spec("2b", "import: facts/s, read models caught up", "facts/s", ",.0f", Goal(">=", 15_000)),
    Spec("2c", "POST /v1/events/batch, 1,000 facts per request", "facts/s", ",.0f", None),
    Spec("2d", "import peak RSS, 2N facts (baseline: N)", "MB", ",.0f", Goal("<=", 1.10, "ratio")),
    Spec("3", "rebuild-projections", "facts/s", ",.0f", Goal(">=", 20_000)),
    Spec("4a", "state, median actor, current: p50", "ms", ".2f", Goal("<=", 5)),
    Spec("4b", "state, median actor, current: p99", "ms", ".2f", Goal("<=", 25)),
    Spec("4c", "state, median actor, as_of: p50", "ms", ".2f", Goal("<=", 5)),
    Spec("4d", "state, median actor, as_of: p99", "ms", ".2f", Goal("<=", 25)),
    Spec("4e", "state, median actor, as_of+reported_by: p50", "ms", ".2f", Goal("<=", 5)),
    Spec("4f", "state, median actor, as_of+reported_by: p99", "ms", ".2f", Goal("<=", 25)),
    Spec("4g", "state, busiest actor, current: p99", "ms", ".1f", Goal("<=", 10)),
    Spec("4h", "state, busiest actor, as_of: p99", "ms", ".1f", Goal("<=", 10)),
    Spec("4i", "state, busiest actor, as_of+reported_by: p99", "ms", ".1f", Goal("<=", 25)),
    Spec("4j", "timeline, median actor, first page of 100: p50", "ms", ".2f", Goal("<=", 5)),
    Spec("4k", "timeline, busiest actor, 100 from a random date: p50", "ms", ".2f", Goal("<=", 5)),
    Spec("4l", "GET /v1/actors/{median}/state over HTTP", "req/s", ",.0f", HTTP_READ),
    Spec("4m", "server RSS while serving 4l (VmHWM)", "MB", ",.0f", Goal("<=", 300)),
    Spec("5a", "growth: state p50, median actor, largest store / smallest", "ms", ".2f", Goal("<=", 2, "ratio")),
    Spec("5b", "growth: state p50, busiest actor, largest store / smallest", "ms", ".2f", Goal("<=", 2, "ratio")),
    Spec("8a", "GET /v1/actors/{median}/state over HTTP, 100k facts", "req/s", ",.0f", HTTP_READ),
    Spec("8b", "GET /v1/actors/{median}/timeline (100) over HTTP, 100k facts", "req/s", ",.0f", HTTP_READ),
    Spec("8c", "GET /v1/actors/{median}/timeline (100) over HTTP", "req/s", ",.0f", HTTP_READ),
    Spec("8d", "GET /v1/actors/{busiest}/state over HTTP", "req/s", ",.0f", Goal(">=", 0.3, "ratio")),
    Spec("8e", "serve --processes 2: 4l's reads (baseline: 4l)", "req/s", ",.0f", Goal(">=", 1.6, "ratio")),
    Spec("8f", "GET /v1/stats?by=month, whole store: p50", "ms", ".1f", Goal("<=", 50)),
    Spec("8g", "GET /v1/stats?by=month&as_of=..., whole store: p50", "ms", ".1f", Goal("<=", 500)),
    Spec("8h", "GET /v1/actors (first page of 100): p50", "ms", ".1f", Goal("<=", 50)),
    Spec("8i", "web page slider step (GET /v1/state, 8 lanes): p95", "ms", ".1f", Goal("<=", 100)),
    Spec("8j", "conditional GET of 4l's answer (If-None-Match): 304s", "req/s", ",.0f", Goal(">=", 0.7, "ratio")),
    Spec("7a", "webhooks: append -> first delivery, p50", "ms", ".1f", Goal("<=", 50)),
    Spec("7b", "webhooks: deliveries/s, one subscription", "deliveries/s", ",.0f", Goal(">=", 500)),
]
SPEC = {s.key: s for s in SPECS}


@dataclass
class Cell:
    value: float | None = None
    baseline: float | None = None
    baseline_name: str = ""
    error: str = ""
    lacking: str = ""  # what the service does not do yet that the row needs (the instrument worked)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


def verdict(spec: Spec, cell: Cell, backend: str) -> str:
    """PASS, SHORT by how far from the goal (relative to the goal), FAILED, or info (no goal)."""
    if cell.lacking:
        return f"FAILED ({cell.lacking})"
    if cell.error:
        return "FAILED"
    if spec.goal is None:
        return "info"
    x = cell.ratio if spec.goal.on == "ratio" else cell.value
    if x is None:
        return "-"
    goal = spec.goal.threshold_for(backend)
    if spec.goal.op == ">=":
        return "PASS" if x >= goal else f"SHORT by {100 * (1 - x / goal):.0f}%"
    return "PASS" if x <= goal else f"SHORT by {100 * (x / goal - 1):.0f}%"


@dataclass
class Report:
    backends: list[str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    details: list[tuple[str, str, str]] = field(default_factory=list)  # (key, backend, text)
    baselines: list[tuple[str, str, str]] = field(default_factory=list)  # (name, backend, text)
    curve: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)
    failed: bool = False

    def put(
        self,
        key: str,
        backend: str,
        value: float | None,
        baseline: float | None = None,
        baseline_name: str = "",
        detail: str = "",
    ) -> None:
        self.cells[(key, backend)] = Cell(value, baseline, baseline_name)
        if detail:
            self.details.append((key, backend, detail))

    def fail(self, keys: list[str], backend: str, error: str) -> None:
        self.failed = True
        for key in keys:
            self.cells.setdefault((key, backend), Cell()).error = error
        self.details.append((keys[0] if keys else "-", backend, f"FAILED: {error}"))

    # -- rendering --

    def sorted_details(self) -> list[tuple[str, str, str]]:
        """By backend, then in the table's order (a detail keyed "4" goes before the rows 4a...)."""

        def order(item: tuple[str, str, str]) -> tuple[int, int]:
            key, backend, _ = item
            index = next((i for i, spec in enumerate(SPECS) if spec.key.startswith(key)), len(SPECS))
            return (self.backends.index(backend) if backend in self.backends else -1, index)

        return sorted(self.details, key=order)

    def rows(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        header: tuple[str, ...] = ("target", "goal")
        for backend in self.backends:
            header += (BACKEND_NAMES[backend], "baseline", "ratio", "result")
        out = []
        for spec in SPECS:
            if not any((spec.key, b) in self.cells for b in self.backends):
                continue
            row: tuple[str, ...] = (f"{spec.key} {spec.title}", spec.goal.text(spec.unit) if spec.goal else "-")
            for backend in self.backends:
                cell = self.cells.get((spec.key, backend))
                if cell is None:
                    row += ("not run", "", "", "")
                    continue
                figure = "-" if cell.value is None else f"{format(cell.value, spec.spec)} {spec.unit}"
                base = "-" if cell.baseline is None else f"{cell.baseline_name} {format(cell.baseline, spec.spec)}"
                ratio = "-" if cell.ratio is None else f"{cell.ratio:.3f}"
                row += (figure, base, ratio, verdict(spec, cell, backend))
            out.append(row)
        return header, out


@dataclass
class Figure:
    """One row's figure from a target: the cell, and its details line if any."""

    key: str
    value: float | None
    baseline: float | None = None
    baseline_name: str = ""
    detail: str = ""
    lacking: str = ""  # the row could not be measured because the service lacks this (not a failure of the run)
    error: str = ""  # this row's measurement failed (the target's other rows stand)


def put_all(report: Report, backend: str, figures: list[Figure]) -> None:
    for f in figures:
        if f.error:
            report.fail([f.key], backend, f.error)
            continue
        report.put(f.key, backend, f.value, f.baseline, f.baseline_name, f.detail)
        report.cells[(f.key, backend)].lacking = f.lacking


def print_report(report: Report, args: argparse.Namespace) -> None:
    header, rows = report.rows()
    print()
    print(
        f"Benchmark suite ({'quick' if args.quick else 'full'} sizes): {args.facts:,} facts in the state store, "
        f"{args.import_facts:,} to import, {args.warmup:g} s warm-up + {args.seconds:g} s per HTTP target, "
        f"{args.connections} connections"
    )
    print()
    table(header, rows, left=2)
    for backend, curve in report.curve.items():
        print()
        print(f"5 cost growth ({BACKEND_NAMES[backend]}): the same store, growing; in-process, ms")
        table(CURVE_HEADER, curve, left=0)
    for title, items in (("Baselines", report.baselines), ("Details", report.sorted_details())):
        if items:
            print()
            print(f"{title}:")
            for key, backend, text in items:
                print(f"  {key} [{BACKEND_NAMES.get(backend, 'any')}]: {text}")
    if report.notes:
        print()
        print("Notes:")
        for note in report.notes:
            print(f"  - {note}")
    print()
    for key, value in report.info.items():
        print(f"{key + ':':18}{value}")


CURVE_HEADER = (
    "facts",
    "load s",
    "append p50",
    "append p99",
    "state p50",
    "state p99",
    "median actor (facts)",
    "busiest p50",
    "busiest p99",
    "busiest (facts, share)",
)


def markdown(report: Report, args: argparse.Namespace) -> str:
    def md_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
        esc = [tuple(c.replace("|", "\\|") for c in r) for r in (header, *rows)]
        return [
            "| " + " | ".join(esc[0]) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in esc[1:]),
        ]

    out = [
        f"# Benchmark suite, {report.info.get('date', '')}",
        "",
        f"`python -m bench{''.join(' ' + a for a in args.argv)}`",
        "",
        *md_table(("machine", ""), [(k, v) for k, v in report.info.items()]),
        "",
        "## Targets",
        "",
        *md_table(*report.rows()),
    ]
    for backend, curve in report.curve.items():
        out += [
            "",
            f"## 5 cost growth ({BACKEND_NAMES[backend]})",
            "",
            (
                "The same store, growing; in-process: `record_facts([one])`, and the median and the "
                "busiest actor's `actor_state` (current, random `at`), ms."
            ),
            "",
            *md_table(CURVE_HEADER, curve),
        ]
    for title, items in (("Baselines", report.baselines), ("Details", report.sorted_details())):
        if items:
            out += ["", f"## {title}", ""]
            out += [
                f"- **{key}** ({BACKEND_NAMES.get(backend, 'any backend')}): {text}" for key, backend, text in items
            ]
    if report.notes:
        out += ["", "## Notes", "", *(f"- {note}" for note in report.notes)]
    return "\n".join(out) + "\n"
