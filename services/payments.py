"""Paying instalments exactly once (DOMAIN.md §4, DESIGN.md "Exactly once"); one bad order never stops the others.

A payment run goes through these steps, each one its own unit of work:

1. `resolve_in_doubt`: an instalment left "ordered" with no answer recorded (the worker
   was killed between the gateway call and the commit) is settled by asking the gateway
   about its key (`lookup`), never by ordering it again: if the bank knows the key, its
   answer is recorded; if not, the order never left, and the instalment becomes "failed"
   (to be ordered again, with the same key).
2. `payment_plan`: what is due (`due_instalments`) and, grant by grant, what forbids
   ordering it (`payment_refusals`: act exécutoire, convention signed when compulsory,
   SIRET, IBAN, BIC, account holder), each refusal in French with what to fix.
3. `claim`: a conditional UPDATE scheduled|rejected|failed -> ordered, committed BEFORE
   the gateway is called, so that two runs never both hold an instalment.
4. `order_claimed`: one unit of work that locks the claimed instalments' grants (row
   locks on PostgreSQL; SQLite's BEGIN IMMEDIATE locks the file), calls the gateway with
   the idempotency keys and records its answers (accepted -> stays ordered with the
   order time; paid -> paid; rejected -> rejected with the treasury's reason); it commits
   once the gateway has answered. Holding the grant lock during the call is what lets
   step 1 of a concurrent run tell a crashed claim from one still in flight: it waits
   for the lock, and then finds the answer recorded.
   An order no bank can take (an amount above the SEPA ceiling, a name the format
   refuses) is parked: that instalment alone becomes "failed" with its reason, and the
   rest of the batch is ordered (a batch the gateway refuses whole is ordered one by one
   to find it).
   A technical failure (`TreasuryUnavailable`) rolls the step back; the caller (Prefect
   retries) tries again, asking the gateway first; when it gives up,
   `record_technical_failure` marks the claims "failed".
5. `confirm_payment`: the treasury's confirmation (flow or dossier history event
   `{event: payment, number: N, paid_on: DATE}`) -> paid, the payment obligation done.

`pay` runs steps 1-4 without Prefect (the calendar simulation, the crash-test worker);
flows/payment.py runs the same steps as Prefect tasks.
"""
from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import clock
from core.settings import Settings
from db.models import Authority, Grant, Instalment
from db.session import is_postgresql
from domain import identifiers, labels
from domain.calendar import next_target2_day
from domain.errors import RuleViolation
from domain.lifecycle import (
    PAYMENT_STOPS,
    InstalmentStatus,
    Stage,
    check_instalment_transition,
    check_payment_allowed,
)
from domain.money import format_amount_fr
from gateways.bank import BankGateway, OrderOutcome, PaymentOrder, TreasuryUnavailable
from gateways.wiring import bank_gateway
from services import acts, bank_changes, commands, conditions, journal, obligations
from services.grants import advance, facts_of, get_grant

SCHEDULED, ORDERED, PAID = InstalmentStatus.SCHEDULED, InstalmentStatus.ORDERED, InstalmentStatus.PAID
REJECTED, FAILED = InstalmentStatus.REJECTED, InstalmentStatus.FAILED
# What a run may (re)order: never ordered, refused by the treasury then corrected, or
# failed for a technical reason. "ordered" and "paid" are never claimed again.
CLAIMABLE = (SCHEDULED.value, REJECTED.value, FAILED.value)

GatewayFor = Callable[[Settings, Authority], BankGateway]

# ---- test hook --------------------------------------------------------------------------
# TEST HOOK, and the only one: with GRANTFLOW_TEST_CRASH_AFTER_ORDER=1 in its environment,
# the process kills itself (SIGKILL: no cleanup, no rollback handler, no Prefect state)
# right after the gateway answered an order and before the answer is committed. Used by
# tests/test_payment_crash.py to prove that the next run resolves the instalment by
# asking the gateway, and never orders it twice. Never set it anywhere else.
CRASH_AFTER_ORDER_ENV = "GRANTFLOW_TEST_CRASH_AFTER_ORDER"


