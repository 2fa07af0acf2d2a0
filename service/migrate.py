"""Schema migrations (alembic), run programmatically on the service's engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import migrations
from service.store.sql import write_transaction


def alembic_config() -> Config:
    # No sqlalchemy.url: the migrations run on the connection handed over in ``attributes``.
    # A rendered URL percent-encodes (a password's "@", a socket's "/"), and alembic's
    # config parser reads "%" as interpolation and refuses it.
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    return config


def upgrade(engine: Engine) -> None:
    config = alembic_config()
    with write_transaction(engine) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def is_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head
