"""Kinds of grant and how a grant ends (DOMAIN.md §6 and §9; issue 11, item 3).

A grant is an operating grant (`fonctionnement`), an earmarked one for an action
(`projet`, "subvention affectée") or a fund redistributed to third parties
(`redistribution`, seed 002). Its convention's refund clause says what the association is
entitled to keep at the end, and so what is paid of the rest or claimed back:

    reliquat          min(amount, eligible spending of the checked compte rendu financier)
    prorata           amount x min(1, actual cost / budgeted cost), to the cent
    aucun             the whole amount (nothing is claimed back)
    non_redistribue   min(amount, what the disbursements ledger redistributed) (seed 002 art. 4.1)

The default is never "everything paid is claimed back".
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from domain.errors import RuleViolation
from domain.money import CENT, ZERO, format_amount_fr
from domain.obligations import financial_report_due
from domain.refund import refund_due

# Loi 2021-875 sets 60 days for paying after the decision or the trigger the convention names.
CONDITION_DAYS = 60


class GrantKind(StrEnum):
    FONCTIONNEMENT = "fonctionnement"
    PROJET = "projet"
    REDISTRIBUTION = "redistribution"


class RefundClause(StrEnum):
    RELIQUAT = "reliquat"
    PRORATA = "prorata"
    AUCUN = "aucun"
    NON_REDISTRIBUE = "non_redistribue"


class Condition(StrEnum):
    """The fact an instalment waits for, when it has no date."""

    SIGNATURE = "signature"
    COMPTE_RENDU_FINANCIER = "compte_rendu_financier"
    RAPPORT = "rapport"


DEFAULT_CLAUSE = {
    GrantKind.FONCTIONNEMENT: RefundClause.RELIQUAT,
    GrantKind.PROJET: RefundClause.RELIQUAT,
    GrantKind.REDISTRIBUTION: RefundClause.NON_REDISTRIBUE,
}

CLAUSE_TEXT = {
    RefundClause.RELIQUAT: "la part non utilisée (versé moins dépenses éligibles du compte rendu financier)",
    RefundClause.PRORATA: "le prorata du budget réalisé (montant x coût réel / coût prévu)",
    RefundClause.AUCUN: "rien n'est à reverser",
    RefundClause.NON_REDISTRIBUE: "ce qui n'a pas été redistribué aux porteurs de projets",
}
NEEDS_FINANCIAL_REPORT = (RefundClause.RELIQUAT, RefundClause.PRORATA)


def financial_report_owed_by_default(kind: GrantKind) -> bool:
    """The redistributed fund closes on its disbursements ledger; the others on their CRF."""
    return kind is not GrantKind.REDISTRIBUTION


def clause_of(kind: GrantKind, clause: RefundClause | None, unspent: str | None) -> RefundClause:
    """The dossier's clause; else its older `unspent` (keep: nothing back; refund: the
    unspent share as the kind measures it); else the kind's default."""
    if clause is not None:
        return clause
    if unspent == "keep":
        return RefundClause.AUCUN
    return DEFAULT_CLAUSE[kind]


def check_grant_end(kind: GrantKind, clause: RefundClause, financial_report_owed: bool) -> None:
    """The combinations the law or the arithmetic forbid, refused at load."""
    if kind is GrantKind.PROJET and not financial_report_owed:
        raise RuleViolation("financial_report", False,
                            "une subvention affectée (projet) doit un compte rendu financier "
                            "(loi 2000-321 art. 10, arrêté du 11 octobre 2006)")
    if clause in NEEDS_FINANCIAL_REPORT and not financial_report_owed:
        raise RuleViolation("refund_clause", clause.value,
                            f"la clause « {clause.value} » se calcule sur le compte rendu financier : "
                            "il doit être dû (financial_report: true) ou la clause être « aucun »")


