"""Ordering payments: one small interface, two implementations.

A task claims an instalment in the database, then calls `order()` with the
instalment's idempotency key. The answer is recorded in the same database:

- an `OrderOutcome` per order: "accepted" (ordered), "paid" (settled) or "rejected"
  (final for this attempt: e.g. invalid bank details; a corrected order may follow);
- `TreasuryUnavailable`: nothing is known (timeout, unreachable): retry later. The
  bank may or may not have received the order, so before ordering again after a crash
  or a timeout, ask `lookup(key)`; a gateway never pays the same key twice anyway.

`SimulatedTreasury` is the embedded default and the test bank (its memory is a SQLite
file, so it survives a killed worker); `SepaFileGateway` writes pain.001 credit-transfer
files for the authority's bank or treasury.
"""
from __future__ import annotations

import fcntl
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol

from schwifty import BIC, IBAN
from sepaxml import SepaTransfer
from text_unidecode import (
    unidecode,  # sepaxml's own dependency, for its transliteration
)

from core import clock as _clock
from gateways.files import atomic_write

__all__ = [
    "PaymentOrder",
    "OrderOutcome",
    "OrderStatus",
    "TreasuryUnavailable",
    "BankGateway",
    "FaultPlan",
    "SimulatedTreasury",
    "SepaFileGateway",
]

OrderStatus = Literal["accepted", "rejected", "paid"]

# SEPA EndToEndId: Max35Text in the restricted SEPA character set; EPC rules also forbid
# a leading or trailing "/" and "//". Spaces are allowed by the norm but are refused
# here: some banks trim them, and the key must come back exactly as it was sent.
_E2E_ID = re.compile(r"^[A-Za-z0-9/\-?:().,'+]{1,35}$")
_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal("999999999.99")  # SEPA credit transfer ceiling


def _check_key(key: str) -> None:
    if (not isinstance(key, str) or not _E2E_ID.fullmatch(key) or key.startswith("/")
            or key.endswith("/") or "//" in key):
        raise ValueError(
            f"champ « key » = {key!r} : clé d'idempotence invalide (1 à 35 caractères "
            "A-Z a-z 0-9 / - ? : ( ) . , ' +, sans / au début, à la fin ni doublé)"
        )


def _compact_iban(value: str, name: str) -> str:
    try:
        return IBAN(value).compact
    except Exception as exc:  # schwifty raises several subclasses of ValueError
        raise ValueError(f"champ « {name} » = {value!r} : IBAN invalide ({exc})") from exc


def _checked_bic(value: str, name: str) -> str:
    try:
        return str(BIC(value))
    except Exception as exc:
        raise ValueError(f"champ « {name} » = {value!r} : BIC invalide ({exc})") from exc


@dataclass(frozen=True, kw_only=True)
class PaymentOrder:
    """One credit transfer to an association. `key` is the instalment's idempotency key.

    The debtor (the authority's treasury account) is not here: it belongs to the
    gateway's configuration. IBAN and BIC are stored compact and upper-case.
    """

    key: str
    amount: Decimal
    creditor_name: str
    iban: str
    remittance: str
    execution_date: date
    bic: str | None = None
    currency: str = "EUR"

    def __post_init__(self) -> None:
        _check_key(self.key)
        if isinstance(self.amount, bool) or not isinstance(self.amount, Decimal):
            raise TypeError(f"champ « amount » : Decimal attendu, pas {type(self.amount).__name__}")
        if not self.amount.is_finite() or self.amount.quantize(_CENT) != self.amount:
            raise ValueError(f"champ « amount » = {self.amount} : montant au centime attendu")
        if not Decimal(0) < self.amount <= _MAX_AMOUNT:
            raise ValueError(f"champ « amount » = {self.amount} : doit être positif "
                             f"et au plus {_MAX_AMOUNT}")
        if self.currency != "EUR":
            raise ValueError(f"champ « currency » = {self.currency!r} : seul EUR est permis (SEPA)")
        if not self.creditor_name.strip():
            raise ValueError("champ « creditor_name » : nom du bénéficiaire vide")
        if len(self.remittance) > 140:
            raise ValueError(f"champ « remittance » : {len(self.remittance)} caractères, "
                             "140 au plus (SEPA)")
        if not isinstance(self.execution_date, date) or isinstance(self.execution_date, datetime):
            raise TypeError("champ « execution_date » : une date (sans heure) est attendue")
        object.__setattr__(self, "iban", _compact_iban(self.iban, "iban"))
        if self.bic is not None:
            object.__setattr__(self, "bic", _checked_bic(self.bic, "bic"))


