"""A PostgreSQL cluster of a test's own: ``initdb`` in a temporary directory, on a port of its own.

Stopping or breaking it disturbs no other database. ``own_cluster`` yields a running
``Cluster`` and removes it whatever happens. The superuser ``postgres`` connects over the
cluster's Unix socket without a password; with ``password_auth`` every other role must give
its password (scram-sha-256) over TCP and over the socket alike, so a test can prove that a
password reached the server. PostgreSQL refuses to run as root: as root, every server command
runs as the ``postgres`` user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

# Ports kept for clusters of the tests' own, away from any shared server.
PORTS = range(55400, 55420)
SUPERUSER = "postgres"


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
    return str(Path(bindir) / name)


def available() -> bool:
    """Whether this machine can start a cluster (the PostgreSQL server binaries are installed)."""
    try:
        return Path(_bin("initdb")).exists() and Path(_bin("pg_ctl")).exists()
    except (OSError, subprocess.CalledProcessError):
        return False


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", SUPERUSER, "--", *args] if os.geteuid() == 0 else args


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Cluster:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str, user: str = SUPERUSER, password: str | None = None) -> str:
        """A TCP URL for SQLAlchemy; the password percent-encoded, as a URL must have it."""
        secret = f":{quote(password, safe='')}" if password is not None else ""
        return f"postgresql+psycopg://{quote(user, safe='')}{secret}@127.0.0.1:{self.port}/{database}"

    def socket_url(self, database: str, user: str = SUPERUSER, password: str | None = None) -> str:
        """A URL naming the Unix socket's directory in the query string, as libpq takes it."""
        secret = f":{quote(password, safe='')}" if password is not None else ""
        return (
            f"postgresql+psycopg://{quote(user, safe='')}{secret}@/{database}?host={self.socket_dir}&port={self.port}"
        )

    def execute(self, statement: sql.Composable | str, database: str = "postgres") -> None:
        """Run one statement as the superuser, over the socket."""
        with psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname=database, autocommit=True
        ) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def create_role(self, name: str, password: str) -> None:
        self.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))

    def create_database(self, name: str, owner: str = SUPERUSER) -> None:
        self.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            _as_server_user([_bin("pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> None:
        self._ctl("start", "-w", "-t", "30", "-l", str(self.log))

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as when a server goes away."""
        self._ctl("stop", "-w", "-t", "30", "-m", "fast")

    def running(self) -> bool:
        result = subprocess.run(
            _as_server_user([_bin("pg_ctl"), "-D", str(self.data), "status"]), capture_output=True, check=False
        )
        return result.returncode == 0


def _initdb(root: Path, port: int, password_auth: bool) -> Cluster:
    cluster = Cluster(root, port)
    subprocess.run(
        _as_server_user([_bin("initdb"), "-D", str(cluster.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
        timeout=120,
    )
    others = "scram-sha-256" if password_auth else "trust"
    (cluster.data / "pg_hba.conf").write_text(
        f"local all {SUPERUSER} trust\nlocal all all {others}\nhost all all 127.0.0.1/32 {others}\n"
    )
    with open(cluster.data / "postgresql.conf", "a") as conf:
        conf.write(
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{cluster.socket_dir}'\n"
            "password_encryption = 'scram-sha-256'\nfsync = off\nshared_buffers = 16MB\nmax_connections = 200\n"
        )
    return cluster


@contextmanager
def own_cluster(*, password_auth: bool = False, ports: range = PORTS) -> Iterator[Cluster]:
    """A fresh running cluster on a free port of ``ports``; stopped and deleted afterwards."""
    # Short path: a Unix socket's path must fit in 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="pgc-"))
    root.chmod(0o755)
    try:
        if os.geteuid() == 0:
            shutil.chown(root, SUPERUSER, SUPERUSER)
        cluster = None
        for port in ports:
            if not _port_free(port):
                continue
            cluster = _initdb(root, port, password_auth) if cluster is None else _reconfigured(cluster, port)
            try:
                cluster.start()
            except subprocess.CalledProcessError:
                continue  # taken by someone else between the check and the start
            break
        else:
            raise RuntimeError(f"no free port for a PostgreSQL cluster in {ports}")
        try:
            yield cluster
        finally:
            if cluster.running():
                subprocess.run(
                    _as_server_user([_bin("pg_ctl"), "-D", str(cluster.data), "stop", "-w", "-m", "immediate"]),
                    capture_output=True,
                    check=False,
                    timeout=60,
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _reconfigured(cluster: Cluster, port: int) -> Cluster:
    with open(cluster.data / "postgresql.conf", "a") as conf:
        conf.write(f"\nport = {port}\n")
    return Cluster(cluster.root, port)
