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
  French summary naming each target missed and by how much, a CSV (`;`, UTF-8 with BOM,
  as French spreadsheets expect) and an Excel workbook under
  `settings.artifacts_dir / reference`, stored on the Evaluation row; the evaluation
  obligation is fulfilled, the journal written, and the summary mailed with both files
  attached to the authority's contact.

An evaluation once done is a document sent: running it again returns what was stored
and writes nothing (the files are written again only if they went missing).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Disbursement, Evaluation, Grant, Message, Obligation, Report
from domain import labels
from domain.calendar import format_date_fr
from domain.errors import RuleViolation
from domain.indicators import ABOVE, BELOW, INDICATORS, MET, Target, assess, label
from domain.labels import slug
from domain.lifecycle import Stage
from domain.money import ZERO, format_amount, format_amount_fr
from services import journal, mailing, obligations
from services.disbursements import total_paid, total_redistributed
from services.grants import get_grant
from services.workbook import write_sheet

MISSING = "non renseigné"
COLUMNS = ["indicateur", "cible", "réalisé", "statut", "écart", "constat"]
OPEN = ("pending", "overdue")
EVALUATED_STAGES = (Stage.ACTIVE.value, Stage.CLOSING.value, Stage.CLOSED.value)


# -- formatting ---------------------------------------------------------------------

def number_fr(value: Decimal) -> str:
    """9 -> "9"; 120000 -> "120 000"; 1234.5 -> "1 234,50"."""
    if value == value.to_integral_value():
        return f"{int(value):,}".replace(",", " ")
    return f"{value.quantize(Decimal('0.01')):,.2f}".replace(",", " ").replace(".", ",")


def target_text(target: Target) -> str:
    if target.min is not None and target.max is not None:
        return f"{number_fr(target.min)} à {number_fr(target.max)}"
    if target.min is not None:
        return f"au moins {number_fr(target.min)}"
    return f"au plus {number_fr(target.max)}"  # type: ignore[arg-type]


def artifact_key(reference: str, name: str) -> str:
    """"evaluation-casq-2018-innosprint-mi-parcours"."""
    return f"evaluation-{slug(reference)}-{slug(name)}"


def _decimal(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, float):  # never produced by the store (JSON ints and strings)
        raise RuleViolation("indicators", value, "valeur d'indicateur en nombre à virgule flottante refusée")
    return Decimal(str(value))


# -- the evaluation as data ---------------------------------------------------------

@dataclass(frozen=True)
class IndicatorResult:
    indicator: str
    label: str
    target: str
    min: Decimal | None
    max: Decimal | None
    achieved: Decimal | None
    status: str  # atteint | en dessous | au-dessus | non renseigné
    gap: Decimal  # how far from the target (0 when met)
    finding: str  # the French sentence

    @property
    def missed(self) -> bool:
        return self.status != MET

    def row(self) -> dict[str, str]:
        """The row of the table staff read (CSV, Excel, Prefect artifact)."""
        signed = "0" if self.status == MET else ("+" if self.status == ABOVE else "-") + number_fr(self.gap)
        return {"indicateur": self.label, "cible": self.target,
                "réalisé": MISSING if self.achieved is None else number_fr(self.achieved),
                "statut": self.status, "écart": signed, "constat": self.finding}

    def cells(self) -> dict[str, Any]:
        """The same row for a workbook: achieved and gap as numbers (the gap signed: below < 0)."""
        signed = ZERO if self.status == MET else (self.gap if self.status == ABOVE else -self.gap)
        return self.row() | {"réalisé": self.achieved, "écart": signed}

    def stored(self) -> dict[str, Any]:
        """What the Evaluation row keeps (JSON: amounts and counts as text, exact)."""
        return {"indicator": self.indicator, "label": self.label, "target": self.target,
                "min": None if self.min is None else str(self.min), "max": None if self.max is None else str(self.max),
                "achieved": None if self.achieved is None else str(self.achieved), "status": self.status,
                "gap": str(self.gap), "finding": self.finding}

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> IndicatorResult:
        return cls(indicator=data["indicator"], label=data["label"], target=data["target"],
                   min=_decimal(data["min"]), max=_decimal(data["max"]), achieved=_decimal(data["achieved"]),
                   status=data["status"], gap=Decimal(data["gap"]), finding=data["finding"])


@dataclass
class EvaluationOutcome:
    reference: str
    name: str
    on: dt.date
    results: list[IndicatorResult]
    summary: str
    files: list[Path] = field(default_factory=list)
    already_done: bool = False

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame([r.row() for r in self.results], columns=COLUMNS)

    @property
    def missed(self) -> list[IndicatorResult]:
        return [r for r in self.results if r.missed]

    @property
    def key(self) -> str:
        return artifact_key(self.reference, self.name)

    def markdown(self) -> str:
        lines = [f"# Évaluation « {self.name} » — {self.reference}", "", f"Au {format_date_fr(self.on)}.", ""]
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(r.row()[c] for c in COLUMNS) + " |" for r in self.results]
        lines += ["", "## Synthèse", "", self.summary, ""]
        if self.files:
            lines += ["## Fichiers", ""] + [f"- `{path}`" for path in self.files] + [""]
        return "\n".join(lines)


