"""Steps 3 and 4 of a payment run: claim the instalments, order them, record the answers.

`claim` is a conditional UPDATE scheduled|rejected|failed -> ordered, committed BEFORE the
gateway is called, so that two runs never both hold an instalment. `order_claimed` locks
the claimed instalments' grants, calls the gateway with the idempotency keys and records
its answers in one unit of work, committed once the gateway has answered: holding the
grant lock during the call is what lets a concurrent run's recovery
(services/payment_recovery.py) tell a crashed claim from one still in flight.
An order no bank can take is parked alone; a technical failure rolls the step back.
"""
from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Authority, Grant, Instalment
from db.session import is_postgresql
from domain.calendar import next_target2_day
from domain.lifecycle import check_instalment_transition
from gateways.bank import BankGateway, OrderOutcome, PaymentOrder, TreasuryUnavailable
from gateways.wiring import bank_gateway
from services import journal
from services.payment_results import CLAIMABLE, FAILED, ORDERED, Answer, answer_of
from services.payment_store import (
    grants_by_id,
    journal_event,
    lock_grants,
    record_outcome,
    transition,
    unanswered_claims,
)

GatewayFor = Callable[[Settings, Authority], BankGateway]


def claim(session: Session, instalment_id: int, batch_id: str, *, actor: str = "grantflow") -> Instalment | None:
    """Take the instalment for this batch: scheduled|rejected|failed -> ordered, or None if
    another run holds it or it is ordered or paid already. Commit before calling the bank."""
    grant_id = session.scalar(sa.select(Instalment.grant_id).where(Instalment.id == instalment_id))
    if grant_id is None:
        return None
    lock_grants(session, [grant_id])
    query = sa.select(Instalment).where(Instalment.id == instalment_id)
    if is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    instalment = session.scalars(query).one_or_none()
    if instalment is None or instalment.status not in CLAIMABLE:
        return None
    source = instalment.status
    check_instalment_transition(source, ORDERED)
    result = session.execute(
        sa.update(Instalment)
        .where(Instalment.id == instalment_id, Instalment.status == source)
        .values(status=ORDERED.value, batch_id=batch_id, attempts=Instalment.attempts + 1,
                ordered_at=None, reason=None)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return None
    session.refresh(instalment)
    journal.append_many(session, [journal.NewEvent(instalment.grant_id, "payment_claimed", {
        "number": instalment.number, "key": instalment.idempotency_key, "batch_id": batch_id,
        "attempt": instalment.attempts, "from": source})], actor=actor)
    return instalment


def claim_many(session: Session, instalment_ids: Sequence[int], batch_id: str, *,
               actor: str = "grantflow") -> list[int]:
    """`claim` for a chunk of instalments in one unit of work; returns the ids taken."""
    grant_ids = session.scalars(sa.select(Instalment.grant_id).where(Instalment.id.in_(instalment_ids)))
    lock_grants(session, grant_ids)
    return [i for i in instalment_ids if claim(session, i, batch_id, actor=actor) is not None]


def payment_order(instalment: Instalment, grant: Grant, business_date: dt.date) -> PaymentOrder:
    association = grant.association
    return PaymentOrder(key=instalment.idempotency_key, amount=instalment.amount, creditor_name=association.holder,
                        iban=association.iban, bic=association.bic,
                        remittance=f"Subvention {grant.reference} versement n°{instalment.number}"[:140],
                        # A transfer ordered on a weekend or a TARGET2 holiday asks for the next business day.
                        execution_date=next_target2_day(business_date))


def _gateways(settings: Settings, gateway_for: GatewayFor) -> Callable[[Authority], BankGateway]:
    cache: dict[int, BankGateway] = {}

    def get(authority: Authority) -> BankGateway:
        if authority.id not in cache:
            cache[authority.id] = gateway_for(settings, authority)
        return cache[authority.id]

    return get


def order_claimed(session: Session, settings: Settings, instalment_ids: Sequence[int], batch_id: str,
                  business_date: dt.date, *, actor: str = "grantflow", ask_first: bool = False,
                  gateway_for: GatewayFor = bank_gateway) -> list[Answer]:
    """Send this batch's claimed instalments to the bank, one call per authority, and
    record the answers in the same unit of work (committed by the caller once it returns).

    Instalments ordered before (a retry: `ask_first`, or a claim that is not the first)
    are looked up first: an order the bank already has is recorded, not sent again.
    Raises TreasuryUnavailable (nothing recorded: the claims stay) for the caller to retry.
    Claims taken over meanwhile by another run (see `resolve_in_doubt`) are left alone.
    """
    ids = list(instalment_ids)
    if not ids:
        return []
    claimed = unanswered_claims(session, ids, batch_id)
    grants = grants_by_id(session, (i.grant_id for i in claimed))
    gateway_of = _gateways(settings, gateway_for)
    answers: list[Answer] = []
    by_authority = itertools.groupby(sorted(claimed, key=lambda i: (grants[i.grant_id].authority_id, i.id)),
                                     key=lambda i: grants[i.grant_id].authority_id)
    for _, group in by_authority:
        instalments = list(group)
        gateway = gateway_of(grants[instalments[0].grant_id].authority)
        to_order: list[tuple[Instalment, PaymentOrder]] = []
        for instalment in instalments:
            grant = grants[instalment.grant_id]
            if ask_first or instalment.attempts > 1:
                known = gateway.lookup(instalment.idempotency_key)
                if known is not None and known.status in ("accepted", "paid"):
                    answers.append(record_outcome(session, instalment, grant, known, business_date, actor=actor,
                                                  via="lookup"))
                    continue
            try:
                order = payment_order(instalment, grant, business_date)
            except (ValueError, TypeError) as error:  # an amount or a name no bank can take
                answers.append(_park(session, instalment, grant, batch_id, error, actor=actor))
                continue
            to_order.append((instalment, order))
        if not to_order:
            continue
        try:
            outcomes = gateway.order([order for _, order in to_order], batch_id=batch_id)
        except TreasuryUnavailable:
            raise
        except Exception:  # noqa: BLE001 - a batch refused whole for one of its orders: find which
            outcomes = _order_one_by_one(session, gateway, to_order, grants, batch_id, answers, actor=actor)
            to_order = [(i, o) for i, o in to_order if i.status == ORDERED.value]
        by_key = {outcome.key: outcome for outcome in outcomes}
        for instalment, order in to_order:
            outcome = by_key.get(order.key)
            if outcome is None:
                raise TreasuryUnavailable(f"réponse du Trésor incomplète : rien pour la clé {order.key} "
                                          f"(remise {batch_id})")
            answers.append(record_outcome(session, instalment, grants[instalment.grant_id], outcome, business_date,
                                          actor=actor))
    return answers


def _park(session: Session, instalment: Instalment, grant: Grant, batch_id: str, error: Exception, *,
          actor: str) -> Answer:
    """A poison order (refused before any bank can take it): this instalment alone becomes
    "failed" with its own reason, and the rest of the batch goes on."""
    transition(instalment, FAILED)
    instalment.reason = (f"ordre impossible à émettre : {str(error)[:300]} ; à corriger dans le dossier (montant, "
                         "coordonnées bancaires), puis relancer le paiement")
    journal_event(session, instalment, "payment_failed", {"key": instalment.idempotency_key, "batch_id": batch_id,
                                                     "reason": instalment.reason, "parked": True}, actor)
    return answer_of(instalment, grant)


def _order_one_by_one(session: Session, gateway: BankGateway, to_order: list[tuple[Instalment, PaymentOrder]],
                      grants: dict[int, Grant], batch_id: str, answers: list[Answer], *,
                      actor: str) -> list[OrderOutcome]:
    """Each order of a refused batch alone (the same keys: the bank pays a key once); those
    refused again are parked."""
    outcomes: list[OrderOutcome] = []
    for instalment, order in to_order:
        try:
            outcomes += gateway.order([order], batch_id=batch_id)
        except TreasuryUnavailable:
            raise
        except Exception as error:  # noqa: BLE001 - this one order is the poison
            answers.append(_park(session, instalment, grants[instalment.grant_id], batch_id, error, actor=actor))
    return outcomes


def record_technical_failure(session: Session, instalment_ids: Sequence[int], batch_id: str, reason: str, *,
                             actor: str = "grantflow") -> list[Answer]:
    """The bank could not be reached (retries exhausted): this batch's unanswered claims
    become "failed", to be ordered again by a later run (which asks the bank first)."""
    ids = list(instalment_ids)
    if not ids:
        return []
    rows = unanswered_claims(session, ids, batch_id)
    grants = grants_by_id(session, (i.grant_id for i in rows))
    answers = []
    for instalment in rows:
        transition(instalment, FAILED)
        instalment.reason = f"échec technique, ordre à renouveler : {reason}"
        journal_event(session, instalment, "payment_failed", {"key": instalment.idempotency_key, "batch_id": batch_id,
                                                         "reason": instalment.reason}, actor)
        answers.append(answer_of(instalment, grants[instalment.grant_id]))
    return answers
