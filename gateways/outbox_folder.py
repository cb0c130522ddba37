"""Zero-configuration mail: each message written as an .eml file in a folder."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from email import policy
from pathlib import Path
from types import TracebackType
from typing import Self

from core import clock as _clock
from gateways.files import atomic_write
from gateways.mail import Mail, MailUnavailable, build_mime

__all__ = ["OutboxFolder", "eml_filename"]

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

