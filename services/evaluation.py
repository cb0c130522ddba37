"""Mid-term and final evaluations (seed 002 art. 6): indicators against targets, money, reports.

One function, `evaluate`, does the whole evaluation of one grant on one business date,
in the caller's transaction, without Prefect (the simulation calls it as it is; the
`grant-evaluation` flow adds the Prefect artifacts on top):

- the reports received by that date are gathered with pandas. The indicators of seed 002
  are counts over the convention year ("sur une période d'un an ... entre 12 et 20
  projets"), and each bimonthly report gives the figures *to date*: the value of an
  indicator is therefore the one of the **latest report that gives it** (cumulative to
  date), never the sum of the reports (which would count a project once per report);
- each indicator with a target is compared with it by `domain.indicators.assess`; the
  targets are those of the whole convention, also at mid-term, where the gap is what is
  left to achieve;
- money: paid (instalments paid) against redistributed (disbursements), to date;
- reports: due and not received (missing), received after their due date (late);
- the result is a table (indicateur, cible, réalisé, statut, écart, constat), a short
  French summary naming each target missed and by how much (services.evaluation_results),
  a CSV (`;`, UTF-8 with BOM, as French spreadsheets expect) and an Excel workbook under
  `settings.artifacts_dir / reference` (written by gateways.documents), stored on the
  Evaluation row; the evaluation
  obligation is fulfilled, the journal written, and the summary mailed with both files
  attached to the authority's contact.

An evaluation once done is a document sent: running it again returns what was stored
and writes nothing (the files are written again only if they went missing).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Disbursement, Evaluation, Grant, Obligation, Report
from domain import labels
from domain.calendar import format_date_fr
from domain.errors import RuleViolation
from domain.indicators import INDICATORS, Target, assess, label
from domain.labels import slug
from domain.lifecycle import OBLIGATION_OPEN, ObligationStatus, Stage
from domain.money import ZERO, format_amount
from gateways import documents
from gateways.documents import Sheet
from services import journal, mailing, obligations
from services.disbursements import total_paid, total_redistributed
from services.evaluation_results import (
    COLUMNS,
    MISSING,
    EvaluationOutcome,
    IndicatorResult,
    ReportsState,
    decimal_or_none,
    finding,
    summary_text,
    target_text,
)

EVALUATED_STAGES = (Stage.ACTIVE.value, Stage.CLOSING.value, Stage.CLOSED.value)


def _targets(grant: Grant) -> list[tuple[str, Target]]:
    """The grant's targets, in the order of INDICATORS, then any other."""
    order = {key: index for index, key in enumerate(INDICATORS)}
    targets = []
    for key in sorted(grant.targets or {}, key=lambda k: (order.get(k, len(order)), k)):
        bounds = grant.targets[key] or {}
        targets.append((key, Target(decimal_or_none(bounds.get("min")), decimal_or_none(bounds.get("max")))))
    return targets


def reports_frame(session: Session, grant: Grant, day: dt.date) -> pd.DataFrame:
    """One row per report received by `day` (number, received_on, one column per indicator)."""
    rows = [{"number": r.number, "received_on": r.received_on, **(r.indicators or {})}
            for r in session.scalars(sa.select(Report).where(Report.grant_id == grant.id, Report.received_on <= day)
                                     .order_by(Report.received_on, Report.number))]
    frame = pd.DataFrame(rows, columns=["number", "received_on"] + sorted(
        {key for row in rows for key in row} - {"number", "received_on"}), dtype=object)
    return frame


def latest_values(frame: pd.DataFrame) -> dict[str, Decimal]:
    """Each indicator's value in the latest report that gives it (cumulative to date)."""
    values: dict[str, Decimal] = {}
    for column in frame.columns.drop(["number", "received_on"]):
        given = frame[column].dropna()
        if not given.empty:
            value = decimal_or_none(given.iloc[-1])
            if value is not None:
                values[column] = value
    return values


def assess_indicators(grant: Grant, achieved: dict[str, Decimal]) -> list[IndicatorResult]:
    results = []
    for key, target in _targets(grant):
        name = label(key)
        value = achieved.get(key)
        if value is None:
            status, gap = MISSING, (target.min if target.min is not None else ZERO)
        else:
            status, gap = assess(key, value, target)
        results.append(IndicatorResult(key, name, target_text(target), target.min, target.max, value, status, gap,
                                       finding(name, value, target, status, gap)))
    return results


