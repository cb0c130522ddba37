"""Mail through an SMTP server (yagmail holding the connection), failures classified as
retryable (`MailUnavailable`) or final (`MailRejected`)."""
from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from datetime import datetime
from email import policy
from types import TracebackType
from typing import Self

import yagmail

from core import clock as _clock
from gateways.mail import Mail, MailError, MailRejected, MailUnavailable, build_mime, envelope_recipients

__all__ = ["SmtpGateway"]


class SmtpGateway:
    """Mail through an SMTP server, with yagmail holding the connection.

    yagmail opens and closes the connection (implicit TLS or STARTTLS, login), but the
    message itself is `build_mime()`'s, sent on yagmail's smtplib connection, because:
    - yagmail's text/plain alternative is its HTML with "<br>" (measured with 0.16: it
      has no way to carry our separate text body), and its From is the login user;
    - yagmail's own send retries a dropped connection three times with 3 s then 6 s
      sleeps, then returns False and keeps the message in memory: here the caller's
      outbox row is the queue, so a failure must be raised at once, classified.

    Outside `with`, each send opens and closes its own connection. Inside, one
    connection serves the batch; after a failure it is dropped and the next send
    reconnects; one left idle for `idle_check_after` seconds is checked (NOOP) before
    use, since servers close idle clients. Not thread-safe: one gateway per thread.

    `sender` is the envelope sender (where bounces go); the From header is
    `mail.sender`. Without `password`, no login is attempted (a local relay).
    """

    def __init__(self, *, host: str, port: int, sender: str, user: str | None = None,
                 password: str | None = None, starttls: bool = False, use_ssl: bool = False,
                 timeout: float = 30.0, tls_context: ssl.SSLContext | None = None,
                 idle_check_after: float = 10.0,
                 clock: Callable[[], datetime] = _clock.now) -> None:
        if starttls and use_ssl:
            raise ValueError("starttls et use_ssl s'excluent : choisir l'un des deux")
        self.host = host
        self.port = int(port)
        self.sender = sender
        self.user = user
        self.starttls = starttls
        self.use_ssl = use_ssl
        self.timeout = timeout
        self._password = password  # never in repr, logs or error messages
        # smtplib's STARTTLS without a context does not verify the certificate.
        self._tls_context = tls_context
        self._clock = clock
        self.idle_check_after = idle_check_after
        self._client: yagmail.SMTP | None = None
        self._last_used = 0.0  # time.monotonic() of the connection's last exchange
        self._in_batch = False

    def __repr__(self) -> str:
        mode = "ssl" if self.use_ssl else "starttls" if self.starttls else "clair"
        login = self.user or (self.sender if self._password is not None else None)
        return (f"SmtpGateway(host={self.host!r}, port={self.port}, mode={mode}, "
                f"login={login!r}, sender={self.sender!r})")

    def __enter__(self) -> Self:
        self._in_batch = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._in_batch = False
        self._disconnect()

    def send(self, mail: Mail) -> bytes:
        # Flattened here rather than by send_message, so that the bytes kept for the audit
        # are the very bytes the server received.
        data = build_mime(mail, date=self._clock()).as_bytes(policy=policy.SMTP)
        recipients = envelope_recipients(mail)
        client = self._connect(mail.message_id)
        try:
            refused = client.smtp.sendmail(self.sender, recipients, data)
        except Exception as exc:
            failure = _classify(exc, self, mail.message_id)
            if isinstance(failure, MailUnavailable):
                self._disconnect()  # the session is in an unknown state
            elif not self._in_batch:
                self._disconnect()
            raise failure from exc
        self._last_used = time.monotonic()
        if not self._in_batch:
            self._disconnect()
        if refused:
            # Some recipients have it already: sending again would duplicate it for
            # them, so this is final; an operator decides about the others.
            delivered = tuple(r for r in recipients if r not in refused)
            raise MailRejected(
                f"{mail.message_id} remis à {', '.join(delivered)} mais refusé pour "
                + "; ".join(f"{r} ({code} {_reply(text)})" for r, (code, text) in refused.items()),
                message_id=mail.message_id, refused=_refusals(refused), delivered_to=delivered)
        return data

    def _connect(self, message_id: str) -> yagmail.SMTP:
        if self._client is not None:
            if time.monotonic() - self._last_used < self.idle_check_after:
                return self._client
            # Servers drop clients idle for a while: a dead connection found now costs
            # a reconnection, found by the send it would cost a message (and the batch).
            try:
                if self._client.smtp.noop()[0] == 250:
                    self._last_used = time.monotonic()
                    return self._client
            except (OSError, smtplib.SMTPException):
                pass
            self._disconnect()
        context = self._tls_context or ssl.create_default_context()
        kwargs: dict[str, object] = {"timeout": self.timeout}
        if self.use_ssl:
            kwargs["context"] = context
        login = self.user or self.sender
        client = yagmail.SMTP(
            user=login,
            password=self._password,
            host=self.host,
            port=self.port,
            smtp_ssl=self.use_ssl,
            smtp_starttls={"context": context} if self.starttls else False,
            smtp_skip_login=self._password is None,
            soft_email_validation=False,
            **kwargs,
        )
        # yagmail appends "@gmail.com" to a user name without "@"; log in as given.
        client.user = login
        try:
            client.login()
        except Exception as exc:
            _quietly_close(client)
            raise _classify(exc, self, message_id) from exc
        self._client = client
        self._last_used = time.monotonic()
        return client

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _quietly_close(client)


