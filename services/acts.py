"""Acts in the store: finding one, its grants, and a grant joining an act already decided."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from db.models import Act, Authority, Deliberation, Grant
from domain.errors import RuleViolation


def of_grant(session: Session, grant: Grant) -> Act | None:
    return session.get(Act, grant.act_id) if grant.act_id is not None else None


def own_act(session: Session, grant: Grant) -> Act:
    """The grant's act; a grant proposed alone gets an act of its own, named after it."""
    act = of_grant(session, grant)
    if act is None:
        act = Act(authority_id=grant.authority_id, reference=grant.reference, body="conseil")
        session.add(act)
        session.flush()
        grant.act_id = act.id
    return act


def grants_of(session: Session, act: Act) -> list[Grant]:
    query = sa.select(Grant).where(Grant.act_id == act.id).order_by(Grant.reference).with_for_update(of=Grant)
    return list(session.scalars(query).unique())


def find(session: Session, reference: str, authority: str | None = None) -> Act | None:
    query = sa.select(Act).where(Act.reference == reference)
    if authority is not None:
        query = query.join(Authority, Authority.id == Act.authority_id).where(Authority.code == authority)
    found = list(session.scalars(query).unique())
    if len(found) > 1:
        raise RuleViolation("act", reference, "plusieurs collectivités ont un acte de cette référence : "
                                              "préciser la collectivité")
    return found[0] if found else None


def resolve(session: Session, reference: str) -> Act:
    """What the flows take: an act's reference, or the reference of a grant (its act)."""
    act = find(session, reference)
    if act is not None:
        return act
    grant = session.scalars(sa.select(Grant).where(Grant.reference == reference)).unique().one_or_none()
    if grant is None:
        raise RuleViolation("act", reference, "aucun acte ni aucune subvention ne porte cette référence")
    return own_act(session, grant)


def latest_vote(session: Session, act: Act | None) -> Deliberation | None:
    if act is None:
        return None
    return session.scalars(
        sa.select(Deliberation).where(Deliberation.act_id == act.id)
        .order_by(Deliberation.session_on.desc()).limit(1)
    ).one_or_none()
