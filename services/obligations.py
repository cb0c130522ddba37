"""Writing the obligations a grant creates when it reaches a stage, and fulfilling them.

Due dates follow DOMAIN.md §7: months clamped to the month's end, then moved to the next
working day of the authority's department (configurable).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Evaluation, Grant, Instalment, Message, Obligation, Signature
from domain import calendar
from domain import obligations as rules
from domain.convention import convention_period
from domain.grant_end import GrantKind, financial_report_due_on
from domain.lifecycle import OBLIGATION_OPEN, ObligationStatus, check_obligation_transition
from domain.money import format_amount_fr
from domain.statuses import MessageStatus

ASSOCIATION, AUTHORITY, PREFECTURE = "association", "authority", "prefecture"


def deadline(grant: Grant, day: dt.date, settings: Settings) -> dt.date:
    return calendar.deadline(day, grant.authority.department,
                             shift_to_working_day=settings.shift_deadlines_to_working_day)


def ensure(session: Session, grant: Grant, kind: str, number: int, *, label: str, debtor: str,
           due_on: dt.date, remind: bool = True) -> Obligation:
    """The obligation, written once: applying the same fact twice writes nothing more."""
    existing = session.scalars(
        sa.select(Obligation).where(Obligation.grant_id == grant.id, Obligation.kind == kind,
                                    Obligation.number == number)
    ).one_or_none()
    if existing is not None:
        return existing
    obligation = Obligation(grant_id=grant.id, kind=kind, number=number, label=label, debtor=debtor,
                            due_on=due_on, status=ObligationStatus.PENDING.value, remind=remind)
    session.add(obligation)
    session.flush()
    return obligation


def fulfil(session: Session, grant: Grant, kind: str, number: int, on: dt.date) -> Obligation | None:
    """The obligation done; its reminders still queued are withdrawn, so that no mail asks
    for what was done the same day (a payment ordered by the morning's run, a report received)."""
    obligation = session.scalars(
        sa.select(Obligation).where(Obligation.grant_id == grant.id, Obligation.kind == kind,
                                    Obligation.number == number)
    ).one_or_none()
    if obligation is not None and obligation.status in OBLIGATION_OPEN:
        move(obligation, ObligationStatus.DONE, on=on)
        withdraw_reminders(session, obligation)
    return obligation


def move(obligation: Obligation, target: ObligationStatus, *, on: dt.date | None = None) -> None:
    """The one way an obligation's status changes in Python, checked against
    domain.lifecycle's obligation table (the sweep's SQL moves are checked in
    services.sweep_rules). `on`: the day it was done or cancelled."""
    check_obligation_transition(obligation.status, target)
    obligation.status = target.value
    if on is not None:
        obligation.done_on = on


def withdraw_reminders(session: Session, obligation: Obligation | None) -> int:
    """Reminders queued for an obligation fulfilled (or cancelled) before they went out are not sent."""
    if obligation is None:
        return 0
    withdrawn = session.execute(
        sa.update(Message).where(Message.obligation_id == obligation.id, Message.status == MessageStatus.QUEUED.value)
        .values(status=MessageStatus.WITHDRAWN.value, last_error="obligation remplie avant l'envoi").returning(Message.id)
        .execution_options(synchronize_session=False)).all()
    return len(withdrawn)


def reschedule(obligation: Obligation, due_on: dt.date) -> None:
    obligation.due_on = due_on
    if obligation.status == ObligationStatus.OVERDUE:
        move(obligation, ObligationStatus.PENDING)


def signed_parties(session: Session, grant: Grant) -> set[str]:
    """The parties that signed the grant's convention ("association", "authority")."""
    return set(session.scalars(sa.select(Signature.party).where(Signature.grant_id == grant.id)))


def convention_to_sign(session: Session, grant: Grant, from_day: dt.date, settings: Settings,
                       signed: Collection[str] = ()) -> list[Obligation]:
    """Each party's signature falls due `signature_days` after `from_day` (unless already signed)."""
    due = deadline(grant, from_day + dt.timedelta(days=settings.signature_days), settings)
    return [
        ensure(session, grant, f"signature_{party}", 1, label=f"signature de la convention par {who}",
               debtor=debtor, due_on=due)
        for party, debtor, who in (("association", ASSOCIATION, "l'association"),
                                   ("authority", AUTHORITY, "la collectivité"))
        if party not in signed
    ]


def on_executoire(session: Session, grant: Grant, executoire_on: dt.date, settings: Settings) -> None:
    """The act is enforceable: the convention is to be signed and the money to be paid."""
    if grant.convention_required:
        convention_to_sign(session, grant, executoire_on, settings)
    for instalment in session.scalars(sa.select(Instalment).where(Instalment.grant_id == grant.id)):
        if instalment.condition is not None:
            continue  # due once its fact happens (services.conditions)
        if instalment.due_on is None:
            instalment.due_on = deadline(
                grant, executoire_on + dt.timedelta(days=settings.payment_days_after_notification), settings)
        ensure(session, grant, "payment", instalment.number,
               label=f"versement n°{instalment.number} ({format_amount_fr(instalment.amount)})",
               debtor=AUTHORITY, due_on=instalment.due_on)
    if grant.starts_from == "executoire":
        start(session, grant, executoire_on, settings)
    elif grant.starts_from != "signature":  # a date set in the convention
        start(session, grant, dt.date.fromisoformat(grant.starts_from), settings)


def on_legality_control(session: Session, grant: Grant, control_ends_on: dt.date) -> None:
    """Shown to operations only: the prefect may refer the act to the court until then."""
    obligation = ensure(session, grant, "legality_control", 1,
                        label="fin du délai de contrôle de légalité (déféré préfectoral)",
                        debtor=PREFECTURE, due_on=control_ends_on, remind=False)
    if obligation.due_on != control_ends_on:
        reschedule(obligation, control_ends_on)


def on_convention_signed(session: Session, grant: Grant, signed_on: dt.date, settings: Settings) -> None:
    """Signed by both: the grant's essential data must be published within 3 months (décret 2017-779)."""
    if grant.convention_required:
        ensure(session, grant, "open_data", 1, label="publication des données essentielles (SCDL subventions)",
               debtor=AUTHORITY, due_on=deadline(grant, calendar.add_months(signed_on, 3), settings))
    if grant.starts_from == "signature":
        start(session, grant, signed_on, settings)


def start(session: Session, grant: Grant, starts_on: dt.date, settings: Settings) -> None:
    """The convention runs: reports, evaluations and the financial report fall due."""
    if grant.starts_on is not None:
        return
    grant.starts_on, grant.ends_on = convention_period(starts_on, grant.duration_months)
    if grant.reports_every_months:
        for number, due in enumerate(
            rules.report_due_dates(grant.starts_on, grant.ends_on, grant.reports_every_months), start=1
        ):
            ensure(session, grant, "report", number, label=f"compte rendu n°{number}",
                   debtor=ASSOCIATION, due_on=deadline(grant, due, settings))
    evaluations = session.scalars(
        sa.select(Evaluation).where(Evaluation.grant_id == grant.id).order_by(Evaluation.at_months)
    )
    for number, evaluation in enumerate(evaluations, start=1):
        due = rules.evaluation_due_date(grant.starts_on, evaluation.at_months)
        ensure(session, grant, "evaluation", number, label=f"évaluation {evaluation.name}",
               debtor=AUTHORITY, due_on=deadline(grant, due, settings))
    if financial_report_asked(grant):
        ensure(session, grant, "financial_report", 1, label=financial_report_label(grant, 1),
               debtor=ASSOCIATION, due_on=deadline(grant, financial_report_due_date(grant), settings))


def financial_report_asked(grant: Grant) -> bool:
    """Owed, or a redistributed fund's (asked though its closure follows the ledger); an
    operating grant whose convention asks none (`financial_report: false`) is never reminded of one."""
    return grant.financial_report_owed or grant.kind == GrantKind.REDISTRIBUTION.value


def financial_report_label(grant: Grant, number: int) -> str:
    """A multi-year convention owes one per year: the label names the year and its exercise."""
    if grant.years is None or grant.exercise_ends_on is None:
        return "compte rendu financier (Cerfa 15059)"
    return f"compte rendu financier n°{number}, exercice {grant.exercise_ends_on.year + number - 1} (Cerfa 15059)"


def financial_report_due_date(grant: Grant) -> dt.date:
    """Owed (closure waits for it): 6 months after the financed exercise. Otherwise (a
    redistributed fund closing on its ledger) still asked, 6 months after the convention."""
    assert grant.starts_on is not None and grant.ends_on is not None
    if grant.financial_report_owed:
        return financial_report_due_on(grant.exercise_ends_on, grant.starts_on)
    return rules.financial_report_due(grant.ends_on)
