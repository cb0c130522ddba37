"""Seed 002's five indicators and how an achieved value compares with its target."""
from decimal import Decimal

import pytest

from domain.errors import RuleViolation
from domain.indicators import INDICATORS, INNOSPRINT_TARGETS, Target, assess


def test_the_five_seed_indicators_and_labels():
    assert INDICATORS == {
        "projects_supported": "projets accompagnés",
        "funding_raised_eur": "investissements captés (EUR)",
        "companies_created": "entreprises créées",
        "young_graduates_hired": "alternants ou jeunes diplômés embauchés",
        "sessions_held": "sessions Innosprint",
    }
    assert set(INNOSPRINT_TARGETS) == set(INDICATORS)
    # seed 002 art. 3: "entre 12 et 20 projets", "au moins 200 k€"
    assert INNOSPRINT_TARGETS["projects_supported"] == Target(Decimal(12), Decimal(20))
    assert INNOSPRINT_TARGETS["funding_raised_eur"] == Target(Decimal(200000), None)


@pytest.mark.parametrize(
    ("indicator", "achieved", "target", "expected"),
    [
        ("projects_supported", Decimal(15), Target(Decimal(12), Decimal(20)), ("atteint", Decimal(0))),
        ("projects_supported", Decimal(12), Target(Decimal(12), Decimal(20)), ("atteint", Decimal(0))),
        ("projects_supported", Decimal(20), Target(Decimal(12), Decimal(20)), ("atteint", Decimal(0))),
        ("projects_supported", Decimal(10), Target(Decimal(12), Decimal(20)), ("en dessous", Decimal(2))),
        ("projects_supported", Decimal(23), Target(Decimal(12), Decimal(20)), ("au-dessus", Decimal(3))),
        ("funding_raised_eur", Decimal("150000.50"), Target(Decimal(200000), None), ("en dessous", Decimal("49999.50"))),
        ("funding_raised_eur", Decimal(350000), Target(Decimal(200000), None), ("atteint", Decimal(0))),
        ("companies_created", 2, Target(Decimal(2), None), ("atteint", Decimal(0))),
        ("sessions_held", Decimal(4), Target(Decimal(5), None), ("en dessous", Decimal(1))),
    ],
)
def test_assess(indicator, achieved, target, expected):
    assert assess(indicator, achieved, target) == expected


@pytest.mark.parametrize("bad_target", [(None, None), (Decimal(20), Decimal(12)), (12.0, None)])
def test_invalid_targets(bad_target):
    with pytest.raises(RuleViolation):
        Target(*bad_target)


@pytest.mark.parametrize("bad", [15.0, Decimal(-1), Decimal("NaN"), "15"])
def test_invalid_achieved(bad):
    with pytest.raises(RuleViolation) as refused:
        assess("projects_supported", bad, Target(Decimal(12), Decimal(20)))
    assert refused.value.field == "indicators.projects_supported"