def _finding(label_: str, achieved: Decimal | None, target: Target, status: str, gap: Decimal) -> str:
    if achieved is None:
        return f"{label_} : aucune valeur déclarée dans les comptes rendus reçus (objectif : {target_text(target)})"
    if status == BELOW:
        return f"{label_} : {number_fr(achieved)} pour {number_fr(target.min)} au minimum, il en manque " \
               f"{number_fr(gap)}"  # type: ignore[arg-type]
    if status == ABOVE:
        return f"{label_} : {number_fr(achieved)} pour {number_fr(target.max)} au maximum, {number_fr(gap)} " \
               f"de trop"  # type: ignore[arg-type]
    return f"{label_} : {number_fr(achieved)} (objectif : {target_text(target)}), atteint"


def _targets(grant: Grant) -> list[tuple[str, Target]]:
    """The grant's targets, in the order of INDICATORS, then any other."""
    order = {key: index for index, key in enumerate(INDICATORS)}
    targets = []
    for key in sorted(grant.targets or {}, key=lambda k: (order.get(k, len(order)), k)):
        bounds = grant.targets[key] or {}
        targets.append((key, Target(_decimal(bounds.get("min")), _decimal(bounds.get("max")))))
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
            value = _decimal(given.iloc[-1])
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
                                       _finding(name, value, target, status, gap)))
    return results


@dataclass(frozen=True)
class ReportsState:
    received: int
    due: int  # report obligations whose due date is reached
    missing: list[tuple[int, dt.date]]  # due and not received
    late: list[tuple[int, dt.date, dt.date]]  # received after the due date: (number, due, received)


def reports_state(session: Session, grant: Grant, day: dt.date) -> ReportsState:
    dues = session.execute(sa.select(Obligation.number, Obligation.due_on, Obligation.status, Obligation.done_on)
                           .where(Obligation.grant_id == grant.id, Obligation.kind == "report")
                           .order_by(Obligation.number)).all()
    received = session.scalar(sa.select(sa.func.count()).where(Report.grant_id == grant.id,
                                                               Report.received_on <= day)) or 0
    missing = [(n, due) for n, due, status, _ in dues if status in OPEN and due < day]
    late = [(n, due, done) for n, due, status, done in dues if status == "done" and done is not None and done > due
            and done <= day]
    return ReportsState(received, sum(1 for _, due, _, _ in dues if due <= day), missing, late)


def _percent(part: Decimal, whole: Decimal) -> str:
    return f"{(part * 100 / whole).quantize(Decimal('1'), rounding=ROUND_HALF_UP)} %"


def summary_text(grant: Grant, evaluation: Evaluation, day: dt.date, frame: pd.DataFrame,
                 results: list[IndicatorResult], paid: Decimal, redistributed: Decimal,
                 reports: ReportsState) -> str:
    missed = [r for r in results if r.missed]
    met = [r for r in results if not r.missed]
    last = (f", le dernier reçu le {format_date_fr(frame['received_on'].iloc[-1])}" if len(frame) else "")
    lines = [f"Évaluation « {evaluation.name} » de la subvention {grant.reference} au {format_date_fr(day)} "
             f"({evaluation.at_months} mois après le début de la convention, le {format_date_fr(grant.starts_on)}), "
             f"sur {len(frame)} compte(s) rendu(s){last}."]
    if not results:
        lines.append("La convention ne fixe pas d'objectif chiffré.")
    elif missed:
        lines += ["", f"Objectifs non atteints ({len(missed)} sur {len(results)}) :"]
        lines += [f"- {r.finding}" for r in missed]
    else:
        lines += ["", f"Tous les objectifs sont atteints ({len(results)} sur {len(results)})."]
    if met and missed:
        lines += ["", "Objectifs atteints :"] + [f"- {r.finding}" for r in met]
    if missed and grant.ends_on is not None and day <= grant.ends_on:
        lines += ["", "Les objectifs sont ceux de la convention sur toute sa durée : en cours de convention, "
                      "l'écart indique ce qui reste à accomplir d'ici au "
                      f"{format_date_fr(grant.ends_on)}."]
    lines += ["", "Financement : " + money_text(paid, redistributed)]
    report_line = f"Comptes rendus : {reports.received} reçu(s), {reports.due} échu(s) à cette date"
    report_line += " ; manquant(s) : " + (", ".join(f"n°{n} (attendu le {format_date_fr(due)})"
                                                  for n, due in reports.missing) or "aucun")
    report_line += " ; reçu(s) en retard : " + (", ".join(
        f"n°{n} (attendu le {format_date_fr(due)}, reçu le {format_date_fr(done)})"
        for n, due, done in reports.late) or "aucun") + "."
    lines.append(report_line)
    return "\n".join(lines)


