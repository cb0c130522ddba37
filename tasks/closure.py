"""Closing a grant, and recording the money facts of the end of a convention.

`close_grant` computes the refund and issues the titre de recette (services/closure.py);
the facts (a disbursement to a project holder, a refund received, an avenant) go through
the same `record_fact` task as every other fact, under their own names.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from core.settings import get_settings
from db.session import unit_of_work
from domain import labels
from domain.calendar import format_date_fr
from domain.money import format_amount, format_amount_fr
from services import closure
from services.evaluation import slug
from services.grants import get_grant
from tasks.evaluation import as_of
from tasks.facts import record_fact
from tasks.runtime import actor

record_disbursement = record_fact.with_options(name="enregistrer un versement à un porteur de projet")
record_refund = record_fact.with_options(name="enregistrer un reversement reçu")
record_amendment = record_fact.with_options(name="enregistrer un avenant")
record_tranche = record_fact.with_options(name="enregistrer l'année votée d'une convention pluriannuelle")
record_financial_report = record_fact.with_options(name="enregistrer le compte rendu financier")
record_financial_report_check = record_fact.with_options(name="enregistrer le contrôle du compte rendu financier")


@task(name="calculer le reversement et émettre le titre de recette", task_run_name="clôture {reference}",
      cache_policy=NO_CACHE)
def close_grant(reference: str, business_date: dt.date) -> dict[str, Any]:
    with as_of(business_date), unit_of_work() as session:
        outcome = closure.close(session, get_grant(session, reference, for_update=True), get_settings(),
                                day=business_date, actor=actor())
        refund = outcome.refund
        result = {"reference": reference, "stage": outcome.stage, "message": outcome.message,
                  "paid": format_amount(outcome.paid), "eligible_spending": format_amount(outcome.eligible),
                  "refund": format_amount(refund.amount), "status": refund.status,
                  "titre_number": refund.titre_number, "grounds": refund.grounds,
                  "due_on": refund.due_on.isoformat() if refund.due_on else None}
    get_run_logger().info("%s : %s (%s)", reference, outcome.message, labels.stage_move(outcome.stage, outcome.stage))
    return result


@task(name="publier la clôture", cache_policy=NO_CACHE)
def publish_closure(result: dict[str, Any]) -> str:
    key = f"cloture-{slug(result['reference'])}"
    lines = [f"# Clôture — {result['reference']}", "",
             f"- versé par la collectivité : {format_amount_fr(Decimal(result['paid']))}",
             f"- retenu selon la clause (redistribué, dépenses éligibles ou prorata) : "
             f"{format_amount_fr(Decimal(result['eligible_spending']))}",
             f"- à reverser : {format_amount_fr(Decimal(result['refund']))} ({result['status']})"]
    if result["titre_number"]:
        lines.append(f"- titre de recette n° {result['titre_number']}, à régler au plus tard le "
                     f"{format_date_fr(dt.date.fromisoformat(result['due_on']))}")
    lines += ["", result["message"], "", f"Motif : {result['grounds']}", ""]
    create_markdown_artifact(key=key, markdown="\n".join(lines),
                             description=f"Clôture de {result['reference']} : reversement et titre de recette")
    return key


@task(name="trouver les subventions à clôturer", cache_policy=NO_CACHE)
def find_due_closures(limit: int) -> list[str]:
    """One query: the grants in `closing` whose refund is not computed yet."""
    with unit_of_work() as session:
        return closure.due_closures(session, limit=limit)
