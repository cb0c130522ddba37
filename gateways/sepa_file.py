"""Payment runs as SEPA credit-transfer files (pain.001) for the authority's bank or treasury."""
from __future__ import annotations

import fcntl
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sepaxml import SepaTransfer
from text_unidecode import (
    unidecode,  # sepaxml's own dependency, for its transliteration
)

from core import clock as _clock
from domain.money import to_cents
from gateways.bank import OrderOutcome, PaymentOrder, TreasuryUnavailable, checked_bic, compact_iban
from gateways.files import atomic_write

__all__ = ["SepaFileGateway", "sepa_text"]

# SEPA's restricted character set (EPC guidelines); anything else becomes a space.
_SEPA_UNSAFE = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")
_SPACES = re.compile(r" {2,}")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def sepa_text(value: str, max_length: int) -> str:
    """Text a bank will take: Latin letters without accents, SEPA punctuation only.

    "Faubourg Numérique" -> "Faubourg Numerique"; "n°2" -> "no2".
    """
    text = unidecode(value.replace("°", "o").replace("€", "EUR"))
    text = _SPACES.sub(" ", _SEPA_UNSAFE.sub(" ", text)).strip()
    return text[:max_length].rstrip()


class SepaFileGateway:
    """Payment runs as pain.001 files (SEPA credit transfer) in an outbox folder.

    One file per batch, named from `batch_id`; each transaction's EndToEndId is the
    order's key. The folder is the memory: a key found in any file there was ordered,
    so `order()` leaves it out of a new file and `lookup()` answers "accepted" (the
    bank's later statement, not this gateway, says "paid" or "rejected"). A lock file
    serialises two processes writing to the same folder.
    """

    def __init__(self, outbox: Path, *, debtor_name: str, debtor_iban: str,
                 debtor_bic: str | None = None, schema: str = "pain.001.001.03",
                 validate: bool = True, clock: Callable[[], datetime] = _clock.now) -> None:
        self.outbox = Path(outbox)
        self.debtor_name = sepa_text(debtor_name, 70)
        self.debtor_iban = compact_iban(debtor_iban, "debtor_iban")
        self.debtor_bic = None if debtor_bic is None else checked_bic(debtor_bic, "debtor_bic")
        self.schema = schema
        self.validate = validate  # against sepaxml's bundled XSD
        self._clock = clock

    def __repr__(self) -> str:
        return f"SepaFileGateway({str(self.outbox)!r}, schema={self.schema!r})"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.outbox.mkdir(parents=True, exist_ok=True)
        with open(self.outbox / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield

    def _index(self) -> dict[str, str]:
        """key -> file name, for every EndToEndId in the folder's files."""
        index: dict[str, str] = {}
        for path in sorted(self.outbox.glob("*.xml")):
            for _, elem in ET.iterparse(path):
                if elem.tag.rsplit("}", 1)[-1] == "EndToEndId" and elem.text:
                    index.setdefault(elem.text, path.name)
        return index

    def lookup(self, key: str) -> OrderOutcome | None:
        try:
            with self._locked():
                name = self._index().get(key)
        except OSError as exc:
            raise TreasuryUnavailable(f"dossier SEPA {self.outbox} inaccessible : {exc}") from exc
        return None if name is None else OrderOutcome(key, "accepted", reference=name)

    def order(self, orders: Sequence[PaymentOrder], *, batch_id: str) -> list[OrderOutcome]:
        stem = _UNSAFE_FILENAME.sub("_", batch_id).strip("._")[:100]
        if not stem:
            raise ValueError(f"champ « batch_id » = {batch_id!r} : identifiant de remise vide")
        try:
            with self._locked():
                index = self._index()
                new: dict[str, PaymentOrder] = {}
                for o in orders:
                    if o.key not in index:
                        new.setdefault(o.key, o)
                if new:
                    target = self._free_name(stem)
                    atomic_write(target, self._document(list(new.values()), target.stem))
                    index.update((key, target.name) for key in new)
        except OSError as exc:
            raise TreasuryUnavailable(f"dossier SEPA {self.outbox} inaccessible : {exc}") from exc
        return [OrderOutcome(o.key, "accepted", reference=index[o.key]) for o in orders]

    def _free_name(self, stem: str) -> Path:
        # A batch id used again (a rerun with new keys) never overwrites a file already
        # handed to the bank.
        target, n = self.outbox / f"{stem}.xml", 1
        while target.exists():
            n += 1
            target = self.outbox / f"{stem}.{n}.xml"
        return target

    def _document(self, orders: list[PaymentOrder], msg_id: str) -> bytes:
        config: dict[str, Any] = {"name": self.debtor_name, "IBAN": self.debtor_iban,
                                  "batch": True, "currency": "EUR"}
        if self.debtor_bic:
            config["BIC"] = self.debtor_bic
        # clean=False: sepa_text() already did it, and better ("n°" -> "no", not "ndeg").
        transfer = SepaTransfer(config, schema=self.schema, clean=False)
        # sepaxml draws a random MsgId and reads the wall clock; the batch's own id makes
        # a re-sent file recognisable to the bank (which refuses a MsgId seen before).
        header = transfer._xml.find("CstmrCdtTrfInitn/GrpHdr")
        header.find("MsgId").text = sepa_text(msg_id, 35).replace(" ", "-")
        header.find("CreDtTm").text = self._clock().strftime("%Y-%m-%dT%H:%M:%S")
        for o in orders:
            payment: dict[str, Any] = {
                "name": sepa_text(o.creditor_name, 70),
                "IBAN": o.iban,
                "amount": to_cents(o.amount),  # sepaxml takes integer cents
                "execution_date": o.execution_date,
                "description": sepa_text(o.remittance, 140) or o.key,
                "endtoend_id": o.key,
            }
            if o.bic:
                payment["BIC"] = o.bic
            transfer.add_payment(payment)
        try:
            return transfer.export(validate=self.validate, pretty_print=True)
        except Exception as exc:  # sepaxml's ValidationError wraps xmlschema's
            raise ValueError(f"fichier SEPA invalide pour la remise {msg_id} : {exc}") from exc

