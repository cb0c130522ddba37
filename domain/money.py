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

# The forms a French user types, each read one way only (README, "Amounts"):
#   "45800", "45800.00", "45800,5", "45 800,00", "45 800 €", "45 800 EUR", "45.800,00 euros",
#   "1.234.567" (dots or spaces grouping thousands, a comma or a dot before the cents).
# Groups of thousands are exactly three digits. A single dot or comma followed by exactly
# three digits ("45.800", "45,800") is refused: it is 45 800 grouped or 45.8 with three
# decimals, and the wrong reading pays a thousand times too much or too little.
_SPACES = "[ \u00a0\u202f\u2009]"
_CURRENCY = re.compile(rf"{_SPACES}*(?:€|eur|euros?)$", re.IGNORECASE)
_PLAIN = re.compile(r"^(?P<int>\d+)(?:[.,](?P<frac>\d+))?$")
_GROUPED = re.compile(
    rf"^(?P<int>\d{{1,3}}(?:(?P<sep>{_SPACES}|\.)\d{{3}})(?:(?P=sep)\d{{3}})*)(?:[.,](?P<frac>\d+))?$"
)
_AMBIGUOUS = re.compile(r"^(?P<int>\d{1,3})[.,](?P<frac>\d{3})$")
_GROUP_SPACES = str.maketrans("", "", " .\u00a0\u202f\u2009")


def _read_text(value: str, field: str) -> Decimal:
    text = _CURRENCY.sub("", value.strip()).strip()
    ambiguous = _AMBIGUOUS.match(text)
    if ambiguous:
        grouped = Decimal(ambiguous["int"] + ambiguous["frac"])
        decimal = Decimal(f"{ambiguous['int']}.{ambiguous['frac']}")
        # _AMBIGUOUS reads exactly three decimals.
        as_decimal = format_amount_fr(decimal) if decimal == decimal.quantize(CENT) else f"{digits_fr(decimal, 3)} EUR"
        raise RuleViolation(
            field, value,
            f"montant ambigu : {format_amount_fr(grouped)} (séparateur de milliers) ou {as_decimal} "
            "(séparateur décimal) ? Écrire les milliers avec une espace (ex. « 45 800 ») et les "
            "centimes avec deux chiffres (ex. « 45,80 »)",
        )
    sign = ""
    if text[:1] in ("+", "-"):
        sign, text = text[0], text[1:]
    match = _PLAIN.match(text)
    if match is None:
        grouped = _GROUPED.match(text)
        # A dot cannot both group thousands and mark the cents: "1.234.5" is refused.
        if grouped is not None and not (grouped["sep"] == "." and "." in text[len(grouped["int"]):]):
            match = grouped
    if match is None:
        raise RuleViolation(
            field, value,
            "montant illisible : un nombre en euros est attendu (ex. 45800, 45800.00, 45 800,00, 45 800 €)",
        )
    if match["frac"] is not None and len(match["frac"]) > 2:
        raise RuleViolation(field, value, "montant refusé : au plus 2 décimales (les paiements se font au centime)")
    integer = match["int"].translate(_GROUP_SPACES)
    return Decimal(f"{sign}{integer}.{match['frac'] or '0'}")


# The largest amount a SEPA credit transfer carries (11 digits, 2 of them decimals).
SEPA_MAX = Decimal("999999999.99")


def parse_amount(value: str | int | Decimal, field: str = "amount") -> Decimal:
    """The amount as a Decimal quantized to the cent; refuses float, negative, sub-cent, ambiguous."""
    # bool is an int subclass: True would silently become 1.00 EUR.
    if isinstance(value, (float, bool)) or not isinstance(value, (str, int, Decimal)):
        raise RuleViolation(
            field,
            value,
            "montant refusé : donner un texte, un entier ou un Decimal, jamais un nombre à "
            "virgule flottante (arrondis binaires ; montants au centime exact)",
        )
    number = _read_text(value, field) if isinstance(value, str) else Decimal(value)
    if not number.is_finite():
        raise RuleViolation(field, value, "montant illisible : un nombre fini en euros est attendu")
    if number < 0:
        raise RuleViolation(field, value, "montant négatif refusé : un montant versé ou dû est positif ou nul")
    if number > SEPA_MAX:
        raise RuleViolation(field, value, "montant supérieur au plafond d'un virement SEPA (999 999 999,99 EUR, "
                                          "règlement SEPA du Conseil européen des paiements) : aucune banque ne "
                                          "peut le payer")
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
    return digits_fr(_whole_cents(amount, "amount")) + " EUR"


def digits_fr(number: Decimal, places: int = 2) -> str:
    """The one French spelling of a number (amounts in messages, mails, evaluations): thousands
    grouped by spaces, a comma before `places` decimals: 35000.5 -> "35 000,50"."""
    text = f"{number:,.{places}f}"  # "35,000.50"
    return text.replace(",", " ").replace(".", ",")


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
