"""Amounts of money: Decimal euros to the cent, never float.

Floats cannot hold 0.10 exactly, so a grant of 35,000.00 split into instalments could
stop adding up to the cent; every amount entering the domain goes through `parse_amount`.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from domain.errors import RuleViolation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# Accepts "35000", "35000.5", "35 000,50" (French staff type a comma and group digits
# with spaces, including the non-breaking ones office software inserts).
_AMOUNT_TEXT = re.compile(r"^(?P<sign>[-+]?)(?P<int>\d+)(?:[.,](?P<frac>\d+))?$")
_GROUP_SPACES = str.maketrans("", "", " \u00a0\u202f\u2009")


def parse_amount(value: str | int | Decimal, field: str = "amount") -> Decimal:
    """The amount as a Decimal quantized to the cent; refuses float, negative, sub-cent."""
    # bool is an int subclass: True would silently become 1.00 EUR.
    if isinstance(value, (float, bool)) or not isinstance(value, (str, int, Decimal)):
        raise RuleViolation(
            field,
            value,
            "montant refusé : donner un texte, un entier ou un Decimal, jamais un nombre à "
            "virgule flottante (arrondis binaires ; montants au centime exact)",
        )
    if isinstance(value, str):
        text = value.strip().translate(_GROUP_SPACES)
        match = _AMOUNT_TEXT.match(text)
        if not match:
            raise RuleViolation(field, value, "montant illisible : un nombre en euros est attendu (ex. 35000.00)")
        number = Decimal(f"{match['sign']}{match['int']}.{match['frac'] or '0'}")
    else:
        number = Decimal(value)
    if not number.is_finite():
        raise RuleViolation(field, value, "montant illisible : un nombre fini en euros est attendu")
    if number < 0:
        raise RuleViolation(field, value, "montant négatif refusé : un montant versé ou dû est positif ou nul")
    try:
        cents = number.quantize(CENT)
    except InvalidOperation:
        raise RuleViolation(field, value, "montant hors limites") from None
    if cents != number:
        raise RuleViolation(
            field, value, "montant refusé : au plus 2 décimales (les paiements se font au centime)"
        )
    # -0 and 0 are the same amount; keep one spelling.
    return cents if cents else ZERO


def _require_decimal(amount: object, field: str) -> Decimal:
    if not isinstance(amount, Decimal) or isinstance(amount, bool):
        raise RuleViolation(field, amount, "montant attendu en Decimal (jamais float)")
    if not amount.is_finite():
        raise RuleViolation(field, amount, "montant illisible : un nombre fini est attendu")
    return amount


def _whole_cents(amount: Decimal, field: str) -> Decimal:
    cents = _require_decimal(amount, field).quantize(CENT)
    if cents != amount:
        raise RuleViolation(field, amount, "montant refusé : au plus 2 décimales (centime)")
    return cents


def format_amount(amount: Decimal) -> str:
    """Machine form with two decimals: Decimal("35000") -> "35000.00"."""
    return f"{_whole_cents(amount, 'amount'):f}"


def format_amount_fr(amount: Decimal) -> str:
    """French form for messages to staff: Decimal("35000") -> "35 000,00 EUR"."""
    text = f"{_whole_cents(amount, 'amount'):,.2f}"  # "35,000.00"
    return text.replace(",", " ").replace(".", ",") + " EUR"


def to_cents(amount: Decimal) -> int:
    """Integer cents for storage and bank files: Decimal("35000.00") -> 3500000."""
    return int(_whole_cents(amount, "amount").scaleb(2))


def from_cents(cents: int) -> Decimal:
    """Decimal euros from integer cents: 3500000 -> Decimal("35000.00")."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise RuleViolation("amount", cents, "un nombre entier de centimes est attendu")
    return Decimal(cents).scaleb(-2).quantize(CENT)


def check_instalments(amounts: list[Decimal], total: Decimal, field: str = "payments") -> None:
    """Instalments add up exactly to the grant (DOMAIN §4), each strictly positive."""
    if not amounts:
        raise RuleViolation(field, amounts, "au moins une échéance de paiement est requise")
    for index, amount in enumerate(amounts):
        item = f"{field}[{index}]"
        cents = _whole_cents(amount, item)
        if cents <= 0:
            raise RuleViolation(item, amount, "une échéance doit être strictement positive")
    grant = _whole_cents(total, f"{field}.total")
    paid = sum(amounts, ZERO)
    if paid != grant:
        raise RuleViolation(
            field,
            [format_amount(a) for a in amounts],
            f"la somme des échéances ({format_amount_fr(paid)}) doit être égale au montant "
            f"de la subvention ({format_amount_fr(grant)}) : écart de "
            f"{format_amount_fr(abs(paid - grant))}",
        )
