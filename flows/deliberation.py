"""Stage 1: the council (or its commission permanente, its bureau) votes the act, and with
it every grant the act decides (CGCT L2121-17, L2121-20)."""
from __future__ import annotations

from typing import Annotated, Any

from prefect import flow
from pydantic import Field

from flows.hooks import failure_resolved, notify_authority
from services.facts import VoteForm
from tasks.facts import record_vote

ActReference = Annotated[str, Field(title="Acte (sa référence, ou celle d'une subvention votée seule)")]


@flow(name="deliberation-approval", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="délibération {act}",
      description="Enregistre le vote d'un acte : quorum, majorité, voix du président ; toutes les subventions "
                  "de l'acte suivent. Une séance sans quorum est à reconvoquer au moins 3 jours francs plus tard.")
def deliberation_approval(act: ActReference, vote: VoteForm) -> dict[str, Any]:
    """Adopted: the act goes to the prefecture. Rejected: its grants end. No quorum: reconvene."""
    return record_vote(act, vote.as_vote())
