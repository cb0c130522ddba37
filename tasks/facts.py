"""Recording a fact about one grant or one act: one unit of work, the same action as the dossier loader.

Tasks take a grant (or act) reference and a command model, never a live object or a Session, and
open their own transaction: a retry or a rerun starts from what the store says.
"""
from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from core import clock
from core.settings import get_settings
from db.session import unit_of_work
from domain import labels
from domain.lifecycle import Stage
from services import acts, bank_changes, commands, conventions
from services.events import apply_act_event, apply_event
from services.grants import get_grant
from tasks.runtime import actor, label_run


@task(name="enregistrer un fait", task_run_name="{fact.event} {reference}", cache_policy=NO_CACHE)
def record_fact(reference: str, fact: commands.Command) -> dict[str, Any]:
    """Apply `fact` to the grant; returns the grant's stage afterwards."""
    with unit_of_work() as session:
        grant = get_grant(session, reference, for_update=True)
        before, mark = grant.stage, conventions.journal_mark(session)
        result = apply_event(session, grant, fact, get_settings(), actor=actor())
        after, authority = grant.stage, grant.authority.code
        notices = conventions.notices_since(session, mark)
    label_run(authority, after)
    logger = get_run_logger()
    logger.info("%s : %s enregistré (%s)", reference, labels.label(labels.FACTS, fact.event),
                labels.stage_move(before, after))
    for notice in notices:
        logger.warning("%s", notice)
    reason = getattr(result, "reason", None)  # the council's decision explains itself
    if reason:
        logger.info("%s : %s", reference, reason)
    return {"reference": reference, "stage": after, "reason": reason}


@task(name="enregistrer un fait de l'acte", task_run_name="{fact.event} {act}", cache_policy=NO_CACHE)
def record_act_fact(act: str, fact: commands.Command) -> dict[str, Any]:
    """Apply `fact` to the act (its reference, or a grant's): every grant of the act follows.

    Returns the act's reference, each grant's stage afterwards and the council's reason."""
    with unit_of_work() as session:
        row = acts.resolve(session, act)
        mark = conventions.journal_mark(session)
        result = apply_act_event(session, row, fact, get_settings(), actor=actor())
        stages = {grant.reference: grant.stage for grant in acts.grants_of(session, row)}
        reference, authority = row.reference, row.authority.code
        notices = conventions.notices_since(session, mark)
    # The run is tagged with the least advanced stage among the act's grants (a grant
    # without a convention moves past the signature, its neighbours wait for theirs).
    order = [member.value for member in Stage]
    stage = min(stages.values(), key=order.index) if stages else None
    if stage is not None:
        label_run(authority, stage)
    logger = get_run_logger()
    for grant, grant_stage in stages.items():
        logger.info("acte %s, subvention %s : %s enregistré (étape %s)", reference, grant,
                    labels.label(labels.FACTS, fact.event), labels.label(labels.STAGES, grant_stage))
    for notice in notices:
        logger.warning("%s", notice)
    reason = getattr(result, "reason", None)  # the council's decision explains itself
    if reason:
        logger.info("acte %s : %s", reference, reason)
    return {"act": reference, "grants": stages, "stage": stage, "reason": reason}


record_vote = record_act_fact.with_options(name="enregistrer le vote de l'acte")
record_receipt = record_act_fact.with_options(name="enregistrer la transmission de l'acte en préfecture")
record_control_restart = record_act_fact.with_options(name="enregistrer la relance du contrôle de légalité")
record_signature = record_fact.with_options(name="enregistrer une signature de la convention")
record_report = record_fact.with_options(name="enregistrer un compte rendu")
record_report_answer = record_fact.with_options(name="enregistrer la réponse à un compte rendu")


@task(name="confirmer un changement de RIB", task_run_name="confirmation RIB {confirmation.association}",
      cache_policy=NO_CACHE)
def confirm_bank_change(confirmation: commands.BankDetailsConfirmation) -> dict[str, Any]:
    with unit_of_work() as session:
        change = bank_changes.confirm(session, confirmation.association, confirmation.operator, clock.today(),
                                      actor=actor())
        described = bank_changes.describe(change)
    get_run_logger().info("association %s : changement de RIB confirmé par %s et appliqué (%s)",
                          confirmation.association, confirmation.operator, described)
    return {"association": confirmation.association, "change": described, "confirmed_by": confirmation.operator}
