"""Closure: what the association gives back, and the deadlines of the claim (DOMAIN §6).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.calendar import add_months
from domain.money import ZERO, parse_amount

# CGCT D1611-1: no titre de recette is issued for less than 15 EUR. Configurable.
TITRE_FLOOR = Decimal("15.00")

CONTEST_MONTHS = 2  # CGCT L1617-5: the debtor contests a titre within two months
PRESCRIPTION_YEARS = 5  # code civil art. 2224: five years from when the breach was known


def refund_due(paid: Decimal, eligible_spending: Decimal) -> Decimal:
    """Paid minus eligible spending, never negative: the association keeps no unspent
    money without a clause saying so (seed 002 art. 4.1). 35000.00 - 31250.50 = 3749.50."""
    money_paid = parse_amount(paid, field="refund.paid")
    spent = parse_amount(eligible_spending, field="refund.eligible_spending")
    # Spending above what was paid is the association's own money, not a debt of ours.
    return max(ZERO, money_paid - spent)


def titre_required(amount: Decimal, *, floor: Decimal = TITRE_FLOOR) -> bool:
    """A titre de recette is issued only from the floor up (15.00 yes, 14.99 no)."""
    return parse_amount(amount, field="refund.amount") >= parse_amount(floor, field="refund.floor")


def contest_deadline(issued_on: date) -> date:
    """Last day the debtor may contest the titre: 2 months (CGCT L1617-5)."""
    return add_months(issued_on, CONTEST_MONTHS)


def prescription_date(known_on: date) -> date:
    """Day the claim prescribes: 5 years after the breach became known (code civil 2224)."""
    return add_months(known_on, 12 * PRESCRIPTION_YEARS)
