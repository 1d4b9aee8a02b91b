"""The outbox: email stored with the report, sent over real SMTP (aiosmtpd on loopback), retried, once.

Every test runs on SQLite and on PostgreSQL (the ``store`` fixture of governance_support.py).
"""

from __future__ import annotations

import itertools
import shutil
import ssl
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from exquisite.errors import InputError
from exquisite.governance.db import Store
from exquisite.governance.mail import MailWorker, due_at, pending, queue_mail, send_pending
from exquisite.governance.models import OutboxMessage, Report
from mail_support import SmtpSink, free_port


def _queue(store: Store, count: int = 1, **fields: str) -> list[int]:
    ids = []
    with store.session() as session:
        for number in range(count):
            message = queue_mail(
                session,
                to=fields.get("to", f"resident{number}@example.org"),
                subject=fields.get("subject", f"Report {number}"),
                body=fields.get("body", f"Body {number}"),
            )
            session.flush()
            ids.append(message.id)
    return ids


def _rows(store: Store) -> list[OutboxMessage]:
    with store.session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _report(token: str) -> Report:
    now = datetime.now(UTC)
    return Report(
        token=token,
        jurisdiction="city.example",
        service_code="001",
        description="Broken street light",
        state="unconfirmed",
        channel="web",
        attributes={},
        created_at=now,
        updated_at=now,
    )


def test_queued_mail_arrives_with_headers_and_chinese_subject(store: Store, smtp_sink: SmtpSink):
    subject = "请确认您的报告：路灯损坏（编号 42）"
    body = "您好！\n\n请点击下面的链接确认您的报告：\nhttp://127.0.0.1:8000/r/abc\n\n— 城市服务台"
    with store.session() as session:
        report = _report("tok-1")
        session.add(report)
        session.flush()
        queue_mail(session, to="li.wei@example.org", subject=subject, body=body, report_id=report.id)
    before = datetime.now(UTC).replace(microsecond=0)
    assert send_pending(store, smtp_sink.smtp_settings(sender="City Reports <reports@city.example>")) == 1
    [received] = smtp_sink.wait_for(1)
    assert received["Subject"] == subject
    assert received["To"] == "li.wei@example.org"
    assert received["From"] == "City Reports <reports@city.example>"
    assert received["Message-ID"].startswith("<outbox.")
    assert received["Message-ID"].endswith("@city.example>")
    assert parsedate_to_datetime(received["Date"]) >= before - timedelta(seconds=1)
    assert received.get_content_type() == "text/plain"
    assert received.get_content_charset() == "utf-8"
    assert received.get_content().replace("\r\n", "\n").rstrip("\n") == body
    assert smtp_sink.envelopes == [("reports@city.example", ["li.wei@example.org"])]
    [row] = _rows(store)
    assert row.sent_at is not None
    assert row.attempts == 1
    assert row.last_error is None
    assert row.report_id is not None
    # Sent once only: the next pass finds nothing.
    assert send_pending(store, smtp_sink.smtp_settings()) == 0
    assert len(smtp_sink.messages) == 1


def test_rolled_back_transaction_queues_nothing(store: Store, smtp_sink: SmtpSink):
    def submit() -> None:
        with store.session() as session:
            session.add(_report("tok-rollback"))
            session.flush()
            queue_mail(session, to="someone@example.org", subject="Confirm", body="Link")
            raise RuntimeError("the report could not be stored")

    with pytest.raises(RuntimeError, match="could not be stored"):
        submit()
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert session.scalar(select(func.count()).select_from(Report)) == 0
    assert send_pending(store, smtp_sink.smtp_settings()) == 0
    assert smtp_sink.messages == []


def test_smtp_down_counts_attempts_and_sends_when_it_comes_back(store: Store):
    sink = SmtpSink(free_port())  # not started: nothing listens on its port
    smtp = sink.smtp_settings()
    [first, second] = _queue(store, 2)
    assert send_pending(store, smtp) == 0
    rows = _rows(store)
    assert [row.attempts for row in rows] == [1, 1]
    assert all(row.sent_at is None and "ConnectionRefused" in (row.last_error or "") for row in rows)
    # Backed off: not tried again at once ...
    assert send_pending(store, smtp) == 0
    assert [row.attempts for row in _rows(store)] == [1, 1]
    # ... but once the first delay has passed, and the relay is up, both go.
    sink.start()
    try:
        later = datetime.now(UTC) + timedelta(seconds=smtp.retry_first_s + 1)
        assert send_pending(store, smtp, now=later) == 2
        received = sink.wait_for(2)
    finally:
        sink.stop()
    assert sorted(message["Subject"] for message in received) == ["Report 0", "Report 1"]
    rows = _rows(store)
    assert [row.id for row in rows] == [first, second]
    assert all(row.sent_at is not None and row.attempts == 2 and row.last_error is None for row in rows)


