"""The yearly thresholds that depend on more than one grant.

A convention is compulsory when what one authority grants one association in a year
exceeds 23,000 EUR (décret 2001-495 art. 1): two grants of 14,000 and 12,000 EUR need one
each, although neither does alone. An association given more than 153,000 EUR in a year by
all the public bodies in the store must publish certified accounts (code de commerce
L612-4). Both are reviewed when a vote adopts a grant, since the vote gives it its year.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import ConventionYear, Deliberation, Event, Grant, Instalment
from domain.convention import (
    CERTIFIED_ACCOUNTS_THRESHOLD,
    certified_accounts_required,
    convention_required,
    yearly_total_message,
)
from domain.lifecycle import MONEY_SENT, Stage
from domain.money import ZERO, format_amount_fr
from services import journal, obligations

# Journal events an operator must read: the loader prints them, the flows log them.
NOTICES = ("convention_requise", "convention_manquante", "comptes_certifies")


def granted_in(session: Session, year: int, *, association_id: int, authority_id: int | None = None) -> list[Grant]:
    """The grants adopted by a vote dated in `year`, to one association (from one authority)."""
    adopted = sa.select(Deliberation.act_id).where(
        Deliberation.outcome == "adopted",
        Deliberation.session_on.between(dt.date(year, 1, 1), dt.date(year, 12, 31)))
    query = sa.select(Grant).where(Grant.association_id == association_id, Grant.act_id.in_(adopted))
    if authority_id is not None:
        query = query.where(Grant.authority_id == authority_id)
    return list(session.scalars(query.order_by(Grant.id)).unique())


def yearly_amount(session: Session, grant: Grant) -> Decimal:
    """What a grant weighs in the year its act was voted: a multi-year convention its first
    year only (each following year is voted, and weighed, on its own: services.multi_year)."""
    if grant.years is None:
        return grant.amount
    first = session.scalar(sa.select(ConventionYear.amount).where(ConventionYear.grant_id == grant.id,
                                                                  ConventionYear.number == 1))
    return grant.amount if first is None else first


def _flagged(session: Session, grants: list[Grant], kind: str, year: int) -> bool:
    events = session.scalars(sa.select(Event.payload).where(
        Event.grant_id.in_([g.id for g in grants]), Event.kind == kind))
    return any(payload.get("year") == year for payload in events)


def _money_sent(session: Session, grant: Grant) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(Instalment).where(
        Instalment.grant_id == grant.id, Instalment.status.in_(MONEY_SENT))) > 0


def review_yearly_totals(session: Session, grant: Grant, year: int, day: dt.date, settings: Settings, *,
                         actor: str) -> list[str]:
    """Apply both thresholds after `grant` was adopted in `year`; the notices for the operator.

    Idempotent: a grant already under a convention is left alone and each flag is written once.
    A grant already paid without a convention is flagged, never changed after the fact.
    """
    notices: list[str] = []
    threshold = settings.convention_threshold
    same_pair = granted_in(session, year, association_id=grant.association_id, authority_id=grant.authority_id)
    total = sum((yearly_amount(session, g) for g in same_pair), ZERO)
    if len(same_pair) > 1 and convention_required(total, threshold=threshold):
        why = yearly_total_message(total, year, len(same_pair), threshold=threshold)
        references = [g.reference for g in same_pair]
        for other in same_pair:
            if other.convention_required:
                continue
            payload = {"year": year, "total": str(total), "grants": references}
            if _money_sent(session, other):
                if not _flagged(session, [other], "convention_manquante", year):
                    message = (f"{other.reference} : déjà versée sans convention ; {why} : "
                               "à régulariser (convention ou avenant signé)")
                    journal.append(session, other, "convention_manquante", payload | {"message": message}, actor=actor)
                    notices.append(message)
                continue
            other.convention_required = True
            if other.stage not in (Stage.DELIBERATION.value, Stage.PREFECTURE.value, Stage.REJECTED.value):
                # Exécutoire already: the signatures fall due from today, and no payment before them.
                signed = obligations.signed_parties(session, other)
                obligations.convention_to_sign(session, other, day, settings, signed)
            message = f"{other.reference} : {why}"
            journal.append(session, other, "convention_requise", payload | {"message": message}, actor=actor)
            notices.append(message)
    from_all = granted_in(session, year, association_id=grant.association_id)
    total_all = sum((yearly_amount(session, g) for g in from_all), ZERO)
    if certified_accounts_required(total_all) and not _flagged(session, from_all, "comptes_certifies", year):
        message = (f"{grant.association.name} : {format_amount_fr(total_all)} de subventions publiques en {year} "
                   f"(plus de {format_amount_fr(CERTIFIED_ACCOUNTS_THRESHOLD)}) : l'association doit publier des "
                   "comptes annuels certifiés par un commissaire aux comptes (code de commerce L612-4)")
        journal.append(session, grant, "comptes_certifies",
                       {"year": year, "total": str(total_all), "grants": [g.reference for g in from_all],
                        "message": message}, actor=actor)
        notices.append(message)
    return notices


def journal_mark(session: Session) -> int:
    """Where the journal stands, to read the notices of what follows with `notices_since`."""
    session.flush()
    return session.scalar(sa.select(sa.func.coalesce(sa.func.max(Event.id), 0)))


def notices_since(session: Session, mark: int) -> list[str]:
    session.flush()
    return [payload["message"] for payload in session.scalars(
        sa.select(Event.payload).where(Event.id > mark, Event.kind.in_(NOTICES)).order_by(Event.id))]
