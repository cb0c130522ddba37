"""Step 2 of a payment run: what is due today, and what forbids ordering it (DOMAIN.md §4).

Each refusal is in French with what to fix: act exécutoire, convention signed when
compulsory, SIRET, IBAN, BIC, account holder, a change of bank details pending, the
authority's treasury account (SEPA files). An instalment due on a fact that has not
happened is never ordered; the run says what it waits for.
"""
from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Authority, Grant, Instalment
from domain import identifiers
from domain.errors import RuleViolation
from domain.lifecycle import PAYMENT_STOPS, Stage, check_payment_allowed
from services import acts, bank_changes, conditions
from services.grants import facts_of, get_grant
from services.payment_results import CLAIMABLE, SCHEDULED, Plan, Problem, ProblemKind, answer_of
from services.payment_store import grants_by_id


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
                plan.settled.append(answer_of(instalment, grant, via="none"))
                return plan
    plan.waiting = waiting_instalments(session, reference, number)
    due = due_instalments(session, business_date, reference, number)
    grants = grants_by_id(session, (i.grant_id for i in due))
    for grant_id, group in itertools.groupby(due, key=lambda i: i.grant_id):
        grant = grants[grant_id]
        missing = debtor_account_missing(grant.authority, settings)
        refusals = payment_refusals(session, grant, business_date, settings)
        for instalment in group:
            if missing is not None:
                # Nothing is claimed: the instalment stays scheduled, to be ordered by the
                # first run after the account is configured (not a failure to retry).
                plan.problems.append(Problem(grant.reference, instalment.number, instalment.amount,
                                             ProblemKind.CONFIGURATION, missing))
            elif refusals:
                plan.problems.append(Problem(grant.reference, instalment.number, instalment.amount,
                                             ProblemKind.CONDITIONS,
                                             " | ".join(say(r) for r in refusals)))
            else:
                plan.ready.append(instalment.id)
    return plan
