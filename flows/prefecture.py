"""Stage 2: the act is transmitted to the prefecture and becomes enforceable (CGCT L2131-1),
for every grant it decides."""
from __future__ import annotations

from typing import Any

from prefect import flow

from flows.deliberation import ActReference
from flows.hooks import failure_resolved, notify_authority
from services.facts import ControlRestarted, PrefectureReceipt
from tasks.facts import record_control_restart, record_receipt


@flow(name="prefecture-receipt", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="préfecture {act}",
      description="Enregistre la transmission de l'acte : l'accusé de réception @CTES (vérifié contre l'acte : "
                  "SIREN, date du vote, numéro) ou, pour un acte transmis sur papier, la date du tampon de la "
                  "préfecture ; calcule la date à laquelle l'acte, et chacune de ses subventions, devient exécutoire.")
def prefecture_receipt(act: ActReference, receipt: PrefectureReceipt) -> dict[str, Any]:
    """Exécutoire once both received by the prefect and published: then the conventions are to be signed."""
    return record_receipt(act, receipt)


@flow(name="legality-control-restarted", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="contrôle de légalité {act}",
      description="Une demande de pièces ou une lettre d'observations du préfet relance le délai de deux mois.")
def legality_control_restarted(act: ActReference, restart: ControlRestarted) -> dict[str, Any]:
    return record_control_restart(act, restart)
