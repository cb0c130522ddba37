"""What operations staff read: one grant in full, and the portfolio as a table."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from db.models import (
    Act,
    Association,
    Authority,
    ConventionYear,
    Event,
    Grant,
    Instalment,
    Obligation,
    Refund,
)
from domain.acts import BODIES, BODY_BASIS
from domain.lifecycle import OBLIGATION_OPEN, ObligationStatus
from domain.money import format_amount
from services import acts, bank_changes
from services.conditions import waiting_for
from services.grants import get_grant


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def act_view(act: Act | None) -> dict[str, Any] | None:
    """The grant's act as staff read it: reference, deciding body, sitting, transmission."""
    if act is None:
        return None
    return {
        "reference": act.reference, "body": act.body, "body_fr": f"{BODIES[act.body]} ({BODY_BASIS[act.body]})",
        "sitting_first": _iso(act.sitting_first), "sitting_last": _iso(act.sitting_last),
        "act_number": act.act_number, "transmission": act.transmission, "act_id": act.act_id,
        "received_on": _iso(act.received_on), "published_on": _iso(act.published_on),
    }


def grant_view(session: Session, reference: str) -> dict[str, Any]:
    grant = get_grant(session, reference)
    act = acts.of_grant(session, grant)
    refund = session.scalars(sa.select(Refund).where(Refund.grant_id == grant.id)).one_or_none()
    obligations = session.scalars(
        sa.select(Obligation).where(Obligation.grant_id == grant.id).order_by(Obligation.due_on, Obligation.id))
    instalments = session.scalars(
        sa.select(Instalment).where(Instalment.grant_id == grant.id).order_by(Instalment.number))
    events = session.scalars(sa.select(Event).where(Event.grant_id == grant.id).order_by(Event.seq))
    years = session.execute(
        sa.select(ConventionYear, Act.reference).outerjoin(Act, Act.id == ConventionYear.act_id)
        .where(ConventionYear.grant_id == grant.id).order_by(ConventionYear.number))
    return {
        "reference": grant.reference,
        "authority": grant.authority.code,
        "association": grant.association.code,
        "object": grant.object,
        "amount": format_amount(grant.amount),
        "stage": grant.stage,
        "convention_required": grant.convention_required,
        "act": act_view(act),
        "kind": grant.kind,
        "refund_clause": grant.refund_clause,
        "financial_report_owed": grant.financial_report_owed,
        "act_id": act.act_id if act else None,
        "executoire_on": _iso(act.executoire_on) if act else None,
        "legality_control_ends_on": _iso(act.control_ends_on) if act else None,
        "years": None if grant.years is None else {
            "count": grant.years,
            "voted": [{"number": y.number, "exercise": y.exercise, "amount": format_amount(y.amount),
                       "act": act_reference or (act.reference if y.number == 1 and act else None),
                       "amendment": y.amendment_number} for y, act_reference in years],
        },
        "starts_on": _iso(grant.starts_on),
        "ends_on": _iso(grant.ends_on),
        "obligations": [
            {"kind": o.kind, "number": o.number, "label": o.label, "debtor": o.debtor,
             "due_on": _iso(o.due_on), "status": o.status, "done_on": _iso(o.done_on)}
            for o in obligations
        ],
        "payments": [
            {"number": i.number, "amount": format_amount(i.amount), "due_on": _iso(i.due_on), "status": i.status,
             "paid_on": _iso(i.paid_on), "reason": i.reason,
             "waits_for": None if i.condition is None or i.due_on is not None else waiting_for(i)}
            for i in instalments
        ],
        "refund": None if refund is None else {
            "amount": format_amount(refund.amount), "received": format_amount(refund.received),
            "status": refund.status, "titre_number": refund.titre_number, "due_on": _iso(refund.due_on),
        },
        "bank_change_pending": bank_changes.pending_view(bank_changes.pending(session, grant.association_id)),
        "events": [
            {"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "kind": e.kind, "payload": e.payload}
            for e in events
        ],
    }


PORTFOLIO_COLUMNS = ["reference", "authority", "association", "stage", "amount", "paid", "next_due_on",
                     "next_obligation", "overdue"]


def portfolio(session: Session, authority: str | None = None) -> pd.DataFrame:
    """One row per grant, computed in SQL whatever the number of grants."""
    paid = (sa.select(Instalment.grant_id, sa.func.sum(Instalment.amount).label("paid"))
            .where(Instalment.status == "paid").group_by(Instalment.grant_id).subquery())
    is_open = Obligation.status.in_(OBLIGATION_OPEN)
    next_due = (sa.select(Obligation.grant_id, sa.func.min(Obligation.due_on).label("next_due_on"))
                .where(is_open).group_by(Obligation.grant_id).subquery())
    overdue = (sa.select(Obligation.grant_id, sa.func.count().label("overdue"))
               .where(Obligation.status == ObligationStatus.OVERDUE).group_by(Obligation.grant_id).subquery())
    next_label = (sa.select(sa.func.min(Obligation.label))
                  .where(Obligation.grant_id == Grant.id, is_open, Obligation.due_on == next_due.c.next_due_on)
                  .correlate(Grant, next_due).scalar_subquery())
    query = (
        sa.select(Grant.reference, Authority.code.label("authority"), Association.code.label("association"),
                  Grant.stage, Grant.amount, paid.c.paid, next_due.c.next_due_on,
                  next_label.label("next_obligation"), overdue.c.overdue)
        .join(Authority, Authority.id == Grant.authority_id)
        .join(Association, Association.id == Grant.association_id)
        .outerjoin(paid, paid.c.grant_id == Grant.id)
        .outerjoin(next_due, next_due.c.grant_id == Grant.id)
        .outerjoin(overdue, overdue.c.grant_id == Grant.id)
        .order_by(Grant.reference)
    )
    if authority:
        query = query.where(Authority.code == authority)
    rows = [
        {"reference": r.reference, "authority": r.authority, "association": r.association, "stage": r.stage,
         "amount": format_amount(r.amount), "paid": format_amount(r.paid or Decimal("0.00")),
         "next_due_on": _iso(r.next_due_on), "next_obligation": r.next_obligation, "overdue": int(r.overdue or 0)}
        for r in session.execute(query)
    ]
    return pd.DataFrame(rows, columns=PORTFOLIO_COLUMNS)
