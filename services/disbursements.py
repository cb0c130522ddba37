"""The association's redistribution to project holders: its eligible spending (seed 002 art. 4.1).

The evaluation compares it with the money paid, and the closure claims back what was paid
and not redistributed within the convention period.

Rules (decided here, DOMAIN.md §6):
- a disbursement is recorded while the convention runs or is being closed (stages active
  and closing), never dated before the convention starts;
- the total redistributed never exceeds the amount of the grant: the association cannot
  redistribute more of the dotation than the authority allocated (spending above what was
  *paid* so far is allowed: the association may advance its own cash before the payment);
- once the closure has computed the refund, no disbursement can be added any more (the
  titre de recette would be wrong): a forgotten one is a matter for a corrective titre;
- one dated after the end of the convention is recorded, but it is not eligible spending
  (the journal says so);
- the same disbursement twice (same date, beneficiary and amount) is recorded once: a
  retried flow run or a dossier loaded again writes nothing more.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Disbursement, Grant, Instalment, Refund
from domain import labels
from domain.calendar import format_date_fr
from domain.errors import RuleViolation
from domain.lifecycle import InstalmentStatus, Stage
from domain.money import ZERO, format_amount_fr
from services import commands, journal

RECORDING_STAGES = (Stage.ACTIVE.value, Stage.CLOSING.value)


def total_redistributed(session: Session, grant: Grant, *, until: dt.date | None = None,
                        since: dt.date | None = None) -> Decimal:
    query = sa.select(sa.func.coalesce(sa.func.sum(Disbursement.amount), 0)).where(Disbursement.grant_id == grant.id)
    if until is not None:
        query = query.where(Disbursement.paid_on <= until)
    if since is not None:
        query = query.where(Disbursement.paid_on >= since)
    return Decimal(session.scalar(query) or 0).quantize(Decimal("0.01"))


def eligible_spending(session: Session, grant: Grant) -> Decimal:
    """Disbursements within the convention period, both days included."""
    if grant.starts_on is None or grant.ends_on is None:
        return ZERO
    return total_redistributed(session, grant, since=grant.starts_on, until=grant.ends_on)


def total_paid(session: Session, grant: Grant, *, until: dt.date | None = None) -> Decimal:
    """What the authority paid the association (instalments with status paid)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(Instalment.amount), 0)).where(
        Instalment.grant_id == grant.id, Instalment.status == InstalmentStatus.PAID.value)
    if until is not None:
        query = query.where(Instalment.paid_on <= until)
    return Decimal(session.scalar(query) or 0).quantize(Decimal("0.01"))


def record_disbursement(session: Session, grant: Grant, fact: commands.Disbursement, settings: Settings, *,
                        actor: str) -> Disbursement:
    beneficiary = fact.beneficiary.strip()
    if not beneficiary:
        raise RuleViolation("beneficiary", fact.beneficiary, "bénéficiaire vide : nommer le porteur de projet")
    if fact.amount <= 0:
        raise RuleViolation("amount", str(fact.amount), "un versement à un porteur de projet est strictement positif")
    existing = session.scalars(sa.select(Disbursement).where(
        Disbursement.grant_id == grant.id, Disbursement.paid_on == fact.on, Disbursement.beneficiary == beneficiary,
        Disbursement.amount == fact.amount)).first()
    if existing is not None:
        return existing
    if grant.stage not in RECORDING_STAGES:
        raise RuleViolation("on", fact.on.isoformat(),
                            f"la subvention est à l'étape {labels.stages(grant.stage)} : les versements aux porteurs "
                            "de projets s'enregistrent pendant la convention ou sa clôture (étapes "
                            f"{labels.stages(*RECORDING_STAGES)})")
    if grant.starts_on is not None and fact.on < grant.starts_on:
        raise RuleViolation("on", fact.on.isoformat(),
                            f"versement antérieur au début de la convention ({format_date_fr(grant.starts_on)})")
    refund = session.scalars(sa.select(Refund).where(Refund.grant_id == grant.id)).one_or_none()
    if refund is not None:
        raise RuleViolation("on", fact.on.isoformat(),
                            f"la clôture a déjà calculé le reversement ({format_amount_fr(refund.amount)}) : un "
                            "versement omis ne peut plus être ajouté, il relève d'un titre rectificatif")
    already = total_redistributed(session, grant)
    total = already + fact.amount
    if total > grant.amount:
        raise RuleViolation("amount", str(fact.amount),
                            f"le total redistribué aux porteurs de projets ({format_amount_fr(total)}) dépasserait "
                            f"le montant de la subvention ({format_amount_fr(grant.amount)}) de "
                            f"{format_amount_fr(total - grant.amount)} : déjà redistribué "
                            f"{format_amount_fr(already)}")
    row = Disbursement(grant_id=grant.id, paid_on=fact.on, beneficiary=beneficiary, amount=fact.amount)
    session.add(row)
    session.flush()
    eligible = grant.ends_on is None or fact.on <= grant.ends_on
    payload: dict[str, object] = {"on": fact.on, "beneficiary": beneficiary, "amount": fact.amount,
                                  "total": total, "eligible": eligible}
    if not eligible:
        payload["note"] = (f"versement postérieur à la fin de la convention ({format_date_fr(grant.ends_on)}) : "
                           "non retenu dans les dépenses éligibles")
    journal.append(session, grant, "disbursement", payload, actor=actor)
    return row
