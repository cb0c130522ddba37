"""Stage 7: the convention has ended; the clause decides what is still paid or claimed back
(DOMAIN.md §6).

Started by the daily sweep for each grant in `closing` whose closure may be decided (its
compte rendu financier checked, when it owes one), or by hand from the UI; the refund
received against the titre de recette closes the grant.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow

from core import clock
from flows.evaluation import grant_evaluation
from flows.hooks import failure_resolved, notify_authority
from services.facts import RefundReceived
from services.follow_up import FollowUpSteps, follow_up
from tasks.closure import close_grant, find_due_closures, publish_closure
from tasks.evaluation import find_due_evaluations
from tasks.facts import record_refund


@flow(name="grant-closure", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="clôture {reference}",
      description="Clôture une convention terminée, après le contrôle du compte rendu financier quand il est dû : "
                  "selon la clause de la convention (reliquat, prorata, aucun, non redistribué), les versements "
                  "restants sont réduits ou annulés et le trop-versé est réclamé. À partir de 15 EUR, émet le "
                  "titre de recette (numéro, montant, motif, échéance à 30 jours) et l'envoie à l'association, "
                  "relancée jusqu'au paiement ; en dessous, pas de titre ; sans rien à reverser, la subvention "
                  "est close aussitôt. Relancer ne recalcule rien.")
def grant_closure(reference: str, business_date: dt.date | None = None) -> dict[str, Any]:
    result = close_grant(reference, business_date or clock.today())
    result["artifact"] = publish_closure(result)
    return result


@flow(name="refund-received", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="reversement {reference}",
      description="Enregistre un reversement reçu au titre de recette : un reversement partiel laisse le reste "
                  "dû (les relances continuent) ; le paiement complet solde le titre et clôt la subvention.")
def refund_received(reference: str, refund: RefundReceived) -> dict[str, Any]:
    return record_refund(reference, refund)


def _evaluation_subflow(reference: str, name: str, business_date: dt.date) -> str | None:
    state = grant_evaluation(reference=reference, name=name, business_date=business_date, return_state=True)
    return f"évaluation {name} {reference}" if state.is_completed() else None


def _closure_subflow(reference: str, business_date: dt.date) -> str | None:
    state = grant_closure(reference=reference, business_date=business_date, return_state=True)
    return f"clôture {reference}" if state.is_completed() else None


# The sweep's follow-up as `grantflow simulate` runs it, each evaluation and closure a subflow.
FOLLOW_UP_SUBFLOWS = FollowUpSteps(find_due_evaluations, _evaluation_subflow, find_due_closures, _closure_subflow)


def start_due_evaluations_and_closures(business_date: dt.date, limit: int) -> dict[str, Any]:
    """Called by the daily sweep after its set-based pass: one subflow per evaluation that fell
    due and per grant that entered `closing` (found by one query each, at most `limit` of
    each; the rest, if any, on the next sweep). A failed one does not stop the others: the
    authority hears of it (on_failure hook) and the sweep reports it."""
    return follow_up(FOLLOW_UP_SUBFLOWS, business_date, limit).as_dict()