def _quietly_close(client: yagmail.SMTP) -> None:
    """QUIT if the server still listens; a dead connection has nothing left to close."""
    try:
        client.close()
    except (OSError, smtplib.SMTPException):
        try:
            client.smtp.close()
        except Exception:
            pass


def _reply(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _refusals(refused: dict[str, tuple[int, bytes]]) -> dict[str, tuple[int, str]]:
    return {rcpt: (code, _reply(text)) for rcpt, (code, text) in refused.items()}


def _classify(exc: BaseException, gw: SmtpGateway, message_id: str) -> MailError:
    """Retryable or permanent? Only what concerns the message itself is permanent.

    A configuration fault (login refused, STARTTLS missing) is not the message's fault
    either: it stays queued until an operator fixes the settings.
    """
    where = f"{gw.host}:{gw.port}"
    if isinstance(exc, MailError):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = _refusals(exc.recipients)
        detail = "; ".join(f"{r} ({code} {text})" for r, (code, text) in refused.items())
        if all(400 <= code < 500 for code, _ in refused.values()):
            return MailUnavailable(f"destinataires refusés temporairement par {where} : {detail}",
                                   message_id=message_id, smtp_code=min(c for c, _ in refused.values()))
        return MailRejected(f"destinataires refusés par {where} : {detail}",
                            message_id=message_id, refused=refused,
                            smtp_code=max(c for c, _ in refused.values()))
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return MailUnavailable(f"authentification refusée par {where} ({exc.smtp_code}) : "
                               "vérifier l'utilisateur et le mot de passe",
                               message_id=message_id, smtp_code=exc.smtp_code)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        # The same envelope sender goes on every message: a settings fault.
        return MailUnavailable(f"expéditeur {exc.sender} refusé par {where} : "
                               f"{exc.smtp_code} {_reply(exc.smtp_error)}",
                               message_id=message_id, smtp_code=exc.smtp_code)
    if isinstance(exc, (smtplib.SMTPConnectError, smtplib.SMTPHeloError)):
        return MailUnavailable(f"serveur {where} indisponible : {exc.smtp_code} {_reply(exc.smtp_error)}",
                               message_id=message_id, smtp_code=exc.smtp_code)
    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"{exc.smtp_code} {_reply(exc.smtp_error)}"
        if 400 <= exc.smtp_code < 500:
            return MailUnavailable(f"refus temporaire de {where} : {text}",
                                   message_id=message_id, smtp_code=exc.smtp_code)
        return MailRejected(f"refusé par {where} : {text}",
                            message_id=message_id, smtp_code=exc.smtp_code)
    if isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPNotSupportedError)):
        return MailUnavailable(f"serveur {where} : {exc}", message_id=message_id)
    if isinstance(exc, OSError):  # refused, reset, timeout, DNS, TLS handshake...
        return MailUnavailable(f"serveur {where} injoignable : {type(exc).__name__} {exc}",
                               message_id=message_id)
    return MailRejected(f"envoi impossible via {where} : {type(exc).__name__} {exc}",
                        message_id=message_id)