def reports_state(session: Session, grant: Grant, day: dt.date) -> ReportsState:
    dues = session.execute(sa.select(Obligation.number, Obligation.due_on, Obligation.status, Obligation.done_on)
                           .where(Obligation.grant_id == grant.id, Obligation.kind == "report")
                           .order_by(Obligation.number)).all()
    received = session.scalar(sa.select(sa.func.count()).where(Report.grant_id == grant.id,
                                                               Report.received_on <= day)) or 0
    missing = [(n, due) for n, due, status, _ in dues if status in OBLIGATION_OPEN and due < day]
    late = [(n, due, done) for n, due, status, done in dues if status == ObligationStatus.DONE.value and done is not None and done > due
            and done <= day]
    return ReportsState(received, sum(1 for _, due, _, _ in dues if due <= day), missing, late)


# -- the files' contents (gateways.documents writes them) ----------------------------------------------------------------------------

def documents_dir(settings: Settings, reference: str) -> Path:
    return (settings.artifacts_dir / reference).resolve()


def sheets(outcome: EvaluationOutcome, frame: pd.DataFrame | None = None, money: dict[str, Decimal] | None = None,
           disbursements: pd.DataFrame | None = None, reports: ReportsState | None = None) -> list[Sheet]:
    """The workbook: indicators, money, disbursements, reports, lateness, summary (those known)."""
    found = [Sheet(pd.DataFrame([r.cells() for r in outcome.results], columns=COLUMNS), "indicateurs",
                   decimals=("réalisé", "écart"))]
    if money is not None:
        found.append(Sheet(pd.DataFrame([{"poste": k, "montant": v} for k, v in money.items()]), "financement",
                           euros=("montant",)))
    if disbursements is not None and len(disbursements):
        found.append(Sheet(disbursements, "versements aux porteurs", euros=("montant",), dates=("date",)))
    if frame is not None and len(frame):
        figures = frame.drop(columns=["number", "received_on"]).map(decimal_or_none)  # numbers in the cells
        reports_sheet = pd.concat([frame[["number", "received_on"]], figures], axis=1).rename(
            columns={"number": "n°", "received_on": "reçu le", **INDICATORS})
        found.append(Sheet(reports_sheet, "comptes rendus", counts=("n°",), dates=("reçu le",),
                           decimals=[INDICATORS.get(c, c) for c in figures.columns]))
    if reports is not None:
        found.append(Sheet(pd.DataFrame(
            [{"compte rendu": f"n°{n}", "attendu le": due, "reçu le": None, "situation": "manquant"}
             for n, due in reports.missing]
            + [{"compte rendu": f"n°{n}", "attendu le": due, "reçu le": done, "situation": "reçu en retard"}
               for n, due, done in reports.late],
            columns=["compte rendu", "attendu le", "reçu le", "situation"],
        ), "retards", dates=("attendu le", "reçu le")))
    found.append(Sheet(pd.DataFrame({"synthèse": outcome.summary.split("\n")}), "synthèse"))
    return found


# -- the action ---------------------------------------------------------------------

def evaluation_of(session: Session, grant: Grant, name: str) -> tuple[Evaluation, int]:
    """The evaluation called `name` and its obligation number (order of at_months, as
    services.obligations.start numbers them)."""
    evaluations = list(session.scalars(sa.select(Evaluation).where(Evaluation.grant_id == grant.id)
                                       .order_by(Evaluation.at_months, Evaluation.id)))
    for number, evaluation in enumerate(evaluations, start=1):
        if evaluation.name == name:
            return evaluation, number
    known = ", ".join(e.name for e in evaluations) or "aucune"
    raise RuleViolation("name", name, f"la convention de {grant.reference} ne prévoit pas cette évaluation "
                                      f"(prévues : {known})")


