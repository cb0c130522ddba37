"""Stage 4: paying the grant, instalment by instalment, exactly once (DOMAIN.md §4).

A payment reads like the procedure (services/payments.py, `run_payments`, the same run as
`grantflow simulate`, here with each step a Prefect task): find the orders a crashed run
left without an answer and ask the bank about them; check the conditions (act exécutoire,
convention signed, SIRET, bank details); reserve the instalments; order the transfers
with their idempotency keys and record the treasury's answers. A refused condition or a rejection
fails the run with a French message naming the grant, the instalment and the reason,
after the state was recorded; the run can then be rerun as it is (Prefect UI: "Retry",
or the deployment run again with the same parameters): what was ordered or paid stays as
it is, only what is still due is ordered.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from core import clock
from core.settings import get_settings
from domain.calendar import format_date_fr
from flows.hooks import failure_resolved, notify_authority
from flows.naming import SCHEDULED_STEPS, dated
from services.facts import PaymentConfirmation
from services.payments import run_payments
from tasks.facts import record_payment_confirmation
from tasks.payments import PAYMENT_TASKS, notify_authorities


def _grant_payment_name() -> str:
    # Short: the journal's actor is "prefect:" + this name, 64 characters at most.
    parameters = flow_run.parameters
    number = parameters.get("number")
    return f"paiement {parameters['reference']}" + (f" n°{number}" if number else "")


def batch_id() -> str:
    """One bank batch per flow run, named after it: a "Retry" from the UI keeps it."""
    run_id = flow_run.get_id()
    return uuid.UUID(str(run_id)).hex if run_id else uuid.uuid4().hex


def _pay(business_date: dt.date, reference: str | None = None, number: int | None = None) -> dict[str, Any]:
    batch = batch_id()
    report = run_payments(PAYMENT_TASKS, business_date, batch, claim_batch=get_settings().payment_claim_batch,
                          reference=reference, number=number)
    get_run_logger().info("remise %s du %s : %d versement(s) ordonné(s), %d réponse(s) retrouvée(s), %d en échec",
                          batch, format_date_fr(business_date), len(report.ordered), len(report.recovered),
                          len(report.problems))
    if report.problems and reference is None:  # a grant's own run tells its authority through its on_failure hook
        notify_authorities(report.problems, batch, flow_run.get_flow_name() or "payment-run",
                           flow_run.get_name() or batch)
    report.raise_for_problems()
    return report.as_dict()


@flow(name="grant-payment", flow_run_name=_grant_payment_name,
      on_failure=[notify_authority], on_completion=[failure_resolved],
      description="Ordonne le versement d'une subvention (toutes les échéances dues, ou l'échéance n° donnée) : "
                  "vérifie l'acte exécutoire, la convention signée, le SIRET et le RIB, puis transmet l'ordre au "
                  "Trésor avec la clé d'idempotence de l'échéance. Relançable sans risque : jamais payé deux fois.")
def grant_payment(reference: str, number: int | None = None, business_date: dt.date | None = None) -> dict[str, Any]:
    return _pay(business_date or clock.today(), reference, number)


@flow(name="payment-run", flow_run_name=dated(SCHEDULED_STEPS["payment-run"]), on_completion=[failure_resolved],
      description="Les jours ouvrés : ordonne au Trésor toutes les échéances dues à la date (une remise par "
                  "exécution), après avoir retrouvé la réponse des ordres restés sans réponse. Échoue en nommant "
                  "chaque subvention, échéance et motif à corriger ; relançable sans risque.")
def payment_run(business_date: dt.date | None = None) -> dict[str, Any]:
    return _pay(business_date or clock.today())


@flow(name="payment-confirmation", flow_run_name="confirmation de paiement {reference}",
      on_failure=[notify_authority], on_completion=[failure_resolved],
      description="Enregistre la confirmation du Trésor : l'échéance n° est payée à la date donnée, l'obligation "
                  "de paiement est remplie.")
def payment_confirmation(reference: str, confirmation: PaymentConfirmation) -> dict[str, Any]:
    return record_payment_confirmation(reference, confirmation)