def exercise_end(exercise: int | dt.date) -> dt.date:
    """The financed exercise's last day, from the dossier's year or date."""
    if isinstance(exercise, dt.date):
        return exercise
    if not 2000 <= exercise <= 2100:
        raise RuleViolation("exercise", exercise, "exercice financé : une année (ex. 2025) ou sa date de fin")
    return dt.date(exercise, 12, 31)


def financial_report_due_on(exercise_ends_on: dt.date | None, starts_on: dt.date) -> dt.date:
    """Cerfa 15059 within 6 months after the exercise (by default the calendar year in
    which the convention starts): 2025 -> 30/06/2026."""
    return financial_report_due(exercise_ends_on or exercise_end(starts_on.year))


# -- what the association is entitled to -------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class EndFigures:
    """What the closure looks at: the grant, the CRF as checked, the ledger."""

    amount: Decimal
    eligible_spending: Decimal | None = None  # from the checked CRF
    budgeted_cost: Decimal | None = None  # total charges of the CRF, budgeted and actual
    actual_cost: Decimal | None = None
    redistributed: Decimal = ZERO  # the disbursements ledger within the convention


def entitlement(clause: RefundClause, figures: EndFigures) -> Decimal:
    """What the association keeps in the end, never above the grant nor below zero."""
    amount = figures.amount
    if clause is RefundClause.AUCUN:
        return amount
    if clause is RefundClause.NON_REDISTRIBUE:
        return max(ZERO, min(amount, figures.redistributed))
    if clause is RefundClause.RELIQUAT:
        if figures.eligible_spending is None:
            raise RuleViolation("eligible_spending", None, "dépenses éligibles inconnues : compte rendu financier "
                                                           "pas encore contrôlé")
        return max(ZERO, min(amount, figures.eligible_spending))
    if figures.budgeted_cost is None or figures.actual_cost is None:
        raise RuleViolation("financial_report", None, "budget prévu et réalisé inconnus : compte rendu financier "
                                                      "pas encore reçu")
    if figures.budgeted_cost <= 0:
        raise RuleViolation("financial_report.charges_budgeted", str(figures.budgeted_cost),
                            "coût prévu de l'action nul : le prorata ne se calcule pas")
    share = min(Decimal(1), max(ZERO, figures.actual_cost) / figures.budgeted_cost)
    return (amount * share).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Adjustment:
    """An instalment not yet paid, set to what the association is still owed."""

    number: int
    before: Decimal
    after: Decimal  # ZERO: cancelled

    @property
    def cancelled(self) -> bool:
        return self.after == ZERO


@dataclass(frozen=True)
class Settlement:
    entitlement: Decimal
    paid: Decimal
    owed: Decimal  # still to pay to the association
    claim_back: Decimal  # overpaid: claimed back with a titre de recette
    adjustments: tuple[Adjustment, ...]


def settle(entitlement_: Decimal, paid: Decimal, unpaid: list[tuple[int, Decimal]]) -> Settlement:
    """At closure: the association is owed entitlement - paid; the instalments not yet paid
    (in order) are kept up to that, the one that crosses it reduced, the rest cancelled;
    what was paid beyond the entitlement is claimed back. 11,000 entitled, 5,500 paid, a
    solde of 5,500 planned and 9,000 of eligible spending: the solde becomes 3,500."""
    owed = max(ZERO, entitlement_ - paid)
    left = owed
    adjustments = []
    for number, amount in unpaid:
        keep = min(amount, left)
        left -= keep
        if keep != amount:
            adjustments.append(Adjustment(number, amount, keep))
    return Settlement(entitlement_, paid, owed, refund_due(paid, entitlement_), tuple(adjustments))


def adjustment_reason(adjustment: Adjustment, clause: RefundClause, settlement: Settlement) -> str:
    what = ("annulé" if adjustment.cancelled
            else f"réduit de {format_amount_fr(adjustment.before)} à {format_amount_fr(adjustment.after)}")
    return (f"versement n°{adjustment.number} {what} à la clôture : droits de l'association "
            f"{format_amount_fr(settlement.entitlement)} selon la clause « {clause.value} » "
            f"({CLAUSE_TEXT[clause]}), déjà versé {format_amount_fr(settlement.paid)}, "
            f"reste dû {format_amount_fr(settlement.owed)}")


