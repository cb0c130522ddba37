"""Multi-year conventions (CPO): each year after the first voted by its own act or by an
avenant that keeps the end date; its instalments and its compte rendu financier.

Recording a year (`record_tranche`), in one transaction with its journal event:
- the year is one of the convention's (after the first, which the adopting act votes),
  recorded once (the same year again with the same figures changes nothing);
- voted by an act: an act of the same authority, other than the convention's own, already
  exécutoire (its vote and its transmission recorded on the act); voted by an avenant:
  signed while the convention runs, numbered with the other avenants, and it must add an
  amount (an avenant that moves nothing and adds nothing is refused);
- the grant's amount becomes the total of the years voted; the year's instalments (one, 60
  days after the act is exécutoire or the avenant signed, when none is given) must add up
  to the year's amount, each with its payment obligation;
- the year's compte rendu financier (number = the year's rank) falls due 6 months after its
  exercise, moved to a working day;
- the 23,000 EUR threshold is read on the year's amount: a year above it makes the
  convention compulsory (signatures asked if they were not).
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import ConventionYear, Event, FinancialReport, Grant
from domain.calendar import format_date_fr
from domain.convention import convention_required
from domain.errors import RuleViolation
from domain.grant_end import exercise_end
from domain.lifecycle import Stage
from domain.money import check_instalments, format_amount, format_amount_fr
from domain.multi_year import YearFigures, year_rank
from domain.obligations import financial_report_due
from services import acts, facts, journal, obligations
from services.amendments import add_instalments, check_instalment_conditions

AMENDABLE_STAGES = (Stage.SIGNATURE.value, Stage.ACTIVE.value)


def years_of(session: Session, grant: Grant) -> list[ConventionYear]:
    return list(session.scalars(sa.select(ConventionYear).where(ConventionYear.grant_id == grant.id)
                                .order_by(ConventionYear.number)))


def first_exercise(grant: Grant) -> int:
    assert grant.exercise_ends_on is not None  # a CPO names its first exercise (services.dossier)
    return grant.exercise_ends_on.year


def _amendments(session: Session, grant: Grant) -> list[dict[str, Any]]:
    return [e.payload for e in session.scalars(sa.select(Event).where(Event.grant_id == grant.id,
                                                                      Event.kind == "amendment").order_by(Event.seq))]


def _same(year: ConventionYear, fact: facts.AnnualTranche, act_id: int | None) -> bool:
    voted_by_same = (year.act_id == act_id if fact.act is not None
                     else fact.avenant is not None and fact.avenant.number in (None, year.amendment_number)
                     and year.voted_on == fact.avenant.on)
    return year.amount == fact.amount and voted_by_same


def record_tranche(session: Session, grant: Grant, fact: facts.AnnualTranche, settings: Settings, *,
                   actor: str) -> ConventionYear:
    if grant.years is None:
        raise RuleViolation("exercise", fact.exercise, f"{grant.reference} n'est pas une convention pluriannuelle "
                                                       "(convention: {years: N} dans le dossier)")
    first = first_exercise(grant)
    number = year_rank(first, grant.years, fact.exercise)
    act = None
    if fact.act is not None:
        act = acts.find(session, fact.act, authority=grant.authority.code)
        if act is None:
            raise RuleViolation("act", fact.act, "acte inconnu de cette collectivité (à déclarer dans acts)")
    existing = session.scalars(sa.select(ConventionYear).where(ConventionYear.grant_id == grant.id,
                                                               ConventionYear.number == number)).one_or_none()
    if existing is not None:
        if _same(existing, fact, act.id if act else None):
            return existing  # the same year again (a retried run, a dossier reloaded)
        raise RuleViolation("exercise", fact.exercise, f"l'année {fact.exercise} de la convention est déjà votée "
                                                       f"({format_amount_fr(existing.amount)})")
    if fact.amount <= 0:
        raise RuleViolation("amount", format_amount(fact.amount),
                            "montant de l'année strictement positif attendu : un vote ou un avenant qui "
                            "n'ajoute rien ne vote pas d'année")
    if grant.stage not in AMENDABLE_STAGES or grant.starts_on is None or grant.ends_on is None:
        raise RuleViolation("exercise", fact.exercise,
                            f"la subvention est à l'étape « {grant.stage} » : une année se vote pendant la "
                            "convention (étapes signature ou active, convention commencée)")
    amendment_number = None
    if act is not None:
        if act.id == grant.act_id:
            raise RuleViolation("act", fact.act, "cet acte adopte la convention et vote sa première année : "
                                                 "chaque année suivante a son propre acte")
        if act.executoire_on is None:
            raise RuleViolation("act", fact.act, f"l'acte {act.reference} n'est pas encore exécutoire (vote et "
                                                 "transmission en préfecture à enregistrer sur l'acte)")
        if any(year.act_id == act.id for year in years_of(session, grant)):
            raise RuleViolation("act", fact.act, f"l'acte {act.reference} vote déjà une autre année de la convention")
        voted_on = executoire_on = act.executoire_on
    else:
        assert fact.avenant is not None
        avenant = fact.avenant
        if not grant.starts_on <= avenant.on <= grant.ends_on:
            raise RuleViolation("avenant.on", avenant.on.isoformat(),
                                f"un avenant se signe pendant la convention (du {format_date_fr(grant.starts_on)} "
                                f"au {format_date_fr(grant.ends_on)})")
        previous = _amendments(session, grant)
        amendment_number = avenant.number or len(previous) + 1
        if any(payload.get("number") == amendment_number for payload in previous):
            raise RuleViolation("avenant.number", amendment_number, f"l'avenant n°{amendment_number} est déjà "
                                                                    "enregistré")
        voted_on = executoire_on = avenant.on
    specs = fact.instalments or [facts.AmendmentInstalment(amount=fact.amount)]
    check_instalments([i.amount for i in specs], fact.amount, field="instalments")
    check_instalment_conditions(session, grant, specs)
    for index, spec in enumerate(specs):
        if spec.due is not None and spec.due < voted_on:
            raise RuleViolation(f"instalments[{index}].due", spec.due.isoformat(),
                                f"échéance antérieure au vote de l'année ({format_date_fr(voted_on)})")

    year = ConventionYear(grant_id=grant.id, number=number, exercise=fact.exercise, amount=fact.amount,
                          act_id=act.id if act else None, amendment_number=amendment_number, voted_on=voted_on)
    session.add(year)
    grant.amount = grant.amount + fact.amount
    planned = add_instalments(session, grant, specs, executoire_on, settings, year=number)
    report_due = obligations.deadline(grant, financial_report_due(exercise_end(fact.exercise)), settings)
    obligations.ensure(session, grant, "financial_report", number,
                       label=obligations.financial_report_label(grant, number), debtor=obligations.ASSOCIATION,
                       due_on=report_due)
    required_before = grant.convention_required
    if convention_required(fact.amount, threshold=settings.convention_threshold) and not required_before:
        grant.convention_required = True
        signed = obligations.signed_parties(session, grant)
        obligations.convention_to_sign(session, grant, voted_on, settings, signed)
    session.flush()
    voted_by = (f"acte {act.reference} exécutoire le {format_date_fr(act.executoire_on)}" if act is not None
                else f"avenant n°{amendment_number} signé le {format_date_fr(voted_on)}")
    payload: dict[str, Any] = {
        "exercise": fact.exercise, "year": number, "years": grant.years, "amount": format_amount(fact.amount),
        "total": format_amount(grant.amount), "act": act.reference if act else None, "instalments": planned,
        "financial_report_due_on": report_due, "convention_required": grant.convention_required,
        "summary": f"année {number}/{grant.years} ({fact.exercise}) de la convention pluriannuelle : "
                   f"{format_amount_fr(fact.amount)} votés par {voted_by} ; compte rendu financier n°{number} "
                   f"dû le {format_date_fr(report_due)}"}
    if fact.avenant is not None:
        # Journalled as an avenant, numbered with the others; the end date does not move.
        payload |= {"number": amendment_number, "on": fact.avenant.on.isoformat(),
                    "ends_on_before": grant.ends_on.isoformat(), "ends_on": grant.ends_on.isoformat(),
                    "extra_amount": format_amount(fact.amount), "text": fact.avenant.text}
        journal.append(session, grant, "amendment", payload, actor=actor)
    else:
        journal.append(session, grant, "tranche_voted", payload, actor=actor)
    return year


def year_figures(session: Session, grant: Grant) -> list[YearFigures]:
    """Each year voted, with its checked compte rendu financier's figures (None: not checked)."""
    reports = {r.number: r for r in session.scalars(sa.select(FinancialReport).where(
        FinancialReport.grant_id == grant.id, FinancialReport.checked_on.is_not(None)))}
    figures = []
    for year in years_of(session, grant):
        report = reports.get(year.number)
        figures.append(YearFigures(number=year.number, exercise=year.exercise, amount=year.amount,
                                   eligible_spending=report.eligible_spending if report else None,
                                   budgeted_cost=report.charges_budgeted if report else None,
                                   actual_cost=report.charges_actual if report else None))
    return figures


def unchecked_years(session: Session, grant: Grant) -> list[YearFigures]:
    return [year for year in year_figures(session, grant) if year.eligible_spending is None]


def exercise_of_year(grant: Grant, number: int) -> int:
    return first_exercise(grant) + number - 1


def check_financial_report_number(session: Session, grant: Grant, number: int) -> None:
    """A CPO's compte rendu financier names a year voted."""
    if grant.years is None:
        return
    voted = [year.number for year in years_of(session, grant)]
    if number not in voted:
        raise RuleViolation("number", number, f"compte rendu financier n°{number} : la convention pluriannuelle a "
                                              f"voté les années n°{', '.join(map(str, voted))} "
                                              f"({', '.join(str(exercise_of_year(grant, n)) for n in voted)})")