def test_back_off_doubles_and_gives_up_after_max_attempts(store: Store):
    created = datetime(2026, 1, 1, tzinfo=UTC)
    smtp = SmtpSink(free_port()).smtp_settings()
    assert due_at(created, 0, smtp) == created
    assert due_at(created, 1, smtp) == created + timedelta(seconds=smtp.retry_first_s)
    assert due_at(created, 2, smtp) == created + timedelta(seconds=3 * smtp.retry_first_s)
    steps = [due_at(created, n + 1, smtp) - due_at(created, n, smtp) for n in range(smtp.max_attempts)]
    assert max(steps) == timedelta(seconds=smtp.retry_longest_s)
    assert all(a <= b for a, b in itertools.pairwise(steps))
    _queue(store, 1)
    far = datetime.now(UTC) + timedelta(days=365)
    for _ in range(smtp.max_attempts + 3):
        send_pending(store, smtp, now=far)
    [row] = _rows(store)
    assert row.attempts == smtp.max_attempts
    assert row.sent_at is None
    assert row.last_error
    assert [message.id for message in pending(store)] == [row.id]


def test_two_workers_never_send_one_message_twice(store: Store, smtp_sink: SmtpSink):
    count = 40
    _queue(store, count)
    smtp = smtp_sink.smtp_settings()
    start = threading.Barrier(3)
    totals: list[int] = []

    def worker() -> None:
        start.wait()
        sent = 0
        for _ in range(count):
            sent += send_pending(store, smtp, limit=5)
        totals.append(sent)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    received = smtp_sink.wait_for(count)
    time.sleep(0.2)  # a duplicate would arrive now
    subjects = [message["Subject"] for message in smtp_sink.messages]
    assert len(subjects) == count
    assert len(set(subjects)) == count
    assert sum(totals) == count
    assert len({message["Message-ID"] for message in received}) == count
    assert all(row.sent_at is not None and row.attempts == 1 for row in _rows(store))


def test_mail_worker_sends_within_its_interval_and_stops(store: Store, smtp_sink: SmtpSink):
    worker = MailWorker(store, smtp_sink.smtp_settings(), interval_s=0.3)
    worker.start()
    try:
        assert worker.running
        time.sleep(0.1)  # the first pass has found nothing
        _queue(store, 1, subject="Ticked")
        smtp_sink.wait_for(1, timeout_s=0.3 + 2)
        _queue(store, 1, subject="Woken")
        woken = time.monotonic()
        worker.wake()
        smtp_sink.wait_for(2, timeout_s=2)
        assert time.monotonic() - woken < 2
    finally:
        worker.stop(timeout_s=5)
    assert not worker.running
    assert [message["Subject"] for message in smtp_sink.messages] == ["Ticked", "Woken"]
    _queue(store, 1, subject="After stop")
    time.sleep(0.5)
    assert len(smtp_sink.messages) == 2


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_required_and_a_wrong_password_never_stored(store: Store):
    sink = SmtpSink(credentials=("city-relay", "s3cret-Pa55")).start()
    try:
        _queue(store, 1)
        wrong = sink.smtp_settings(username="city-relay", password="wrong-Pa55word")
        assert send_pending(store, wrong) == 0
        [row] = _rows(store)
        assert row.attempts == 1
        assert "Authentication" in (row.last_error or "")
        assert "wrong-Pa55word" not in row.last_error
        right = sink.smtp_settings(username="city-relay", password="s3cret-Pa55")
        later = datetime.now(UTC) + timedelta(hours=1)
        assert send_pending(store, right, now=later) == 1
        assert len(sink.wait_for(1)) == 1
    finally:
        sink.stop()
    # smtplib tries each mechanism the relay offers (PLAIN, LOGIN) before it gives up on a wrong password.
    assert len(sink.logins_tried) >= 2
    assert set(sink.logins_tried) == {"city-relay"}


def _self_signed(folder: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = folder / "relay.pem", folder / "relay.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_starttls_verifies_the_relay_then_logs_in(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    sink = SmtpSink(credentials=("city-relay", "s3cret"), tls_context=server_tls).start()
    try:
        _queue(store, 1, subject="Über TLS 加密")
        smtp = sink.smtp_settings(starttls=True, username="city-relay", password="s3cret")
        # The relay's certificate is not trusted yet: refused, nothing sent, reason kept.
        assert send_pending(store, smtp) == 0
        [row] = _rows(store)
        assert row.attempts == 1
        assert "CERTIFICATE_VERIFY_FAILED" in (row.last_error or "")
        # Trusted through the standard SSL_CERT_FILE (a city's own CA): sent over TLS after login.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        later = datetime.now(UTC) + timedelta(hours=1)
        assert send_pending(store, smtp, now=later) == 1
        [received] = sink.wait_for(1)
    finally:
        sink.stop()
    assert received["Subject"] == "Über TLS 加密"
    assert sink.logins_tried == ["city-relay"]


@pytest.mark.parametrize(
    "address",
    [
        "",
        "two@example.org, three@example.org",
        "x@example.org\r\nBcc: victim@example.org",
        "no-at-sign",
        "a@b",
    ],
)
def test_queue_mail_refuses_what_is_not_one_address(store: Store, address: str):
    with pytest.raises(InputError) as caught, store.session() as session:
        queue_mail(session, to=address, subject="Hi", body="Body")
    assert caught.value.where == "email"
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_subject_is_one_line(store: Store, smtp_sink: SmtpSink):
    _queue(store, 1, subject="Confirm\r\nBcc: victim@example.org")
    assert send_pending(store, smtp_sink.smtp_settings()) == 1
    [received] = smtp_sink.wait_for(1)
    assert received["Subject"] == "Confirm Bcc: victim@example.org"
    assert received["Bcc"] is None
    assert smtp_sink.envelopes[0][1] == ["resident0@example.org"]
