"""How stages and statuses read in French, for the people who open the reports.

The codes stay English in the store and the API; these are their words in documents.
"""
from __future__ import annotations

from domain.lifecycle import InstalmentStatus, ObligationStatus, Stage

STAGE_LABELS: dict[str, str] = {
    Stage.DELIBERATION.value: "délibération",
    Stage.PREFECTURE.value: "transmission en préfecture",
    Stage.SIGNATURE.value: "signature de la convention",
    Stage.ACTIVE.value: "convention en cours",
    Stage.CLOSING.value: "clôture en cours",
    Stage.CLOSED.value: "close",
    Stage.REJECTED.value: "rejetée",
}

OBLIGATION_STATUS_LABELS: dict[str, str] = {
    ObligationStatus.PENDING.value: "à venir",
    ObligationStatus.OVERDUE.value: "en retard",
    ObligationStatus.DONE.value: "fait",
    ObligationStatus.CANCELLED.value: "annulé",
}

INSTALMENT_STATUS_LABELS: dict[str, str] = {
    InstalmentStatus.SCHEDULED.value: "programmé",
    InstalmentStatus.ORDERED.value: "ordonné",
    InstalmentStatus.PAID.value: "payé",
    InstalmentStatus.REJECTED.value: "rejeté",
    InstalmentStatus.FAILED.value: "en échec",
}


def stage_label(code: str) -> str:
    return STAGE_LABELS.get(code, code)
