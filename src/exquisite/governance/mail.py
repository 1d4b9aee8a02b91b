"""Email that is never lost: an outbox written with the report, sent by a worker, retried until it goes.

::

    with store.session() as session:                 # the report and its email: both stored, or neither
        session.add(report)
        queue_mail(session, to=email, subject="确认您的报告", body=text, report_id=report.id)
    worker.wake()                                     # after the commit: send now, not at the next tick

    sent = send_pending(store, settings.smtp)         # or MailWorker(store, settings.smtp, 5.0).start()

Delivery is *at least once*: a message is marked sent in the same transaction that holds it while the relay
takes it, so only a crash between the relay's "250 OK" and that commit sends it twice (its ``Message-ID``
stays the same, so a mailbox can tell). Several server processes may send together: each message is claimed
first — a row lock skipping locked rows on PostgreSQL (``SELECT … FOR UPDATE SKIP LOCKED``), the database's
single write lock on SQLite — and checked unchanged (not sent, same attempt count) before it is sent.

A failed attempt is counted (``attempts``) with its reason (``last_error``, never a password); the next one
waits longer each time (:func:`due_at`), and after ``smtp.max_attempts`` the message stays unsent, kept with
its last error for staff to see.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exquisite.errors import InputError
from exquisite.governance.db import Store
from exquisite.governance.models import OutboxMessage
from exquisite.governance.settings import Smtp

log = logging.getLogger(__name__)

#: Longest reason kept in ``last_error``.
ERROR_MAX_CHARS = 500
#: Body encoding: headers and body in 7-bit form (RFC 2047 words, base64 or quoted-printable UTF-8), so any
#: relay carries Chinese text intact, with or without 8BITMIME or SMTPUTF8.
POLICY = SMTP_POLICY.clone(cte_type="7bit")


def queue_mail(
    session: Session, *, to: str, subject: str, body: str, report_id: int | None = None
) -> OutboxMessage:
    """Add an email to the outbox in the caller's transaction (sent only if that transaction commits).

    Parameters
    ----------
    session
        The open session of the caller's transaction (``with store.session() as session``).
    to
        One recipient address (``name@example.org``).
    subject, body
        The subject (one line) and the plain-text body, in any language.
    report_id
        The report the email is about, if any.

    Returns
    -------
    OutboxMessage
        The new outbox row (its ``id`` is set once the session flushes).

    Raises
    ------
    InputError
        For the field ``email`` when ``to`` is not one plain email address.
    """
    address = _address(to)
    line = " ".join(subject.split())
    message = OutboxMessage(
        created_at=datetime.now(UTC),
        to_address=address,
        subject=line[: OutboxMessage.subject.type.length],
        body=body,
        report_id=report_id,
        attempts=0,
    )
    session.add(message)
    return message


def _address(to: str) -> str:
    text = to.strip()
    limit = OutboxMessage.to_address.type.length
    name, address = parseaddr(text)
    if (
        not text
        or any(ch in text for ch in "\r\n,;<>\"'")
        or address != text
        or name
        or address.count("@") != 1
        or len(address) > limit
    ):
        raise InputError(
            "email",
            f"{to!r} is not one email address",
            "Write one address such as name@example.org, or leave the field empty.",
        )
    local, domain = address.split("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith(".") or " " in address:
        raise InputError("email", f"{to!r} is not a complete email address", "Write it as name@example.org.")
    return address


def due_at(created_at: datetime, attempts: int, smtp: Smtp) -> datetime:
    """When a message created at ``created_at`` and tried ``attempts`` times may be tried next.

    The outbox keeps no time of the last attempt, so the delays add up from ``created_at``: attempt ``n``
    (counted from 0) is due after ``retry_first_s * (1 + 2 + … + 2**(n-1))`` seconds, each delay capped at
    ``retry_longest_s`` (``smtp``'s settings). After a long outage the missed attempts are made one per pass
    until the schedule is reached again.
    """
    waited = sum(min(smtp.retry_first_s * 2**step, smtp.retry_longest_s) for step in range(attempts))
    return _utc(created_at) + timedelta(seconds=waited)


def send_pending(store: Store, smtp: Smtp, limit: int = 50, *, now: datetime | None = None) -> int:
    """Send the outbox's messages that are due, over one SMTP connection.

    Parameters
    ----------
    store
        The governance store.
    smtp
        The relay (host, port, sender; STARTTLS and login when set).
    limit
        The most messages sent in this call.
    now
        The time the schedule is read at (default: now); messages are marked sent at the real time.

    Returns
    -------
    int
        How many messages the relay accepted in this call.
    """
    moment = now or datetime.now(UTC)
    due = _due(store, smtp, moment, limit)
    if not due:
        return 0
    try:
        connection = _connect(smtp)
    except (OSError, smtplib.SMTPException) as error:
        reason = _reason(error, smtp)
        log.warning(
            "outbox: cannot send through %s:%s (%s); %d message(s) wait",
            smtp.host,
            smtp.port,
            reason,
            len(due),
        )
        for message_id, attempts in due:
            _record_failure(store, message_id, attempts, reason)
        return 0
    sent = 0
    try:
        for message_id, attempts in due:
            outcome = _send_one(store, connection, smtp, message_id, attempts)
            if outcome is True:
                sent += 1
            elif outcome is False:
                break
    finally:
        try:
            connection.quit()
        except (OSError, smtplib.SMTPException):
            connection.close()
    return sent


def _due(store: Store, smtp: Smtp, moment: datetime, limit: int) -> list[tuple[int, int]]:
    """``(id, attempts)`` of the unsent messages due at ``moment``, oldest first, at most ``limit``."""
    with store.session() as session:
        rows = session.execute(
            select(OutboxMessage.id, OutboxMessage.attempts, OutboxMessage.created_at)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.attempts < smtp.max_attempts)
            .order_by(OutboxMessage.id)
        ).all()
    due = []
    for message_id, attempts, created_at in rows:
        if due_at(created_at, attempts, smtp) <= moment:
            due.append((message_id, attempts))
            if len(due) >= limit:
                break
    return due


def _claim(session: Session, message_id: int, seen_attempts: int) -> OutboxMessage | None:
    """The message, held by this transaction and counted as one more attempt, if it is still as it was seen.

    None when another worker holds it or has sent or tried it since.
    """
    unchanged = (
        OutboxMessage.id == message_id,
        OutboxMessage.sent_at.is_(None),
        OutboxMessage.attempts == seen_attempts,
    )
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has one writer: this UPDATE takes the database's write lock until the transaction ends, so
        # no other process can claim, send or mark this message meanwhile.
        claimed = session.execute(
            update(OutboxMessage)
            .where(*unchanged)
            .values(attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            return None
        return session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .execution_options(populate_existing=True)
        ).scalar_one()
    message = session.execute(
        select(OutboxMessage).where(*unchanged).with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if message is not None:
        message.attempts += 1
    return message


def _send_one(
    store: Store, connection: smtplib.SMTP, smtp: Smtp, message_id: int, seen_attempts: int
) -> bool | None:
    """Send one claimed message: True when sent, None when skipped or refused, False when the link broke."""
    with store.session() as session:
        message = _claim(session, message_id, seen_attempts)
        if message is None:
            return None
        try:
            connection.send_message(_email(message, smtp.sender))
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            message.last_error = _reason(error, smtp)
            log.warning("outbox: message %s not sent: %s", message_id, message.last_error)
            return False
        except smtplib.SMTPException as error:
            message.last_error = _reason(error, smtp)
            log.warning("outbox: message %s refused: %s", message_id, message.last_error)
            return None
        message.sent_at = datetime.now(UTC)
        message.last_error = None
        return True


def _record_failure(store: Store, message_id: int, seen_attempts: int, reason: str) -> None:
    with store.session() as session:
        message = _claim(session, message_id, seen_attempts)
        if message is not None:
            message.last_error = reason


def _connect(smtp: Smtp) -> smtplib.SMTP:
    """An open SMTP session with the relay: STARTTLS (certificate verified) and login when configured."""
    connection = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
    try:
        connection.ehlo()
        if smtp.starttls:
            connection.starttls(context=ssl.create_default_context())
            connection.ehlo()
        if smtp.username:
            connection.login(smtp.username, smtp.password or "")
    except BaseException:
        connection.close()
        raise
    return connection


def _email(message: OutboxMessage, sender: str) -> EmailMessage:
    """The outbox row as a plain-text UTF-8 email with From, To, Subject, Date and a stable Message-ID."""
    mail = EmailMessage(policy=POLICY)
    mail["From"] = sender
    mail["To"] = message.to_address
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = message_id(message, sender)
    mail.set_content(message.body, charset="utf-8")
    return mail


def message_id(message: OutboxMessage, sender: str) -> str:
    """The message's ``Message-ID``: the same on every attempt, so a copy sent twice can be told."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    stamp = int(_utc(message.created_at).timestamp() * 1_000_000)
    return f"<outbox.{message.id}.{stamp}@{domain}>"


def _utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC time (SQLite returns the stored UTC times without their zone)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _reason(error: BaseException, smtp: Smtp) -> str:
    """A failure's reason for ``last_error``: its kind and text, with the relay's credentials masked."""
    text = f"{type(error).__name__}: {error}"
    for secret in (smtp.password, smtp.username):
        if secret:
            text = text.replace(secret, "***")
    return text[:ERROR_MAX_CHARS]


class MailWorker:
    """A daemon thread that sends the outbox every ``interval_s`` seconds, or at once when woken.

    Parameters
    ----------
    store
        The governance store.
    smtp
        The relay.
    interval_s
        Seconds between passes.

    Examples
    --------
    In the web app's lifespan::

        worker = MailWorker(store, settings.smtp, 5.0)
        worker.start()
        ...
        worker.stop()
    """

    def __init__(self, store: Store, smtp: Smtp, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.store = store
        self.smtp = smtp
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            raise RuntimeError("the mail worker is already started")
        self._thread = threading.Thread(target=self._run, name="exquisite-mail", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Send now instead of at the next tick (call it after the transaction that queued mail commits)."""
        self._wake.set()

    def stop(self, timeout_s: float | None = None) -> None:
        """Ask the thread to stop and wait for it to finish the message it is sending.

        Parameters
        ----------
        timeout_s
            Longest wait; by default long enough for one SMTP exchange to time out.
        """
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.smtp.timeout_s * 4 if timeout_s is None else timeout_s)

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                send_pending(self.store, self.smtp)
            except Exception:  # a database hiccup must not end the worker; the next pass retries
                log.exception("outbox: a sending pass failed")
            self._wake.wait(self.interval_s)
            self._wake.clear()


def pending(store: Store) -> Sequence[OutboxMessage]:
    """The unsent messages, oldest first, given-up ones included (for staff and tests)."""
    with store.session() as session:
        return session.scalars(
            select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)).order_by(OutboxMessage.id)
        ).all()
