"""The grant convention: when it is compulsory, how long it runs, when payment is due.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from domain.calendar import add_days, add_months
from domain.errors import RuleViolation
from domain.money import parse_amount

# Loi 2000-321 art. 10 and décret 2001-495 art. 1: a convention is compulsory above
# 23,000 EUR a year from one authority to one beneficiary. Configurable (DOMAIN §3).
CONVENTION_THRESHOLD = Decimal("23000.00")

# Loi 2000-321 art. 10 as amended by loi 2021-875: payment within 60 days of the
# notification of the decision or of the trigger the convention sets. Configurable.
PAYMENT_DAYS = 60


def convention_required(annual_total: Decimal, *, threshold: Decimal = CONVENTION_THRESHOLD) -> bool:
    """True when the year's total to this beneficiary exceeds the threshold (strictly):
    exactly 23,000.00 needs none, 23,000.01 does."""
    total = parse_amount(annual_total, field="convention.annual_total")
    limit = parse_amount(threshold, field="convention.threshold")
    return total > limit


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
