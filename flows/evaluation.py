"""Stage 6: the mid-term and final evaluations (seed 002 art. 6), one flow for both.

Started by the daily sweep when an evaluation falls due, or by hand from the UI (the form
asks for the grant's reference and the evaluation's name: "mi-parcours", "finale").
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow

from core import clock
from flows.hooks import failure_resolved, notify_authority
from tasks.evaluation import evaluate_grant, publish_evaluation


@flow(name="grant-evaluation", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="évaluation {name} {reference}",
      description="Évalue une subvention : indicateurs des comptes rendus reçus (dernière valeur déclarée, "
                  "cumulée depuis le début) comparés aux objectifs de la convention, somme redistribuée aux "
                  "porteurs de projets comparée au versé, comptes rendus manquants ou en retard. Publie le "
                  "tableau et la synthèse, écrit un CSV et un classeur Excel et les envoie au contact de la "
                  "collectivité. Une évaluation faite n'est pas refaite.")
def grant_evaluation(reference: str, name: str, business_date: dt.date | None = None) -> dict[str, Any]:
    result = evaluate_grant(reference, name, business_date or clock.today())
    result["artifacts"] = publish_evaluation(result)
    return result
