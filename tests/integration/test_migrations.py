"""The migrations own the schema: they create exactly the tables the code declares."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import service.readmodels.tables  # noqa: F401 (declares its tables on the metadata)
import service.webhooks.tables  # noqa: F401
from service import migrate
from service.bootstrap import Container
from service.store.sql import metadata


def _drift(container: Container) -> list:
    with container.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                # The event store's table belongs to the library's recorders, not to our metadata.
                "include_object": lambda obj, name, kind, *_: (
                    not (kind == "table" and name in ("stored_events", "alembic_version"))
                ),
            },
        )
        return compare_metadata(context, metadata)


def test_migrated_schema_matches_the_declared_tables(container: Container) -> None:
    assert _drift(container) == []
    assert migrate.is_current(container.engine)
    tables = set(inspect(container.engine).get_table_names())
    assert {
        "stored_events",
        "fact_revisions",
        "fact_versions",
        "fact_actors",
        "actors",
        "projection_positions",
    } <= tables


def test_downgrade_then_upgrade_restores_the_schema(container: Container) -> None:
    config = migrate.alembic_config()
    container.store.close()  # release the store's connections before dropping its table
    with container.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert "stored_events" not in inspect(container.engine).get_table_names()
    migrate.upgrade(container.engine)
    assert _drift(container) == []


def test_the_fold_column_migration_rebuilds_the_read_models_from_the_log(container: Container) -> None:
    """0003 empties the read models and restarts their projection; the answers come back the same."""
    from service.demo import load_demo
    from service.readmodels import queries
    from service.readmodels.worker import read_position

    load_demo(container.store)
    container.read_models.catch_up()
    at_us = 1_600_000_000_000_000

    def answers() -> tuple:
        with container.engine.connect() as conn:
            state = queries.actor_state(conn, "nato", queries.Axes(), at_us)
            page = queries.timeline(conn, "canada", queries.Axes(), queries.FactFilter(), None, 100)
        return state, page.items

    before = answers()
    assert before[0]["event_count"] > 0 and before[1]
    config = migrate.alembic_config()
    with container.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    migrate.upgrade(container.engine)
    assert _drift(container) == []
    with container.engine.connect() as conn:
        assert read_position(conn, container.read_models.name) == 0
    assert answers()[0]["event_count"] == 0  # emptied, not half-filled
    container.read_models.catch_up()
    assert answers() == before
