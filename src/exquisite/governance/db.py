"""The governance store: a database URL's engine, its schema brought up to date by Alembic, and sessions.

SQLite in WAL mode by default (a file under the data folder), PostgreSQL by URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from exquisite.errors import InputError

#: The SQLite file of the default store, under the data folder.
DEFAULT_FILE = "governance.sqlite3"


def default_url(data_dir: Path) -> str:
    """The default store: ``governance.sqlite3`` in ``data_dir`` (created when missing)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / DEFAULT_FILE).resolve()}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``, set up for durability and concurrency.

    SQLite runs in WAL mode with ``synchronous=FULL`` (an acknowledged report survives a killed process and a
    lost machine), a 30 s busy timeout and foreign keys on; PostgreSQL URLs use psycopg 3 unless they name a
    driver.

    Raises
    ------
    InputError
        When ``url`` is not a database URL this service can use.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InputError(
            "database URL",
            f"{url!r} is not a database URL",
            "Use sqlite:///path/to/file.sqlite3 or postgresql://user:password@host/dbname.",
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise InputError("database URL", "an in-memory SQLite database keeps nothing", "Name a file.")
        engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)
    raise InputError(
        "database URL", f"{backend!r} databases are not supported", "Use SQLite (the default) or PostgreSQL."
    )


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


#: The PostgreSQL advisory lock that lets one process at a time migrate (any constant shared by all).
_MIGRATION_LOCK = 0x45585131  # "EXQ1"


def migrate(engine: Engine) -> None:
    """Bring the schema of ``engine``'s database up to the latest Alembic revision.

    Several server processes opening a new store at once migrate one after the other: the others then find
    the schema up to date (a lock file beside a SQLite database; an advisory lock on PostgreSQL).
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with _one_at_a_time(engine), engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def _one_at_a_time(engine: Engine) -> Iterator[None]:
    """Hold an exclusive lock on ``<database file>.migrate.lock`` (SQLite); nothing for other databases."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database:
        yield
        return
    import fcntl

    with open(f"{database}.migrate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Store:
    """The governance database: an engine whose schema is up to date, and its sessions.

    Parameters
    ----------
    url
        A database URL (``sqlite:///…`` or ``postgresql://…``).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back when it raises."""
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close the engine's connections."""
        self.engine.dispose()
