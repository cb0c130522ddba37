"""The compte rendu financier (Cerfa 15059): received from the association, then checked
by the authority; the closure of a grant that owes one is decided after its check."""
from __future__ import annotations

from typing import Any

from prefect import flow

from flows.hooks import failure_resolved, notify_authority
from services.facts import FinancialReport, FinancialReportChecked
from tasks.facts import record_financial_report, record_financial_report_check


@flow(name="financial-report-received", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="compte rendu financier {reference}",
      description="Enregistre le compte rendu financier de l'action (Cerfa 15059, loi 2000-321 art. 10) : charges "
                  "et produits prévus et réalisés ; les écarts en euros et en % sont calculés et journalisés. "
                  "L'obligation et ses relances s'arrêtent.")
def financial_report_received(reference: str, report: FinancialReport) -> dict[str, Any]:
    return record_financial_report(reference, report)


@flow(name="financial-report-checked", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="contrôle du compte rendu financier {reference}",
      description="Enregistre le contrôle du compte rendu financier par la collectivité (approuvé ou non, dépenses "
                  "éligibles retenues) : le solde qui l'attendait devient dû, et la clôture peut se calculer selon "
                  "la clause de la convention (reliquat, prorata, aucun).")
def financial_report_checked(reference: str, check: FinancialReportChecked) -> dict[str, Any]:
    return record_financial_report_check(reference, check)
