"""Paying an instalment, one business action per task (services/payments.py does the work).

Each task takes ids, references and dates, opens its own unit of work and returns plain
data: a retry, a manual rerun or another worker starts from what the store says. Only the
tasks that talk to the bank are retried, with backoff, and only for a technical failure
(`TreasuryUnavailable`): a rejection or a refused precondition is final for this run.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict
from typing import Any

from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.runtime import task_run
from prefect.states import State

from core import clock
from core.settings import get_settings
from db.session import unit_of_work
from domain import labels
from gateways.bank import TreasuryUnavailable
from services import mailing, payments
from services.grants import get_grant
from tasks.facts import record_fact
from tasks.runtime import actor, label_run

RETRY_DELAYS = [1, 2, 4]  # seconds: 3 retries, doubling


def technical_failure_only(task: Task[..., Any], run: TaskRun, state: State[Any]) -> bool:
    """Retry a task only when the bank could not be reached; never a rejection, never a RuleViolation."""
    try:
        state.result()
    except TreasuryUnavailable:
        return True
    except BaseException:
        return False
    return False


def _plain(answer: payments.Answer) -> dict[str, Any]:
    data = asdict(answer)
    data["amount"] = str(answer.amount)
    return data


@task(name="retrouver les ordres sans réponse", cache_policy=NO_CACHE, retries=3,
      retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=technical_failure_only)
def resolve_unanswered_orders(reference: str | None, business_date: dt.date) -> list[dict[str, Any]]:
    """Instalments claimed by a run that died before recording the bank's answer: ask
    the bank about each key (never order again) and record what it says."""
    settings, logger, answers = get_settings(), get_run_logger(), []
    with unit_of_work() as session:
        doubtful = payments.in_doubt(session, reference)
    for instalment_id in doubtful:
        with unit_of_work() as session:
            answer = payments.resolve_in_doubt(session, settings, instalment_id, business_date, actor=actor())
        if answer is not None:
            logger.warning("%s : ordre sans réponse enregistrée, le Trésor dit « %s » (%s)", answer.label(),
                           labels.label(labels.INSTALMENT_STATUSES, answer.status),
                           answer.reason or answer.treasury_reference or "")
            answers.append(_plain(answer))
    return answers


@task(name="vérifier les conditions de paiement", cache_policy=NO_CACHE)
def check_payment_conditions(business_date: dt.date, reference: str | None = None,
                             number: int | None = None) -> dict[str, Any]:
    """What is due on the business date, split into instalments that may be ordered and
    those refused, each with the French reason and what to fix (DOMAIN.md §4)."""
    with unit_of_work() as session:
        plan = payments.payment_plan(session, get_settings(), business_date, reference, number)
        grant = get_grant(session, reference) if reference is not None else None
        label = (grant.authority.code, grant.stage) if grant is not None else None
    if label is not None:
        label_run(*label)
    logger = get_run_logger()
    for answer in plan.settled:
        logger.info("%s : déjà %s, rien à ordonner", answer.label(),
                    "payé" if answer.status == payments.PAID.value else "ordonné")
    for problem in plan.problems:
        logger.error("%s", problem)
    for line in plan.waiting:
        logger.info("%s", line)
    return {"ready": plan.ready, "problems": plan.problems, "settled": [_plain(a) for a in plan.settled],
            "waiting": plan.waiting}


@task(name="réserver les échéances", task_run_name="réserver {instalment_ids} (remise {batch_id})",
      cache_policy=NO_CACHE)
def claim_instalments(instalment_ids: list[int], batch_id: str) -> list[int]:
    """Take the instalments for this run (committed before the bank is called); those
    another run holds, or already ordered or paid, are left out."""
    with unit_of_work() as session:
        claimed = payments.claim_many(session, instalment_ids, batch_id, actor=actor())
    skipped = sorted(set(instalment_ids) - set(claimed))
    if skipped:
        get_run_logger().info("échéances %s déjà prises par une autre exécution ou déjà ordonnées", skipped)
    return claimed


@task(name="ordonner le virement", task_run_name="virement remise {batch_id}", cache_policy=NO_CACHE,
      retries=3, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=technical_failure_only)
def order_transfers(instalment_ids: list[int], batch_id: str, business_date: dt.date) -> list[dict[str, Any]]:
    """Send the claimed instalments to the bank with their idempotency keys, and record
    the treasury's answer in the same transaction, committed once the bank has answered.
    A retry asks the bank about each key before sending it again."""
    retry = (task_run.run_count or 1) > 1
    with unit_of_work() as session:
        answers = payments.order_claimed(session, get_settings(), instalment_ids, batch_id, business_date,
                                         actor=actor(), ask_first=retry)
    logger = get_run_logger()
    for answer in answers:
        if answer.status == payments.REJECTED.value:
            logger.error("%s : rejeté par le Trésor : %s", answer.label(), answer.reason)
        elif answer.status == payments.FAILED.value:
            logger.error("%s : écarté de la remise : %s", answer.label(), answer.reason)
        else:
            logger.info("%s : ordonné (%s, réf. Trésor %s%s)", answer.label(),
                        labels.label(labels.INSTALMENT_STATUSES, answer.status),
                        answer.treasury_reference, ", réponse retrouvée" if answer.via == "lookup" else "")
    return [_plain(a) for a in answers]


@task(name="enregistrer l'échec technique", cache_policy=NO_CACHE)
def record_technical_failure(instalment_ids: list[int], batch_id: str, reason: str) -> list[dict[str, Any]]:
    """The bank stayed unreachable after the retries: the claims become "failed", to be
    ordered again (after asking the bank) by the next run."""
    with unit_of_work() as session:
        answers = payments.record_technical_failure(session, instalment_ids, batch_id, reason, actor=actor())
    for answer in answers:
        get_run_logger().error("%s : échec technique, à ordonner de nouveau : %s", answer.label(), reason)
    return [_plain(a) for a in answers]


@task(name="prévenir les collectivités", cache_policy=NO_CACHE)
def notify_authorities(problems: list[payments.Problem], run_id: str, flow_name: str, run_name: str) -> int:
    """A payment run that failed: one mail per grant concerned to its authority (queued
    once per run and grant), with that grant's reasons. Returns how many were queued."""
    by_reference: dict[str, list[str]] = {}
    kinds: dict[str, set[str]] = {}
    for problem in problems:
        by_reference.setdefault(problem.reference, []).append(str(problem))
        kinds.setdefault(problem.reference, set()).add(problem.kind)
    with unit_of_work() as session:
        for reference, lines in by_reference.items():
            grant = get_grant(session, reference)
            key = f"run-failed:{run_id}:{reference}"
            if kinds[reference] == {"configuration"}:
                # The authority's own set-up (its treasury account) fails every run the same way
                # until it is completed: said once, not every working day.
                digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
                key = f"configuration:{grant.authority.code}:{digest}"
            mailing.queue(session, grant, "run_failed", key, {
                "flow_name": flow_name, "run_name": run_name, "reason": "\n".join(lines),
                "failed_on": clock.today().isoformat(),
            }, day=clock.today(), to_authority=True)
    return len(by_reference)


record_payment_confirmation = record_fact.with_options(name="enregistrer la confirmation de paiement du Trésor")
