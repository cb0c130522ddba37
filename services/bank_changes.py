"""Changes of an association's bank details: recorded, journalled, announced, then applied
only on a second operator's confirmation or after the configured delay (domain.bank_change).

The association row always holds the details in force: a payment never goes to an
account that is still pending, and while a change is pending the association's payments
wait (the old account is the one the fraudster wants abandoned, the new one is not yet
trusted).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Association, BankChange, Grant
from domain.bank_change import (
    FIELD_LABELS,
    BankDetails,
    applies_on,
    check_second_operator,
    masked_iban,
)
from domain.calendar import format_date_fr
from domain.errors import RuleViolation
from domain.statuses import BankChangeStatus
from services import journal, mailing

PENDING, APPLIED, SUPERSEDED = (BankChangeStatus.PENDING.value, BankChangeStatus.APPLIED.value,
                                BankChangeStatus.SUPERSEDED.value)


def details_of(association: Association) -> BankDetails:
    return BankDetails(association.iban, association.bic, association.holder)


def _old(change: BankChange) -> BankDetails:
    return BankDetails(change.old_iban, change.old_bic, change.old_holder)


def _new(change: BankChange) -> BankDetails:
    return BankDetails(change.new_iban, change.new_bic, change.new_holder)


def _as_json(details: BankDetails) -> dict[str, str]:
    return {"iban": details.iban, "bic": details.bic, "holder": details.holder}


def grants_of(session: Session, association_id: int) -> list[Grant]:
    return list(session.scalars(sa.select(Grant).where(Grant.association_id == association_id)
                                .order_by(Grant.id)).unique())


def journal_for_association(session: Session, association: Association, kind: str, payload: dict[str, Any], *,
                            actor: str) -> None:
    """A fact about an association, in the journal of each of its grants (the journal is kept per grant)."""
    journal.append_many(session, [journal.NewEvent(g.id, kind, {"association": association.code, **payload})
                                  for g in grants_of(session, association.id)], actor=actor)


def pending(session: Session, association_id: int) -> BankChange | None:
    return session.scalars(sa.select(BankChange).where(BankChange.association_id == association_id,
                                                       BankChange.status == PENDING)
                           .order_by(BankChange.id.desc()).limit(1)).one_or_none()


def describe(change: BankChange) -> str:
    """What changes, in French, IBANs masked (this text reaches logs and the UI)."""
    old, new = _old(change), _new(change)
    parts = []
    for name in old.differences(new):
        before, after = getattr(old, name), getattr(new, name)
        if name == "iban":
            before, after = masked_iban(before), masked_iban(after)
        parts.append(f"{FIELD_LABELS[name]} {before} → {after}")
    return ", ".join(parts)


def waiting_reason(change: BankChange) -> str:
    return (f"changement de coordonnées bancaires en attente depuis le {format_date_fr(change.requested_on)} "
            f"({describe(change)}) : paiements suspendus jusqu'à sa confirmation par un second opérateur "
            f"(déploiement bank-details-confirmation) ou jusqu'au {format_date_fr(change.applies_on)}, puis relancer "
            "le paiement")


def request(session: Session, association: Association, new: BankDetails, settings: Settings, *,
            day: dt.date, actor: str) -> BankChange | None:
    """Record `new` as a pending change of the association's bank details, journal it and
    announce it; None when it changes nothing (the details in force, or the change already pending)."""
    current = pending(session, association.id)
    if current is not None and _new(current) == new:
        return None
    if current is None and details_of(association) == new:
        return None
    if current is not None:
        current.status = SUPERSEDED
        journal_for_association(session, association, "bank_details_change_superseded",
                                {"change": current.id, "new": _as_json(_new(current))}, actor=actor)
        if details_of(association) == new:
            return None  # back to the details in force: nothing left to confirm
    old = details_of(association)
    change = BankChange(association_id=association.id, old_iban=old.iban, old_bic=old.bic, old_holder=old.holder,
                        new_iban=new.iban, new_bic=new.bic, new_holder=new.holder,
                        notified_email=association.email, requested_on=day, requested_by=actor[:64],
                        applies_on=applies_on(day, settings.bank_change_delay_days), status=PENDING)
    session.add(change)
    session.flush()
    journal_for_association(session, association, "bank_details_change_requested", {
        "change": change.id, "old": _as_json(old), "new": _as_json(new), "fields": old.differences(new),
        "applies_on": change.applies_on.isoformat(), "announced_to": change.notified_email}, actor=actor)
    _announce(session, association, change, day=day)
    return change


def _announce(session: Session, association: Association, change: BankChange, *, day: dt.date) -> None:
    """One mail per authority that funds the association: to the association's address known
    before the change, the authority in copy (a fraudster who changed both is still seen)."""
    first_grant_per_authority: dict[int, Grant] = {}
    for grant in grants_of(session, association.id):
        first_grant_per_authority.setdefault(grant.authority_id, grant)
    for grant in first_grant_per_authority.values():
        key = f"bank-change-{change.id}-{grant.authority_id}"
        message = mailing.queue(session, grant, "bank_details_changed", key, {
            "to_address": change.notified_email, "change_description": describe(change),
            "new_holder": change.new_holder, "new_iban_masked": masked_iban(change.new_iban),
            "requested_on": change.requested_on.isoformat(), "applies_on": change.applies_on.isoformat(),
        }, day=day)
        message.copy_authority = True


def _apply(session: Session, change: BankChange, day: dt.date, *, actor: str, confirmed_by: str | None) -> None:
    association = session.get(Association, change.association_id)
    assert association is not None
    new = _new(change)
    association.iban, association.bic, association.holder = new.iban, new.bic, new.holder
    change.status, change.applied_on, change.confirmed_by = APPLIED, day, confirmed_by
    journal_for_association(session, association, "bank_details_applied", {
        "change": change.id, "old": _as_json(_old(change)), "new": _as_json(new),
        "confirmed_by": confirmed_by, "after_delay": confirmed_by is None}, actor=actor)


def settle_due(session: Session, day: dt.date, *, actor: str) -> int:
    """Apply the pending changes whose delay has passed by `day`; how many."""
    due = list(session.scalars(sa.select(BankChange).where(BankChange.status == PENDING,
                                                           BankChange.applies_on <= day).order_by(BankChange.id)))
    for change in due:
        _apply(session, change, day, actor=actor, confirmed_by=None)
    return len(due)


def confirm(session: Session, association_code: str, operator: str, day: dt.date, *, actor: str) -> BankChange:
    """A second operator confirms the pending change: it applies at once."""
    association = session.scalars(sa.select(Association).where(Association.code == association_code)
                                  .with_for_update()).one_or_none()
    if association is None:
        raise RuleViolation("association", association_code, "aucune association ne porte ce code")
    change = pending(session, association.id)
    if change is None:
        raise RuleViolation("association", association_code,
                            "aucun changement de coordonnées bancaires en attente pour cette association")
    check_second_operator(change.requested_by, operator)
    _apply(session, change, day, actor=actor, confirmed_by=operator.strip()[:64])
    return change


def pending_view(change: BankChange | None) -> dict[str, Any] | None:
    if change is None:
        return None
    return {"requested_on": change.requested_on.isoformat(), "requested_by": change.requested_by,
            "applies_on": change.applies_on.isoformat(), "change": describe(change)}


def pending_lines(session: Session) -> list[str]:
    """Every pending change, one French line each (the portfolio artifact)."""
    rows = session.execute(sa.select(BankChange, Association.code).join(
        Association, Association.id == BankChange.association_id).where(BankChange.status == PENDING)
        .order_by(BankChange.requested_on, BankChange.id))
    return [f"association {code} : {describe(change)}, enregistré le {format_date_fr(change.requested_on)} par "
            f"{change.requested_by}, à confirmer (bank-details-confirmation) ou effectif le "
            f"{format_date_fr(change.applies_on)}" for change, code in rows]
