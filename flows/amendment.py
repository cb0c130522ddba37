"""An avenant: the convention extended, possibly with an extra amount (seed 002 art. 5)."""
from __future__ import annotations

from typing import Any

from prefect import flow

from flows.hooks import failure_resolved, notify_authority
from services.commands import Amendment
from tasks.closure import record_amendment


@flow(name="grant-amendment", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="avenant {reference}",
      description="Enregistre un avenant à la convention : nouvelle date de fin (postérieure à l'actuelle), "
                  "montant supplémentaire et ses échéances (qui doivent en faire la somme). Les comptes rendus "
                  "jusqu'à la nouvelle fin, l'évaluation finale et le compte rendu financier suivent ; l'historique "
                  "est conservé au journal.")
def grant_amendment(reference: str, amendment: Amendment) -> dict[str, Any]:
    return record_amendment(reference, amendment)
