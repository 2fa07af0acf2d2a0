"""Alembic environment: runs on the connection that ``service.migrate`` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

import service.readmodels.tables  # noqa: F401 (declares its tables on the metadata)
import service.webhooks.tables  # noqa: F401
from service.store.sql import metadata

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    if connection.dialect.name == "postgresql":
        # One migrator at a time: processes starting together on an empty database
        # would otherwise race to create the same tables.
        connection.execute(text("SELECT pg_advisory_xact_lock(7422019)"))
    context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
