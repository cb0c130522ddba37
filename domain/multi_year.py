"""Multi-year conventions: the convention pluriannuelle d'objectifs (CPO, circulaire du
29 septembre 2015), 2 to 4 financial years.

The first year is voted by the act that adopts the convention; each following year's amount
by its own act (an annual deliberation) or by an avenant that leaves the end date as it is.
Each year owes its own compte rendu financier (number = the year's rank), 6 months after
that exercise. At closure the association's entitlement is computed year by year, each
year's tranche against its own checked compte rendu financier, and summed: an unspent
share of year 2 is claimed back even when year 3 spent more than its tranche.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain.errors import RuleViolation
from domain.grant_end import EndFigures, RefundClause, entitlement

MIN_YEARS, MAX_YEARS = 2, 4


def check_years(years: int) -> None:
    if not MIN_YEARS <= years <= MAX_YEARS:
        raise RuleViolation("convention.years", years,
                            f"une convention pluriannuelle d'objectifs court sur {MIN_YEARS} à {MAX_YEARS} ans "
                            "(circulaire du 29 septembre 2015)")


def year_rank(first_exercise: int, years: int, exercise: int) -> int:
    """The rank (2, 3...) of a year voted after the first; refused outside the convention."""
    last = first_exercise + years - 1
    if exercise == first_exercise:
        raise RuleViolation("exercise", exercise, f"l'exercice {exercise} est la première année de la convention, "
                                                  "votée par l'acte qui l'adopte")
    if not first_exercise < exercise <= last:
        raise RuleViolation("exercise", exercise, f"exercice hors des années de la convention pluriannuelle "
                                                  f"({first_exercise} à {last})")
    return exercise - first_exercise + 1


@dataclass(frozen=True, kw_only=True)
class YearFigures:
    number: int
    exercise: int
    amount: Decimal
    eligible_spending: Decimal | None  # from that year's checked compte rendu financier
    budgeted_cost: Decimal | None
    actual_cost: Decimal | None


def year_entitlement(clause: RefundClause, year: YearFigures) -> Decimal:
    """What the association keeps of one year's tranche, by the convention's clause."""
    return entitlement(clause, EndFigures(amount=year.amount, eligible_spending=year.eligible_spending,
                                          budgeted_cost=year.budgeted_cost, actual_cost=year.actual_cost))
