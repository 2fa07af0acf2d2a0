"""Subprocess helpers: run ``python -m service ...`` as a real process, bounded and cleaned up.

Every wait here has a deadline; every process started here is killed by ``stop`` (or
``kill``) in the caller's ``finally`` / fixture teardown.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(database_url: str, tokens: str = "", **extra: str) -> dict[str, str]:
    """The environment of a service process: only the settings we choose, no stray TIMELINE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMELINE_")}
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
    """A ``python -m service`` child with its combined stdout+stderr in a log file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

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

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; returns the exit code."""
        self.signal(signal.SIGTERM)
        code = self.wait(timeout)
        if code is None:
            self.kill()
        return code


def start_service(args: list[str], env: dict[str, str], log_path: Path, port: int | None = None) -> ServiceProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", *args],
            env=env,
            cwd=log_path.parent,  # no stray .env file from the working tree
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its children (API processes, workers) can be killed with it
        )
    return ServiceProcess(process, log_path, port)


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
    database_url: str, tokens: str, log_path: Path, *extra_args: str, timeout: float = 30.0,
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
