"""Stage 5: the association reports every few months; the authority answers each report."""
from __future__ import annotations

from typing import Any

from prefect import flow

from flows.hooks import failure_resolved, notify_authority
from services.facts import ProgressReport, ReportAnswer
from tasks.facts import record_report, record_report_answer


@flow(name="report-received", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="compte rendu {reference}",
      description="Enregistre un compte rendu de l'association avec ses indicateurs (projets accompagnés, "
                  "investissements captés, entreprises créées, jeunes diplômés embauchés, sessions) ; la réponse "
                  "de la collectivité devient due.")
def report_received(reference: str, report: ProgressReport) -> dict[str, Any]:
    return record_report(reference, report)


@flow(name="report-answered", on_failure=[notify_authority], on_completion=[failure_resolved],
      flow_run_name="réponse au compte rendu {reference}",
      description="Enregistre l'appréciation de la collectivité en réponse à un compte rendu.")
def report_answered(reference: str, answer: ReportAnswer) -> dict[str, Any]:
    return record_report_answer(reference, answer)
