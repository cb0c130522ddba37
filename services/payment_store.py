"""The instalment rows a payment writes: the grant locks, the checked status moves, the
journal event of each move, and the treasury's answer applied to an instalment."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import clock
from db.models import Grant, Instalment
from domain.lifecycle import InstalmentStatus, Stage, check_instalment_transition
from gateways.bank import OrderOutcome
from services import journal, obligations
from services.grants import advance
from services.payment_results import ORDERED, PAID, REJECTED, Answer, answer_of


def lock_grants(session: Session, grant_ids: Iterable[int]) -> None:
    """Serialise every payment write on these grants (and their journal), in id order so
    that two runs never deadlock. On SQLite the statement opens BEGIN IMMEDIATE: the
    whole file is locked until commit."""
    ids = sorted(set(grant_ids))
    if ids:
        session.execute(sa.select(Grant.id).where(Grant.id.in_(ids)).order_by(Grant.id).with_for_update())


def grants_by_id(session: Session, grant_ids: Iterable[int]) -> dict[int, Grant]:
    ids = set(grant_ids)
    if not ids:
        return {}
    return {g.id: g for g in session.scalars(sa.select(Grant).where(Grant.id.in_(ids))).unique()}


def transition(instalment: Instalment, target: InstalmentStatus) -> None:
    check_instalment_transition(instalment.status, target)
    instalment.status = target.value


def journal_event(session: Session, instalment: Instalment, kind: str, payload: dict[str, Any], actor: str) -> None:
    journal.append_many(session, [journal.NewEvent(instalment.grant_id, kind,
                                                   {"number": instalment.number, **payload})], actor=actor)


def mark_paid(session: Session, instalment: Instalment, grant: Grant, paid_on: dt.date, *, actor: str,
              source: str) -> None:
    transition(instalment, PAID)
    instalment.paid_on, instalment.reason = paid_on, None
    obligations.fulfil(session, grant, "payment", instalment.number, paid_on)
    journal_event(session, instalment, "payment", {"paid_on": paid_on, "amount": instalment.amount, "source": source},
                  actor)
    if grant.stage == Stage.CLOSING.value:
        advance(session, grant, paid_on, actor=actor)  # the last instalment owed may close the grant


def record_outcome(session: Session, instalment: Instalment, grant: Grant, outcome: OrderOutcome,
                   business_date: dt.date, *, actor: str, via: Literal["order", "lookup"] = "order") -> Answer:
    """Apply what the bank says about the instalment's key. Idempotent: the same answer
    recorded twice changes nothing. The caller holds the grant's lock."""
    if outcome.key != instalment.idempotency_key:
        raise ValueError(f"réponse du Trésor pour la clé {outcome.key} appliquée à l'échéance "
                         f"{instalment.idempotency_key}")
    payload = {"key": outcome.key, "batch_id": instalment.batch_id, "treasury_reference": outcome.reference,
               "via": via}
    if outcome.status in ("accepted", "paid"):
        if instalment.status != ORDERED.value and instalment.status != PAID.value:
            transition(instalment, ORDERED)  # e.g. failed, then found accepted by the bank
        if instalment.status == ORDERED.value and instalment.ordered_at is None:
            instalment.ordered_at, instalment.reason = clock.now(), None
            journal_event(session, instalment, "payment_ordered", {**payload, "amount": instalment.amount}, actor)
            # The authority's obligation is to order the payment by the deadline: done.
            obligations.fulfil(session, grant, "payment", instalment.number, business_date)
        if outcome.status == "paid" and instalment.status != PAID.value:
            mark_paid(session, instalment, grant, business_date, actor=actor, source="treasury")
    elif outcome.status == "rejected":
        reason = outcome.reason or "rejet du Trésor sans motif communiqué"
        if not (instalment.status == REJECTED.value and instalment.reason == reason):
            transition(instalment, REJECTED)
            instalment.reason = reason
            journal_event(session, instalment, "payment_rejected", {**payload, "reason": reason}, actor)
    else:  # pragma: no cover - OrderStatus is a closed Literal
        raise ValueError(f"réponse du Trésor inconnue : {outcome.status!r}")
    return answer_of(instalment, grant, treasury_reference=outcome.reference, via=via)


def unanswered_claims(session: Session, ids: list[int], batch_id: str) -> list[Instalment]:
    """This batch's claims still without the bank's answer, locked with their grants."""
    lock_grants(session, session.scalars(sa.select(Instalment.grant_id).where(Instalment.id.in_(ids))))
    return list(session.scalars(
        sa.select(Instalment)
        .where(Instalment.id.in_(ids), Instalment.status == ORDERED.value, Instalment.ordered_at.is_(None),
               Instalment.batch_id == batch_id)
        .order_by(Instalment.grant_id, Instalment.number)
        .with_for_update()))
