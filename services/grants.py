"""Finding a grant and moving it through its stages (the table lives in domain.lifecycle)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import get_settings
from db.models import Grant, Instalment, Refund
from domain.errors import RuleViolation
from domain.lifecycle import GrantFacts, InstalmentStatus, Stage, check_stage_transition, next_stage
from services import acts, journal, obligations

SETTLED = (InstalmentStatus.PAID.value, InstalmentStatus.CANCELLED.value)


def get_grant(session: Session, reference: str, *, for_update: bool = False) -> Grant:
    query = sa.select(Grant).where(Grant.reference == reference)
    if for_update:
        # Serialises two actions on the same grant (no-op on SQLite, which locks the file).
        query = query.with_for_update(of=Grant)
    grant = session.scalars(query).unique().one_or_none()
    if grant is None:
        raise RuleViolation("reference", reference, "aucune subvention ne porte cette référence")
    return grant


def facts_of(session: Session, grant: Grant, today: dt.date) -> GrantFacts:
    act = acts.of_grant(session, grant)
    signed = obligations.signed_parties(session, grant)
    refund = session.scalars(sa.select(Refund).where(Refund.grant_id == grant.id)).one_or_none()
    vote = acts.latest_vote(session, act)
    outcome = vote.outcome if vote else None
    return GrantFacts(
        adopted=None if outcome in (None, "quorum_failed") else outcome == "adopted",
        executoire_on=act.executoire_on if act else None,
        convention_required=grant.convention_required,
        signed_by_association="association" in signed,
        signed_by_authority="authority" in signed,
        ends_on=grant.ends_on,
        today=today,
        refund_settled=refund is not None and refund.status in ("paid", "waived"),
        closed=grant.stage == Stage.CLOSED.value,
        # Only named in a refusal (convention_required was decided with it at load and vote).
        convention_threshold=get_settings().convention_threshold,
        refund_outstanding=refund.amount - refund.received if refund is not None and refund.status == "due" else None,
        instalments_to_pay=session.scalar(sa.select(sa.func.count()).where(
            Instalment.grant_id == grant.id, Instalment.status.not_in(SETTLED))) or 0,
    )


def move(session: Session, grant: Grant, target: Stage, facts: GrantFacts, *, actor: str) -> None:
    current = Stage(grant.stage)
    check_stage_transition(current, target, facts)
    grant.stage = target.value
    journal.append(session, grant, "stage_changed", {"from": current.value, "to": target.value}, actor=actor)


def advance(session: Session, grant: Grant, today: dt.date, *, actor: str) -> list[Stage]:
    """Move the grant as far as its facts allow today; returns the stages entered."""
    entered: list[Stage] = []
    while True:
        facts = facts_of(session, grant, today)
        target = next_stage(Stage(grant.stage), facts)
        if target is None:
            return entered
        move(session, grant, target, facts, actor=actor)
        entered.append(target)
