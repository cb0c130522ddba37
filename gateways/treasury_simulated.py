"""The simulated treasury: the embedded default bank and the test bank.

Its memory is a SQLite file, so it survives a killed worker; a `FaultPlan` makes it time
out or reject on purpose, for the tests and the demonstrations.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateways.bank import OrderOutcome, OrderStatus, PaymentOrder, TreasuryUnavailable, compact_iban
from gateways.files import atomic_write

__all__ = ["FaultPlan", "SimulatedTreasury"]


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
            {compact_iban(k, "reject_iban"): v for k, v in ibans.items()}))

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

