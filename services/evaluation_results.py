"""An evaluation's results as data and as staff read them: the indicator table, its French
findings and summary (services.evaluation computes them, gateways.documents writes them)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from db.models import Evaluation, Grant
from domain.calendar import format_date_fr
from domain.errors import RuleViolation
from domain.indicators import ABOVE, BELOW, MET, Target
from domain.labels import slug
from domain.money import ZERO, digits_fr, format_amount_fr

MISSING = "non renseigné"
COLUMNS = ["indicateur", "cible", "réalisé", "statut", "écart", "constat"]


def number_fr(value: Decimal) -> str:
    """9 -> "9"; 120000 -> "120 000"; 1234.5 -> "1 234,50"."""
    if value == value.to_integral_value():
        return digits_fr(Decimal(int(value)), places=0)
    return digits_fr(value.quantize(Decimal("0.01")))


def target_text(target: Target) -> str:
    if target.min is not None and target.max is not None:
        return f"{number_fr(target.min)} à {number_fr(target.max)}"
    if target.min is not None:
        return f"au moins {number_fr(target.min)}"
    return f"au plus {number_fr(target.max)}"  # type: ignore[arg-type]


def artifact_key(reference: str, name: str) -> str:
    """"evaluation-casq-2018-innosprint-mi-parcours"."""
    return f"evaluation-{slug(reference)}-{slug(name)}"


def decimal_or_none(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, float):  # never produced by the store (JSON ints and strings)
        raise RuleViolation("indicators", value, "valeur d'indicateur en nombre à virgule flottante refusée")
    return Decimal(str(value))


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
                   min=decimal_or_none(data["min"]), max=decimal_or_none(data["max"]), achieved=decimal_or_none(data["achieved"]),
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


def finding(label_: str, achieved: Decimal | None, target: Target, status: str, gap: Decimal) -> str:
    if achieved is None:
        return f"{label_} : aucune valeur déclarée dans les comptes rendus reçus (objectif : {target_text(target)})"
    if status == BELOW:
        return f"{label_} : {number_fr(achieved)} pour {number_fr(target.min)} au minimum, il en manque " \
               f"{number_fr(gap)}"  # type: ignore[arg-type]
    if status == ABOVE:
        return f"{label_} : {number_fr(achieved)} pour {number_fr(target.max)} au maximum, {number_fr(gap)} " \
               f"de trop"  # type: ignore[arg-type]
    return f"{label_} : {number_fr(achieved)} (objectif : {target_text(target)}), atteint"


@dataclass(frozen=True)
class ReportsState:
    received: int
    due: int  # report obligations whose due date is reached
    missing: list[tuple[int, dt.date]]  # due and not received
    late: list[tuple[int, dt.date, dt.date]]  # received after the due date: (number, due, received)


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
