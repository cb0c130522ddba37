"""A real SMTP server for tests (pytest plugin): aiosmtpd on 127.0.0.1, a free port.

Load it with `pytest_plugins = ["tests.smtp_server"]` (or import the fixture into a
conftest). The fixture `smtp_server` yields a `SmtpTestServer`:

    smtp_server.host, smtp_server.port      where to connect
    smtp_server.messages                    list[EmailMessage], parsed, in arrival order
    smtp_server.envelopes                   list[Envelope]: mail_from, rcpt_tos, raw content,
                                            peer (client address: tells connections apart)
    smtp_server.connections                 how many connections delivered something
    smtp_server.stop() / smtp_server.start() stop mid-test, restart on the same port
    smtp_server.refuse(address, reply)      refuse RCPT TO for one address, e.g.
                                            "550 5.1.1 Destinataire inconnu" (permanent)
                                            or "450 4.2.1 Boîte pleine" (temporary)
    smtp_server.clear()                     forget what was received

`SmtpTestServer(**controller_kwargs)` builds other servers (TLS...) in a test of its own.

Delivery is synchronous from the client's point of view: when smtplib's send returns,
the server has already stored the message, so tests can read `.messages` at once.
"""
from __future__ import annotations

import email
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support import free_port


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    peer: tuple[str, int]  # the client's address: one per connection


class _CollectingHandler:
    def __init__(self, server: SmtpTestServer) -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001
        reply = self.server.refusals.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        self.server._store(Envelope(envelope.mail_from, tuple(envelope.rcpt_tos), content,
                                    tuple(session.peer)))
        return "250 Message accepted for delivery"


class SmtpTestServer:
    """aiosmtpd in a background thread; stop() and start() keep the same port."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None,
                 **controller_kwargs: Any) -> None:
        """`controller_kwargs` go to aiosmtpd's Controller, e.g. ssl_context= (implicit
        TLS) or tls_context= and require_starttls=True (STARTTLS)."""
        self.host = host
        self.port = port or free_port(host)
        self.envelopes: list[Envelope] = []
        self.messages: list[EmailMessage] = []
        self.refusals: dict[str, str] = {}
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self._controller_kwargs = controller_kwargs

    @property
    def connections(self) -> int:
        with self._lock:
            return len({e.peer for e in self.envelopes})

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            return
        # A Controller's event loop is closed when it stops: a restart needs a new one.
        controller = Controller(_CollectingHandler(self), hostname=self.host, port=self.port,
                                ready_timeout=5.0, **self._controller_kwargs)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening and drop open connections (a client's next command fails)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def refuse(self, address: str, reply: str = "550 5.1.1 Destinataire inconnu") -> None:
        self.refusals[address.lower()] = reply

    def clear(self) -> None:
        with self._lock:
            self.envelopes.clear()
            self.messages.clear()

    def _store(self, envelope: Envelope) -> None:
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.envelopes.append(envelope)
            self.messages.append(parsed)  # type: ignore[arg-type]


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    server = SmtpTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
