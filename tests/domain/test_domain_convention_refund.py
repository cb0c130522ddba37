"""Convention threshold, period, payment deadline; refund, titre floor, claim deadlines."""
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.convention import (
    CONVENTION_THRESHOLD,
    convention_period,
    convention_required,
    payment_deadline,
)
from domain.errors import RuleViolation
from domain.refund import (
    TITRE_FLOOR,
    contest_deadline,
    prescription_date,
    refund_due,
    titre_required,
)

EXECUTOIRE_002 = date(2018, 12, 12)


# -- convention -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("annual_total", "required"),
    [
        (Decimal("35000.00"), True),  # seed 002
        (Decimal("30000.00"), True),  # seed 000, per year
        (Decimal("23000.01"), True),
        (Decimal("23000.00"), False),  # "exceeds": exactly the threshold needs none
        (Decimal("22999.99"), False),
        (Decimal("0.00"), False),
    ],
)
def test_convention_required_strictly_above_23000(annual_total, required):
    assert CONVENTION_THRESHOLD == Decimal("23000.00")
    assert convention_required(annual_total) is required


def test_convention_threshold_is_configurable():
    assert convention_required(Decimal("35000.00"), threshold=Decimal("50000.00")) is False


def test_convention_required_refuses_float():
    with pytest.raises(RuleViolation):
        convention_required(35000.0)  # type: ignore[arg-type]


def test_convention_period_seed_002():
    # "une durée de 1 an à compter d'un rendu exécutoire"
    assert convention_period(EXECUTOIRE_002, 12) == (date(2018, 12, 12), date(2019, 12, 11))
    assert convention_period(date(2019, 8, 31), 6) == (date(2019, 8, 31), date(2020, 2, 28))
    assert convention_period(date(2019, 1, 1), 12) == (date(2019, 1, 1), date(2019, 12, 31))
    with pytest.raises(RuleViolation):
        convention_period(EXECUTOIRE_002, 0)


def test_payment_deadline():
    # seed 002: "au plus tard en Mai 2019"
    assert payment_deadline(EXECUTOIRE_002, date(2019, 5, 31)) == date(2019, 5, 31)
    # otherwise 60 days: 19 days left in December, 31 in January, 10 in February
    assert payment_deadline(EXECUTOIRE_002, None) == date(2019, 2, 10)
    assert payment_deadline(EXECUTOIRE_002, None, days=30) == date(2019, 1, 11)


# -- refund ---------------------------------------------------------------------------

def test_refund_seed_002_figures():
    assert refund_due(Decimal("35000.00"), Decimal("31250.50")) == Decimal("3749.50")
    assert str(refund_due(Decimal("35000"), Decimal("31250.5"))) == "3749.50"
    assert refund_due(Decimal("35000.00"), Decimal("35000.00")) == Decimal("0.00")
    assert refund_due(Decimal("35000.00"), Decimal("40000.00")) == Decimal("0.00")


def test_refund_refuses_float_and_negative():
    with pytest.raises(RuleViolation) as refused:
        refund_due(35000.0, Decimal("1.00"))  # type: ignore[arg-type]
    assert refused.value.field == "refund.paid"
    with pytest.raises(RuleViolation) as refused:
        refund_due(Decimal("35000.00"), Decimal("-1.00"))
    assert refused.value.field == "refund.eligible_spending"


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_refund_never_negative_and_exact(paid_cents, spent_cents):
    paid = Decimal(paid_cents) / 100
    spent = Decimal(spent_cents) / 100
    due = refund_due(paid, spent)
    assert due >= 0
    assert due == (Decimal(max(0, paid_cents - spent_cents)) / 100)
    assert due <= paid


@pytest.mark.parametrize(
    ("amount", "required"),
    [(Decimal("10.00"), False), (Decimal("14.99"), False), (Decimal("15.00"), True),
     (Decimal("3749.50"), True), (Decimal("0.00"), False)],
)
def test_no_titre_below_15_eur(amount, required):
    assert TITRE_FLOOR == Decimal("15.00")
    assert titre_required(amount) is required


def test_titre_floor_configurable():
    assert titre_required(Decimal("10.00"), floor=Decimal("5.00")) is True


def test_claim_deadlines():
    assert contest_deadline(date(2020, 1, 15)) == date(2020, 3, 15)
    assert contest_deadline(date(2019, 12, 31)) == date(2020, 2, 29)
    assert prescription_date(date(2019, 12, 11)) == date(2024, 12, 11)
    assert prescription_date(date(2020, 2, 29)) == date(2025, 2, 28)
