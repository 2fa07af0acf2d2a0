"""Command line: ``crisis-timeline`` / ``python -m service``."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
from functools import partial
from pathlib import Path
from typing import Annotated

import orjson
import typer
from eventsourcing.persistence import OperationalError as StoreOperationalError
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from service import migrate as migrations
from service.bootstrap import Container, bootstrap
from service.imports.reading import FileFormat
from service.observability import logs
from service.observability.metrics import MULTIPROCESS_ENV
from service.runtime import tune_garbage_collector
from service.settings import Settings

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="Crisis timeline service.")
console = Console(stderr=True)


def _settings() -> Settings:
    """The settings from the environment; a bad one ends the command with a message, not a traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "TIMELINE_" + "_".join(str(part) for part in error["loc"]).upper()
            console.print(f"invalid setting {name}: {error['msg'].removeprefix('Value error, ')}", soft_wrap=True)
        raise typer.Exit(2) from None


def _bootstrap(settings: Settings, *, apply_migrations: bool = True) -> Container:
    """The container; a database that cannot be reached ends the command with a message."""
    try:
        container = bootstrap(settings, apply_migrations=apply_migrations)
    except (DatabaseError, StoreOperationalError) as exc:
        console.print(f"cannot use the database at {_safe_url(settings)}: {str(exc).splitlines()[0]}", soft_wrap=True)
        raise typer.Exit(1) from None
    tune_garbage_collector()
    return container


def _safe_url(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)


def _logging(settings: Settings) -> None:
    logs.configure(settings.log_level, settings.log_format)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="load the demo data and print an admin token")] = False,
    workers: Annotated[
        bool, typer.Option("--workers/--no-workers", help="run the projections and webhook dispatch too")
    ] = True,
    processes: Annotated[
        int, typer.Option(min=1, max=64, help="API processes (more than one: the projections run in a child process)")
    ] = 1,
) -> None:
    """Apply migrations, then serve the API with projections in one process."""
    import uvicorn

    from service.api.app import create_app
    from service.api.connections import uvicorn_options
    from service.demo import load_demo

    settings = _settings()
    _logging(settings)
    container = _bootstrap(settings)
    if demo:
        created = load_demo(container.store)
        token = container.add_demo_token()
        console.print(f"Demo data loaded ({created} new facts).")
        console.print(f"Admin token for this run: [bold]{token}[/bold]")
        console.print(f'  curl -H "Authorization: Bearer {token}" http://{host}:{port}/v1/actors', soft_wrap=True)
        console.print(f"Web timeline: http://{host}:{port}/#token={token}", soft_wrap=True)
    if processes > 1:
        container.close()
        _serve_processes(host, port, processes, workers, demo_token=token if demo else None, settings=settings)
        return
    app = create_app(container, run_workers=workers)
    # uvicorn drains in-flight requests on SIGTERM, then raises the signal again once it
    # has stopped; ending with SystemExit(0) there lets `finally` close the container.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        uvicorn.run(app, host=host, port=port, **uvicorn_options(settings))
    finally:
        container.close()


def _serve_processes(
    host: str, port: int, processes: int, workers: bool, *, demo_token: str | None, settings: Settings
) -> None:
    """N API processes under uvicorn's supervisor, and a supervised ``worker`` child.

    The children read their settings from the environment, so the demo token and
    the metrics directory are handed down through it.
    """
    import uvicorn

    from service.api.connections import uvicorn_options
    from service.supervisor import Supervised

    if demo_token is not None:
        os.environ["TIMELINE_API_TOKENS"] = ",".join(filter(None, [settings.api_tokens, f"{demo_token}:admin"]))
    own_metrics_dir = not os.environ.get(MULTIPROCESS_ENV)
    if own_metrics_dir:
        os.environ[MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix="timeline-metrics-")
    metrics_dir = os.environ[MULTIPROCESS_ENV]
    worker_child = Supervised([sys.executable, "-m", "service", "worker"]) if workers else None
    try:
        if worker_child is not None:
            worker_child.start()
        uvicorn.run(
            "service.api.app:app_from_environment",
            factory=True,
            workers=processes,
            host=host,
            port=port,
            **uvicorn_options(settings),
        )
    finally:
        if worker_child is not None:
            worker_child.stop()
        if own_metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _exit_cleanly(*_: object) -> None:
    raise SystemExit(0)


