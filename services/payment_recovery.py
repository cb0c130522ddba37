"""Step 1 of a payment run: claims a crashed run left without the bank's answer.

An instalment left "ordered" with no answer recorded (the worker was killed between the
gateway call and the commit) is settled by asking the gateway about its key (`lookup`),
never by ordering it again: if the bank knows the key, its answer is recorded; if not,
the order never left, and the instalment becomes "failed" (to be ordered again, with the
same key).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Grant, Instalment
from gateways.wiring import bank_gateway
from services.payment_orders import GatewayFor
from services.payment_results import FAILED, ORDERED, Answer, answer_of
from services.payment_store import grants_by_id, journal_event, lock_grants, record_outcome, transition


def in_doubt(session: Session, reference: str | None = None) -> list[int]:
    """Instalments claimed ("ordered") whose answer from the bank was never recorded."""
    query = (sa.select(Instalment.id).join(Grant, Grant.id == Instalment.grant_id)
             .where(Instalment.status == ORDERED.value, Instalment.ordered_at.is_(None)))
    if reference is not None:
        query = query.where(Grant.reference == reference)
    return list(session.scalars(query.order_by(Instalment.id)))


def resolve_in_doubt(session: Session, settings: Settings, instalment_id: int, business_date: dt.date, *,
                     actor: str = "grantflow", gateway_for: GatewayFor = bank_gateway) -> Answer | None:
    """Settle one unanswered claim by asking the bank about its key, never by ordering.

    Waits for the grant's lock first: a run still talking to the bank holds it, and once
    it has committed the instalment is no longer in doubt (None is returned).
    """
    grant_id = session.scalar(sa.select(Instalment.grant_id).where(Instalment.id == instalment_id))
    if grant_id is None:
        return None
    lock_grants(session, [grant_id])
    instalment = session.scalars(
        sa.select(Instalment)
        .where(Instalment.id == instalment_id, Instalment.status == ORDERED.value, Instalment.ordered_at.is_(None))
        .with_for_update()).one_or_none()
    if instalment is None:
        return None
    grant = grants_by_id(session, [grant_id])[grant_id]
    known = gateway_for(settings, grant.authority).lookup(instalment.idempotency_key)
    if known is not None:
        return record_outcome(session, instalment, grant, known, business_date, actor=actor, via="lookup")
    transition(instalment, FAILED)
    instalment.reason = (f"ordre réservé par la remise {instalment.batch_id} mais jamais reçu par le Trésor "
                         "(interruption avant l'envoi) : il sera ordonné de nouveau, avec la même clé")
    journal_event(session, instalment, "payment_failed", {"key": instalment.idempotency_key,
                                                     "batch_id": instalment.batch_id, "reason": instalment.reason,
                                                     "via": "lookup"}, actor)
    return answer_of(instalment, grant, via="lookup")
