"""An avenant: the convention extended, possibly with an extra amount (seed 002 art. 5); and
the year of a multi-year convention voted by its own act or by an avenant that keeps its end."""
from __future__ import annotations

from typing import Any

from prefect import flow

from flows.hooks import failure_resolved, notify_authority
from services.facts import Amendment, AnnualTranche
from tasks.facts import record_amendment, record_tranche


@flow(name="grant-amendment", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="avenant {reference}",
      description="Enregistre un avenant à la convention : nouvelle date de fin (postérieure à l'actuelle), "
                  "montant supplémentaire et ses échéances (qui doivent en faire la somme). Les comptes rendus "
                  "jusqu'à la nouvelle fin, l'évaluation finale et le compte rendu financier suivent ; l'historique "
                  "est conservé au journal.")
def grant_amendment(reference: str, amendment: Amendment) -> dict[str, Any]:
    return record_amendment(reference, amendment)


@flow(name="convention-year-voted", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="année {tranche.exercise} {reference}",
      description="Enregistre une année d'une convention pluriannuelle d'objectifs (CPO) : son montant voté par "
                  "sa délibération annuelle (acte déjà exécutoire) ou par un avenant qui ne change pas la fin de la "
                  "convention, et ses échéances ; son compte rendu financier est dû 6 mois après l'exercice.")
def convention_year_voted(reference: str, tranche: AnnualTranche) -> dict[str, Any]:
    return record_tranche(reference, tranche)
