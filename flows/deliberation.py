"""Stage 1: the council votes the grant (CGCT L2121-17, L2121-20)."""
from __future__ import annotations

from typing import Any

from prefect import flow

from flows.hooks import notify_authority
from services.commands import Vote
from tasks.facts import record_vote


@flow(name="deliberation-approval", on_failure=[notify_authority],
      flow_run_name="délibération {reference}",
      description="Enregistre le vote du conseil sur une subvention : quorum, majorité, voix du président ; "
                  "une séance sans quorum est à reconvoquer au moins 3 jours francs plus tard.")
def deliberation_approval(reference: str, vote: Vote) -> dict[str, Any]:
    """Adopted: the act goes to the prefecture. Rejected: the file ends. No quorum: reconvene."""
    return record_vote(reference, vote)