# -- compte rendu financier (Cerfa 15059) ------------------------------------------------

@dataclass(frozen=True)
class Gap:
    budgeted: Decimal
    actual: Decimal

    @property
    def euros(self) -> Decimal:
        return self.actual - self.budgeted

    @property
    def percent(self) -> Decimal | None:
        """Gap to the budget in %, one decimal; None when nothing was budgeted."""
        if self.budgeted == 0:
            return None
        return (self.euros * 100 / self.budgeted).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    def describe(self, what: str) -> str:
        percent = "" if self.percent is None else f" ({self.percent:+} %)".replace(".", ",")
        return (f"{what} : prévu {format_amount_fr(self.budgeted)}, réalisé {format_amount_fr(self.actual)}, "
                f"écart {'+' if self.euros >= 0 else '-'}{format_amount_fr(abs(self.euros))}{percent}")


# -- conditional instalments -------------------------------------------------------------

def reports_asked(duration_months: int, every_months: int | None) -> int:
    """How many reports the convention asks: one per period, the short last one included."""
    if not every_months:
        return 0
    return -(-duration_months // every_months)


def check_condition(condition: Condition, number: int | None, *, reports: int, financial_report_owed: bool,
                    field: str, financial_reports: int = 1) -> None:
    """An instalment's condition, checked against what the convention asks: the report
    answered (its number among the `reports` asked), or the compte rendu financier approved
    (for a multi-year convention, that of one of its `financial_reports` years)."""
    if condition is Condition.RAPPORT:
        if number is None or number < 1 or number > reports:
            asked = f"les comptes rendus n°1 à {reports}" if reports else "aucun compte rendu"
            raise RuleViolation(f"{field}.number", number,
                                f"versement « après le compte rendu n° » : numéro attendu parmi {asked} "
                                "que demande la convention")
        return
    if condition is Condition.COMPTE_RENDU_FINANCIER:
        if not financial_report_owed:
            raise RuleViolation(f"{field}.on", condition.value, "solde sur compte rendu financier : la subvention "
                                                                "n'en doit pas (financial_report: false)")
        if number is not None and not 1 <= number <= financial_reports:
            raise RuleViolation(f"{field}.number", number,
                                f"compte rendu financier attendu : n°1 à {financial_reports} (un par année de la "
                                "convention)" if financial_reports > 1 else
                                "la convention ne demande qu'un compte rendu financier (n°1)")
        return
    if number is not None:
        raise RuleViolation(f"{field}.number", number,
                            "un numéro ne se donne qu'avec « on: rapport » (le compte rendu attendu) ou "
                            "« on: compte_rendu_financier » (l'année de la convention)")


def awaited_number(condition: Condition, number: int | None, *, multi_year: bool, year: int = 1) -> int | None:
    """The report, or the year's compte rendu financier, an instalment waits for: in a
    multi-year convention a solde on the compte rendu financier that names none waits for
    that of the `year` it belongs to (another year's does not release it)."""
    if number is None and condition is Condition.COMPTE_RENDU_FINANCIER and multi_year:
        return year
    return number


def condition_text(condition: Condition, number: int | None, *, awaited: bool = False) -> str:
    """The fact an instalment waits for, in French; `awaited`: after "en attente"."""
    text = {
        Condition.SIGNATURE: "la signature de la convention par les deux parties",
        Condition.COMPTE_RENDU_FINANCIER: ("le compte rendu financier approuvé par la collectivité" if number is None
                                           else f"le compte rendu financier n°{number} approuvé par la collectivité"),
        Condition.RAPPORT: f"la réponse de la collectivité au compte rendu n°{number}",
    }[condition]
    if not awaited:
        return text
    return "du " + text.removeprefix("le ") if text.startswith("le ") else "de " + text
