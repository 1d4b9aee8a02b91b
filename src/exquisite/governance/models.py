"""The governance store's tables (SQLAlchemy 2): residents' reports, their history, staff, the service's own.

Reporters' personal data (name, email, phone, device, IP hash) live in :class:`Reporter`, apart from the
report, so that nothing public ever reads them and the retention job can erase them without touching the
report. Every schema change is an Alembic migration under ``governance/migrations``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Constraint names Alembic can find again on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The governance tables' base."""

    metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """A moment in time: stored in UTC, always read back timezone-aware (in UTC), on every database.

    The column is ``DateTime(timezone=True)`` (``timestamptz`` on PostgreSQL). SQLite has no time zone type:
    there SQLAlchemy keeps the wall-clock time and drops the offset, so ``08:00+08:00`` would come back as a
    naive ``08:00``. This type converts every value to UTC before it is stored and marks what is read as UTC.

    Raises
    ------
    ValueError
        (wrapped in SQLAlchemy's ``StatementError``) when given a naive datetime, whose moment is unknown;
        use ``datetime.now(UTC)`` or an aware datetime.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """The value in UTC (without tzinfo on SQLite, which cannot keep it)."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} has no time zone; store an aware one (datetime.now(UTC))"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """The stored moment, timezone-aware in UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when() -> Mapped[datetime]:
    return mapped_column(UtcDateTime())


class Report(Base):
    """A resident's report of a problem (an Open311 service request).

    ``state`` is one of ``data/report_states.yml`` (unconfirmed, open, investigating, …, hidden); Open311
    shows it as ``open`` or ``closed``. Public pages and the API show a report only once it is confirmed and
    not hidden.
    """

    __tablename__ = "report"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: Public random token: Open311 ``token`` and the reporter's own link to an unconfirmed report.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    jurisdiction: Mapped[str] = mapped_column(String(100), index=True)
    service_code: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(500))
    address_id: Mapped[str | None] = mapped_column(String(100))
    #: The community (district) the location lies in, when the jurisdiction has districts.
    community: Mapped[str | None] = mapped_column(String(200), index=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    department: Mapped[str | None] = mapped_column(String(100), index=True)
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    #: Answers to the service definition's attributes: ``{code: value or [values]}``.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Name shown publicly; None when the reporter stays anonymous (the default).
    public_name: Mapped[str | None] = mapped_column(String(200))
    #: How the report came in: ``web``, ``open311`` or ``staff``.
    channel: Mapped[str] = mapped_column(String(16))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("report.id"))
    #: The latest public note from staff (Open311 ``status_notes``).
    status_notes: Mapped[str | None] = mapped_column(Text)
    #: SHA-256 of the confirmation link's secret (None once confirmed, or when no confirmation is needed).
    confirmation_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _when()
    confirmed_at: Mapped[datetime | None] = _when()
    updated_at: Mapped[datetime] = _when()
    closed_at: Mapped[datetime | None] = _when()
    expected_at: Mapped[datetime | None] = _when()

    # a report's own rows go with it (the database's ON DELETE CASCADE does the work)
    reporter: Mapped[Reporter | None] = relationship(
        back_populates="report", uselist=False, cascade="all, delete-orphan", passive_deletes=True
    )
    events: Mapped[list[ReportEvent]] = relationship(
        back_populates="report", order_by="ReportEvent.id", cascade="all, delete-orphan", passive_deletes=True
    )
    photos: Mapped[list[Photo]] = relationship(
        back_populates="report", order_by="Photo.id", cascade="all, delete-orphan", passive_deletes=True
    )


class Reporter(Base):
    """The reporter's personal data, one row per report; erased by the retention job (``erased_at``)."""

    __tablename__ = "reporter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    device_id: Mapped[str | None] = mapped_column(String(200))
    account_id: Mapped[str | None] = mapped_column(String(200))
    #: Keyed hash of the IP address the report came from (never the address itself).
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    #: Whether the reporter asked for updates by email.
    wants_updates: Mapped[bool] = mapped_column(Boolean, default=True)
    erased_at: Mapped[datetime | None] = _when()

    report: Mapped[Report] = relationship(back_populates="reporter")


class Photo(Base):
    """A report's photo, re-encoded (metadata removed) and kept in the database with the report."""

    __tablename__ = "photo"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    #: Hidden photos stay stored for staff but are not shown publicly.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _when()

    report: Mapped[Report] = relationship(back_populates="photos")


class ReportEvent(Base):
    """One step of a report's history: created, confirmed, state change, assignment, note, resident update."""

    __tablename__ = "report_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = _when()
    kind: Mapped[str] = mapped_column(String(32))
    state_from: Mapped[str | None] = mapped_column(String(32))
    state_to: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    #: Whether residents see this step (internal notes are not public).
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))

    report: Mapped[Report] = relationship(back_populates="events")


class ReportEdit(Base):
    """A moderator's edit of one field of a report: the full history, old and new value, who and why."""

    __tablename__ = "report_edit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = _when()
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")


class StaffUser(Base):
    """A member of staff: role (``data/staff_roles.yml``), the department or community and city it covers."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    #: argon2id hash (never the password).
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    department: Mapped[str | None] = mapped_column(String(100))
    community: Mapped[str | None] = mapped_column(String(200))
    #: The city (jurisdiction id, as :attr:`Report.jurisdiction`) the role covers: None = every city served.
    #: Always set for a community role (a community belongs to one city), optional for a department role,
    #: None for a role that covers everything.
    jurisdiction: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = _when()
    created_at: Mapped[datetime] = _when()


class StaffSession(Base):
    """A signed-in staff session; only the SHA-256 of its cookie is stored. Idle and absolute expiry."""

    __tablename__ = "staff_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = _when()
    last_seen_at: Mapped[datetime] = _when()
    expires_at: Mapped[datetime] = _when()


class AuditEntry(Base):
    """One staff action or refused attempt (sign-in, state change, edit, role change, denied access)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = _when()
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    #: ``ok`` or ``denied``.
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip_hash: Mapped[str | None] = mapped_column(String(64))


class ApiKey(Base):
    """An Open311 client's key (only its SHA-256 is stored)."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _when()


class RateCounter(Base):
    """Hits of one rate-limit key (IP hash, account, api key, or the global budget) in one fixed window."""

    __tablename__ = "rate_counter"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)


class OutboxMessage(Base):
    """An email waiting to be sent (confirmation links, updates): written in the report's transaction."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = _when()
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("report.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime | None] = _when()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