def _crash_after_order_if_testing() -> None:
    if os.environ.get(CRASH_AFTER_ORDER_ENV) == "1":
        os.kill(os.getpid(), signal.SIGKILL)


# ---- what a run reports -----------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """What became of one instalment in this step (for logs, flow results, reports)."""

    instalment_id: int
    reference: str
    number: int
    amount: Decimal
    status: str  # the instalment's status afterwards
    reason: str | None = None
    treasury_reference: str | None = None
    via: Literal["order", "lookup", "none"] = "order"

    def label(self) -> str:
        return f"subvention {self.reference}, versement n°{self.number} ({format_amount_fr(self.amount)})"


ProblemKind = Literal["conditions", "configuration", "rejet", "technique", "ordre"]


@dataclass(frozen=True)
class Problem:
    """An instalment that could not be ordered, and why, in French (for the run's failure)."""

    reference: str
    number: int
    amount: Decimal
    kind: ProblemKind
    reason: str

    def __str__(self) -> str:
        what = {"conditions": "conditions de paiement non remplies",
                "configuration": "configuration de la collectivité à compléter", "rejet": "rejeté par le Trésor",
                "technique": "échec technique", "ordre": "ordre écarté, le reste de la remise continue"}[self.kind]
        return (f"subvention {self.reference}, versement n°{self.number} ({format_amount_fr(self.amount)}) : "
                f"{what} : {self.reason}")


class PaymentRunFailed(Exception):
    """A payment run that could not order everything it should have. Raised after the
    state was recorded: the store says which instalments are rejected or failed."""

    def __init__(self, problems: Sequence[Problem], *, ordered: int = 0) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"- {p}" for p in self.problems)
        done = f" ({ordered} versement(s) ordonné(s) par ailleurs)" if ordered else ""
        super().__init__(
            f"Paiement incomplet : {len(self.problems)} versement(s) non ordonné(s){done} :\n{lines}\n"
            "Après correction, relancer le même paiement : les versements déjà ordonnés ou payés ne "
            "sont jamais ordonnés une seconde fois.")


@dataclass
class Plan:
    """What a run is to order: instalment ids that may be claimed, and those refused."""

    ready: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Asked for by number but already ordered or paid: nothing to do.
    settled: list[Answer] = field(default_factory=list)
    # Instalments due on a fact that has not happened: what each waits for, in French.
    waiting: list[str] = field(default_factory=list)


