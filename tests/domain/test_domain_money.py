"""Money: Decimal to the cent, never float; instalments add up to the grant."""
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import RuleViolation
from domain.money import (
    check_instalments,
    format_amount,
    format_amount_fr,
    from_cents,
    parse_amount,
    to_cents,
)

GRANT_002 = Decimal("35000.00")  # seed 002: "une somme de 35 000 €"


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [
        ("35000", "35000.00"),
        ("35000.00", "35000.00"),
        ("35 000,00", "35000.00"),  # as French staff type it
        ("35\u00a0000,5", "35000.50"),  # non-breaking space from office software
        (35000, "35000.00"),
        (Decimal("31250.5"), "31250.50"),
        (Decimal("12.340"), "12.34"),  # a trailing zero is not a third decimal
        ("0", "0.00"),
        (Decimal("-0"), "0.00"),
        # DOMAIN §9, the forms written in acts and typed by staff (README, "Amounts").
        ("45800", "45800.00"),
        ("45 800 €", "45800.00"),
        ("45 800,00 €", "45800.00"),
        ("45 800 EUR", "45800.00"),
        ("45.800,00 euros", "45800.00"),
        ("1.234.567", "1234567.00"),
        ("1 234 567,8", "1234567.80"),
        ("11000,00", "11000.00"),
    ],
)
def test_parse_amount_accepts_and_quantizes_to_the_cent(given_value, expected):
    amount = parse_amount(given_value)
    assert isinstance(amount, Decimal)
    assert str(amount) == expected


@pytest.mark.parametrize(
    "bad",
    [35000.0, 0.1, True, None, [1], "-1", Decimal("-0.01"), -5, "12.345", Decimal("0.001"), "abc", "", "  ",
     "NaN", Decimal("NaN"), Decimal("Infinity"), "1e3", "1,234.56", "1.234.5", "1,234,567", "3 5000", "45 80", "€45", "45800.500", "12.340"],
)
def test_parse_amount_refuses(bad):
    with pytest.raises(RuleViolation) as refused:
        parse_amount(bad, field="grant.amount")
    assert refused.value.field == "grant.amount"


def test_parse_amount_float_message_names_the_rule():
    with pytest.raises(RuleViolation, match="virgule flottante"):
        parse_amount(35000.0)


@pytest.mark.parametrize(("written", "grouped", "decimal"),
                         [("45.800", "45 800,00 EUR", "45,80 EUR"), ("45,800", "45 800,00 EUR", "45,80 EUR"),
                          ("12.345", "12 345,00 EUR", "12,345 EUR")])
def test_a_dot_or_comma_before_three_digits_is_refused_naming_both_readings(written, grouped, decimal):
    """Issue 11: "45.800 euros" in an act loaded silently as 45.80 EUR."""
    with pytest.raises(RuleViolation) as refused:
        parse_amount(written, field="grants[0].amount")
    message = str(refused.value)
    assert "ambigu" in message and grouped in message and decimal in message
    assert refused.value.field == "grants[0].amount" and refused.value.value == written


def test_negative_and_sub_cent_messages():
    with pytest.raises(RuleViolation, match="négatif"):
        parse_amount("-35000")
    with pytest.raises(RuleViolation, match="2 décimales"):
        parse_amount("3749.505")


def test_format_and_cents():
    assert format_amount(Decimal("35000")) == "35000.00"
    assert format_amount(Decimal("0.5")) == "0.50"
    assert format_amount_fr(Decimal("31250.5")) == "31 250,50 EUR"
    assert to_cents(Decimal("35000.00")) == 3_500_000
    assert to_cents(Decimal("3749.50")) == 374_950
    assert from_cents(374_950) == Decimal("3749.50")
    assert str(from_cents(1)) == "0.01"
    with pytest.raises(RuleViolation):
        to_cents(Decimal("0.015"))
    with pytest.raises(RuleViolation):
        from_cents(1.5)  # type: ignore[arg-type]


def test_seed_002_single_instalment_adds_up():
    check_instalments([Decimal("35000.00")], GRANT_002)
    check_instalments([Decimal("20000.00"), Decimal("15000.00")], GRANT_002)


def test_instalments_not_adding_up_name_both_sums():
    with pytest.raises(RuleViolation) as refused:
        check_instalments([Decimal("20000.00"), Decimal("14999.99")], GRANT_002)
    assert refused.value.field == "payments"
    assert "34 999,99 EUR" in refused.value.rule
    assert "35 000,00 EUR" in refused.value.rule


@pytest.mark.parametrize(
    ("amounts", "field"),
    [
        ([], "payments"),
        ([Decimal("35000.00"), Decimal("0.00")], "payments[1]"),
        ([Decimal("-5.00"), Decimal("35005.00")], "payments[0]"),
        ([Decimal("34999.995"), Decimal("0.005")], "payments[0]"),
    ],
)
def test_instalments_refused(amounts, field):
    with pytest.raises(RuleViolation) as refused:
        check_instalments(amounts, GRANT_002)
    assert refused.value.field == field


@settings(max_examples=60, deadline=None)
@given(
    total_cents=st.integers(min_value=1, max_value=10**10),
    cuts=st.lists(st.floats(min_value=0.01, max_value=0.99), max_size=5),  # only to choose split points
)
def test_any_split_into_positive_cents_adds_up(total_cents, cuts):
    points = sorted({int(total_cents * c) for c in cuts} - {0, total_cents})
    bounds = [0, *points, total_cents]
    parts = [from_cents(b - a) for a, b in zip(bounds, bounds[1:])]
    total = from_cents(total_cents)
    check_instalments(parts, total)
    # one cent more on the last instalment breaks the sum
    with pytest.raises(RuleViolation):
        check_instalments([*parts[:-1], parts[-1] + Decimal("0.01")], total)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=99_999_999_999))  # up to the SEPA ceiling, 999,999,999.99 EUR
def test_cents_round_trip(cents):
    assert to_cents(from_cents(cents)) == cents
    assert parse_amount(format_amount(from_cents(cents))) == from_cents(cents)


@pytest.mark.parametrize("value", ["1000000000.00", "999999999.991", 10**20, "1 000 000 000"])
def test_amounts_above_the_sepa_ceiling_are_refused(value):
    with pytest.raises(RuleViolation, match="plafond d'un virement SEPA|au plus 2 décimales"):
        parse_amount(value)
    assert parse_amount("999999999.99") == Decimal("999999999.99")
