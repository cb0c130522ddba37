"""The payment run's steps as Prefect tasks (services/payments.py runs them, in order).

Each task calls the same plain step as `grantflow simulate` (`LocalPaymentSteps`, its own
unit of work, ids and dates in, plain data out: a retry, a manual rerun or another worker
starts from what the store says) and says in the run's log what happened. Only the tasks
that talk to the bank are retried, with backoff, and only for a technical failure
(`TreasuryUnavailable`): a rejection or a refused precondition is final for this run.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.runtime import task_run
from prefect.states import State

from core.settings import get_settings
from db.session import unit_of_work
from domain import labels
from gateways.bank import TreasuryUnavailable
from services import failure_notices
from services.grants import get_grant
from services.payment_results import FAILED, PAID, REJECTED, Answer, Plan, Problem
from services.payments import LocalPaymentSteps, PaymentSteps
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


def _local() -> LocalPaymentSteps:
    return LocalPaymentSteps(unit_of_work, get_settings(), actor())


@task(name="retrouver les ordres sans réponse", cache_policy=NO_CACHE, retries=3,
      retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=technical_failure_only)
def resolve_unanswered_orders(reference: str | None, business_date: dt.date) -> list[Answer]:
    """Instalments claimed by a run that died before recording the bank's answer: ask
    the bank about each key (never order again) and record what it says."""
    answers = _local().recover(reference, business_date)
    for answer in answers:
        get_run_logger().warning("%s : ordre sans réponse enregistrée, le Trésor dit « %s » (%s)", answer.label(),
                                 labels.label(labels.INSTALMENT_STATUSES, answer.status),
                                 answer.reason or answer.treasury_reference or "")
    return answers


@task(name="vérifier les conditions de paiement", cache_policy=NO_CACHE)
def check_payment_conditions(business_date: dt.date, reference: str | None = None,
                             number: int | None = None) -> Plan:
    """What is due on the business date, split into instalments that may be ordered and
    those refused, each with the French reason and what to fix (DOMAIN.md §4)."""
    plan = _local().plan(business_date, reference, number)
    if reference is not None:
        with unit_of_work() as session:
            grant = get_grant(session, reference)
            authority, stage = grant.authority.code, grant.stage
        label_run(authority, stage)
    logger = get_run_logger()
    for answer in plan.settled:
        logger.info("%s : déjà %s, rien à ordonner", answer.label(), "payé" if answer.status == PAID else "ordonné")
    for problem in plan.problems:
        logger.error("%s", problem)
    for line in plan.waiting:
        logger.info("%s", line)
    return plan


@task(name="réserver les échéances", task_run_name="réserver {instalment_ids} (remise {batch_id})",
      cache_policy=NO_CACHE)
def claim_instalments(instalment_ids: list[int], batch_id: str) -> list[int]:
    """Take the instalments for this run (committed before the bank is called); those
    another run holds, or already ordered or paid, are left out."""
    claimed = _local().claim(instalment_ids, batch_id)
    skipped = sorted(set(instalment_ids) - set(claimed))
    if skipped:
        get_run_logger().info("échéances %s déjà prises par une autre exécution ou déjà ordonnées", skipped)
    return claimed


@task(name="ordonner le virement", task_run_name="virement remise {batch_id}", cache_policy=NO_CACHE,
      retries=3, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=technical_failure_only)
def order_transfers(instalment_ids: list[int], batch_id: str, business_date: dt.date) -> list[Answer]:
    """Send the claimed instalments to the bank with their idempotency keys, and record
    the treasury's answer in the same transaction, committed once the bank has answered.
    A retry asks the bank about each key before sending it again."""
    retry = (task_run.run_count or 1) > 1
    answers = _local().order(instalment_ids, batch_id, business_date, ask_first=retry)
    logger = get_run_logger()
    for answer in answers:
        if answer.status == REJECTED:
            logger.error("%s : rejeté par le Trésor : %s", answer.label(), answer.reason)
        elif answer.status == FAILED:
            logger.error("%s : écarté de la remise : %s", answer.label(), answer.reason)
        else:
            logger.info("%s : ordonné (%s, réf. Trésor %s%s)", answer.label(),
                        labels.label(labels.INSTALMENT_STATUSES, answer.status),
                        answer.treasury_reference, ", réponse retrouvée" if answer.via == "lookup" else "")
    return answers


@task(name="enregistrer l'échec technique", cache_policy=NO_CACHE)
def record_technical_failure(instalment_ids: list[int], batch_id: str, reason: str) -> list[Answer]:
    """The bank stayed unreachable after the retries: the claims become "failed", to be
    ordered again (after asking the bank) by the next run."""
    answers = _local().record_technical_failure(instalment_ids, batch_id, reason)
    for answer in answers:
        get_run_logger().error("%s : échec technique, à ordonner de nouveau : %s", answer.label(), reason)
    return answers


PAYMENT_TASKS = PaymentSteps(resolve_unanswered_orders, check_payment_conditions, claim_instalments,
                             order_transfers, record_technical_failure)


@task(name="prévenir les collectivités", cache_policy=NO_CACHE)
def notify_authorities(problems: list[Problem], run_id: str, flow_name: str, run_name: str) -> int:
    """A payment run that failed: one mail per grant concerned to its authority (queued
    once per run and grant), with that grant's reasons. Returns how many were queued."""
    with unit_of_work() as session:
        return failure_notices.tell_of_payment_problems(session, problems, run_id, flow_name, run_name)

