"""Stage 7: the convention has ended; the clause decides what is still paid or claimed back
(DOMAIN.md §6).

Started by the daily sweep for each grant in `closing` whose closure may be decided (its
compte rendu financier checked, when it owes one), or by hand from the UI.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow

from core import clock
from flows.hooks import failure_resolved, notify_authority
from tasks.closure import close_grant, publish_closure


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


def start_due_evaluations_and_closures(business_date: dt.date, limit: int) -> dict[str, Any]:
    """Called by the daily sweep after its set-based pass: one subflow per evaluation that fell
    due and per grant that entered `closing` (found by one query each, at most `limit` of
    each; the rest, if any, on the next sweep). A failed one does not stop the others: the
    authority hears of it (on_failure hook) and the sweep reports it."""
    from flows.evaluation import grant_evaluation
    from tasks.closure import find_due_closures
    from tasks.evaluation import find_due_evaluations

    done: dict[str, list[str]] = {"evaluations": [], "closures": [], "failed": []}
    for reference, name in find_due_evaluations(business_date, limit):
        state = grant_evaluation(reference=reference, name=name, business_date=business_date, return_state=True)
        (done["evaluations"] if state.is_completed() else done["failed"]).append(f"évaluation {name} {reference}")
    for reference in find_due_closures(limit):
        state = grant_closure(reference=reference, business_date=business_date, return_state=True)
        (done["closures"] if state.is_completed() else done["failed"]).append(f"clôture {reference}")
    return done
