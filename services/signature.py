"""Signing the convention: never before the prefecture received the act (CE avis 10/06/1996)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Grant, Signature
from domain.acts import check_signature_after_receipt
from domain.errors import RuleViolation
from domain.grant_end import Condition
from services import acts, commands, conditions, grants, journal, obligations


def record_signature(session: Session, grant: Grant, signature: commands.Signature, settings: Settings, *,
                     actor: str) -> Signature:
    existing = session.scalars(
        sa.select(Signature).where(Signature.grant_id == grant.id, Signature.party == signature.party)
    ).one_or_none()
    if existing is not None:
        if existing.signed_on != signature.on:
            raise RuleViolation("on", signature.on.isoformat(),
                                f"la convention est déjà signée par cette partie le {existing.signed_on:%d/%m/%Y}")
        return existing
    act = acts.of_grant(session, grant)
    check_signature_after_receipt(signature.on, act.received_on if act else None, field="on")
    row = Signature(grant_id=grant.id, party=signature.party, signed_on=signature.on)
    session.add(row)
    session.flush()
    journal.append(session, grant, "signature", {"party": signature.party, "on": signature.on}, actor=actor)
    obligations.fulfil(session, grant, f"signature_{signature.party}", 1, signature.on)
    signed = list(session.scalars(sa.select(Signature.signed_on).where(Signature.grant_id == grant.id)))
    if len(signed) == 2:
        obligations.on_convention_signed(session, grant, max(signed), settings)
        conditions.release(session, grant, Condition.SIGNATURE, max(signed), settings, actor=actor)
    grants.advance(session, grant, signature.on, actor=actor)
    return row
