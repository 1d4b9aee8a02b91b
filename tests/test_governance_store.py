"""The governance store on SQLite and on PostgreSQL: schema, durability, round trips, concurrency, bad input.

Every test taking ``governance_url`` or ``store`` runs on both backends (see ``tests/governance_support.py``).
"""

from __future__ import annotations

import io
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from PIL import Image
from sqlalchemy import Engine, delete, event, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import StatementError

from exquisite.errors import InputError
from exquisite.governance import db
from exquisite.governance.db import Store, make_engine, migrate
from exquisite.governance.models import (
    Base,
    OutboxMessage,
    Photo,
    Report,
    ReportEdit,
    Reporter,
    ReportEvent,
)
from exquisite.governance.settings import load_settings

MIGRATIONS = Path(db.__file__).parent / "migrations"
#: Beijing time: a moment written with an offset must come back as the same moment.
BEIJING = timezone(timedelta(hours=8))


def _data(name: str) -> Any:
    return yaml.safe_load(files("exquisite").joinpath(f"data/{name}").read_text(encoding="utf-8"))


STATES = list(_data("report_states.yml")["states"])
SERVICES = list(_data("open311_services.yml")["services"])


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _report(token: str, when: datetime, **fields: Any) -> Report:
    """A report with every required column set (state and service from the data files)."""
    values: dict[str, Any] = {
        "token": token,
        "jurisdiction": "city.example",
        "service_code": SERVICES[0],
        "state": STATES[0],
        "channel": "web",
        "description": "",
        "attributes": {},
        "created_at": when,
        "updated_at": when,
    }
    values.update(fields)
    return Report(**values)


