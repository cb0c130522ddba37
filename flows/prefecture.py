"""Stage 2: the act is transmitted to the prefecture and becomes enforceable (CGCT L2131-1)."""
from __future__ import annotations

from typing import Any

from prefect import flow

from flows.hooks import notify_authority
from services.commands import ControlRestarted, PrefectureReceipt
from tasks.facts import record_control_restart, record_receipt


@flow(name="prefecture-receipt", on_failure=[notify_authority],
      flow_run_name="préfecture {reference}",
      description="Enregistre l'accusé de réception @CTES de l'acte, vérifie qu'il désigne bien la délibération "
                  "(SIREN, date de séance, numéro) et calcule la date à laquelle l'acte devient exécutoire.")
def prefecture_receipt(reference: str, receipt: PrefectureReceipt) -> dict[str, Any]:
    """Exécutoire once both received by the prefect and published: then the convention is to be signed."""
    return record_receipt(reference, receipt)


@flow(name="legality-control-restarted", on_failure=[notify_authority],
      flow_run_name="contrôle de légalité {reference}",
      description="Une demande de pièces ou une lettre d'observations du préfet relance le délai de deux mois.")
def legality_control_restarted(reference: str, restart: ControlRestarted) -> dict[str, Any]:
    return record_control_restart(reference, restart)
