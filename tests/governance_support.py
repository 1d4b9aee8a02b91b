"""Fixtures of the governance store: a fresh database on SQLite and on PostgreSQL (see conftest.py).

``governance_url``
    A database URL with nothing in it yet, once on each backend: the test runs as ``test_x[sqlite]`` (a file
    in the test's ``tmp_path``) and ``test_x[postgresql]`` (a database of its own, created for the test with
    a unique name and dropped ``WITH (FORCE)`` afterwards, so tests run in any order and side by side).
``store``
    :class:`exquisite.governance.db.Store` on ``governance_url``: migrated to the latest revision, disposed
    after the test. Storage and API tests take this one and so run on both backends.
``sqlite_url``
    A fresh SQLite file's URL, for tests that concern SQLite only (its pragmas, its busy timeout).

The PostgreSQL server is the one ``$EXQUISITE_TEST_POSTGRES_URL`` names (``.ci/run`` starts one and sets it):
its role must be allowed to create databases, and its own database is used only to create and drop the tests'
ones. Without the variable the tests try :data:`DEFAULT_POSTGRES_URL` and, when nothing answers there, the
``[postgresql]`` cases skip with the reason; when the variable is set, a server that does not answer is an
error (CI must not pass by skipping).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from exquisite.governance.db import Store

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "POSTGRES_ENV",
    "governance_url",
    "postgres_server_url",
    "sqlite_url",
    "store",
]

#: Environment variable naming the test PostgreSQL server (a role with CREATEDB, and one of its databases).
POSTGRES_ENV = "EXQUISITE_TEST_POSTGRES_URL"
#: The server tried when ``$EXQUISITE_TEST_POSTGRES_URL`` is unset (the one ``.ci/run`` starts).
DEFAULT_POSTGRES_URL = "postgresql://exquisite:exquisite@127.0.0.1:5432/exquisite_test"


def _libpq(url: str) -> str:
    """``url`` as libpq takes it (no SQLAlchemy driver name such as ``+psycopg``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The test PostgreSQL server's URL, checked once per session; skips when none answers (see module)."""
    url = os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES_URL
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        with psycopg.connect(_libpq(url), connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.OperationalError as error:
        reason = f"PostgreSQL not reachable at {shown}; .ci/run starts one ({' '.join(str(error).split())})"
        if os.environ.get(POSTGRES_ENV):
            pytest.fail(f"${POSTGRES_ENV} is set but {reason}", pytrace=False)
        pytest.skip(reason)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def governance_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database's URL, on SQLite and on PostgreSQL in turn (a database of the test's own)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'governance.sqlite3'}"
        return
    server: str = request.getfixturevalue("postgres_server_url")
    name = f"exquisite_t_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(server), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(server, name)


def _drop_database(server: str, name: str, attempts: int = 20) -> None:
    """Drop a test database, waiting out an autovacuum worker that may be in it.

    ``WITH (FORCE)`` ends the test's own connections, but not the server's autovacuum worker (only a
    superuser may): when one happens to be in the database, try again shortly after it has gone.
    """
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    for attempt in range(attempts):
        try:
            with psycopg.connect(_libpq(server), autocommit=True) as connection:
                connection.execute(drop)
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == attempts - 1:
                raise
            time.sleep(0.25)


@pytest.fixture
def store(governance_url: str) -> Iterator[Store]:
    """The governance store on ``governance_url`` (both backends), its schema at the latest revision."""
    opened = Store(governance_url)
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file's URL (for tests of SQLite alone)."""
    return f"sqlite:///{tmp_path / 'governance.sqlite3'}"
