"""Child processes: the real server and every other program a benchmark or a test starts.

Each child leads its own process group and writes its output to a log file; every wait has a
deadline. Tests kill what they start in a ``finally`` or a fixture's teardown; the benchmarks
also keep a registry of their children so that ``stop_all`` ends them on failure or signal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench.common.errors import BenchError

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})  # the only hosts a benchmark sends to
START_TIMEOUT_S = 90.0  # the service applies migrations before it listens
STOP_TIMEOUT_S = 15.0
T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    """This environment without TIMELINE_* settings (the caller sets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TIMELINE_")}


def service_env(database_url: str, tokens: str = "", **extra: str) -> dict[str, str]:
    """The environment of a service process: only the settings we choose, no stray TIMELINE_*."""
    env = clean_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["TIMELINE_DATABASE_URL"] = database_url
    env["TIMELINE_API_TOKENS"] = tokens
    env["TIMELINE_LOG_LEVEL"] = "info"
    env.update(extra)
    return env


def wait_until(condition: Callable[[], T], timeout: float, interval: float = 0.02, what: str = "") -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not within {timeout:.1f}s: {what or condition}")
        time.sleep(interval)


@dataclass
class ServiceProcess:
    """A child process (the service, or another program) with its combined stdout+stderr in a log file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None
    name: str = "service"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.process.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if it is still running after ``timeout`` seconds."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL the process and everything it started (it leads its own process group)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.wait(10)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; returns the exit code."""
        self.signal(signal.SIGTERM)
        code = self.wait(timeout)
        if code is None:
            self.kill()
        return code


def start_process(
    argv: list[str],
    env: dict[str, str],
    log_path: Path,
    *,
    cwd: Path,
    port: int | None = None,
    name: str = "service",
    append: bool = False,
) -> ServiceProcess:
    """Any program as a child in its own process group, its output in ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab" if append else "wb") as log:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its children (API processes, workers) can be killed with it
        )
    return ServiceProcess(process, log_path, port, name)


def start_service(args: list[str], env: dict[str, str], log_path: Path, port: int | None = None) -> ServiceProcess:
    # The log's folder as working directory: no stray .env file from the working tree.
    return start_process(
        [sys.executable, "-m", "service", *args], env, log_path, cwd=log_path.parent, port=port, append=True
    )


def run_service(args: list[str], env: dict[str, str], log_path: Path, timeout: float = 60.0) -> tuple[int, str]:
    """Run a CLI command to completion (killed after ``timeout``); (exit code, output)."""
    child = start_service(args, env, log_path)
    try:
        code = child.wait(timeout)
        if code is None:
            raise TimeoutError(f"`service {' '.join(args)}` still running after {timeout}s:\n{child.output()}")
        return code, child.output()
    finally:
        child.kill()


def wait_healthy(child: ServiceProcess, timeout: float = 30.0) -> None:
    """Until GET /healthz answers 200; fails at once if the process exits."""
    deadline = time.monotonic() + timeout
    while True:
        if not child.alive():
            raise RuntimeError(f"the server exited with {child.process.returncode}:\n{child.output()}")
        try:
            if httpx.get(f"{child.base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() >= deadline:
            raise TimeoutError(f"/healthz not 200 within {timeout}s:\n{child.output()}")
        time.sleep(0.05)


@contextmanager
def serving(
    database_url: str,
    tokens: str,
    log_path: Path,
    *extra_args: str,
    timeout: float = 30.0,
    extra_env: dict[str, str] | None = None,
) -> Iterator[ServiceProcess]:
    """``python -m service serve --port P`` until healthy; killed on the way out whatever happens."""
    port = free_port()
    env = service_env(database_url, tokens, **(extra_env or {}))
    child = start_service(["serve", "--port", str(port), *extra_args], env, log_path, port)
    try:
        wait_healthy(child, timeout)
        yield child
    finally:
        child.kill()


# --- the benchmarks' children: registered, so that a failure or a signal ends them all -------------


_children: list[ServiceProcess] = []


def start_child(name: str, argv: list[str], env: dict[str, str], log_path: Path) -> ServiceProcess:
    """A registered child run from the repository (``python -m bench.*`` must import)."""
    child = start_process(argv, env, log_path, cwd=REPO_ROOT, name=name)
    _children.append(child)
    return child


def stop(child: ServiceProcess) -> int | None:
    """SIGTERM the child's process group, then SIGKILL after a grace period; its exit code."""
    proc = child.process
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


def raise_interrupt(signum: int, _frame: Any) -> None:
    """A signal handler: SIGTERM and SIGHUP end a run as Ctrl-C does (children stopped, partial report)."""
    raise KeyboardInterrupt(f"signal {signum}")


def wait_answering(child: ServiceProcess, base: str, timeout: float = START_TIMEOUT_S) -> None:
    """Until ``base``/healthz answers 200; BenchError, with the log's tail, if the child exits or is too slow."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise BenchError(
                    f"{child.name} exited with {child.process.returncode} before answering\n{log_tail(child)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if client.get("/healthz").status_code == 200:
                    return
            time.sleep(0.1)
    raise BenchError(f"{child.name} did not answer /healthz within {timeout:.0f} s\n{log_tail(child)}")


def log_tail(child: ServiceProcess, lines: int = 30) -> str:
    try:
        text = child.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    | " + line for line in text[-lines:])


def log_problems(child: ServiceProcess) -> dict[str, int]:
    """Counts of worrying lines in a server's log (5xx answers, tracebacks, errors)."""
    counts = {"tracebacks": 0, "ERROR lines": 0, "5xx in access log": 0}
    with contextlib.suppress(OSError), open(child.log_path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("Traceback"):
                counts["tracebacks"] += 1
            if " ERROR " in line or line.startswith("ERROR:"):
                counts["ERROR lines"] += 1
            if 'HTTP/1.1" 5' in line:
                counts["5xx in access log"] += 1
    return counts


@dataclass
class Finished:
    code: int
    wall_s: float
    cpu_s: float
    maxrss_kib: int


def reap(
    child: ServiceProcess,
    started: float,
    timeout: float,
    poll: Callable[[float], None] | None = None,
    interval: float = 0.1,
) -> Finished:
    """Wait (bounded) for a child with wait4, so that its own CPU time and peak RSS are known."""
    while True:
        pid, status, usage = os.wait4(child.process.pid, os.WNOHANG)
        now = time.monotonic()
        if pid:
            child.process.returncode = os.waitstatus_to_exitcode(status)
            stop(child)  # the rest of its process group, if anything is left
            return Finished(child.process.returncode, now - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
        if poll is not None:
            poll(now - started)
        if now - started > timeout:
            stop(child)
            raise BenchError(f"{child.name} did not finish within {timeout:.0f} s\n{log_tail(child)}")
        time.sleep(interval)


@contextmanager
def workspace(keep: bool, prefix: str, say: Callable[[str], None] = print) -> Iterator[Path]:
    """A temporary folder for a run's files, removed afterwards unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            say(f"\n(kept the work folder {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


# --- the servers and commands a benchmark measures ------------------------------------------------


TOKEN = "bench"  # the bearer token every benchmark's server is started with (its scope varies)


def service_command(
    name: str, argv: list[str], db_url: str, log_dir: Path, timeout: float, poll: Callable[[float], None] | None = None
) -> Finished:
    """``python -m service ARGV`` on db_url; fails with the log's tail unless it exits 0."""
    env = clean_env() | {"TIMELINE_DATABASE_URL": db_url}
    started = time.monotonic()
    child = start_child(name, [sys.executable, "-m", "service", *argv], env, log_dir / f"{name}.log")
    done = reap(child, started, timeout, poll)
    if done.code != 0:
        raise BenchError(f"python -m service {' '.join(argv[:1])} exited with {done.code}\n{log_tail(child)}")
    return done


def start_server(
    name: str,
    db_url: str | None,
    tokens: str,
    log_dir: Path,
    extra_env: dict[str, str] | None = None,
    processes: int = 1,
) -> tuple[ServiceProcess, str]:
    """The service (db_url given; ``serve --processes N`` when N > 1) or the baseline app (db_url
    None) on a free loopback port, answering."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if db_url is None:
        argv = [sys.executable, "-m", "bench.baseline_app", "--host", "127.0.0.1", "--port", str(port)]
        env = clean_env()
    else:
        argv = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--processes", str(processes)] if processes > 1 else []
        env = clean_env() | {"TIMELINE_DATABASE_URL": db_url, "TIMELINE_API_TOKENS": tokens} | (extra_env or {})
    child = start_child(name, argv, env, log_dir / f"{name.replace(' ', '-')}.log")
    child.port = port
    wait_answering(child, base)
    return child, base


def stop_server(child: ServiceProcess, notes: list[str]) -> int | None:
    """Stop a server; a note for an abnormal exit and for each kind of problem in its log."""
    code = stop(child)
    # uvicorn re-raises the SIGTERM it handled after a graceful shutdown: -15 is normal.
    if code not in (0, -signal.SIGTERM, None):
        notes.append(f"{child.name} exited with {code} when stopped (-9: it had to be killed)")
    for kind, count in log_problems(child).items():
        if count:
            notes.append(f"{child.name} log: {count} {kind}")
    return code