def evaluate(session: Session, grant: Grant, name: str, settings: Settings, *, day: dt.date,
             actor: str) -> EvaluationOutcome:
    evaluation, number = evaluation_of(session, grant, name)
    if evaluation.done_on is not None:
        outcome = EvaluationOutcome(grant.reference, name, evaluation.done_on,
                                    [IndicatorResult.from_stored(r) for r in evaluation.results or []],
                                    evaluation.summary or "", already_done=True)
        folder = documents_dir(settings, grant.reference)
        outcome.files = documents.evaluation_paths(folder, name)
        if not all(path.exists() for path in outcome.files):
            outcome.files = documents.write_evaluation(folder, name, outcome.table, sheets(outcome))
        return outcome
    if grant.starts_on is None or grant.stage not in EVALUATED_STAGES:
        raise RuleViolation("reference", grant.reference,
                            f"la subvention est à l'étape {labels.stages(grant.stage)} : une évaluation porte sur une "
                            f"convention en cours ou terminée (étapes {labels.stages(*EVALUATED_STAGES)})")
    if day < grant.starts_on:
        raise RuleViolation("business_date", day.isoformat(),
                            f"date antérieure au début de la convention ({format_date_fr(grant.starts_on)})")
    frame = reports_frame(session, grant, day)
    results = assess_indicators(grant, latest_values(frame))
    paid, redistributed = total_paid(session, grant, until=day), total_redistributed(session, grant, until=day)
    reports = reports_state(session, grant, day)
    summary = summary_text(grant, evaluation, day, frame, results, paid, redistributed, reports)
    outcome = EvaluationOutcome(grant.reference, name, day, results, summary)
    disbursements = pd.DataFrame(
        [{"date": d.paid_on, "porteur de projet": d.beneficiary, "montant": d.amount}
         for d in session.scalars(sa.select(Disbursement).where(Disbursement.grant_id == grant.id,
                                                                Disbursement.paid_on <= day)
                                  .order_by(Disbursement.paid_on, Disbursement.id))])
    money = {"versé par la collectivité": paid, "redistribué aux porteurs de projets": redistributed,
             "reste à redistribuer": paid - redistributed}
    outcome.files = documents.write_evaluation(documents_dir(settings, grant.reference), name, outcome.table,
                                               sheets(outcome, frame, money, disbursements, reports))

    evaluation.done_on, evaluation.summary = day, summary
    evaluation.results = [r.stored() for r in results]
    obligations.fulfil(session, grant, "evaluation", number, day)
    journal.append(session, grant, "evaluation", {
        "name": name, "on": day, "reports": len(frame),
        "missed": {r.indicator: {"status": r.status, "gap": str(r.gap)} for r in outcome.missed},
        "met": [r.indicator for r in results if not r.missed],
        "paid": format_amount(paid), "redistributed": format_amount(redistributed),
        "missing_reports": [n for n, _ in reports.missing], "late_reports": [n for n, _, _ in reports.late],
        "files": [path.name for path in outcome.files],
    }, actor=actor)
    mailing.queue(session, grant, "evaluation_summary", f"evaluation:{grant.id}:{slug(name)}", {
        "evaluation_name": name, "summary_text": summary, "attachments": [str(p) for p in outcome.files],
    }, day=day, to_authority=True)
    return outcome


# -- what falls due -----------------------------------------------------------------

def due_evaluations(session: Session, day: dt.date, *, limit: int | None = None) -> list[tuple[str, str]]:
    """(reference, evaluation name) of the evaluations due by `day` and not done yet, in
    due-date order: one query for the obligations, one for their names (set-based)."""
    query = (sa.select(Grant.id, Grant.reference, Obligation.number)
             .join(Grant, Grant.id == Obligation.grant_id)
             .where(Obligation.kind == "evaluation", Obligation.status.in_(OBLIGATION_OPEN), Obligation.due_on <= day,
                    Grant.stage.in_(EVALUATED_STAGES))
             .order_by(Obligation.due_on, Grant.reference, Obligation.number))
    if limit is not None:
        query = query.limit(limit)
    due = session.execute(query).all()
    if not due:
        return []
    names: dict[int, list[tuple[str, dt.date | None]]] = {}
    for grant_id, evaluation_name, done_on in session.execute(
            sa.select(Evaluation.grant_id, Evaluation.name, Evaluation.done_on)
            .where(Evaluation.grant_id.in_({g for g, _, _ in due}))
            .order_by(Evaluation.grant_id, Evaluation.at_months, Evaluation.id)):
        names.setdefault(grant_id, []).append((evaluation_name, done_on))
    found = []
    for grant_id, reference, number in due:
        evaluations = names.get(grant_id, [])
        if number <= len(evaluations) and evaluations[number - 1][1] is None:
            found.append((reference, evaluations[number - 1][0]))
    return found