@cli.command()
def migrate() -> None:
    """Apply pending schema migrations and exit."""
    settings = _settings()
    _logging(settings)
    container = _bootstrap(settings)
    container.close()
    console.print("Migrations are at head.")


@cli.command()
def worker(
    metrics_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="serve this process's /metrics on this port")
    ] = None,
) -> None:
    """Run the projection workers only (for deployments with separate API processes)."""
    settings = _settings()
    _logging(settings)
    container = _bootstrap(settings, apply_migrations=False)
    if not migrations.is_current(container.engine):
        console.print("The database schema is not current: run `migrate` first.")
        raise typer.Exit(2)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    container.start_workers()
    if metrics_port is not None:
        _serve_metrics(container, metrics_port)
    console.print("Projection workers running; stop with SIGTERM or Ctrl-C.")
    stop.wait()
    container.close()


def _serve_metrics(container: Container, port: int) -> None:
    from prometheus_client import start_http_server

    start_http_server(port, registry=container.metrics.registry)


def _show_position(progress: Progress, task: TaskID, _done: int, position: int) -> None:
    progress.update(task, completed=position)


def _progress(amount: ProgressColumn | None = None) -> Progress:
    """A bar with what is done of the total: a count, unless ``amount`` shows it otherwise (bytes)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        amount or MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


@cli.command("rebuild-projections")
def rebuild_projections() -> None:
    """Drop every read model and rebuild it from the log."""
    settings = _settings()
    _logging(settings)
    container = _bootstrap(settings)
    head = container.store.max_position()
    with _progress() as progress:
        for projection in (p for p in container.projections if p.projection.rebuildable):
            task = progress.add_task(projection.name, total=head)
            projection.rebuild(partial(_show_position, progress, task))
            progress.update(task, completed=head)
    container.close()
    console.print(f"Rebuilt the read models up to position {head}.")


@cli.command("import")
def import_file(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="JSON, JSON Lines, this service's CSV, or an ACLED CSV"),
    ],
    file_format: Annotated[
        FileFormat, typer.Option("--format", help="the file's format; auto tells it by name and content")
    ] = FileFormat.auto,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate only; record nothing")] = False,
    errors_csv: Annotated[
        Path | None, typer.Option("--errors-csv", dir_okay=False, help="also write the row errors here as CSV")
    ] = None,
) -> None:
    """Record the facts in FILE; bad rows are reported (line, field, reason) and skipped."""
    from service.imports.loading import import_rows, write_errors_csv
    from service.imports.reading import FormatError, open_fact_file

    settings = _settings()
    _logging(settings)
    try:
        source = open_fact_file(file, file_format)
    except FormatError as exc:
        console.print(f"{file.name}: {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    container = _bootstrap(settings)
    with source, _progress(DownloadColumn()) as progress:
        task = progress.add_task(f"importing {file.name} ({source.format.value})", total=source.size)
        report = import_rows(
            container.store,
            source.rows(),
            dry_run=dry_run,
            progress=lambda: progress.update(task, completed=source.bytes_read),
        )
        progress.update(task, completed=source.size)
        if not dry_run:
            container.read_models.catch_up()
    container.close()
    for error in report.errors:
        console.print(f"line {error.line}: {error.field or '(row)'}: {error.reason}", soft_wrap=True, markup=False)
    if errors_csv is not None:
        write_errors_csv(errors_csv, report.errors)
    if dry_run:
        console.print(f"{report.read} read, {report.valid} valid, {len(report.errors)} error(s); nothing recorded.")
    else:
        console.print(
            f"{report.read} read, {report.recorded} recorded, {report.unchanged} already stored, "
            f"{len(report.errors)} error(s)."
        )
        if report.profiles:
            console.print(f"{report.profiles} actor profile(s) registered.")
    if report.errors:
        raise typer.Exit(1)


@cli.command()
def openapi(
    output: Annotated[Path | None, typer.Option(help="write here instead of standard output")] = None,
) -> None:
    """Print (or write) the OpenAPI document of the HTTP API."""
    from service.api.app import openapi_document

    text = orjson.dumps(openapi_document(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    if output is None:
        sys.stdout.buffer.write(text)
    else:
        output.write_bytes(text)


def main() -> None:
    cli()
