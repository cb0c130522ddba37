"""Step 5 of a payment: the treasury's confirmation (a flow, or a dossier's history fact
`{event: payment, number: N, paid_on: DATE}`) -> paid, the payment obligation done."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import clock
from core.settings import Settings
from db.models import Grant, Instalment
from domain.acts import check_paid_after_executoire
from domain.calendar import format_date_fr
from domain.errors import RuleViolation
from services import acts, facts
from services.payment_results import ORDERED, PAID
from services.payment_store import lock_grants, mark_paid, transition


def confirm_payment(session: Session, grant: Grant, confirmation: facts.PaymentConfirmation, settings: Settings,
                    *, actor: str) -> Instalment:
    """The money reached the association: instalment N paid on `paid_on`, its payment
    obligation done. The same confirmation twice changes nothing.

    An instalment that grantflow never ordered (a dossier's history, a payment made
    outside) passes through "ordered" on the way, so that the transition table holds.
    """
    lock_grants(session, [grant.id])
    instalment = session.scalars(sa.select(Instalment).where(
        Instalment.grant_id == grant.id, Instalment.number == confirmation.number).with_for_update()).one_or_none()
    if instalment is None:
        count = session.scalar(sa.select(sa.func.count()).where(Instalment.grant_id == grant.id))
        raise RuleViolation("number", confirmation.number,
                            f"la subvention {grant.reference} n'a pas d'échéance n°{confirmation.number} "
                            f"(échéances 1 à {count})")
    if instalment.status == PAID.value:
        if instalment.paid_on == confirmation.paid_on:
            return instalment
        raise RuleViolation("paid_on", confirmation.paid_on.isoformat(),
                            f"versement n°{instalment.number} déjà enregistré comme payé le "
                            f"{format_date_fr(instalment.paid_on)} : un versement n'est payé qu'une fois")
    act = acts.of_grant(session, grant)
    check_paid_after_executoire(confirmation.paid_on, act.executoire_on if act is not None else None)
    ordered_outside = instalment.status != ORDERED.value
    if ordered_outside:
        transition(instalment, ORDERED)
        instalment.ordered_at = instalment.ordered_at or clock.now()
    mark_paid(session, instalment, grant, confirmation.paid_on, actor=actor,
               source="hors grantflow" if ordered_outside else "confirmation")
    return instalment
