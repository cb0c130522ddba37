"""The act at the prefecture: its one transmission (@CTES acknowledgement or paper stamp),
when it becomes enforceable, and the prefect's control window; every grant of the act follows."""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Act, Deliberation, Grant
from domain import labels
from domain.acts import (
    BODIES,
    ActId,
    check_act_matches,
    executoire_on,
    legality_control_ends,
    parse_act_id,
)
from domain.deliberation import ADOPTED, QUORUM_FAILED, earliest_reconvened_session
from domain.errors import RuleViolation
from domain.lifecycle import Stage
from services import acts, commands, grants, journal, obligations

PAPER = "transmis sur papier"


def record_receipt(session: Session, act: Act, receipt: commands.PrefectureReceipt, settings: Settings, *,
                   actor: str) -> Act:
    act_id = None if receipt.paper else str(parse_act_id(receipt.act_id or "", field="act_id"))
    members = acts.grants_of(session, act)
    if act.received_on is not None:
        return _complete_publication(session, members, act, act_id, receipt, settings, actor=actor)
    deliberation = acts.latest_vote(session, act)
    if deliberation is None or deliberation.outcome != ADOPTED:
        raise RuleViolation("act_id", receipt.act_id, _not_transmissible(act, deliberation))
    for grant in members:
        if grant.stage != Stage.PREFECTURE.value:
            raise RuleViolation("act_id", receipt.act_id,
                                f"la subvention {grant.reference} est à l'étape {labels.stages(grant.stage)} : "
                                "seul un acte adopté est transmis")
    if act_id is not None:
        _check_identifier(session, act, deliberation, parse_act_id(act_id))
    if receipt.received < deliberation.session_on:
        raise RuleViolation("received", receipt.received.isoformat(),
                            f"la réception par le préfet précède la séance du {deliberation.session_on:%d/%m/%Y}")
    if receipt.published is not None and receipt.published < deliberation.session_on:
        raise RuleViolation("published", receipt.published.isoformat(),
                            f"la publication précède la séance du {deliberation.session_on:%d/%m/%Y} : "
                            "un acte ne peut être publié avant d'avoir été délibéré")
    act.transmission = "paper" if receipt.paper else "ctes"
    act.act_id = act_id
    act.received_on, act.published_on = receipt.received, receipt.published
    act.executoire_on = executoire_on(receipt.received, receipt.published)
    act.control_ends_on = legality_control_ends(receipt.received)
    session.flush()
    for grant in members:
        _received(session, grant, act, settings, actor=actor)
    return act


def _check_identifier(session: Session, act: Act, deliberation: Deliberation, act_id: ActId) -> None:
    """The acknowledgement names this act: the authority's SIREN, the vote's date, its number."""
    check_act_matches(act_id, siren=act.authority.siren, department=act.authority.department,
                      session=deliberation.session_on, number=act.act_number or deliberation.act_number,
                      field="act_id")
    if act_id.nature != "DE":
        raise RuleViolation("act_id", str(act_id),
                            f"nature « {act_id.nature} » : l'acte qui attribue la subvention est une délibération (DE)")
    other = session.scalar(sa.select(Act.reference).where(Act.act_id == str(act_id), Act.id != act.id))
    if other is not None:
        raise RuleViolation("act_id", str(act_id),
                            f"cet accusé de réception est déjà enregistré pour l'acte {other} : il désigne un seul "
                            f"acte ; une subvention votée par ce même acte s'y rattache (« act: {other} »)")


def _transmission(act: Act) -> dict[str, Any]:
    if act.transmission == "paper":
        return {"transmission": PAPER}
    return {"act_id": act.act_id}


def _received(session: Session, grant: Grant, act: Act, settings: Settings, *, actor: str) -> None:
    journal.append(session, grant, "prefecture_receipt", {
        "act": act.reference, **_transmission(act), "received": act.received_on, "published": act.published_on,
        "executoire_on": act.executoire_on,
    }, actor=actor)
    assert act.control_ends_on is not None  # set with the receipt
    obligations.on_legality_control(session, grant, act.control_ends_on)
    _enforceable(session, grant, act, settings, actor=actor)


def join(session: Session, grant: Grant, act: Act, settings: Settings, *, actor: str) -> None:
    """A grant added to an act already received follows it at once."""
    if act.received_on is not None and grant.stage == Stage.PREFECTURE.value:
        _received(session, grant, act, settings, actor=actor)


def _not_transmissible(act: Act, deliberation: Deliberation | None) -> str:
    """Why the act cannot be at the prefecture yet, in the staff's words."""
    if deliberation is None:
        return (f"aucun vote du {BODIES[act.body]} n'est enregistré pour l'acte {act.reference} : "
                "seul un acte adopté est transmis")
    if deliberation.outcome == QUORUM_FAILED:
        return (f"la séance du {deliberation.session_on:%d/%m/%Y} n'a pas atteint le quorum "
                f"({deliberation.present} présents pour {deliberation.quorum_required} requis, CGCT L2121-17) : "
                "aucune délibération n'est adoptée, il n'y a pas d'acte à transmettre ; le conseil est à "
                "reconvoquer, au plus tôt le "
                f"{earliest_reconvened_session(deliberation.session_on):%d/%m/%Y}")
    return f"l'acte {act.reference} a été rejeté le {deliberation.session_on:%d/%m/%Y} : seul un acte adopté est transmis"


def _complete_publication(session: Session, members: list[Grant], act: Act, act_id: str | None,
                          receipt: commands.PrefectureReceipt, settings: Settings, *, actor: str) -> Act:
    """The same transmission again: nothing, or the publication date now known."""
    if act.act_id != act_id or act.received_on != receipt.received:
        known = act.act_id or PAPER
        raise RuleViolation("act_id", receipt.act_id,
                            f"une autre transmission de l'acte {act.reference} est déjà enregistrée ({known}, "
                            f"reçu le {act.received_on:%d/%m/%Y})")
    if receipt.published is None or receipt.published == act.published_on:
        return act
    if act.published_on is not None:
        raise RuleViolation("published", receipt.published.isoformat(),
                            f"publication déjà enregistrée au {act.published_on:%d/%m/%Y}")
    act.published_on = receipt.published
    act.executoire_on = executoire_on(act.received_on, act.published_on)
    for grant in members:
        journal.append(session, grant, "act_published",
                       {"act": act.reference, "published": receipt.published, "executoire_on": act.executoire_on},
                       actor=actor)
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


def restart_control(session: Session, act: Act, restart: commands.ControlRestarted, *, actor: str) -> Act:
    if act.received_on is None or act.control_ends_on is None:
        raise RuleViolation("on", restart.on.isoformat(), f"l'acte {act.reference} n'a pas été transmis au préfet")
    if restart.on > act.control_ends_on:
        raise RuleViolation("on", restart.on.isoformat(),
                            f"le délai de contrôle de légalité a pris fin le {act.control_ends_on:%d/%m/%Y} "
                            "(CGCT L2131-6 : deux mois après la réception)")
    act.control_restarted_on = restart.on
    act.control_ends_on = legality_control_ends(act.received_on, restart.on)
    for grant in acts.grants_of(session, act):
        journal.append(session, grant, "control_restarted",
                       {"act": act.reference, "on": restart.on, "control_ends_on": act.control_ends_on}, actor=actor)
        obligations.on_legality_control(session, grant, act.control_ends_on)
    return act