@dataclass(frozen=True)
class OrderOutcome:
    """What the bank answered for one key. `reference` is the bank's (or the file's)."""

    key: str
    status: OrderStatus
    reason: str | None = None
    reference: str | None = None


class TreasuryUnavailable(Exception):
    """Technical failure (timeout, unreachable): retryable; the outcome is unknown."""


class BankGateway(Protocol):
    def order(self, orders: Sequence[PaymentOrder], *, batch_id: str) -> list[OrderOutcome]:
        """One outcome per order, in the same order. Never pays a key twice."""
        ...

    def lookup(self, key: str) -> OrderOutcome | None:
        """What the bank knows of `key`; None if it never received it."""
        ...


# =========================================================================== simulated


def _str_map(value: Mapping[str, Any] | None, name: str, convert: Callable[[Any], Any]) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise TypeError(f"FaultPlan.{name} : dictionnaire attendu")
    return MappingProxyType({str(k): convert(v) for k, v in value.items()})


@dataclass(frozen=True)
class FaultPlan:
    """What the simulated treasury does wrong, per key or per IBAN.

    - `timeouts`: key -> N: the first N attempts for that key raise TreasuryUnavailable,
      before anything is recorded (the order never arrived)...
    - ...unless `timeout_after_commit`: then the order is recorded (accepted) and the
      answer lost: the call still raises, and `lookup()` shows it accepted.
    - `reject`: key -> reason: every attempt with that key is rejected.
    - `reject_iban`: IBAN -> reason: rejected while the creditor's IBAN is that one
      (a closed account); an order with a corrected IBAN is accepted.
    """

    timeouts: Mapping[str, int] = field(default_factory=dict)
    timeout_after_commit: bool = False
    reject: Mapping[str, str] = field(default_factory=dict)
    reject_iban: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeouts", _str_map(self.timeouts, "timeouts", int))
        object.__setattr__(self, "reject", _str_map(self.reject, "reject", str))
        ibans = _str_map(self.reject_iban, "reject_iban", str)
        object.__setattr__(self, "reject_iban", MappingProxyType(
            {_compact_iban(k, "reject_iban"): v for k, v in ibans.items()}))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultPlan:
        unknown = set(data) - {"timeouts", "timeout_after_commit", "reject", "reject_iban"}
        if unknown:
            raise ValueError(f"FaultPlan : clés inconnues {sorted(unknown)}")
        return cls(timeouts=data.get("timeouts", {}),
                   timeout_after_commit=bool(data.get("timeout_after_commit", False)),
                   reject=data.get("reject", {}), reject_iban=data.get("reject_iban", {}))

    @classmethod
    def from_json(cls, path: Path) -> FaultPlan:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def to_dict(self) -> dict[str, Any]:
        return {"timeouts": dict(self.timeouts), "timeout_after_commit": self.timeout_after_commit,
                "reject": dict(self.reject), "reject_iban": dict(self.reject_iban)}

    def to_json(self, path: Path) -> None:
        """Write the plan (atomically) for another process to load."""
        atomic_write(Path(path), json.dumps(self.to_dict(), indent=2, ensure_ascii=False).encode())


