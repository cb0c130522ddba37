"""Ordering payments: one small interface, two implementations.

A task claims an instalment in the database, then calls `order()` with the
instalment's idempotency key. The answer is recorded in the same database:

- an `OrderOutcome` per order: "accepted" (ordered), "paid" (settled) or "rejected"
  (final for this attempt: e.g. invalid bank details; a corrected order may follow);
- `TreasuryUnavailable`: nothing is known (timeout, unreachable): retry later. The
  bank may or may not have received the order, so before ordering again after a crash
  or a timeout, ask `lookup(key)`; a gateway never pays the same key twice anyway.

`SimulatedTreasury` (gateways.treasury_simulated) is the embedded default and the test
bank (its memory is a SQLite file, so it survives a killed worker); `SepaFileGateway`
(gateways.sepa_file) writes pain.001 credit-transfer files for the authority's bank or
treasury; gateways.wiring chooses one from the settings. Bank details and amounts are
checked by the domain's rules (domain.identifiers, domain.money), as everywhere else.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Protocol

from domain import identifiers, money

__all__ = [
    "PaymentOrder",
    "OrderOutcome",
    "OrderStatus",
    "TreasuryUnavailable",
    "BankGateway",
    "compact_iban",
    "checked_bic",
]

OrderStatus = Literal["accepted", "rejected", "paid"]

# SEPA EndToEndId: Max35Text in the restricted SEPA character set; EPC rules also forbid
# a leading or trailing "/" and "//". Spaces are allowed by the norm but are refused
# here: some banks trim them, and the key must come back exactly as it was sent.
_E2E_ID = re.compile(r"^[A-Za-z0-9/\-?:().,'+]{1,35}$")


def _check_key(key: str) -> None:
    if (not isinstance(key, str) or not _E2E_ID.fullmatch(key) or key.startswith("/")
            or key.endswith("/") or "//" in key):
        raise ValueError(
            f"champ « key » = {key!r} : clé d'idempotence invalide (1 à 35 caractères "
            "A-Z a-z 0-9 / - ? : ( ) . , ' +, sans / au début, à la fin ni doublé)"
        )



def compact_iban(value: str, name: str) -> str:
    """The IBAN as domain.identifiers checks it, compact; in any case (a bank file is upper-case)."""
    return identifiers.valid_iban(value.upper() if isinstance(value, str) else value, field=name)


def checked_bic(value: str, name: str) -> str:
    """The BIC as domain.identifiers checks it; in any case (a bank file is upper-case)."""
    return identifiers.valid_bic(value.upper() if isinstance(value, str) else value, field=name)


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
        money.to_cents(self.amount)  # finite and to the cent, or RuleViolation
        if not Decimal(0) < self.amount <= money.SEPA_MAX:
            raise ValueError(f"champ « amount » = {self.amount} : doit être positif "
                             f"et au plus {money.SEPA_MAX}")
        if self.currency != "EUR":
            raise ValueError(f"champ « currency » = {self.currency!r} : seul EUR est permis (SEPA)")
        if not self.creditor_name.strip():
            raise ValueError("champ « creditor_name » : nom du bénéficiaire vide")
        if len(self.remittance) > 140:
            raise ValueError(f"champ « remittance » : {len(self.remittance)} caractères, "
                             "140 au plus (SEPA)")
        if not isinstance(self.execution_date, date) or isinstance(self.execution_date, datetime):
            raise TypeError("champ « execution_date » : une date (sans heure) est attendue")
        object.__setattr__(self, "iban", compact_iban(self.iban, "iban"))
        if self.bic is not None:
            object.__setattr__(self, "bic", checked_bic(self.bic, "bic"))


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

