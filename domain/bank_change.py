"""A change of an association's bank details ("changement de RIB"), the classic fraud
against public payers: never applied in silence, never on one person's word.

A changed IBAN, BIC or account holder is a fact of its own. Payments to the association
wait until a second operator (not the one who recorded it) confirms it, or until a
configurable delay has passed since it was announced to the association at its
previously known address and to the authority, which leaves them time to object.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from domain.errors import RuleViolation

BANK_FIELDS = ("iban", "bic", "holder")
FIELD_LABELS = {"iban": "IBAN", "bic": "BIC", "holder": "titulaire du compte"}


@dataclass(frozen=True)
class BankDetails:
    iban: str
    bic: str
    holder: str

    def differences(self, other: BankDetails) -> list[str]:
        """The fields that differ, in a fixed order."""
        return [name for name in BANK_FIELDS if getattr(self, name) != getattr(other, name)]


def applies_on(requested_on: dt.date, delay_days: int) -> dt.date:
    """The day an unconfirmed change takes effect by itself."""
    return requested_on + dt.timedelta(days=delay_days)


def check_second_operator(requested_by: str, confirmed_by: str) -> None:
    """The four-eyes rule: whoever recorded the change cannot confirm it."""
    if not confirmed_by.strip():
        raise RuleViolation("operator", confirmed_by, "nom de l'opérateur qui confirme le changement de RIB attendu")
    if confirmed_by.strip().casefold() == requested_by.strip().casefold():
        raise RuleViolation("operator", confirmed_by,
                            f"le changement de RIB a été enregistré par « {requested_by} » : il doit être confirmé "
                            "par un second opérateur (contrôle à quatre yeux contre la fraude au changement de RIB)")


def masked_iban(iban: str) -> str:
    """An IBAN as a mail shows it: country, key and the last four characters."""
    return f"{iban[:4]} **** {iban[-4:]}" if len(iban) > 8 else "****"
