"""Instalments due on a fact instead of a date ("acompte à la signature", "solde sur
production du compte rendu financier", "x % après le compte rendu n°N").

Until its fact happens such an instalment has no due date: the payment run never orders
it and says what it waits for. The fact gives it its date, `condition_days` later (by
default the 60 days of loi 2021-875), moved to a working day, and its payment obligation.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Grant, Instalment
from domain.calendar import format_date_fr
from domain.grant_end import CONDITION_DAYS, Condition, condition_text
from domain.lifecycle import InstalmentStatus
from domain.money import format_amount_fr
from services import journal, obligations


def release(session: Session, grant: Grant, condition: Condition, on: dt.date, settings: Settings, *,
            actor: str, number: int | None = None) -> list[Instalment]:
    """The fact happened on `on`: the instalments waiting for it fall due. `number`: the
    report answered, or the year of the compte rendu financier approved; an instalment
    stored without one (before multi-year soldes) is released by the first approved."""
    query = sa.select(Instalment).where(
        Instalment.grant_id == grant.id, Instalment.condition == condition.value, Instalment.due_on.is_(None),
        Instalment.status == InstalmentStatus.SCHEDULED.value)
    if number is not None:
        query = query.where(sa.or_(Instalment.condition_number == number, Instalment.condition_number.is_(None)))
    released = list(session.scalars(query.order_by(Instalment.number)))
    for instalment in released:
        days = CONDITION_DAYS if instalment.condition_days is None else instalment.condition_days
        instalment.due_on = obligations.deadline(grant, on + dt.timedelta(days=days), settings)
        obligations.ensure(session, grant, "payment", instalment.number,
                           label=f"versement n°{instalment.number} ({format_amount_fr(instalment.amount)})",
                           debtor=obligations.AUTHORITY, due_on=instalment.due_on)
        journal.append(session, grant, "instalment_due", {
            "number": instalment.number, "amount": instalment.amount, "due_on": instalment.due_on,
            "reason": f"{condition_text(condition, number)} le {format_date_fr(on)} : versement dû sous {days} jours"},
            actor=actor)
    return released


def waiting_for(instalment: Instalment) -> str:
    """What a conditional instalment still waits for, as the payment run says it."""
    return (f"versement n°{instalment.number} ({format_amount_fr(instalment.amount)}) en attente "
            f"{condition_text(Condition(instalment.condition), instalment.condition_number, awaited=True)}")
