"""The act at the prefecture: its @CTES acknowledgement, and when it becomes enforceable."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from db.models import Act, Deliberation, Grant
from domain.acts import (
    check_act_matches,
    executoire_on,
    legality_control_ends,
    parse_act_id,
)
from domain.deliberation import QUORUM_FAILED, earliest_reconvened_session
from domain.errors import RuleViolation
from domain.lifecycle import Stage
from grantflow.settings import Settings
from services import commands, grants, journal, obligations
from services.deliberation import latest


def record_receipt(session: Session, grant: Grant, receipt: commands.PrefectureReceipt, settings: Settings, *,
                   actor: str) -> Act:
    act_id = parse_act_id(receipt.act_id, field="act_id")
    existing = session.scalars(sa.select(Act).where(Act.grant_id == grant.id)).one_or_none()
    if existing is not None:
        return _complete_publication(session, grant, existing, str(act_id), receipt, settings, actor=actor)
    deliberation = latest(session, grant)
    if grant.stage != Stage.PREFECTURE.value:
        raise RuleViolation("act_id", receipt.act_id, _not_transmissible(grant, deliberation))
    assert deliberation is not None  # the prefecture stage is entered by an adopted vote
    check_act_matches(act_id, siren=grant.authority.siren, department=grant.authority.department,
                      session=deliberation.session_on, number=deliberation.act_number, field="act_id")
    if act_id.nature != "DE":
        raise RuleViolation("act_id", receipt.act_id,
                            f"nature « {act_id.nature} » : l'acte qui attribue la subvention est une délibération (DE)")
    if receipt.received < deliberation.session_on:
        raise RuleViolation("received", receipt.received.isoformat(),
                            f"la réception par le préfet précède la séance du {deliberation.session_on:%d/%m/%Y}")
    if receipt.published is not None and receipt.published < deliberation.session_on:
        raise RuleViolation("published", receipt.published.isoformat(),
                            f"la publication précède la séance du {deliberation.session_on:%d/%m/%Y} : "
                            "un acte ne peut être publié avant d'avoir été délibéré")
    other = session.scalar(sa.select(Grant.reference).join(Act, Act.grant_id == Grant.id)
                           .where(Act.act_id == str(act_id)))
    if other is not None:
        # acts.act_id is unique in the store: one acknowledged act, one grant.
        raise RuleViolation("act_id", str(act_id),
                            f"cet acte est déjà enregistré pour la subvention {other} : un accusé de réception "
                            "désigne un seul acte, déjà rattaché")
    act = Act(grant_id=grant.id, act_id=str(act_id), received_on=receipt.received, published_on=receipt.published,
              executoire_on=executoire_on(receipt.received, receipt.published),
              control_ends_on=legality_control_ends(receipt.received))
    session.add(act)
    session.flush()
    journal.append(session, grant, "prefecture_receipt", {
        "act_id": act.act_id, "received": receipt.received, "published": receipt.published,
        "executoire_on": act.executoire_on,
    }, actor=actor)
    obligations.on_legality_control(session, grant, act.control_ends_on)
    _enforceable(session, grant, act, settings, actor=actor)
    return act


def _not_transmissible(grant: Grant, deliberation: Deliberation | None) -> str:
    """Why no act of this grant can be at the prefecture yet, in the staff's words."""
    if grant.stage == Stage.DELIBERATION.value and deliberation is None:
        return "aucun vote du conseil n'est enregistré pour cette subvention : seul un acte adopté est transmis"
    if grant.stage == Stage.DELIBERATION.value and deliberation.outcome == QUORUM_FAILED:
        return (f"la séance du {deliberation.session_on:%d/%m/%Y} n'a pas atteint le quorum "
                f"({deliberation.present} présents pour {deliberation.quorum_required} requis, CGCT L2121-17) : "
                "aucune délibération n'est adoptée, il n'y a pas d'acte à transmettre ; le conseil est à "
                "reconvoquer, au plus tôt le "
                f"{earliest_reconvened_session(deliberation.session_on):%d/%m/%Y}")
    return f"la subvention est à l'étape « {grant.stage} » : seul un acte adopté est transmis"


def _complete_publication(session: Session, grant: Grant, act: Act, act_id: str,
                          receipt: commands.PrefectureReceipt, settings: Settings, *, actor: str) -> Act:
    """The same acknowledgement again: nothing, or the publication date now known."""
    if act.act_id != act_id or act.received_on != receipt.received:
        raise RuleViolation("act_id", receipt.act_id,
                            f"un autre accusé de réception est déjà enregistré ({act.act_id}, "
                            f"reçu le {act.received_on:%d/%m/%Y})")
    if receipt.published is None or receipt.published == act.published_on:
        return act
    if act.published_on is not None:
        raise RuleViolation("published", receipt.published.isoformat(),
                            f"publication déjà enregistrée au {act.published_on:%d/%m/%Y}")
    act.published_on = receipt.published
    act.executoire_on = executoire_on(act.received_on, act.published_on)
    journal.append(session, grant, "act_published",
                   {"published": receipt.published, "executoire_on": act.executoire_on}, actor=actor)
    _enforceable(session, grant, act, settings, actor=actor)
    return act


def _enforceable(session: Session, grant: Grant, act: Act, settings: Settings, *, actor: str) -> None:
    if act.executoire_on is None:
        return
    obligations.on_executoire(session, grant, act.executoire_on, settings)
    if grant.starts_from not in ("executoire", "signature"):
        # `duration.from` a date: the convention runs from that date, once the act is enforceable.
        obligations.start(session, grant, dt.date.fromisoformat(grant.starts_from), settings)
    grants.advance(session, grant, act.executoire_on, actor=actor)


def restart_control(session: Session, grant: Grant, restart: commands.ControlRestarted, *, actor: str) -> Act:
    act = session.scalars(sa.select(Act).where(Act.grant_id == grant.id)).one_or_none()
    if act is None:
        raise RuleViolation("on", restart.on.isoformat(), "aucun acte transmis au préfet pour cette subvention")
    if restart.on > act.control_ends_on:
        raise RuleViolation("on", restart.on.isoformat(),
                            f"le délai de contrôle de légalité a pris fin le {act.control_ends_on:%d/%m/%Y} "
                            "(CGCT L2131-6 : deux mois après la réception)")
    act.control_restarted_on = restart.on
    act.control_ends_on = legality_control_ends(act.received_on, restart.on)
    journal.append(session, grant, "control_restarted",
                   {"on": restart.on, "control_ends_on": act.control_ends_on}, actor=actor)
    obligations.on_legality_control(session, grant, act.control_ends_on)
    return act
