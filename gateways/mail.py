"""Sending mail: one `Mail` value, two gateways (an outbox folder, an SMTP server).

The caller (a task) claims an outbox row, builds a `Mail` with a deterministic
Message-ID, and calls `send()`. What comes back tells it what to record:

- the exact bytes of the message: it left (or was written to the outbox folder) as these
  bytes, which the caller keeps for audit bundles;
- `MailUnavailable`: the server could not be reached, refused *for now* (4xx), or is
  misconfigured: keep the message queued, record the error, try again next run;
- `MailRejected`: this message will never go as it is (5xx for a recipient, an address
  that does not parse, a missing attachment): record it as failed, do not retry.

Both gateways send the same MIME message, made by `build_mime()`, so what an authority
reads in the outbox folder is what SMTP would have delivered.
"""
from __future__ import annotations

import hashlib
import mimetypes
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

import yagmail

from core import clock as _clock
from gateways.files import atomic_write

__all__ = [
    "Mail",
    "MailError",
    "MailUnavailable",
    "MailRejected",
    "MailGateway",
    "OutboxFolder",
    "SmtpGateway",
    "build_mime",
    "clean_header",
]

# "<local@domain>": the caller chooses it (e.g. "<reminder-123-late_7@grantflow>") so a
# message sent again after a crash is recognisably the same message.
_MESSAGE_ID = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")


@dataclass(frozen=True)
class Mail:
    """One message, ready to go. Text and HTML are the two renderings of the same body."""

    message_id: str
    sender: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    cc: tuple[str, ...] = ()
    attachments: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if not _MESSAGE_ID.fullmatch(self.message_id):
            raise ValueError(
                f"champ « message_id » = {self.message_id!r} : attendu de la forme "
                "<identifiant@domaine>, sans espace"
            )
        # Lists are accepted for convenience but stored as tuples, so a Mail stays
        # immutable and hashable (a single string would otherwise be split in letters).
        for name in ("to", "cc"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "attachments", tuple(Path(p) for p in self.attachments))
        if not self.to:
            raise ValueError("champ « to » = () : au moins un destinataire est requis")


class MailError(Exception):
    """A message was not sent. Catch the two subclasses, they call for different actions."""

    def __init__(self, message: str, *, message_id: str | None = None,
                 smtp_code: int | None = None) -> None:
        super().__init__(message)
        self.message_id = message_id
        self.smtp_code = smtp_code


class MailUnavailable(MailError):
    """Retryable: server unreachable, temporary refusal (4xx) or configuration fault.

    The message stays queued; once one message of a batch fails this way, the rest of
    the batch would fail too, so the caller may stop the batch there.
    """


class MailRejected(MailError):
    """Permanent for this message (5xx refusal, invalid address...): do not retry it.

    `refused` maps each refused recipient to its (code, server reply); `delivered_to`
    lists those that did accept it, when the server accepted some and not others.
    """

    def __init__(self, message: str, *, message_id: str | None = None,
                 smtp_code: int | None = None,
                 refused: dict[str, tuple[int, str]] | None = None,
                 delivered_to: tuple[str, ...] = ()) -> None:
        super().__init__(message, message_id=message_id, smtp_code=smtp_code)
        self.refused = refused or {}
        self.delivered_to = delivered_to


class MailGateway(Protocol):
    """Where mail goes. `with gateway:` opens one connection for a batch of sends.
    `send` returns the bytes it handed over (CRLF line ends, as SMTP carries them)."""

    def send(self, mail: Mail) -> bytes: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


# --------------------------------------------------------------------------- MIME

_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def clean_header(value: str) -> str:
    """A header value that cannot start a new header.

    Subjects and display names carry user text (an association's name, a grant's
    object): a CR or LF in them would let that text add headers (say, a Bcc). Every
    line break becomes one space; other control characters are dropped.
    """
    return _CONTROL.sub("", _LINE_BREAKS.sub(" ", value)).strip()


_headers = HeaderRegistry()


