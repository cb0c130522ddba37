"""Closure of a convention: what the association keeps, is still paid, or gives back
(DOMAIN.md §6 and §9, issue 11; the rules in domain.grant_end).

A grant enters `closing` the day after its convention ends. Its closure is decided then
if it owes no compte rendu financier (a redistributed fund, closing on its ledger), else
once the CRF is received and checked by the authority (`due_closures`, `waiting_for`); a
multi-year convention once every year's CRF is checked, its entitlement then computed year
by year (each tranche against its own CRF, domain.multi_year) and summed.
`close` computes, by the convention's clause:

    entitlement = reliquat: the CRF's eligible spending | prorata: amount x actual/budgeted
                  | aucun: the amount | non_redistribue: the disbursements ledger
    owed        = entitlement - paid (instalments paid or handed to the treasury)
    claimed     = paid - entitlement, never negative, to the cent (domain.refund)

Instalments not yet paid are kept up to `owed`, the one crossing it reduced, the others
cancelled, each with a journal event (`instalment_reduced`, `instalment_cancelled`) saying
why: nothing is paid after closure, and a grant is not closed while one is still to pay.
Then, for what is claimed:

- clause `aucun` (the dossier's older `unspent: keep`): nothing is claimed;
- nothing to refund: nothing is claimed;
- less than the floor (15 EUR, CGCT D1611-1, `settings.titre_floor`): no titre de recette
  can be issued; the refund is waived, the journal says so;
- otherwise a titre de recette is issued: a number unique in the store ("TR-2019-000001",
  per year of issue), the amount, the grounds citing the convention, a due date 30 days
  later (`settings.titre_payment_days`) moved to the next working day (the authority's
  department, `settings.shift_deadlines_to_working_day`); the letter is mailed to the
  association and a "refund" obligation (debtor: the association) makes the daily sweep
  remind it until it has paid.

The grant closes when nothing is left to claim nor to pay (domain.lifecycle guards).

Each refund received (`{event: refund, on, amount}`) is recorded by services.refunds.

Simplification (stated): the contradictory procedure before the titre (notice, period for
observations, decision) is done outside grantflow; the titre is issued at closure and the
two-month period to contest it (CGCT L1617-5) is journaled with it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import ConventionYear, FinancialReport, Grant, Instalment, Obligation, Refund
from domain import labels
from domain.calendar import format_date_fr
from domain.errors import RuleViolation
from domain.grant_end import (
    NEEDS_FINANCIAL_REPORT,
    EndFigures,
    GrantKind,
    RefundClause,
    Settlement,
    adjustment_reason,
    entitlement,
    settle,
)
from domain.lifecycle import (
    MONEY_SENT,
    OBLIGATION_OPEN,
    InstalmentStatus,
    ObligationStatus,
    Stage,
)
from domain.money import ZERO, format_amount, format_amount_fr
from domain.multi_year import year_entitlement
from domain.refund import contest_deadline, titre_required
from services import financial_reports, grants, journal, mailing, multi_year, obligations, payment_store
from services.disbursements import eligible_spending, total_paid
from services.obligations import withdraw_reminders
from services.payment_results import CLAIMABLE
from services.refunds import DUE, WAIVED, grounds_text, next_titre_number, refund_label, years_text


@dataclass(frozen=True)
class ClosureOutcome:
    reference: str
    paid: Decimal
    eligible: Decimal
    refund: Refund
    stage: str
    message: str  # the French sentence the journal and the flow's log say

    @property
    def titre_number(self) -> str | None:
        return self.refund.titre_number


def end_figures(session: Session, grant: Grant) -> EndFigures:
    report = financial_reports.checked(session, grant)
    return EndFigures(amount=grant.amount, redistributed=eligible_spending(session, grant),
                      eligible_spending=report.eligible_spending if report else None,
                      budgeted_cost=report.charges_budgeted if report else None,
                      actual_cost=report.charges_actual if report else None)


def yearly_entitlements(session: Session, grant: Grant, clause: RefundClause) -> list[dict[str, str | int]] | None:
    """A multi-year convention on a clause read from the compte rendu financier: each year's
    tranche against its own checked report (None otherwise: the grant as a whole)."""
    if grant.years is None or clause not in NEEDS_FINANCIAL_REPORT:
        return None
    rows: list[dict[str, str | int]] = []
    for year in multi_year.year_figures(session, grant):
        kept = year_entitlement(clause, year)
        rows.append({"year": year.number, "exercise": year.exercise, "amount": format_amount(year.amount),
                     "eligible_spending": format_amount(year.eligible_spending or ZERO),
                     "entitlement": format_amount(kept), "unused": format_amount(year.amount - kept)})
    return rows


def waiting_for(session: Session, grant: Grant) -> str | None:
    """Why the closure of a grant in `closing` cannot be decided yet (None: it can)."""
    if grant.financial_report_owed and grant.years is not None:
        missing = multi_year.unchecked_years(session, grant)
        if missing:
            names = ", ".join(f"n°{year.number} ({year.exercise})" for year in missing)
            return (f"compte(s) rendu(s) financier(s) {names} pas encore reçu(s) et contrôlé(s) par la collectivité : "
                    "la clôture d'une convention pluriannuelle se décide sur ceux de chaque année "
                    "(loi 2000-321 art. 10)")
        return None
    if grant.financial_report_owed and financial_reports.checked(session, grant) is None:
        return ("compte rendu financier (Cerfa 15059) pas encore reçu et contrôlé par la collectivité : la "
                "clôture se décide après lui (loi 2000-321 art. 10)")
    return None


def _adjust_instalments(session: Session, grant: Grant, settlement: Settlement, clause: RefundClause, *,
                        day: dt.date, actor: str) -> None:
    """Nothing is paid after closure: the instalments not yet paid are reduced to what the
    association is still owed, or cancelled; the journal says which and why."""
    for adjustment in settlement.adjustments:
        instalment = session.scalars(sa.select(Instalment).where(
            Instalment.grant_id == grant.id, Instalment.number == adjustment.number)).one()
        reason = adjustment_reason(adjustment, clause, settlement)
        instalment.reason = reason
        obligation = session.scalars(sa.select(Obligation).where(
            Obligation.grant_id == grant.id, Obligation.kind == "payment",
            Obligation.number == adjustment.number)).one_or_none()
        if adjustment.cancelled:
            payment_store.transition(instalment, InstalmentStatus.CANCELLED)
            if obligation is not None and obligation.status in OBLIGATION_OPEN:
                obligations.move(obligation, ObligationStatus.CANCELLED, on=day)
                withdraw_reminders(session, obligation)
        else:
            instalment.amount = adjustment.after
            if obligation is not None:
                obligation.label = f"versement n°{instalment.number} ({format_amount_fr(adjustment.after)})"
        journal.append(session, grant, "instalment_cancelled" if adjustment.cancelled else "instalment_reduced", {
            "number": adjustment.number, "before": format_amount(adjustment.before),
            "after": format_amount(adjustment.after), "reason": reason}, actor=actor)


def close(session: Session, grant: Grant, settings: Settings, *, day: dt.date, actor: str) -> ClosureOutcome:
    """Decide the end of a grant in `closing` by its clause, and claim back (or not); idempotent."""
    existing = session.scalars(sa.select(Refund).where(Refund.grant_id == grant.id)).one_or_none()
    if existing is not None:
        return ClosureOutcome(grant.reference, total_paid(session, grant), eligible_spending(session, grant),
                              existing, grant.stage, "clôture déjà calculée")
    if grant.stage != Stage.CLOSING.value:
        raise RuleViolation("stage", grant.stage,
                            f"la clôture se calcule quand la convention est terminée (étape "
                            f"{labels.stages(Stage.CLOSING.value)}) ; {grant.reference} est à l'étape "
                            f"{labels.stages(grant.stage)}"
                            + (f", convention jusqu'au {format_date_fr(grant.ends_on)}" if grant.ends_on else ""))
    if (missing := waiting_for(session, grant)) is not None:
        raise RuleViolation("financial_report", None, f"clôture de {grant.reference} impossible : {missing}")
    clause = RefundClause(grant.refund_clause)
    figures = end_figures(session, grant)
    instalments = list(session.scalars(sa.select(Instalment).where(Instalment.grant_id == grant.id)
                                       .order_by(Instalment.number)))
    paid = sum((i.amount for i in instalments if i.status in MONEY_SENT), ZERO)
    unpaid = [(i.number, i.amount) for i in instalments if i.status in CLAIMABLE]
    yearly = yearly_entitlements(session, grant, clause)
    entitled = (sum((Decimal(row["entitlement"]) for row in yearly), ZERO) if yearly is not None
                else entitlement(clause, figures))
    settlement = settle(entitled, paid, unpaid)
    _adjust_instalments(session, grant, settlement, clause, day=day, actor=actor)
    eligible = figures.redistributed if clause is RefundClause.NON_REDISTRIBUE else settlement.entitlement
    computed = settlement.claim_back
    if clause is RefundClause.AUCUN:
        amount, status, number = ZERO, WAIVED, None
        if figures.eligible_spending is None and grant.kind != GrantKind.REDISTRIBUTION.value:
            # Nothing tells what was spent: naming the whole grant "non utilisée" would be false.
            grounds = ("La convention ne prévoit aucun reversement et ne demande pas de compte rendu financier : "
                       "rien n'est à reverser.")
        else:
            spent = figures.eligible_spending if figures.eligible_spending is not None else figures.redistributed
            unspent = max(ZERO, paid - spent)
            grounds = (f"La convention laisse à l'association la part non utilisée ({format_amount_fr(unspent)}) : "
                       "rien n'est à reverser.")
        message = grounds
    elif computed == 0:
        amount, status, number = ZERO, WAIVED, None
        if clause is RefundClause.NON_REDISTRIBUE:
            grounds = (f"Versé : {format_amount_fr(paid)} ; redistribué aux porteurs de projets pendant la "
                       f"convention : {format_amount_fr(eligible)} : rien à reverser.")
        else:
            grounds = (f"Clause « {clause.value} » : droits de l'association {format_amount_fr(eligible)}, versé "
                       f"{format_amount_fr(paid)} : rien à reverser.")
        # Closed only once nothing is left to pay either (the owed part is added below).
        message = "rien à reverser" if settlement.owed else "rien à reverser : la subvention est close"
    elif not titre_required(computed, floor=settings.titre_floor):
        amount, status, number = computed, WAIVED, None
        floor = f"{settings.titre_floor.normalize():f}"
        message = f"montant inférieur au seuil de {floor} EUR : pas de titre de recette"
        grounds = (f"{grounds_text(grant, paid, eligible, computed)} Montant inférieur au seuil de {floor} EUR "
                   "(CGCT D1611-1) : pas de titre de recette, la créance est abandonnée.")
    else:
        amount, status, number = computed, DUE, next_titre_number(session, day.year)
        grounds = grounds_text(grant, paid, eligible, computed) + years_text(yearly)
        message = f"titre de recette {number} émis : {format_amount_fr(computed)} à reverser"
    if settlement.owed and clause is not RefundClause.AUCUN:
        message += f" ; reste à verser à l'association : {format_amount_fr(settlement.owed)}"
    refund = Refund(grant_id=grant.id, amount=amount, received=ZERO, status=status, grounds=grounds,
                    titre_number=number, issued_on=day if number else None, receipts=[])
    session.add(refund)
    session.flush()
    payload: dict[str, object] = {"paid": format_amount(paid), "eligible_spending": format_amount(eligible),
                                  "refund": format_amount(amount), "clause": clause.value, "status": status,
                                  "owed": format_amount(settlement.owed), "reason": message}
    if yearly is not None:
        payload["years"] = yearly
    if number is not None:
        due_on = obligations.deadline(grant, day + dt.timedelta(days=settings.titre_payment_days), settings)
        refund.due_on = due_on
        payload |= {"titre_number": number, "due_on": due_on, "contest_until": contest_deadline(day)}
        journal.append(session, grant, "titre_de_recette", payload, actor=actor)
        obligations.ensure(session, grant, "refund", 1, label=refund_label(refund), debtor=obligations.ASSOCIATION,
                           due_on=due_on)
        mailing.queue(session, grant, "titre_de_recette", f"titre:{number}", {
            "titre_number": number, "amount": format_amount(amount), "grounds": grounds, "due_on": due_on.isoformat(),
        }, day=day)
    else:
        journal.append(session, grant, "refund_waived", payload, actor=actor)
    grants.advance(session, grant, day, actor=actor)
    return ClosureOutcome(grant.reference, paid, eligible, refund, grant.stage, message)


# -- what falls due -----------------------------------------------------------------

def due_closures(session: Session, *, limit: int | None = None) -> list[str]:
    """References of the grants in `closing` whose closure is not decided yet and may be:
    their compte rendu financier checked when they owe one (one query)."""
    checked = sa.exists().where(FinancialReport.grant_id == Grant.id, FinancialReport.checked_on.is_not(None))
    # A multi-year convention: every year voted has its report checked.
    year_unchecked = sa.exists().where(
        ConventionYear.grant_id == Grant.id,
        ~sa.exists().where(FinancialReport.grant_id == Grant.id, FinancialReport.number == ConventionYear.number,
                           FinancialReport.checked_on.is_not(None)))
    query = (sa.select(Grant.reference).where(Grant.stage == Stage.CLOSING.value,
                                              ~sa.exists().where(Refund.grant_id == Grant.id),
                                              sa.or_(~Grant.financial_report_owed,
                                                     sa.and_(checked, ~year_unchecked)))
             .order_by(Grant.ends_on, Grant.reference))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))

