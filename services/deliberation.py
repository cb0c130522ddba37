"""Recording the vote on an act: quorum, majority, a failed quorum reconvened; one vote
decides every grant of the act."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Act, Deliberation, Grant
from domain import labels
from domain.acts import check_vote_in_sitting
from domain.deliberation import ADOPTED, REJECTED, Decision, Sitting, Votes, decide
from domain.errors import RuleViolation
from domain.lifecycle import Stage
from services import acts, commands, conventions, grants, journal


def latest_outcome(session: Session, grant: Grant) -> str | None:
    deliberation = acts.latest_vote(session, acts.of_grant(session, grant))
    return deliberation.outcome if deliberation else None


def record_vote(session: Session, act: Act, vote: commands.Vote, settings: Settings, *,
                actor: str) -> Decision:
    previous = acts.latest_vote(session, act)
    if previous is not None and previous.outcome in (ADOPTED, REJECTED):
        raise RuleViolation("deliberation.session", vote.session,
                            f"l'acte {act.reference} est déjà voté (séance du {previous.session_on:%d/%m/%Y})")
    members = acts.grants_of(session, act)
    for grant in members:
        if grant.stage != Stage.DELIBERATION.value:
            raise RuleViolation("deliberation.session", vote.session,
                                f"la subvention {grant.reference} est à l'étape {labels.stages(grant.stage)} : "
                                "le vote est déjà enregistré")
    if vote.reconvened_after is not None and (
        previous is None or previous.session_on != vote.reconvened_after
    ):
        raise RuleViolation("deliberation.reconvened_after", vote.reconvened_after,
                            "aucune séance sans quorum n'a été enregistrée à cette date pour cet acte "
                            "(CGCT L2121-17 : seule une séance sans quorum peut être reconvoquée)")
    if previous is not None and vote.reconvened_after is None and vote.session <= previous.session_on:
        raise RuleViolation("deliberation.session", vote.session,
                            f"la séance doit suivre la séance sans quorum du {previous.session_on:%d/%m/%Y}")
    if vote.reconvened_after is None and previous is None and act.sitting_first is not None:
        check_vote_in_sitting(vote.session, act.sitting_first, act.sitting_last or act.sitting_first)
    else:
        # A one-day sitting, or the sitting reconvened after a failed quorum.
        act.sitting_first = act.sitting_last = vote.session
    if vote.act_number is not None:
        if act.act_number is not None and act.act_number != vote.act_number:
            raise RuleViolation("deliberation.act_number", vote.act_number,
                                f"l'acte {act.reference} porte le numéro {act.act_number}")
        act.act_number = vote.act_number
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
        act_id=act.id, session_on=vote.session, convened_on=vote.convened,
        members_in_office=vote.members_in_office, present=vote.present, represented=vote.represented,
        votes_for=counts.for_ if counts else None, votes_against=counts.against if counts else None,
        abstentions=counts.abstentions if counts else None, not_voting=counts.not_voting if counts else None,
        president_vote=vote.president, secret=vote.secret, urgency=vote.urgency,
        reconvened_after=vote.reconvened_after, act_number=vote.act_number, outcome=decision.outcome,
        quorum_required=decision.quorum_required,
    ))
    session.flush()
    payload = {
        "act": act.reference, **vote.model_dump(mode="json", by_alias=True),
        "decision": decision.outcome, "quorum_required": decision.quorum_required, "reason": decision.reason,
    }
    for grant in members:
        _decided(session, grant, vote.session, payload, settings, actor=actor)
    return decision


def _decided(session: Session, grant: Grant, voted_on: dt.date, payload: dict[str, Any], settings: Settings, *,
             actor: str) -> None:
    journal.append(session, grant, "vote_recorded", payload, actor=actor)
    grants.advance(session, grant, voted_on, actor=actor)
    if payload["decision"] == ADOPTED:
        # The vote gives the grant its year: the yearly thresholds may now be crossed.
        conventions.review_yearly_totals(session, grant, voted_on.year, voted_on, settings, actor=actor)


def join(session: Session, grant: Grant, act: Act, settings: Settings, *, actor: str) -> None:
    """A grant added to an act already voted (the annex imported later) is decided by that vote."""
    grant.act_id = act.id
    session.flush()
    vote = acts.latest_vote(session, act)
    if vote is None or vote.outcome not in (ADOPTED, REJECTED):
        return
    _decided(session, grant, vote.session_on, {"act": act.reference, "session": vote.session_on,
                                               "decision": vote.outcome, "quorum_required": vote.quorum_required},
             settings, actor=actor)
