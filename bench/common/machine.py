"""The machine a figure was taken on, and how busy it is: what every report prints beside its figures."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import resource
import subprocess
import threading
import time
from typing import Self

from bench.common.processes import REPO_ROOT

QUIET_PCT = 15.0  # all CPUs busy below this share counts as a quiet machine


def ncpu() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _service_commit() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        rev = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "service", "migrations"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return rev + (" (+ uncommitted changes in service/ or migrations/)" if dirty else "")
    return "unknown"


def machine_info() -> dict[str, str]:
    """Date, nproc, CPU model, memory, Python, OS and the service's commit."""
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo", encoding="ascii") as fh:
        mem = f"{int(fh.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": str(ncpu()),
        "cpu": model,
        "memory": mem,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "service commit": _service_commit(),
    }


def finish_date(info: dict[str, str]) -> None:
    """The report's date becomes the run's span."""
    info["date"] = f"{info['date']} to {dt.datetime.now(dt.UTC).strftime('%H:%M:%S UTC')}"


def machine_busy_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


def busy_pct(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Share of all CPUs busy between two machine_busy_ticks() samples."""
    if not before or not after or after[1] <= before[1]:
        return None
    return 100.0 * (after[0] - before[0]) / (after[1] - before[1])


def machine_busy_pct(interval: float = 1.0) -> float | None:
    """Share of all CPUs busy over the next ``interval`` seconds."""
    first = machine_busy_ticks()
    time.sleep(interval)
    return busy_pct(first, machine_busy_ticks())


def wait_for_quiet(limit_s: float, threshold: float = QUIET_PCT) -> tuple[bool, float | None]:
    """Wait (at most limit_s) until the machine is below threshold% busy for 2 s in a row;
    (whether it was, the last reading)."""
    deadline = time.monotonic() + limit_s
    quiet = 0
    while True:
        busy = machine_busy_pct(1.0)
        if busy is None:
            return True, None
        quiet = quiet + 1 if busy < threshold else 0
        if quiet >= 2:
            return True, busy
        if time.monotonic() >= deadline:
            return False, busy


def quiet_or_note(limit_s: float, what: str, notes: list[str], verdict: str = "that figure is disturbed") -> None:
    """Wait (at most limit_s, 0 skips) for a quiet machine; a note when it did not get quiet."""
    if limit_s <= 0:
        return
    was_quiet, busy = wait_for_quiet(limit_s)
    if not was_quiet:
        notes.append(
            f"{what}: the machine was still {busy:.0f}% busy with other work after waiting {limit_s:g} s; {verdict}"
        )


def cpu_seconds_of(pid: int | None) -> float | None:
    """utime + stime of a process (all its threads), from /proc; None if unreadable."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float | None:
    """utime + stime of every live process of a process group (a server with API and worker
    children is one group); None if its leader is unreadable."""
    if cpu_seconds_of(pgid) is None:
        return None
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{entry}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuWindow:
    """CPU used over a window, in % of one core: by this process, by the given processes, and by
    everything else on the machine (``other``)."""

    def __init__(self, pids: dict[str, int] | None = None) -> None:
        self.pids = pids or {}
        self.result: dict[str, float | None] = {}

    @property
    def own_pct(self) -> float | None:
        return self.result.get("bench")

    @property
    def other_pct(self) -> float | None:
        return self.result.get("other")

    def start(self) -> Self:
        self._t0 = time.monotonic()
        self._c0 = {k: cpu_seconds_of(p) for k, p in self.pids.items()}
        self._own0 = own_cpu_seconds()
        self._b0 = machine_busy_ticks()
        return self

    def stop(self) -> dict[str, float | None]:
        wall = time.monotonic() - self._t0
        c1 = {k: cpu_seconds_of(p) for k, p in self.pids.items()}
        busy = busy_pct(self._b0, machine_busy_ticks())
        out: dict[str, float | None] = {"wall_s": wall}
        for k in self.pids:
            a, b = self._c0[k], c1[k]
            out[k] = None if a is None or b is None or wall <= 0 else 100.0 * (b - a) / wall
        out["bench"] = 100.0 * (own_cpu_seconds() - self._own0) / wall if wall > 0 else None
        known = [v for k, v in out.items() if k != "wall_s" and v is not None]
        out["other"] = None if busy is None else max(0.0, busy * ncpu() - sum(known))
        self.result = out
        return out

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def proc_status_kib(pid: int, key: str) -> int | None:
    """A figure of /proc/PID/status in KiB (VmRSS, VmHWM)."""
    with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


class RssWatch:
    """The highest VmRSS of a process seen while on (sampled every 0.25 s), and its VmHWM at the end."""

    def __init__(self, pid: int):
        self.pid = pid
        self.max_rss_kib = 0
        self.hwm_kib: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = proc_status_kib(self.pid, "VmRSS")
            if rss:
                self.max_rss_kib = max(self.max_rss_kib, rss)
            self._stop.wait(0.25)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hwm_kib = proc_status_kib(self.pid, "VmHWM")
        self._stop.set()
        self._thread.join(5)