@dataclass
class PaymentReport:
    business_date: dt.date
    batch_id: str
    recovered: list[Answer] = field(default_factory=list)
    ordered: list[Answer] = field(default_factory=list)  # accepted or paid by the treasury
    settled: list[Answer] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One French line per thing that happened (the simulation's daily report)."""
        def status(answer: Answer) -> str:
            return labels.label(labels.INSTALMENT_STATUSES, answer.status)

        out = [f"{a.label()} : réponse retrouvée auprès du Trésor ({status(a)})" for a in self.recovered]
        out += self.waiting
        out += [f"{a.label()} : ordonné ({status(a)}, réf. {a.treasury_reference})" for a in self.ordered]
        out += [str(p) for p in self.problems]
        return out

    def raise_for_problems(self) -> None:
        if self.problems:
            raise PaymentRunFailed(self.problems, ordered=len(self.ordered))


# ---- locks ------------------------------------------------------------------------------

def _lock_grants(session: Session, grant_ids: Iterable[int]) -> None:
    """Serialise every payment write on these grants (and their journal), in id order so
    that two runs never deadlock. On SQLite the statement opens BEGIN IMMEDIATE: the
    whole file is locked until commit."""
    ids = sorted(set(grant_ids))
    if ids:
        session.execute(sa.select(Grant.id).where(Grant.id.in_(ids)).order_by(Grant.id).with_for_update())


def _grants(session: Session, grant_ids: Iterable[int]) -> dict[int, Grant]:
    ids = set(grant_ids)
    if not ids:
        return {}
    return {g.id: g for g in session.scalars(sa.select(Grant).where(Grant.id.in_(ids))).unique()}


def _transition(instalment: Instalment, target: InstalmentStatus) -> None:
    check_instalment_transition(instalment.status, target)
    instalment.status = target.value


def _answer(instalment: Instalment, grant: Grant, *, reason: str | None = None,
            treasury_reference: str | None = None, via: Literal["order", "lookup", "none"] = "order") -> Answer:
    return Answer(instalment.id, grant.reference, instalment.number, instalment.amount, instalment.status,
                  reason if reason is not None else instalment.reason, treasury_reference, via)


# ---- 2. what is due, and may it be ordered ----------------------------------------------

def due_instalments(session: Session, business_date: dt.date, reference: str | None = None,
                    number: int | None = None) -> list[Instalment]:
    """Instalments that may be ordered on `business_date`: not yet ordered (or rejected,
    or failed) and due on or before that day. With a `number` (and a `reference`), that
    instalment whatever its due date: the operator asked for it by name."""
    if number is not None and reference is None:
        raise RuleViolation("number", number, "un numéro d'échéance se donne avec la référence de la subvention")
    query = (sa.select(Instalment).join(Grant, Grant.id == Instalment.grant_id)
             .where(Instalment.status.in_(CLAIMABLE)))
    if reference is not None:
        query = query.where(Grant.reference == reference)
    if number is not None:
        query = query.where(Instalment.number == number)
    else:
        query = query.where(Instalment.due_on.is_not(None), Instalment.due_on <= business_date)
    # One due on a fact that has not happened is never ordered, even asked for by name.
    query = query.where(sa.or_(Instalment.condition.is_(None), Instalment.due_on.is_not(None)))
    return list(session.scalars(query.order_by(Instalment.grant_id, Instalment.number)))


def waiting_instalments(session: Session, reference: str | None = None, number: int | None = None) -> list[str]:
    """What each instalment due on a fact still waits for (grants not closed)."""
    query = (sa.select(Instalment, Grant.reference).join(Grant, Grant.id == Instalment.grant_id)
             .where(Instalment.condition.is_not(None), Instalment.due_on.is_(None),
                    Instalment.status == SCHEDULED.value, Grant.stage != Stage.CLOSED.value))
    if reference is not None:
        query = query.where(Grant.reference == reference)
    if number is not None:
        query = query.where(Instalment.number == number)
    rows = session.execute(query.order_by(Grant.reference, Instalment.number))
    return [f"subvention {ref}, {conditions.waiting_for(instalment)} : pas encore dû, non ordonné"
            for instalment, ref in rows]


_BANK_FIX = ("à corriger : les coordonnées bancaires de l'association « {code} » (RIB : IBAN et BIC en "
             "majuscules, titulaire de 32 caractères au plus), puis relancer le paiement")
_SIRET_FIX = "à corriger : le SIRET de l'association « {code} » (avis de situation INSEE), puis relancer le paiement"
_PROCEDURE_FIX = ("à faire : enregistrer ce qui manque (accusé de réception, publication, signatures), puis "
                  "relancer le paiement")


def payment_refusals(session: Session, grant: Grant, business_date: dt.date, settings: Settings) -> list[RuleViolation]:
    """Every reason not to order this grant's instalments today (DOMAIN.md §4), empty if none."""
    refusals: list[RuleViolation] = []
    act = acts.of_grant(session, grant)
    facts = replace(facts_of(session, grant, business_date),
                    legality_control_ends_on=act.control_ends_on if act else None)
    if stops := [reason for guard in PAYMENT_STOPS if (reason := guard(facts)) is not None]:
        refusals.append(RuleViolation("payment", None, f"paiement impossible : {' ; '.join(stops)}"))
    else:
        try:
            check_payment_allowed(facts, wait_for_legality_control=settings.wait_for_legality_control)
        except RuleViolation as refused:
            refusals.append(RuleViolation(refused.field, refused.value, f"{refused.rule} ; {_PROCEDURE_FIX}"))
    association = grant.association
    checks: list[tuple[Callable[..., Any], str, object, str]] = [
        (identifiers.valid_siret, "association.siret", association.siret, _SIRET_FIX),
        (identifiers.valid_iban, "association.iban", association.iban, _BANK_FIX),
        (identifiers.valid_bic, "association.bic", association.bic, _BANK_FIX),
        (identifiers.valid_holder, "association.holder", association.holder, _BANK_FIX),
    ]
    for check, name, value, fix in checks:
        try:
            check(value, field=name)
        except RuleViolation as refused:
            refusals.append(RuleViolation(refused.field, refused.value,
                                          f"{refused.rule} ; {fix.format(code=association.code)}"))
    if (change := bank_changes.pending(session, association.id)) is not None:
        refusals.append(RuleViolation("association.bank", association.code, bank_changes.waiting_reason(change)))
    return refusals


def debtor_account_missing(authority: Authority, settings: Settings) -> str | None:
    """Why SEPA files cannot be written for this authority (its treasury account), or None."""
    if settings.bank != "sepa-file":
        return None
    try:
        identifiers.valid_iban(authority.iban or "", field="authority.iban")
        if authority.bic:
            identifiers.valid_bic(authority.bic, field="authority.bic")
    except RuleViolation as refused:
        return (f"compte au Trésor de la collectivité « {authority.code} » absent ou invalide ({refused.rule}) : "
                "ajouter iban et bic à la collectivité dans son dossier et le recharger ; aucun virement de cette "
                "collectivité n'est ordonné d'ici là")
    return None


def say(refusal: RuleViolation) -> str:
    """A refusal as operations staff read it: the field and its value when there is one."""
    if refusal.value is None and refusal.field == "payment":
        return refusal.rule
    return str(refusal)


def payment_plan(session: Session, settings: Settings, business_date: dt.date, reference: str | None = None,
                 number: int | None = None) -> Plan:
    """Due instalments split into those that may be claimed and those refused (per grant)."""
    plan = Plan()
    # A bank-detail change whose delay has passed is in force before anything is planned.
    bank_changes.settle_due(session, business_date, actor="grantflow")
    if reference is not None:
        grant = get_grant(session, reference)
        if number is not None:
            instalment = session.scalars(sa.select(Instalment).where(
                Instalment.grant_id == grant.id, Instalment.number == number)).one_or_none()
            if instalment is None:
                count = session.scalar(sa.select(sa.func.count()).where(Instalment.grant_id == grant.id))
                raise RuleViolation("number", number,
                                    f"la subvention {reference} n'a pas d'échéance n°{number} (échéances 1 à {count})")
            if instalment.status not in CLAIMABLE:
                plan.settled.append(_answer(instalment, grant, via="none"))
                return plan
    plan.waiting = waiting_instalments(session, reference, number)
    due = due_instalments(session, business_date, reference, number)
    grants = _grants(session, (i.grant_id for i in due))
    for grant_id, group in itertools.groupby(due, key=lambda i: i.grant_id):
        grant = grants[grant_id]
        missing = debtor_account_missing(grant.authority, settings)
        refusals = payment_refusals(session, grant, business_date, settings)
        for instalment in group:
            if missing is not None:
                # Nothing is claimed: the instalment stays scheduled, to be ordered by the
                # first run after the account is configured (not a failure to retry).
                plan.problems.append(Problem(grant.reference, instalment.number, instalment.amount,
                                             "configuration", missing))
            elif refusals:
                plan.problems.append(Problem(grant.reference, instalment.number, instalment.amount, "conditions",
                                             " | ".join(say(r) for r in refusals)))
            else:
                plan.ready.append(instalment.id)
    return plan


# ---- 3. claim ---------------------------------------------------------------------------

def claim(session: Session, instalment_id: int, batch_id: str, *, actor: str = "grantflow") -> Instalment | None:
    """Take the instalment for this batch: scheduled|rejected|failed -> ordered, or None if
    another run holds it or it is ordered or paid already. Commit before calling the bank."""
    grant_id = session.scalar(sa.select(Instalment.grant_id).where(Instalment.id == instalment_id))
    if grant_id is None:
        return None
    _lock_grants(session, [grant_id])
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
    _lock_grants(session, grant_ids)
    return [i for i in instalment_ids if claim(session, i, batch_id, actor=actor) is not None]


# ---- 4. order and record the answer -----------------------------------------------------

def payment_order(instalment: Instalment, grant: Grant, business_date: dt.date) -> PaymentOrder:
    association = grant.association
    return PaymentOrder(key=instalment.idempotency_key, amount=instalment.amount, creditor_name=association.holder,
                        iban=association.iban, bic=association.bic,
                        remittance=f"Subvention {grant.reference} versement n°{instalment.number}"[:140],
                        # A transfer ordered on a weekend or a TARGET2 holiday asks for the next business day.
                        execution_date=next_target2_day(business_date))


def _journal(session: Session, instalment: Instalment, kind: str, payload: dict[str, Any], actor: str) -> None:
    journal.append_many(session, [journal.NewEvent(instalment.grant_id, kind,
                                                   {"number": instalment.number, **payload})], actor=actor)


def _mark_paid(session: Session, instalment: Instalment, grant: Grant, paid_on: dt.date, *, actor: str,
               source: str) -> None:
    _transition(instalment, PAID)
    instalment.paid_on, instalment.reason = paid_on, None
    obligations.fulfil(session, grant, "payment", instalment.number, paid_on)
    _journal(session, instalment, "payment", {"paid_on": paid_on, "amount": instalment.amount, "source": source},
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
            _transition(instalment, ORDERED)  # e.g. failed, then found accepted by the bank
        if instalment.status == ORDERED.value and instalment.ordered_at is None:
            instalment.ordered_at, instalment.reason = clock.now(), None
            _journal(session, instalment, "payment_ordered", {**payload, "amount": instalment.amount}, actor)
            # The authority's obligation is to order the payment by the deadline: done.
            obligations.fulfil(session, grant, "payment", instalment.number, business_date)
        if outcome.status == "paid" and instalment.status != PAID.value:
            _mark_paid(session, instalment, grant, business_date, actor=actor, source="treasury")
    elif outcome.status == "rejected":
        reason = outcome.reason or "rejet du Trésor sans motif communiqué"
        if not (instalment.status == REJECTED.value and instalment.reason == reason):
            _transition(instalment, REJECTED)
            instalment.reason = reason
            _journal(session, instalment, "payment_rejected", {**payload, "reason": reason}, actor)
    else:  # pragma: no cover - OrderStatus is a closed Literal
        raise ValueError(f"réponse du Trésor inconnue : {outcome.status!r}")
    return _answer(instalment, grant, treasury_reference=outcome.reference, via=via)


def _gateways(settings: Settings, gateway_for: GatewayFor) -> Callable[[Authority], BankGateway]:
    cache: dict[int, BankGateway] = {}

    def get(authority: Authority) -> BankGateway:
        if authority.id not in cache:
            cache[authority.id] = gateway_for(settings, authority)
        return cache[authority.id]

    return get


def _unanswered_claims(session: Session, ids: list[int], batch_id: str) -> list[Instalment]:
    """This batch's claims still without the bank's answer, locked with their grants."""
    _lock_grants(session, session.scalars(sa.select(Instalment.grant_id).where(Instalment.id.in_(ids))))
    return list(session.scalars(
        sa.select(Instalment)
        .where(Instalment.id.in_(ids), Instalment.status == ORDERED.value, Instalment.ordered_at.is_(None),
               Instalment.batch_id == batch_id)
        .order_by(Instalment.grant_id, Instalment.number)
        .with_for_update()))


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
    claimed = _unanswered_claims(session, ids, batch_id)
    grants = _grants(session, (i.grant_id for i in claimed))
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
        _crash_after_order_if_testing()
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
    _transition(instalment, FAILED)
    instalment.reason = (f"ordre impossible à émettre : {str(error)[:300]} ; à corriger dans le dossier (montant, "
                         "coordonnées bancaires), puis relancer le paiement")
    _journal(session, instalment, "payment_failed", {"key": instalment.idempotency_key, "batch_id": batch_id,
                                                     "reason": instalment.reason, "parked": True}, actor)
    return _answer(instalment, grant)


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
    rows = _unanswered_claims(session, ids, batch_id)
    grants = _grants(session, (i.grant_id for i in rows))
    answers = []
    for instalment in rows:
        _transition(instalment, FAILED)
        instalment.reason = f"échec technique, ordre à renouveler : {reason}"
        _journal(session, instalment, "payment_failed", {"key": instalment.idempotency_key, "batch_id": batch_id,
                                                         "reason": instalment.reason}, actor)
        answers.append(_answer(instalment, grants[instalment.grant_id]))
    return answers


# ---- 1. claims left without an answer ---------------------------------------------------

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
    _lock_grants(session, [grant_id])
    instalment = session.scalars(
        sa.select(Instalment)
        .where(Instalment.id == instalment_id, Instalment.status == ORDERED.value, Instalment.ordered_at.is_(None))
        .with_for_update()).one_or_none()
    if instalment is None:
        return None
    grant = _grants(session, [grant_id])[grant_id]
    known = gateway_for(settings, grant.authority).lookup(instalment.idempotency_key)
    if known is not None:
        return record_outcome(session, instalment, grant, known, business_date, actor=actor, via="lookup")
    _transition(instalment, FAILED)
    instalment.reason = (f"ordre réservé par la remise {instalment.batch_id} mais jamais reçu par le Trésor "
                         "(interruption avant l'envoi) : il sera ordonné de nouveau, avec la même clé")
    _journal(session, instalment, "payment_failed", {"key": instalment.idempotency_key,
                                                     "batch_id": instalment.batch_id, "reason": instalment.reason,
                                                     "via": "lookup"}, actor)
    return _answer(instalment, grant, via="lookup")


# ---- 5. the treasury's confirmation -----------------------------------------------------

def confirm_payment(session: Session, grant: Grant, confirmation: commands.PaymentConfirmation, settings: Settings,
                    *, actor: str) -> Instalment:
    """The money reached the association: instalment N paid on `paid_on`, its payment
    obligation done. The same confirmation twice changes nothing.

    An instalment that grantflow never ordered (a dossier's history, a payment made
    outside) passes through "ordered" on the way, so that the transition table holds.
    """
    _lock_grants(session, [grant.id])
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
                            f"{instalment.paid_on:%d/%m/%Y} : un versement n'est payé qu'une fois")
    act = acts.of_grant(session, grant)
    if act is None or act.executoire_on is None or confirmation.paid_on < act.executoire_on:
        since = f"le {act.executoire_on:%d/%m/%Y}" if act and act.executoire_on else "pas encore"
        raise RuleViolation("paid_on", confirmation.paid_on.isoformat(),
                            f"paiement antérieur au caractère exécutoire de l'acte (exécutoire {since}, "
                            "CGCT L2131-1) : vérifier la date du paiement")
    ordered_outside = instalment.status != ORDERED.value
    if ordered_outside:
        _transition(instalment, ORDERED)
        instalment.ordered_at = instalment.ordered_at or clock.now()
    _mark_paid(session, instalment, grant, confirmation.paid_on, actor=actor,
               source="hors grantflow" if ordered_outside else "confirmation")
    return instalment


# ---- the whole run, without Prefect -----------------------------------------------------

def chunks(ids: Sequence[int], size: int) -> list[list[int]]:
    size = max(1, size)
    return [list(ids[i:i + size]) for i in range(0, len(ids), size)]


def pay(unit_of_work: Callable[[], AbstractContextManager[Session]], settings: Settings, business_date: dt.date,
        batch_id: str, *, reference: str | None = None, number: int | None = None, actor: str = "grantflow",
        gateway_for: GatewayFor = bank_gateway) -> PaymentReport:
    """Steps 1-4 once, for everything due (or one grant, or one instalment). No retry
    here: a failure of the bank call leaves the claims "failed" for the next run. The report
    lists the problems; `raise_for_problems()` turns them into PaymentRunFailed."""
    report = PaymentReport(business_date, batch_id)
    with unit_of_work() as session:
        doubtful = in_doubt(session, reference)
    for instalment_id in doubtful:
        with unit_of_work() as session:
            answer = resolve_in_doubt(session, settings, instalment_id, business_date, actor=actor,
                                      gateway_for=gateway_for)
        if answer is not None:
            report.recovered.append(answer)
    with unit_of_work() as session:
        plan = payment_plan(session, settings, business_date, reference, number)
    report.problems += plan.problems
    report.settled += plan.settled
    report.waiting += plan.waiting
    claimed: list[int] = []
    for chunk in chunks(plan.ready, settings.payment_claim_batch):
        with unit_of_work() as session:
            claimed += claim_many(session, chunk, batch_id, actor=actor)
    if claimed:
        try:
            with unit_of_work() as session:
                answers = order_claimed(session, settings, claimed, batch_id, business_date, actor=actor,
                                        gateway_for=gateway_for)
        except Exception as error:  # the bank unreachable, or a gateway that cannot be built or refuses the file
            reason = str(error) or type(error).__name__
            with unit_of_work() as session:
                failed = record_technical_failure(session, claimed, batch_id, reason, actor=actor)
            report.problems += [Problem(a.reference, a.number, a.amount, "technique", reason) for a in failed]
        else:
            report.ordered += [a for a in answers if a.status in (ORDERED.value, PAID.value)]
            report.problems += problems_of(answers)
    return report


def rejection(reference: str, number: int, amount: Decimal, reason: str | None) -> Problem:
    return Problem(reference, number, amount, "rejet",
                   f"{reason} ; à corriger : les coordonnées bancaires ou les pièces demandées, puis relancer "
                   "le paiement (le versement sera ordonné de nouveau, avec la même clé)")


def problem_of(reference: str, number: int, amount: Decimal, status: str, reason: str | None) -> Problem | None:
    """An answer as the run's failure reports it: a rejection, an order parked, or nothing."""
    if status == REJECTED.value:
        return rejection(reference, number, amount, reason)
    if status == FAILED.value:
        return Problem(reference, number, amount, "ordre", reason or "")
    return None


def problems_of(answers: Iterable[Answer]) -> list[Problem]:
    return [p for a in answers if (p := problem_of(a.reference, a.number, a.amount, a.status, a.reason)) is not None]


def daily_payments(unit_of_work: Callable[[], AbstractContextManager[Session]],
                   settings: Settings) -> Callable[[dt.date], list[str]]:
    """The payment run as a daily job of `grantflow simulate` (services.simulation.DailyJob):
    one batch per simulated day, problems reported as lines instead of failing the day."""
    def job(day: dt.date) -> list[str]:
        return pay(unit_of_work, settings, day, f"simulation-{day:%Y%m%d}", actor="grantflow simulate").lines()

    return job