def _addresses(field: str, values: Iterable[str], message_id: str) -> list[str]:
    """Parse each given address (one per entry); return the bare addr-specs.

    The header keeps the addresses as given (display names included); the envelope
    needs the bare ones. An address that does not parse can never be delivered.
    """
    bare: list[str] = []
    for value in values:
        cleaned = clean_header(value)
        try:
            parsed = _headers(field, cleaned).addresses
        except Exception as exc:  # the header parser raises several types on garbage
            raise MailRejected(f"{field} : adresse illisible {cleaned!r} ({exc})",
                               message_id=message_id) from exc
        if len(parsed) != 1 or not parsed[0].username or not parsed[0].domain:
            raise MailRejected(f"{field} : adresse invalide {cleaned!r}", message_id=message_id)
        bare.append(parsed[0].addr_spec)
    return bare


def build_mime(mail: Mail, *, date: datetime | None = None) -> EmailMessage:
    """The RFC 5322 message for `mail`: multipart/alternative text + HTML, attachments.

    Exactly one Message-ID, equal to `mail.message_id`. Bodies are UTF-8 in
    quoted-printable so accents survive any relay, even one without 8BITMIME.
    `date` (an aware datetime) fills the Date header; None leaves it out.
    Raises MailRejected when an address does not parse or an attachment is missing.
    """
    _addresses("From", (mail.sender,), mail.message_id)
    _addresses("To", mail.to, mail.message_id)
    _addresses("Cc", mail.cc, mail.message_id)

    msg = EmailMessage(policy=policy.default)
    msg["Message-ID"] = mail.message_id
    if date is not None:
        msg["Date"] = format_datetime(date)
    msg["From"] = clean_header(mail.sender)
    msg["To"] = ", ".join(clean_header(a) for a in mail.to)
    if mail.cc:
        msg["Cc"] = ", ".join(clean_header(a) for a in mail.cc)
    msg["Subject"] = clean_header(mail.subject)
    msg.set_content(mail.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(mail.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for path in mail.attachments:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise MailRejected(f"pièce jointe illisible : {path} ({exc.strerror})",
                               message_id=mail.message_id) from exc
        ctype, encoding = mimetypes.guess_type(path.name)
        if ctype is None or encoding is not None:  # unknown, or compressed (.gz)
            ctype = "application/octet-stream"
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)
    return msg


def _envelope_recipients(mail: Mail) -> list[str]:
    return (_addresses("To", mail.to, mail.message_id)
            + _addresses("Cc", mail.cc, mail.message_id))


# --------------------------------------------------------------------------- outbox

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._@+=-]")


def eml_filename(message_id: str) -> str:
    """File name for a message: readable, and one per Message-ID.

    "<reminder-123-late_7@grantflow>" -> "reminder-123-late_7@grantflow.eml". When
    characters had to be replaced, a short hash of the real id is appended, so two ids
    that differ only by such characters still get two files.
    """
    inner = message_id.strip("<>")
    safe = _UNSAFE_FILENAME.sub("_", inner)[:150].lstrip(".")
    if safe != inner:
        safe += "-" + hashlib.sha256(message_id.encode()).hexdigest()[:10]
    return safe + ".eml"


class OutboxFolder:
    """Zero-configuration mail: each message becomes `<message id>.eml` in a folder.

    Writing the same message again replaces its file (one file per Message-ID), and a
    file is never seen half-written (temporary file, then an atomic rename).
    """

    def __init__(self, folder: Path, *, clock: Callable[[], datetime] = _clock.now) -> None:
        self.folder = Path(folder)
        self._clock = clock

    def __repr__(self) -> str:
        return f"OutboxFolder({str(self.folder)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def path_for(self, message_id: str) -> Path:
        return self.folder / eml_filename(message_id)

    def send(self, mail: Mail) -> bytes:
        # CRLF line ends: the .eml is then byte for byte what SMTP would carry.
        data = build_mime(mail, date=self._clock()).as_bytes(policy=policy.SMTP)
        target = self.path_for(mail.message_id)
        try:
            atomic_write(target, data)
        except OSError as exc:
            # A full or unwritable disk may be fixed by an operator: keep it queued.
            raise MailUnavailable(f"dossier d'envoi {self.folder} inaccessible : {exc}",
                                  message_id=mail.message_id) from exc
        return data


# --------------------------------------------------------------------------- SMTP

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
        recipients = _envelope_recipients(mail)
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
