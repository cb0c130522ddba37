"""Stage 3: the convention is signed by both parties (loi 2000-321 art. 10)."""
from __future__ import annotations

from typing import Any

from prefect import flow

from flows.hooks import failure_resolved, notify_authority
from services.facts import Signature
from tasks.facts import record_signature


@flow(name="convention-signature", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="signature {reference} ({signature.party})",
      description="Enregistre la signature de la convention par l'association ou la collectivité. Une date "
                  "antérieure à la réception de la délibération en préfecture est refusée (CE avis 10/06/1996). "
                  "Signée des deux parties, la subvention devient active.")
def convention_signature(reference: str, signature: Signature) -> dict[str, Any]:
    return record_signature(reference, signature)