_SCHEMA = ("""
CREATE TABLE IF NOT EXISTS orders (
    key                TEXT PRIMARY KEY,
    amount             TEXT NOT NULL,      -- Decimal as text: never a float
    currency           TEXT NOT NULL,
    iban               TEXT NOT NULL,
    creditor_name      TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'paid')),
    reason             TEXT,
    reference          TEXT,
    times_ordered      INTEGER NOT NULL DEFAULT 0,  -- times accepted: must never exceed 1
    times_rejected     INTEGER NOT NULL DEFAULT 0,
    duplicate_attempts INTEGER NOT NULL DEFAULT 0,  -- re-orders of an accepted key
    first_batch        TEXT NOT NULL,
    last_batch         TEXT NOT NULL
)""",
"""
-- The simulator's own instrumentation, apart from what "the bank" knows: every call per
-- key (even those that time out before anything is recorded) and the timeouts served.
CREATE TABLE IF NOT EXISTS attempts (
    key             TEXT PRIMARY KEY,
    attempts        INTEGER NOT NULL DEFAULT 0,
    timeouts_served INTEGER NOT NULL DEFAULT 0
)""")


class SimulatedTreasury:
    """A bank in a SQLite file: pays each key once, even across processes and crashes.

    Every call is one `BEGIN IMMEDIATE` transaction on a fresh connection, so two
    workers serialise on the file's write lock and the second sees what the first did.
    The fault plan is a `FaultPlan`, or the path of its JSON file (read at every call,
    so a separate worker process follows the same plan, even one changed mid-test).
    """

    def __init__(self, path: Path, *, fault_plan: FaultPlan | Path | None = None,
                 busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._fault_plan = fault_plan
        self._busy_timeout = busy_timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)

    def __repr__(self) -> str:
        return f"SimulatedTreasury({str(self.path)!r})"

    @property
    def fault_plan(self) -> FaultPlan:
        if self._fault_plan is None:
            return FaultPlan()
        if isinstance(self._fault_plan, FaultPlan):
            return self._fault_plan
        return FaultPlan.from_json(Path(self._fault_plan))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise TreasuryUnavailable(f"trésorerie simulée injoignable : {exc}") from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # "database is locked" past the timeout
            raise TreasuryUnavailable(f"trésorerie simulée indisponible : {exc}") from exc
        finally:
            db.close()

    def order(self, orders: Sequence[PaymentOrder], *, batch_id: str) -> list[OrderOutcome]:
        if not batch_id:
            raise ValueError("champ « batch_id » : identifiant de remise vide")
        plan = self.fault_plan
        outcomes: list[OrderOutcome] = []
        # A timeout concerns the whole call (one remittance): either nothing of it is
        # recorded, or (timeout_after_commit) all of it is and only the answer is lost.
        # The exception is raised after COMMIT, so the counters survive it.
        with self._transaction() as db:
            timed_out = [o.key for o in orders if self._count_attempt(db, o.key, plan)]
            if not timed_out or plan.timeout_after_commit:
                outcomes = [self._order_one(db, o, batch_id, plan) for o in orders]
        if timed_out:
            what = "reçue, réponse perdue" if plan.timeout_after_commit else "non reçue"
            raise TreasuryUnavailable(
                f"délai dépassé (simulé) pour {', '.join(timed_out)} : remise {batch_id} {what}")
        return outcomes

    @staticmethod
    def _count_attempt(db: sqlite3.Connection, key: str, plan: FaultPlan) -> bool:
        """Count one attempt for `key`; True when the plan makes this one time out."""
        db.execute("INSERT INTO attempts (key, attempts) VALUES (?, 1) ON CONFLICT (key)"
                   " DO UPDATE SET attempts = attempts + 1", (key,))
        served = db.execute("SELECT timeouts_served FROM attempts WHERE key = ?",
                            (key,)).fetchone()[0]
        if served >= plan.timeouts.get(key, 0):
            return False
        db.execute("UPDATE attempts SET timeouts_served = timeouts_served + 1 WHERE key = ?",
                   (key,))
        return True

    def _order_one(self, db: sqlite3.Connection, o: PaymentOrder, batch_id: str,
                   plan: FaultPlan) -> OrderOutcome:
        row = db.execute("SELECT status, reason, reference FROM orders WHERE key = ?",
                         (o.key,)).fetchone()
        if row is not None and row[0] in ("accepted", "paid"):
            # Already ordered: answer as the first time, pay nothing.
            db.execute("UPDATE orders SET duplicate_attempts = duplicate_attempts + 1,"
                       " last_batch = ? WHERE key = ?", (batch_id, o.key))
            return OrderOutcome(o.key, row[0], row[1], row[2])
        reason = plan.reject.get(o.key) or plan.reject_iban.get(o.iban)
        status: OrderStatus = "rejected" if reason else "accepted"
        values = (str(o.amount), o.currency, o.iban, o.creditor_name, status, reason, batch_id)
        if row is None:
            cur = db.execute(
                "INSERT INTO orders (amount, currency, iban, creditor_name, status, reason,"
                " first_batch, last_batch, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values + (batch_id, o.key))
            rowid = cur.lastrowid
        else:  # a rejected key ordered again (e.g. with a corrected IBAN)
            db.execute(
                "UPDATE orders SET amount = ?, currency = ?, iban = ?, creditor_name = ?,"
                " status = ?, reason = ?, last_batch = ? WHERE key = ?", values + (o.key,))
            rowid = db.execute("SELECT rowid FROM orders WHERE key = ?", (o.key,)).fetchone()[0]
        reference = f"SIM-{rowid:08d}"
        counter = "times_rejected" if reason else "times_ordered"
        db.execute(f"UPDATE orders SET reference = ?, {counter} = {counter} + 1 WHERE key = ?",
                   (reference, o.key))
        return OrderOutcome(o.key, status, reason, reference)

    def lookup(self, key: str) -> OrderOutcome | None:
        with self._transaction() as db:
            row = db.execute("SELECT status, reason, reference FROM orders WHERE key = ?",
                             (key,)).fetchone()
        return None if row is None else OrderOutcome(key, row[0], row[1], row[2])

    def settle(self, *keys: str) -> int:
        """The bank executes accepted orders ("accepted" -> "paid"); all when no key given.

        Returns how many orders became paid.
        """
        with self._transaction() as db:
            if keys:
                marks = ", ".join("?" for _ in keys)
                cur = db.execute(f"UPDATE orders SET status = 'paid' WHERE status = 'accepted'"
                                 f" AND key IN ({marks})", keys)
            else:
                cur = db.execute("UPDATE orders SET status = 'paid' WHERE status = 'accepted'")
            return cur.rowcount

    # ---- what tests check: nothing paid twice

    def _value(self, sql: str, key: str) -> int:
        with self._transaction() as db:
            row = db.execute(sql, (key,)).fetchone()
        return 0 if row is None else int(row[0])

    def orders_for(self, key: str) -> int:
        """How many times `key` was accepted for payment (must stay 0 or 1)."""
        return self._value("SELECT times_ordered FROM orders WHERE key = ?", key)

    def attempts_for(self, key: str) -> int:
        """How many times `key` was sent to the bank, timeouts and duplicates included."""
        return self._value("SELECT attempts FROM attempts WHERE key = ?", key)

    def duplicate_attempts_for(self, key: str) -> int:
        """How many times an already accepted `key` was ordered again (and not paid)."""
        return self._value("SELECT duplicate_attempts FROM orders WHERE key = ?", key)

    def total_paid(self) -> Decimal:
        """Sum of the amounts accepted or paid: money that left (or will leave) the account."""
        with self._transaction() as db:
            rows = db.execute("SELECT amount FROM orders WHERE status IN ('accepted', 'paid')"
                              ).fetchall()
        return sum((Decimal(a) for (a,) in rows), Decimal("0.00"))


# =========================================================================== SEPA files

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
        self.debtor_iban = _compact_iban(debtor_iban, "debtor_iban")
        self.debtor_bic = None if debtor_bic is None else _checked_bic(debtor_bic, "debtor_bic")
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
                "amount": _cents(o.amount),
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


def _cents(amount: Decimal) -> int:
    """Exact cents (sepaxml takes integers); PaymentOrder guarantees two decimals."""
    try:
        return int((amount * 100).to_integral_exact())
    except InvalidOperation as exc:  # pragma: no cover - excluded by PaymentOrder
        raise ValueError(f"montant invalide : {amount}") from exc