def _png() -> bytes:
    image = Image.new("RGB", (3, 2))
    image.putdata([(255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 0, 0), (255, 255, 255), (12, 34, 56)])
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@contextmanager
def _statements() -> Iterator[list[str]]:
    """Every SQL statement any engine runs inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.strip())

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


# --- schema ---------------------------------------------------------------------------------------------


def test_migrations_create_every_table_at_head_and_reopening_changes_nothing(governance_url: str) -> None:
    with _statements() as first:
        store = Store(governance_url)
    try:
        assert any(statement.upper().startswith("CREATE TABLE") for statement in first)
        inspector = inspect(store.engine)
        assert set(inspector.get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
        for name, table in Base.metadata.tables.items():
            assert {column["name"] for column in inspector.get_columns(name)} == set(table.columns.keys())
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        with store.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head
            # the models and the migrations describe the same schema (a model change needs a revision)
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        with store.session() as session:
            session.add(_report("kept", datetime.now(UTC)))
    finally:
        store.dispose()

    with _statements() as second:
        again = Store(governance_url)
    try:
        changes = [
            statement
            for statement in second
            if statement.split(None, 1)[0].upper()
            in {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE"}
        ]
        assert changes == []
        with again.session() as session:
            assert session.scalars(select(Report.token)).all() == ["kept"]
    finally:
        again.dispose()


def test_downgrade_to_base_then_upgrade_again(store: Store) -> None:
    config = _alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
    with store.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() is None

    migrate(store.engine)
    assert set(inspect(store.engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    with store.session() as session:
        session.add(_report("after-upgrade", datetime.now(UTC)))
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 1


def test_0002_gives_existing_moderators_their_city_and_goes_back(store: Store) -> None:
    """Staff scoped per city: a moderator's city is where all its community's reports are, else none."""
    config = _alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert "jurisdiction" not in {c["name"] for c in inspect(store.engine).get_columns("staff_user")}
    now = datetime.now(UTC)
    with store.session() as session:
        for n, (city, community) in enumerate(
            [("helsinki", "Kallio"), ("helsinki", "Kallio"), ("helsinki", "Keskusta"), ("twin", "Keskusta")]
        ):
            session.add(_report(f"r{n}", now, jurisdiction=city, community=community))
    staff = [
        ("kallio.mod", "community_moderator", None, "Kallio"),
        ("keskusta.mod", "community_moderator", None, "Keskusta"),
        ("nowhere.mod", "community_moderator", None, "Nowhere"),
        ("lamps", "department_staff", "lighting", None),
    ]
    with store.engine.begin() as connection:
        for username, role, department, community in staff:
            connection.execute(
                text(
                    "INSERT INTO staff_user (username, display_name, password_hash, role, department,"
                    " community, active, failed_logins, created_at)"
                    " VALUES (:u, :u, 'x', :r, :d, :c, :a, 0, :t)"
                ),
                {"u": username, "r": role, "d": department, "c": community, "a": True, "t": now},
            )
    migrate(store.engine)
    query = text("SELECT username, jurisdiction FROM staff_user ORDER BY username")
    with store.engine.connect() as connection:
        assert dict(connection.execute(query).all()) == {
            "kallio.mod": "helsinki",  # all its community's reports are in one city
            "keskusta.mod": None,  # the name is a community in two cities: an administrator decides
            "nowhere.mod": None,  # no report yet
            "lamps": None,  # department staff: every city, as before
        }
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert "jurisdiction" not in {c["name"] for c in inspect(store.engine).get_columns("staff_user")}
    with store.engine.connect() as connection:
        usernames = connection.execute(text("SELECT username FROM staff_user ORDER BY username")).scalars()
        assert list(usernames) == ["kallio.mod", "keskusta.mod", "lamps", "nowhere.mod"]
    migrate(store.engine)
    with store.engine.connect() as connection:
        head = ScriptDirectory.from_config(config).get_current_head()
        assert MigrationContext.configure(connection).get_current_revision() == head


def test_sqlite_file_is_durable_wal_with_foreign_keys(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    try:
        with store.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() > 0
    finally:
        store.dispose()
    # WAL is a property of the file itself: a plain connection sees it too
    path = make_url(sqlite_url).database
    assert path is not None
    with sqlite3.connect(path) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# --- transactions and round trips ----------------------------------------------------------------------


def _write_then_fail(store: Store) -> None:
    now = datetime.now(UTC)
    with store.session() as session:
        report = _report("never", now)
        session.add(report)
        session.flush()  # the rows reach the database inside the transaction
        session.add(Reporter(report_id=report.id, email="resident@example.org"))
        session.add(ReportEvent(report_id=report.id, at=now, kind="created"))
        session.flush()
        assert session.scalar(select(func.count()).select_from(ReportEvent)) == 1
        raise RuntimeError("midway")


def test_a_transaction_that_raises_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError, match="midway"):
        _write_then_fail(store)
    with store.session() as session:
        for model in (Report, Reporter, ReportEvent):
            assert session.scalar(select(func.count()).select_from(model)) == 0


def test_report_with_reporter_photo_and_history_round_trips(store: Store) -> None:
    max_chars = load_settings(None).reports.description_max_chars
    opening = "路面坑洞 🕳️ près du Café Ñandú — Ελληνικά, שלום, e\u0301 "
    description = (opening * (max_chars // len(opening) + 1))[:max_chars]
    assert len(description) == max_chars
    attributes = {
        SERVICES[0]: "熄灭",
        "hazards": ["glass", "油污"],
        "depth_cm": 12.5,
        "nested": {"ok": True, "none": None, "count": 3},
    }
    created = datetime(2026, 5, 1, 8, 30, 15, 123456, tzinfo=BEIJING)
    photo = _png()
    with store.session() as session:
        report = _report(
            "tok-1",
            created,
            description=description,
            attributes=attributes,
            lat=31.2304,
            lon=121.4737,
            address="上海市黄浦区南京东路 1 号",
            public_name="王小明",
            expected_at=created + timedelta(days=7),
        )
        report.reporter = Reporter(name="王小明", email="xiaoming@example.org", phone="+86 21 1234 5678")
        report.photos.append(
            Photo(content_type="image/png", width=3, height=2, data=photo, created_at=created)
        )
        report.events.append(ReportEvent(at=created, kind="created", state_to=STATES[0], text="已提交 ✓"))
        session.add(report)

    with store.session() as session:
        back = session.scalars(select(Report).where(Report.token == "tok-1")).one()
        assert back.description == description
        assert back.attributes == attributes
        assert (back.address, back.public_name) == ("上海市黄浦区南京东路 1 号", "王小明")
        assert (back.lat, back.lon) == (31.2304, 121.4737)
        for moment in (back.created_at, back.updated_at, back.photos[0].created_at, back.events[0].at):
            assert moment == created
            assert moment.utcoffset() == timedelta(0)  # aware, in UTC, on every backend
        assert back.expected_at == created + timedelta(days=7)
        assert back.confirmed_at is None
        assert back.reporter is not None
        assert (back.reporter.name, back.reporter.email) == ("王小明", "xiaoming@example.org")
        assert back.photos[0].data == photo
        assert Image.open(io.BytesIO(back.photos[0].data)).size == (3, 2)
        assert (back.events[0].kind, back.events[0].text) == ("created", "已提交 ✓")


def test_moments_compare_and_sort_as_moments_not_wall_clock_times(store: Store) -> None:
    # 08:30 in Beijing is 00:30 UTC: earlier than 01:00 UTC although its wall-clock time is later
    beijing = datetime(2026, 5, 1, 8, 30, tzinfo=BEIJING)
    utc = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)
    with store.session() as session:
        session.add_all([_report("later", utc), _report("earlier", beijing)])
    with store.session() as session:
        assert session.scalars(select(Report.token).order_by(Report.created_at)).all() == ["earlier", "later"]
        cutoff = datetime(2026, 5, 1, 8, 45, tzinfo=BEIJING)  # 00:45 UTC
        assert session.scalars(select(Report.token).where(Report.created_at > cutoff)).all() == ["later"]


def test_a_naive_datetime_is_refused_and_nothing_is_stored(store: Store) -> None:
    with pytest.raises(StatementError, match="naive datetime"), store.session() as session:
        session.add(_report("naive", datetime(2026, 5, 1, 8, 30)))
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 0


def test_deleting_a_report_deletes_its_reporter_photos_and_history(store: Store) -> None:
    now = datetime.now(UTC)
    with store.session() as session:
        gone = _report("gone", now)
        gone.reporter = Reporter(email="a@example.org")
        gone.photos.extend(
            Photo(content_type="image/png", width=3, height=2, data=_png(), created_at=now) for _ in range(2)
        )
        gone.events.extend(ReportEvent(at=now, kind=kind) for kind in ("created", "confirmed"))
        kept = _report("kept", now)
        kept.reporter = Reporter(email="b@example.org")
        kept.events.append(ReportEvent(at=now, kind="created"))
        session.add_all([gone, kept])
        session.flush()
        session.add(ReportEdit(report_id=gone.id, at=now, field="description", old_value="a", new_value="b"))
        session.add(
            OutboxMessage(
                created_at=now, to_address="a@example.org", subject="s", body="b", report_id=gone.id
            )
        )
        gone_id, kept_id = gone.id, kept.id

    with store.session() as session:
        session.execute(delete(Report).where(Report.id == gone_id))

    with store.session() as session:
        assert session.scalars(select(Report.id)).all() == [kept_id]
        for model in (Reporter, Photo, ReportEvent, ReportEdit):
            assert set(session.scalars(select(model.report_id)).all()) <= {kept_id}
        assert session.scalar(select(func.count()).select_from(Reporter)) == 1
        assert session.scalar(select(func.count()).select_from(ReportEvent)) == 1
        # the email already queued stays, no longer tied to a report
        assert session.scalars(select(OutboxMessage.report_id)).all() == [None]


# --- concurrency ----------------------------------------------------------------------------------------

WRITERS = 8
INSERTS_EACH = 25


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    start = threading.Barrier(WRITERS)

    def write(writer: int) -> None:
        start.wait()
        for number in range(INSERTS_EACH):
            now = datetime.now(UTC)
            with store.session() as session:
                report = _report(f"w{writer}-{number}", now)
                report.events.append(ReportEvent(at=now, kind="created"))
                session.add(report)

    with ThreadPoolExecutor(WRITERS) as pool:
        for result in [pool.submit(write, writer) for writer in range(WRITERS)]:
            result.result()  # re-raises a writer's error

    expected = {f"w{writer}-{number}" for writer in range(WRITERS) for number in range(INSERTS_EACH)}
    with store.session() as session:
        assert set(session.scalars(select(Report.token)).all()) == expected
        assert session.scalar(select(func.count()).select_from(ReportEvent)) == len(expected)


# --- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["nonsense", "", "mysql://city:secret@127.0.0.1/reports", "sqlite://", "sqlite:///:memory:"],
    ids=["not-a-url", "empty", "mysql", "sqlite-in-memory", "sqlite-memory-name"],
)
def test_a_bad_database_url_is_one_input_error_naming_it(url: str) -> None:
    with pytest.raises(InputError) as caught:
        make_engine(url)
    assert caught.value.where == "database URL"
    assert str(caught.value).startswith("database URL: ")
    assert caught.value.hint  # says what to use instead
    with pytest.raises(InputError, match="database URL"):
        Store(url)


def _settings_error(tmp_path: Path, content: str) -> tuple[Path, str]:
    path = tmp_path / "city-governance.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert str(path) in message
    assert "\n" not in message  # one message, not a validation dump
    return path, message


def test_a_city_settings_file_changes_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "city-governance.yml"
    path.write_text("reports:\n  max_results: 5\nsmtp:\n  port: 2525\n", encoding="utf-8")
    settings, defaults = load_settings(path), load_settings(None)
    assert (settings.reports.max_results, settings.smtp.port) == (5, 2525)
    assert settings.reports.description_max_chars == defaults.reports.description_max_chars
    assert settings.data_dir == tmp_path / _data("governance.yml")["data_dir"]  # relative to the file


@pytest.mark.parametrize(
    ("content", "key", "suggestion"),
    [
        ("reprots:\n  max_results: 5\n", "reprots", "reports"),
        ("reports:\n  max_resluts: 5\n", "reports.max_resluts", "max_results"),
        ("smtp:\n  hots: mail.city.example\n", "smtp.hots", "host"),
    ],
    ids=["top-level", "in-a-section", "smtp"],
)
def test_an_unknown_setting_names_file_key_and_the_likely_one(
    tmp_path: Path, content: str, key: str, suggestion: str
) -> None:
    path, message = _settings_error(tmp_path, content)
    assert message.startswith(f"{path}: {key}: unknown key")
    assert f"Did you mean '{suggestion}'?" in message


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ("reports:\n  max_results: many\n", "reports.max_results"),
        ("smtp:\n  port: 70000\n", "smtp.port"),
        ("photos:\n  max_bytes: -1\n", "photos.max_bytes"),
        ("reports: 12\n", "reports"),
    ],
    ids=["not-a-number", "port-out-of-range", "negative", "section-not-a-mapping"],
)
def test_a_wrong_value_names_file_and_key(tmp_path: Path, content: str, key: str) -> None:
    path, message = _settings_error(tmp_path, content)
    assert message.startswith(f"{path}: {key}: ")


@pytest.mark.parametrize(
    "content",
    ["", "\n\n", "# nothing but a comment\n", "- a list\n- not settings\n"],
    ids=["empty", "blank-lines", "only-a-comment", "a-list"],
)
def test_an_empty_or_shapeless_settings_file_names_the_file(tmp_path: Path, content: str) -> None:
    path, message = _settings_error(tmp_path, content)
    assert message.startswith(f"{path}: ")


def _open_store(url: str) -> None:
    Store(url).dispose()


def test_processes_opening_a_new_store_at_once_migrate_one_after_another(governance_url: str) -> None:
    """Server workers starting together on a new database: each opens it, none fails on a half-made schema."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_open_store, args=(governance_url,)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
