"""The grant convention: when it is compulsory, how long it runs, when payment is due.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from domain.calendar import add_days, add_months
from domain.errors import RuleViolation
from domain.money import format_amount_fr, parse_amount

# Loi 2000-321 art. 10 and décret 2001-495 art. 1: a convention is compulsory above
# 23,000 EUR a year from one authority to one beneficiary. Configurable (DOMAIN §3).
CONVENTION_THRESHOLD = Decimal("23000.00")

# Code de commerce L612-4 and décret 2009-540: an association receiving more than 153,000 EUR
# of subsidies a year from public bodies must publish certified accounts.
CERTIFIED_ACCOUNTS_THRESHOLD = Decimal("153000.00")

# Loi 2000-321 art. 10 as amended by loi 2021-875: payment within 60 days of the
# notification of the decision or of the trigger the convention sets. Configurable.
PAYMENT_DAYS = 60


def convention_required(annual_total: Decimal, *, threshold: Decimal = CONVENTION_THRESHOLD) -> bool:
    """True when the year's total to this beneficiary exceeds the threshold (strictly):
    exactly 23,000.00 needs none, 23,000.01 does."""
    total = parse_amount(annual_total, field="convention.annual_total")
    limit = parse_amount(threshold, field="convention.threshold")
    return total > limit


def yearly_total_message(total: Decimal, year: int, count: int, *, threshold: Decimal) -> str:
    """Why a convention becomes compulsory for a grant that alone stays under the threshold."""
    return (f"convention obligatoire : {count} subvention(s) de la collectivité à cette association en {year} "
            f"pour {format_amount_fr(total)} au total, plus de {format_amount_fr(threshold)} par an "
            "(loi 2000-321 art. 10, décret 2001-495 art. 1)")


def certified_accounts_required(total_from_all: Decimal) -> bool:
    """More than 153,000 EUR of subsidies in a year from all public bodies (strictly)."""
    return parse_amount(total_from_all, field="subventions.total_annuel") > CERTIFIED_ACCOUNTS_THRESHOLD


def convention_period(start: date, months: int) -> tuple[date, date]:
    """(starts_on, ends_on) of a convention lasting `months` from `start`, both days
    included: one year from 12/12/2018 ends on 11/12/2019."""
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise RuleViolation("convention.months", months, "durée de convention invalide : au moins 1 mois")
    return start, add_months(start, months) - timedelta(days=1)


def payment_deadline(notified_on: date, convention_deadline: date | None, *, days: int = PAYMENT_DAYS) -> date:
    """Latest payment date: the convention's own deadline when it sets one (seed 002:
    "au plus tard en mai 2019" -> 31/05/2019), otherwise notification + 60 days
    (loi 2000-321 art. 10, loi 2021-875). Unshifted: the caller applies calendar.deadline."""
    if convention_deadline is not None:
        return convention_deadline
    if days < 0:
        raise RuleViolation("convention.payment_days", days, "délai de paiement invalide : nombre de jours positif")
    return add_days(notified_on, days)
