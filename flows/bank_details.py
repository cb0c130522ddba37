"""A changed IBAN, BIC or account holder, confirmed by a second operator (domain.bank_change)."""
from __future__ import annotations

from typing import Any

from prefect import flow

from services.facts import BankDetailsConfirmation
from tasks.facts import confirm_bank_change


@flow(name="bank-details-confirmation", flow_run_name="confirmation RIB {change.association}",
      description="Un second opérateur confirme le changement de coordonnées bancaires d'une association, "
                  "enregistré au rechargement de son dossier : il s'applique aussitôt et les paiements reprennent. "
                  "Refusé si l'opérateur est celui qui l'a enregistré.")
def bank_details_confirmation(change: BankDetailsConfirmation) -> dict[str, Any]:
    return confirm_bank_change(change)
