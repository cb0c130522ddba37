"""The money of a convention as the association reports it: what it redistributed to
project holders (the refund it makes against a titre de recette is in flows/closure.py)."""
from __future__ import annotations

from typing import Any

from prefect import flow

from flows.hooks import failure_resolved, notify_authority
from services.facts import Disbursement
from tasks.facts import record_disbursement


@flow(name="disbursement-recorded", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="versement à {disbursement.beneficiary} {reference}",
      description="Enregistre un versement de l'association à un porteur de projet (dépense éligible pendant la "
                  "convention). Le total redistribué ne peut pas dépasser le montant de la subvention ; après le "
                  "calcul de la clôture, aucun versement ne peut plus être ajouté.")
def disbursement_recorded(reference: str, disbursement: Disbursement) -> dict[str, Any]:
    return record_disbursement(reference, disbursement)

