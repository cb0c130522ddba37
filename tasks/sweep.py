"""The daily sweep as one Prefect task: a handful of set-based statements, not one task per grant
(a large day in a few parts, each its own transaction)."""
from __future__ import annotations

import datetime as dt

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from core import clock
from core.settings import get_settings
from db.session import is_postgresql_url, unit_of_work
from domain import labels
from domain.calendar import format_date_fr
from services import bank_changes, journal_anchors, mailing, reading, sweep

ARTIFACT_ROWS = 500


@task(name="faire avancer les subventions, marquer les retards, programmer les relances", cache_policy=NO_CACHE)
def sweep_day(business_date: dt.date) -> sweep.SweepResult:
    settings = get_settings()
    workers = settings.sweep_workers if is_postgresql_url(settings.resolved_database_url) else 1
    with clock.frozen(business_date):
        result = sweep.sweep_day(unit_of_work, business_date, settings, actor="prefect:daily-sweep", workers=workers)
    logger = get_run_logger()
    if result.parts > 1:
        logger.info("balayage en %d parties, %d à la fois", result.parts, workers)
    for reference, source, target in result.transitions:
        logger.info("%s : %s", reference, labels.stage_move(source, target))
    logger.info("%s : %d obligation(s) passée(s) en retard, relances programmées : %s",
                format_date_fr(business_date), result.overdue, labels.reminders_queued(result.reminders))
    return result


@task(name="ancrer le journal hors de la base", cache_policy=NO_CACHE)
def anchor_journal() -> int:
    """The day's chain heads, appended to the anchor file that `grantflow audit verify` checks."""
    settings = get_settings()
    with unit_of_work() as session:
        written = journal_anchors.anchor(session, settings)
    get_run_logger().info("journal : %d tête(s) de chaîne ancrée(s) dans %s", written, settings.anchors_path)
    return written


@task(name="publier le tableau du portefeuille", cache_policy=NO_CACHE)
def publish_portfolio(business_date: dt.date) -> None:
    with unit_of_work() as session:
        table = reading.portfolio(session)
        pending_bank_changes = bank_changes.pending_lines(session)
    # The server refuses artifacts of a few MB: the most urgent grants, and the count of the rest.
    shown = table.sort_values(["overdue", "next_due_on"], ascending=[False, True], na_position="last")
    shown = shown.head(ARTIFACT_ROWS)
    more = f" ({ARTIFACT_ROWS} plus urgentes sur {len(table)} : `grantflow report` pour tout)" \
        if len(table) > ARTIFACT_ROWS else ""
    create_table_artifact(key="portefeuille", table=shown.fillna("").to_dict(orient="records"),
                          description=f"Portefeuille des subventions au {business_date:%d/%m/%Y}{more}"
                          + "".join(f"\n\nChangement de RIB en attente, paiements suspendus : {line}"
                                    for line in pending_bank_changes))


@task(name="publier le compte rendu des envois", cache_policy=NO_CACHE)
def publish_mail_report(business_date: dt.date, sweep_result: sweep.SweepResult, sent: mailing.SendResult) -> None:
    lines = [f"# Balayage du {business_date:%d/%m/%Y}", "",
             f"- passages d'étape : {sweep_result.transitions_total}",
             f"- obligations passées en retard : {sweep_result.overdue}",
             f"- relances programmées : {sum(sweep_result.reminders.values())} "
             f"({', '.join(f'{k} {v}' for k, v in sweep_result.reminders.items())})",
             f"- courriels envoyés : {len(sent.sent)}, en échec : {sent.failed}, en attente : {sent.waiting}", ""]
    if sent.error:
        lines += [f"**Messagerie indisponible** : {sent.error}", ""]
    if sent.failures:
        lines += ["## Courriels en échec définitif (adresse à corriger dans le dossier, la collectivité est avertie)",
                  ""] + [f"- {line}" for line in sent.failures[:ARTIFACT_ROWS]] + [""]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in
              [("subvention", "de", "vers")] + [("---", "---", "---")] + sweep_result.transitions[:ARTIFACT_ROWS]]
    lines += ["", "## Courriels envoyés", ""] + [f"- {line}" for line in sent.sent[:ARTIFACT_ROWS]]
    if len(sent.sent) > ARTIFACT_ROWS:
        lines.append(f"- … et {len(sent.sent) - ARTIFACT_ROWS} autres")
    create_markdown_artifact(key="envois-du-jour", markdown="\n".join(lines),
                             description=f"Ce que le balayage du {business_date:%d/%m/%Y} a fait et envoyé")
