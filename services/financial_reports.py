"""The compte rendu financier (Cerfa 15059) and its check by the authority.

One per financial year of the convention (number = the year's rank; a one-year convention
has n°1). Received: the charges and products of the action, budgeted and actual, with the
gaps in EUR and % (domain.grant_end.Gap) in the journal. Checked: the authority approves
it (or not) and says what spending it accepts as eligible; an instalment waiting for the
approved report falls due, and the closure (services.closure) may then be decided.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import FinancialReport, Grant, Refund
from domain import labels
from domain.calendar import format_date_fr
from domain.errors import RuleViolation
from domain.grant_end import Condition, Gap
from domain.lifecycle import Stage
from domain.money import format_amount_fr
from services import conditions, facts, grants, journal, multi_year, obligations

RECEIVING_STAGES = (Stage.ACTIVE.value, Stage.CLOSING.value)


def _report(session: Session, grant: Grant, number: int) -> FinancialReport | None:
    return session.scalars(sa.select(FinancialReport).where(
        FinancialReport.grant_id == grant.id, FinancialReport.number == number)).one_or_none()


def record_financial_report(session: Session, grant: Grant, fact: facts.FinancialReport, settings: Settings, *,
                            actor: str) -> FinancialReport:
    figures = (fact.charges_budgeted, fact.charges_actual, fact.products_budgeted, fact.products_actual)
    existing = _report(session, grant, fact.number)
    if existing is not None:
        if (existing.received_on, existing.charges_budgeted, existing.charges_actual, existing.products_budgeted,
                existing.products_actual) == (fact.on, *figures):
            return existing  # the same report recorded again (a retried run, a dossier reloaded)
        raise RuleViolation("number", fact.number, f"compte rendu financier n°{fact.number} déjà reçu le "
                                                   f"{format_date_fr(existing.received_on)} avec d'autres montants")
    if grant.stage not in RECEIVING_STAGES:
        raise RuleViolation("on", fact.on.isoformat(),
                            f"la subvention est à l'étape {labels.stages(grant.stage)} : le compte rendu financier se "
                            "reçoit une fois la convention commencée, avant la clôture (étapes "
                            f"{labels.stages(*RECEIVING_STAGES)})")
    multi_year.check_financial_report_number(session, grant, fact.number)
    for name, value in zip(("charges_budgeted", "charges_actual", "products_budgeted", "products_actual"), figures):
        if value < 0:
            raise RuleViolation(name, str(value), "montant du compte rendu financier positif ou nul attendu")
    report = FinancialReport(grant_id=grant.id, number=fact.number, received_on=fact.on,
                             charges_budgeted=fact.charges_budgeted, charges_actual=fact.charges_actual,
                             products_budgeted=fact.products_budgeted, products_actual=fact.products_actual)
    session.add(report)
    session.flush()
    charges, products = Gap(fact.charges_budgeted, fact.charges_actual), Gap(fact.products_budgeted,
                                                                            fact.products_actual)
    journal.append(session, grant, "financial_report", {
        "number": fact.number, "on": fact.on,
        "charges": {"budgeted": fact.charges_budgeted, "actual": fact.charges_actual, "gap": charges.euros,
                    "gap_percent": None if charges.percent is None else str(charges.percent)},
        "products": {"budgeted": fact.products_budgeted, "actual": fact.products_actual, "gap": products.euros,
                     "gap_percent": None if products.percent is None else str(products.percent)},
        "summary": f"{charges.describe('charges')} ; {products.describe('produits')}"}, actor=actor)
    obligations.fulfil(session, grant, "financial_report", fact.number, fact.on)
    return report


def record_check(session: Session, grant: Grant, fact: facts.FinancialReportChecked, settings: Settings, *,
                 actor: str) -> FinancialReport:
    report = _report(session, grant, fact.number)
    if report is None:
        raise RuleViolation("number", fact.number,
                            f"compte rendu financier n°{fact.number} pas encore reçu : il se contrôle après réception")
    if report.checked_on is not None:
        if (report.checked_on, report.approved, report.eligible_spending) == (fact.on, fact.approved,
                                                                             fact.eligible_spending):
            return report
        raise RuleViolation("on", fact.on.isoformat(), f"compte rendu financier n°{fact.number} déjà contrôlé le "
                                                       f"{format_date_fr(report.checked_on)}")
    if fact.on < report.received_on:
        raise RuleViolation("on", fact.on.isoformat(),
                            f"contrôle antérieur à la réception du compte rendu ({format_date_fr(report.received_on)})")
    if fact.eligible_spending < 0:
        raise RuleViolation("eligible_spending", str(fact.eligible_spending), "dépenses éligibles positives attendues")
    if session.scalars(sa.select(Refund.id).where(Refund.grant_id == grant.id)).first() is not None:
        raise RuleViolation("on", fact.on.isoformat(), "la clôture est déjà calculée : un contrôle tardif relève "
                                                       "d'un titre rectificatif")
    report.checked_on, report.approved, report.eligible_spending = fact.on, fact.approved, fact.eligible_spending
    journal.append(session, grant, "financial_report_checked", {
        "number": fact.number, "on": fact.on, "approved": fact.approved,
        "eligible_spending": fact.eligible_spending,
        "summary": (f"compte rendu financier n°{fact.number} {'approuvé' if fact.approved else 'non approuvé'}, "
                    f"dépenses éligibles retenues : {format_amount_fr(fact.eligible_spending)}")}, actor=actor)
    if fact.approved:
        conditions.release(session, grant, Condition.COMPTE_RENDU_FINANCIER, fact.on, settings, actor=actor,
                           number=fact.number)
    grants.advance(session, grant, fact.on, actor=actor)
    return report


def checked(session: Session, grant: Grant) -> FinancialReport | None:
    """The checked report the closure decides on (the last year's, under a multi-year convention)."""
    return session.scalars(sa.select(FinancialReport).where(
        FinancialReport.grant_id == grant.id, FinancialReport.checked_on.is_not(None))
        .order_by(FinancialReport.number.desc()).limit(1)).one_or_none()
