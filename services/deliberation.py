"""Recording the council's vote: quorum, majority, a failed quorum reconvened."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from db.models import Deliberation, Grant
from domain.deliberation import Decision, Sitting, Votes, decide
from domain.errors import RuleViolation
from domain.lifecycle import Stage
from grantflow.settings import Settings
from services import commands, conventions, grants, journal


def latest(session: Session, grant: Grant) -> Deliberation | None:
    return session.scalars(
        sa.select(Deliberation).where(Deliberation.grant_id == grant.id)
        .order_by(Deliberation.session_on.desc()).limit(1)
    ).one_or_none()


def latest_outcome(session: Session, grant: Grant) -> str | None:
    deliberation = latest(session, grant)
    return deliberation.outcome if deliberation else None


def record_vote(session: Session, grant: Grant, vote: commands.Vote, settings: Settings, *,
                actor: str) -> Decision:
    if grant.stage != Stage.DELIBERATION.value:
        raise RuleViolation("deliberation.session", vote.session,
                            f"la subvention est à l'étape « {grant.stage} » : le vote est déjà enregistré")
    previous = latest(session, grant)
    if vote.reconvened_after is not None and (
        previous is None or previous.outcome != "quorum_failed" or previous.session_on != vote.reconvened_after
    ):
        raise RuleViolation("deliberation.reconvened_after", vote.reconvened_after,
                            "aucune séance sans quorum n'a été enregistrée à cette date pour cette subvention "
                            "(CGCT L2121-17 : seule une séance sans quorum peut être reconvoquée)")
    if previous is not None and previous.outcome == "quorum_failed" and vote.reconvened_after is None \
            and vote.session <= previous.session_on:
        raise RuleViolation("deliberation.session", vote.session,
                            f"la séance doit suivre la séance sans quorum du {previous.session_on:%d/%m/%Y}")
    counts = vote.votes
    sitting = Sitting(
        session=vote.session, convened=vote.convened, members_in_office=vote.members_in_office,
        present=vote.present, represented=vote.represented,
        votes=Votes(counts.for_, counts.against, counts.abstentions, counts.not_voting) if counts else None,
        outcome=vote.outcome, president=vote.president, secret=vote.secret,
        reconvened_after=vote.reconvened_after, urgency=vote.urgency,
    )
    decision = decide(sitting, convocation_clear_days=settings.convocation_clear_days)
    session.add(Deliberation(
        grant_id=grant.id, session_on=vote.session, convened_on=vote.convened,
        members_in_office=vote.members_in_office, present=vote.present, represented=vote.represented,
        votes_for=counts.for_ if counts else None, votes_against=counts.against if counts else None,
        abstentions=counts.abstentions if counts else None, not_voting=counts.not_voting if counts else None,
        president_vote=vote.president, secret=vote.secret, urgency=vote.urgency,
        reconvened_after=vote.reconvened_after, act_number=vote.act_number, outcome=decision.outcome,
        quorum_required=decision.quorum_required,
    ))
    journal.append(session, grant, "vote_recorded", {
        **vote.model_dump(mode="json", by_alias=True),
        "decision": decision.outcome, "quorum_required": decision.quorum_required, "reason": decision.reason,
    }, actor=actor)
    grants.advance(session, grant, vote.session, actor=actor)
    if decision.outcome == "adopted":
        conventions.review_yearly_totals(session, grant, vote.session.year, vote.session, settings, actor=actor)
    return decision
