"""The service as tests hold it: a built container, and the HTTP app serving it in-process."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from service.api.app import create_app
from service.bootstrap import Container, bootstrap
from service.settings import Settings
from service.webhooks.guard import Resolve, system_resolve


def built(
    settings: Settings, *, apply_migrations: bool = True, resolve: Resolve = system_resolve
) -> Iterator[Container]:
    container = bootstrap(settings, apply_migrations=apply_migrations, resolve=resolve)
    try:
        yield container
    finally:
        container.close()


def serving_app(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container, run_workers=True)) as test_client:
        yield test_client
