"""Kinds of grant, refund clauses, the settlement at closure, the CRF's gaps, conditions."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from domain.errors import RuleViolation
from domain.grant_end import (
    Condition,
    EndFigures,
    Gap,
    GrantKind,
    RefundClause,
    check_condition,
    condition_text,
    check_grant_end,
    clause_of,
    entitlement,
    financial_report_due_on,
    financial_report_owed_by_default,
    reports_asked,
    settle,
)
from domain.lifecycle import GrantFacts, check_payment_allowed

E = Decimal


def test_defaults_by_kind_are_never_everything_paid():
    assert clause_of(GrantKind.FONCTIONNEMENT, None, "refund") is RefundClause.RELIQUAT
    assert clause_of(GrantKind.PROJET, None, "refund") is RefundClause.RELIQUAT
    assert clause_of(GrantKind.REDISTRIBUTION, None, "refund") is RefundClause.NON_REDISTRIBUE
    assert clause_of(GrantKind.REDISTRIBUTION, None, "keep") is RefundClause.AUCUN
    assert clause_of(GrantKind.FONCTIONNEMENT, RefundClause.PRORATA, "keep") is RefundClause.PRORATA
    assert [financial_report_owed_by_default(k) for k in GrantKind] == [True, True, False]


def test_combinations_refused():
    with pytest.raises(RuleViolation, match="affectée"):
        check_grant_end(GrantKind.PROJET, RefundClause.AUCUN, False)
    with pytest.raises(RuleViolation, match="compte rendu financier"):
        check_grant_end(GrantKind.FONCTIONNEMENT, RefundClause.RELIQUAT, False)
    check_grant_end(GrantKind.FONCTIONNEMENT, RefundClause.AUCUN, False)


def test_entitlement_by_clause():
    # 11,000.00 granted; the CRF: 10,400.00 eligible, charges 40,000.00 budgeted, 30,000.00 actual.
    figures = EndFigures(amount=E("11000.00"), eligible_spending=E("10400.00"), budgeted_cost=E("40000.00"),
                         actual_cost=E("30000.00"), redistributed=E("2500.00"))
    assert entitlement(RefundClause.RELIQUAT, figures) == E("10400.00")
    assert entitlement(RefundClause.PRORATA, figures) == E("8250.00")  # 11,000 x 30,000 / 40,000
    assert entitlement(RefundClause.AUCUN, figures) == E("11000.00")
    assert entitlement(RefundClause.NON_REDISTRIBUE, figures) == E("2500.00")
    over = EndFigures(amount=E("11000.00"), eligible_spending=E("12000.00"), budgeted_cost=E("3.00"),
                      actual_cost=E("4.00"))
    assert entitlement(RefundClause.RELIQUAT, over) == E("11000.00")
    assert entitlement(RefundClause.PRORATA, over) == E("11000.00")  # min(1, actual / budgeted)
    # A third of 100.00 rounds to the cent.
    third = EndFigures(amount=E("100.00"), budgeted_cost=E("3.00"), actual_cost=E("1.00"))
    assert entitlement(RefundClause.PRORATA, third) == E("33.33")
    with pytest.raises(RuleViolation, match="pas encore contrôlé"):
        entitlement(RefundClause.RELIQUAT, EndFigures(amount=E("11000.00")))


def test_innosprint_settles_to_its_refund():
    # Seed 002: 35,000.00 paid, 31,250.50 redistributed: 3,749.50 claimed back.
    figures = EndFigures(amount=E("35000.00"), redistributed=E("31250.50"))
    settlement = settle(entitlement(RefundClause.NON_REDISTRIBUE, figures), E("35000.00"), [])
    assert (settlement.claim_back, settlement.owed, settlement.adjustments) == (E("3749.50"), E("0.00"), ())


def test_settle_reduces_then_cancels_instalments_not_yet_paid():
    # 30,000.00 in three instalments of 10,000.00, the first paid; entitled to 24,000.00.
    settlement = settle(E("24000.00"), E("10000.00"), [(2, E("10000.00")), (3, E("10000.00"))])
    assert settlement.owed == E("14000.00") and settlement.claim_back == E("0.00")
    [reduced] = settlement.adjustments
    assert (reduced.number, reduced.before, reduced.after, reduced.cancelled) == (3, E("10000.00"), E("4000.00"),
                                                                                 False)
    # Entitled to less than paid: everything left is cancelled and the excess claimed back.
    settlement = settle(E("4000.00"), E("10000.00"), [(2, E("10000.00"))])
    assert settlement.claim_back == E("6000.00")
    assert [(a.number, a.cancelled) for a in settlement.adjustments] == [(2, True)]


def test_financial_report_gaps_and_due_date():
    charges = Gap(E("40000.00"), E("38000.00"))
    assert (charges.euros, charges.percent) == (E("-2000.00"), E("-5.0"))
    assert charges.describe("charges") == ("charges : prévu 40 000,00 EUR, réalisé 38 000,00 EUR, écart "
                                           "-2 000,00 EUR (-5,0 %)")
    assert Gap(E("0.00"), E("10.00")).percent is None
    # Exercise 2019 by default for a convention starting 04/02/2019: 30/06/2020.
    assert financial_report_due_on(None, dt.date(2019, 2, 4)) == dt.date(2020, 6, 30)
    assert financial_report_due_on(dt.date(2020, 3, 31), dt.date(2019, 2, 4)) == dt.date(2020, 9, 30)


def test_conditions():
    assert reports_asked(12, 2) == 6 and reports_asked(12, 5) == 3 and reports_asked(12, None) == 0
    check_condition(Condition.RAPPORT, 3, reports=6, financial_report_owed=True, field="payments[1]")
    with pytest.raises(RuleViolation) as refused:
        check_condition(Condition.RAPPORT, 7, reports=6, financial_report_owed=True, field="payments[1]")
    assert (refused.value.field, refused.value.value) == ("payments[1].number", 7)
    with pytest.raises(RuleViolation, match="n'en doit pas"):
        check_condition(Condition.COMPTE_RENDU_FINANCIER, None, reports=0, financial_report_owed=False,
                        field="payments[1]")
    with pytest.raises(RuleViolation, match="on: rapport"):
        check_condition(Condition.SIGNATURE, 1, reports=6, financial_report_owed=True, field="payments[0]")
    # A multi-year convention's solde waits for one year's compte rendu financier.
    check_condition(Condition.COMPTE_RENDU_FINANCIER, 3, reports=0, financial_report_owed=True, field="instalments[1]",
                    financial_reports=3)
    with pytest.raises(RuleViolation, match="n°1 à 3") as refused:
        check_condition(Condition.COMPTE_RENDU_FINANCIER, 4, reports=0, financial_report_owed=True,
                        field="instalments[1]", financial_reports=3)
    assert (refused.value.field, refused.value.value) == ("instalments[1].number", 4)
    with pytest.raises(RuleViolation, match="qu'un compte rendu financier"):
        check_condition(Condition.COMPTE_RENDU_FINANCIER, 2, reports=0, financial_report_owed=True,
                        field="payments[1]")
    assert condition_text(Condition.COMPTE_RENDU_FINANCIER, 2, awaited=True) == \
        "du compte rendu financier n°2 approuvé par la collectivité"


def test_no_payment_on_a_closed_grant_or_with_a_titre_outstanding():
    open_ = dict(today=dt.date(2020, 3, 2), executoire_on=dt.date(2019, 2, 4), convention_required=False)
    check_payment_allowed(GrantFacts(**open_))
    with pytest.raises(RuleViolation, match="titre de recette est en cours \\(6 000,00 EUR"):
        check_payment_allowed(GrantFacts(**open_, refund_outstanding=E("6000.00")))
    with pytest.raises(RuleViolation, match="subvention close"):
        check_payment_allowed(GrantFacts(**open_, closed=True))