def money_text(paid: Decimal, redistributed: Decimal) -> str:
    if paid == 0:
        return (f"aucun versement de la collectivité encore payé ; redistribué aux porteurs de projets "
                f"{format_amount_fr(redistributed)}.")
    left = paid - redistributed
    text = (f"versé par la collectivité {format_amount_fr(paid)} ; redistribué aux porteurs de projets "
            f"{format_amount_fr(redistributed)} ({_percent(redistributed, paid)} du versé) ; ")
    if left >= 0:
        return text + f"reste à redistribuer {format_amount_fr(left)}."
    return text + f"redistribué au-delà du versé : {format_amount_fr(-left)} avancés par l'association."


# -- files ----------------------------------------------------------------------------

def documents_dir(settings: Settings, reference: str) -> Path:
    return (settings.artifacts_dir / reference).resolve()


def write_files(outcome: EvaluationOutcome, settings: Settings, frame: pd.DataFrame | None = None,
                money: dict[str, Decimal] | None = None, disbursements: pd.DataFrame | None = None,
                reports: ReportsState | None = None) -> list[Path]:
    """The CSV of the indicator table and an Excel workbook (indicators, money, reports, summary)."""
    folder = documents_dir(settings, outcome.reference)
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"evaluation-{slug(outcome.name)}"
    csv, xlsx = base.with_suffix(".csv"), base.with_suffix(".xlsx")
    table = outcome.table
    table.to_csv(csv, sep=";", index=False, encoding="utf-8-sig")
    with pd.ExcelWriter(xlsx, engine="openpyxl") as writer:
        write_sheet(writer, pd.DataFrame([r.cells() for r in outcome.results], columns=COLUMNS), "indicateurs",
                    decimals=("réalisé", "écart"))
        if money is not None:
            write_sheet(writer, pd.DataFrame([{"poste": k, "montant": v} for k, v in money.items()]),
                        "financement", euros=("montant",))
        if disbursements is not None and len(disbursements):
            write_sheet(writer, disbursements, "versements aux porteurs", euros=("montant",), dates=("date",))
        if frame is not None and len(frame):
            figures = frame.drop(columns=["number", "received_on"]).map(_decimal)  # numbers in the cells
            reports_sheet = pd.concat([frame[["number", "received_on"]], figures], axis=1).rename(
                columns={"number": "n°", "received_on": "reçu le", **INDICATORS})
            write_sheet(writer, reports_sheet, "comptes rendus", counts=("n°",), dates=("reçu le",),
                        decimals=[INDICATORS.get(c, c) for c in figures.columns])
        if reports is not None:
            write_sheet(writer, pd.DataFrame(
                [{"compte rendu": f"n°{n}", "attendu le": due, "reçu le": None, "situation": "manquant"}
                 for n, due in reports.missing]
                + [{"compte rendu": f"n°{n}", "attendu le": due, "reçu le": done, "situation": "reçu en retard"}
                   for n, due, done in reports.late],
                columns=["compte rendu", "attendu le", "reçu le", "situation"],
            ), "retards", dates=("attendu le", "reçu le"))
        write_sheet(writer, pd.DataFrame({"synthèse": outcome.summary.split("\n")}), "synthèse")
    return [csv, xlsx]


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
        base = documents_dir(settings, grant.reference) / f"evaluation-{slug(name)}"
        outcome.files = [base.with_suffix(".csv"), base.with_suffix(".xlsx")]
        if not all(path.exists() for path in outcome.files):
            outcome.files = write_files(outcome, settings)
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
    outcome.files = write_files(outcome, settings, frame, money, disbursements, reports)

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
             .where(Obligation.kind == "evaluation", Obligation.status.in_(OPEN), Obligation.due_on <= day,
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


def run_due(unit_of_work: Callable[[], AbstractContextManager[Session]], settings: Settings, day: dt.date, *,
            actor: str, limit: int | None = None) -> list[str]:
    """Every evaluation due by `day`, each in its own transaction (the simulation's daily job)."""
    with unit_of_work() as session:
        due = due_evaluations(session, day, limit=limit)
    lines = []
    for reference, name in due:
        with unit_of_work() as session:
            outcome = evaluate(session, get_grant(session, reference, for_update=True), name, settings, day=day,
                               actor=actor)
        missed = ", ".join(f"{r.label} ({r.status})" for r in outcome.missed) or "tous atteints"
        lines.append(f"{reference} : évaluation {name} faite, objectifs non atteints : {missed}")
    return lines
