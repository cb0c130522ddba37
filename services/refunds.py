"""The titre de recette and what is received against it (DOMAIN.md §6, CGCT L1617-5, D1611-1).

services.closure issues the titre when it decides a grant's end (its number and grounds are
written here); each refund received is recorded here: a partial one leaves the rest due
(the obligation stays open, its label says what is left), the full amount settles the
refund and the grant moves closing -> closed through the lifecycle guards.
"""
from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Grant, Obligation, Refund
from domain.calendar import format_date_fr
from domain.errors import RuleViolation
from domain.grant_end import CLAUSE_TEXT, RefundClause
from domain.money import format_amount, format_amount_fr
from domain.statuses import RefundStatus
from services import facts, grants, journal, obligations

DUE, WAIVED, PAID = RefundStatus.DUE.value, RefundStatus.WAIVED.value, RefundStatus.PAID.value
# Seed 002, art. 4.1 ("Dotation"): "Si à la fin de la période de validité de cette convention,
# l'intégralité de la dotation n'a pas été redistribuée aux porteurs de projets, la somme
# restante sera restituée à l'Agglomération".
CLAUSE = "article 4.1 de la convention"



def next_titre_number(session: Session, year: int) -> str:
    """TR-<year>-<6 digits>, following the highest of that year in the store (the unique
    constraint on titre_number refuses a duplicate if two closures race)."""
    prefix = f"TR-{year}-"
    last = session.scalar(sa.select(sa.func.max(Refund.titre_number)).where(Refund.titre_number.like(f"{prefix}%")))
    sequence = int(last.removeprefix(prefix)) + 1 if last else 1
    return f"{prefix}{sequence:06d}"


def grounds_text(grant: Grant, paid: Decimal, eligible: Decimal, amount: Decimal) -> str:
    clause = RefundClause(grant.refund_clause)
    if clause is RefundClause.NON_REDISTRIBUE:
        return (f"Reversement de la part de la subvention non utilisée, en application de l'{CLAUSE} : la dotation "
                f"non redistribuée aux porteurs de projets à la fin de la convention (du "
                f"{format_date_fr(grant.starts_on)} au {format_date_fr(grant.ends_on)}) est restituée à la "
                f"collectivité. Versé : {format_amount_fr(paid)} ; redistribué aux porteurs de projets pendant la "
                f"convention : {format_amount_fr(eligible)} ; à reverser : {format_amount_fr(amount)}.")
    return (f"Reversement en application de la clause « {clause.value} » de la convention ({CLAUSE_TEXT[clause]}), "
            f"au vu du compte rendu financier contrôlé (loi 2000-321 art. 10) : subvention "
            f"{format_amount_fr(grant.amount)}, droits de l'association {format_amount_fr(eligible)}, versé "
            f"{format_amount_fr(paid)} ; à reverser : {format_amount_fr(amount)}.")


def years_text(yearly: list[dict[str, str | int]] | None) -> str:
    if not yearly:
        return ""
    parts = [f"{row['exercise']} : {format_amount_fr(Decimal(str(row['amount'])))} votés, "
             f"{format_amount_fr(Decimal(str(row['entitlement'])))} retenus" for row in yearly]
    return " Calcul par année de la convention pluriannuelle : " + " ; ".join(parts) + "."


def refund_label(refund: Refund) -> str:
    left = refund.amount - refund.received
    text = f"reversement du titre de recette {refund.titre_number} ({format_amount_fr(refund.amount)})"
    if refund.received:
        text += f", reste dû {format_amount_fr(left)}"
    return text


def record_refund(session: Session, grant: Grant, fact: facts.RefundReceived, settings: Settings, *,
                  actor: str) -> Refund:
    """Money received against the titre: partial leaves the rest due; full settles and closes."""
    refund = session.scalars(sa.select(Refund).where(Refund.grant_id == grant.id)).one_or_none()
    if refund is None or refund.titre_number is None:
        why = ("la clôture n'a pas encore été calculée" if refund is None
               else "aucun titre de recette n'a été émis (rien à reverser)")
        raise RuleViolation("amount", format_amount(fact.amount),
                            f"reversement inattendu pour {grant.reference} : {why}")
    receipt = {"on": fact.on.isoformat(), "amount": format_amount(fact.amount)}
    if receipt in (refund.receipts or []):
        return refund  # the same receipt recorded again (a retried run, a dossier reloaded)
    if refund.status == PAID:
        raise RuleViolation("amount", format_amount(fact.amount),
                            f"le titre de recette {refund.titre_number} est déjà soldé "
                            f"({format_amount_fr(refund.amount)} reçus)")
    if fact.amount <= 0:
        raise RuleViolation("amount", format_amount(fact.amount), "un reversement est strictement positif")
    if refund.issued_on is not None and fact.on < refund.issued_on:
        raise RuleViolation("on", fact.on.isoformat(), f"encaissement antérieur à l'émission du titre "
                                                       f"{refund.titre_number} ({format_date_fr(refund.issued_on)})")
    left = refund.amount - refund.received
    if fact.amount > left:
        raise RuleViolation("amount", format_amount(fact.amount),
                            f"montant supérieur au reste dû sur le titre {refund.titre_number} "
                            f"({format_amount_fr(left)} sur {format_amount_fr(refund.amount)}) : le trop-perçu "
                            f"de {format_amount_fr(fact.amount - left)} serait à rembourser")
    refund.received = refund.received + fact.amount
    refund.receipts = [*(refund.receipts or []), receipt]
    left = refund.amount - refund.received
    journal.append(session, grant, "refund_received", {
        "on": fact.on, "amount": format_amount(fact.amount), "received": format_amount(refund.received),
        "left": format_amount(left), "titre_number": refund.titre_number}, actor=actor)
    obligation = session.scalars(sa.select(Obligation).where(
        Obligation.grant_id == grant.id, Obligation.kind == "refund", Obligation.number == 1)).one_or_none()
    if left == 0:
        refund.status = PAID
        obligations.fulfil(session, grant, "refund", 1, fact.on)
        grants.advance(session, grant, fact.on, actor=actor)
    elif obligation is not None:
        obligation.label = refund_label(refund)
    return refund
