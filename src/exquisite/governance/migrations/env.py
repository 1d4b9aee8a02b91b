"""Alembic environment of the governance store: runs on the connection :func:`exquisite.governance.db.migrate`
hands over (``config.attributes["connection"]``), or on ``sqlalchemy.url`` from the command line.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from exquisite.governance.db import make_engine
from exquisite.governance.models import Base, UtcDateTime

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        with make_engine(config.get_main_option("sqlalchemy.url") or "").connect() as connection:
            _run(connection)
    else:
        _run(connection)


def _render_item(kind: str, item: Any, autogen_context: Any) -> str | bool:
    """Write the store's own column types as the plain SQLAlchemy types they are stored as."""
    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: object) -> None:
    # batch mode lets later migrations alter tables on SQLite too
    context.configure(
        connection=connection, target_metadata=target_metadata, render_as_batch=True, render_item=_render_item
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
