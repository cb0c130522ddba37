"""Every working morning: move grants on, mark what is late, queue the reminders, send them."""
from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow

from core import clock
from flows.closure import start_due_evaluations_and_closures
from flows.naming import SCHEDULED_STEPS, dated, timed
from tasks.mail import send_queued_mail
from tasks.sweep import anchor_journal, publish_mail_report, publish_portfolio, sweep_day


@flow(name="daily-sweep", flow_run_name=dated(SCHEDULED_STEPS["daily-sweep"]),
      description="Pour un jour ouvré (par défaut aujourd'hui, Europe/Paris) : fait avancer les subventions dont "
                  "les conditions sont remplies, marque les obligations en retard et programme les relances "
                  "(avant l'échéance, le jour même, puis escalades) ; lance les évaluations échues et la clôture des "
                  "conventions terminées. Relancer un jour déjà traité ne change rien.")
def daily_sweep(business_date: dt.date | None = None, max_grant_runs: int = 50) -> dict[str, Any]:
    day = business_date or clock.today()
    result = sweep_day(day)
    # Only the grants that changed today: evaluations due, conventions ended (subflows).
    follow_up = start_due_evaluations_and_closures(day, max_grant_runs)
    sent = send_queued_mail()  # the mail-run deployment takes over whatever the server refused
    publish_portfolio(day)
    publish_mail_report(day, result, sent)
    anchor_journal()
    return result.as_dict() | {"sent": len(sent.sent), "waiting": sent.waiting} | follow_up


@flow(name="mail-run", flow_run_name=timed(SCHEDULED_STEPS["mail-run"]),
      description="Envoie les courriels en file (relances, avis) ; un serveur indisponible les laisse en file "
                  "pour l'envoi suivant, aucun n'est envoyé deux fois.")
def mail_run(limit: int | None = None) -> dict[str, Any]:
    result = send_queued_mail(limit)
    return {"sent": len(result.sent), "failed": result.failed, "waiting": result.waiting, "error": result.error}
