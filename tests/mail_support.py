"""Fixtures of outgoing email: a real SMTP server on loopback keeping what it receives (see conftest.py)."""

from __future__ import annotations

import email
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["SmtpSink", "free_port", "module_smtp_sink", "smtp_sink"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts.

    Parameters
    ----------
    port
        The port to listen on (default: a free one); kept across :meth:`stop` and :meth:`start`.
    credentials
        ``(username, password)`` the server requires before it accepts mail (AUTH LOGIN/PLAIN).
    tls_context
        A server TLS context: STARTTLS is offered, and required before AUTH.

    Attributes
    ----------
    messages
        The accepted messages, parsed (``email.message.EmailMessage``), in arrival order.
    envelopes
        ``(mail_from, rcpt_tos)`` of each accepted message.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        port: int | None = None,
        *,
        credentials: tuple[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.port = port or free_port(self.host)
        self.credentials = credentials
        self.tls_context = tls_context
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins_tried: list[str] = []
        self._arrived = threading.Condition()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        """Keep the message (aiosmtpd handler hook)."""
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=default_policy)
        with self._arrived:
            self.messages.append(parsed)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword) or self.credentials is None:
            return AuthResult(success=False, handled=False)
        username, password = data.login.decode(), data.password.decode()
        self.logins_tried.append(username)
        return AuthResult(success=(username, password) == self.credentials, handled=False)

    def start(self) -> SmtpSink:
        """Start listening (again) on :attr:`port`."""
        options: dict[str, Any] = {"enable_SMTPUTF8": True}
        if self.credentials is not None:
            options.update(authenticator=self._authenticate, auth_required=True)
            options["auth_require_tls"] = self.tls_context is not None
        if self.tls_context is not None:
            options.update(tls_context=self.tls_context, require_starttls=True)
        self._controller = Controller(self, hostname=self.host, port=self.port, ready_timeout=10, **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening (the kept messages stay)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[EmailMessage]:
        """The messages once at least ``count`` have arrived; fails the test after ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"the SMTP sink got {len(self.messages)} message(s), expected {count}")
                self._arrived.wait(left)
            return list(self.messages)

    def smtp_settings(self, sender: str = "reports@city.example", **more: Any) -> Any:
        """The governance ``Smtp`` settings that send to this sink (the rest from data/governance.yml)."""
        from exquisite.governance.settings import Smtp, load_settings

        defaults = load_settings().smtp.model_dump()
        return Smtp(**{**defaults, "host": self.host, "port": self.port, "sender": sender, **more})


def _listening_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A listening SMTP sink on 127.0.0.1 (a free port), stopped after the test."""
    yield from _listening_sink()


@pytest.fixture(scope="module")
def module_smtp_sink() -> Iterator[SmtpSink]:
    """One listening SMTP sink for a whole test module (the email of a module-wide live server)."""
    yield from _listening_sink()
