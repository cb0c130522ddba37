"""Sending mail: one `Mail` value, two gateways (an outbox folder, an SMTP server).

The caller (a task) claims an outbox row, builds a `Mail` with a deterministic
Message-ID, and calls `send()`. What comes back tells it what to record:

- the exact bytes of the message: it left (or was written to the outbox folder) as these
  bytes, which the caller keeps for audit bundles;
- `MailUnavailable`: the server could not be reached, refused *for now* (4xx), or is
  misconfigured: keep the message queued, record the error, try again next run;
- `MailRejected`: this message will never go as it is (5xx for a recipient, an address
  that does not parse, a missing attachment): record it as failed, do not retry.

Both gateways (gateways.outbox_folder, gateways.smtp) send the same MIME message, made by
`build_mime()`, so what an authority reads in the outbox folder is what SMTP would have
delivered.
"""
from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

__all__ = [
    "Mail",
    "MailError",
    "MailUnavailable",
    "MailRejected",
    "MailGateway",
    "build_mime",
    "clean_header",
    "envelope_recipients",
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


def envelope_recipients(mail: Mail) -> list[str]:
    return (_addresses("To", mail.to, mail.message_id)
            + _addresses("Cc", mail.cc, mail.message_id))

