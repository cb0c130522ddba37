"""Avenants: a convention extended (seed 002 art. 5: "ne pourra se renouveler que par avenant
express"), optionally with an extra amount paid in its own instalments.

The history stays whole and the obligations follow the new end:

- the end date moves (never earlier: a convention is shortened by termination, not here);
  the avenant is signed while the convention runs (stages signature or active, on or
  before the current end);
- report obligations are recomputed from the start to the new end with the same rules
  (domain.obligations.report_due_dates): the new ones are added, an open one whose date
  changed is rescheduled, a report already received stays as it was;
- the evaluations that fell at the old end (the final one) move to the new end; earlier
  ones (mid-term) keep their date; the financial report moves to 6 months after the new end;
- an extra amount raises the grant; its instalments must add up to it exactly (one
  instalment 60 days after the avenant when none is given, loi 2000-321 art. 10) and each
  gets its payment obligation; whether a convention is compulsory is recomputed on the new
  amount (above 23,000 EUR), and if it becomes so the signatures are asked for;
- the avenant that votes a year of a multi-year convention keeps the end date: it is
  recorded by services.multi_year (journalled as an `amendment` with its `exercise`, numbered
  with these);
- every change is journaled in one `amendment` event (before and after), in the same
  transaction; the same avenant recorded twice changes nothing.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Evaluation, Event, FinancialReport, Grant, Instalment, Obligation, Report
from domain import labels
from domain import obligations as rules
from domain.calendar import format_date_fr
from domain.convention import convention_required
from domain.errors import RuleViolation
from domain.grant_end import Condition, awaited_number, check_condition, condition_text, reports_asked
from domain.lifecycle import OBLIGATION_OPEN, InstalmentStatus, Stage
from domain.money import ZERO, check_instalments, format_amount, format_amount_fr
from services import facts, journal, obligations

AMENDABLE_STAGES = (Stage.SIGNATURE.value, Stage.ACTIVE.value)


def _months_between(start: dt.date, end: dt.date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - 1 if end.day < start.day else months


def _previous(session: Session, grant: Grant) -> list[dict[str, Any]]:
    return [e.payload for e in session.scalars(sa.select(Event).where(Event.grant_id == grant.id,
                                                                      Event.kind == "amendment")
                                               .order_by(Event.seq))]


def _obligation(session: Session, grant: Grant, kind: str, number: int) -> Obligation | None:
    return session.scalars(sa.select(Obligation).where(Obligation.grant_id == grant.id, Obligation.kind == kind,
                                                       Obligation.number == number)).one_or_none()


def add_instalments(session: Session, grant: Grant, specs: list[facts.AmendmentInstalment], decided_on: dt.date,
                    settings: Settings, *, year: int = 1) -> list[dict[str, Any]]:
    """Instalments added to a convention after its vote (an avenant, a CPO's year), numbered
    after the others. Dated ones (without a date, 60 days after the decision) get their
    payment obligation now; one due on a fact waits for it (services.conditions), a solde
    "on: compte_rendu_financier" for the compte rendu financier of `year` unless it names one."""
    last = session.scalar(sa.select(sa.func.max(Instalment.number)).where(Instalment.grant_id == grant.id)) or 0
    added = []
    for offset, spec in enumerate(specs, start=1):
        number = last + offset
        if spec.on is not None:
            waits_for = awaited_number(spec.on, spec.number, multi_year=bool(grant.years), year=year)
            session.add(Instalment(grant_id=grant.id, number=number, amount=spec.amount, due_on=None,
                                   condition=spec.on.value, condition_number=waits_for, condition_days=spec.days,
                                   status=InstalmentStatus.SCHEDULED.value, idempotency_key=uuid.uuid4().hex))
            added.append({"number": number, "amount": format_amount(spec.amount),
                          "on": condition_text(spec.on, waits_for)})
            continue
        due_on = spec.due or obligations.deadline(
            grant, decided_on + dt.timedelta(days=settings.payment_days_after_notification), settings)
        instalment = Instalment(grant_id=grant.id, number=number, amount=spec.amount, due_on=due_on,
                                status=InstalmentStatus.SCHEDULED.value, idempotency_key=uuid.uuid4().hex)
        session.add(instalment)
        obligations.ensure(session, grant, "payment", instalment.number,
                           label=f"versement n°{instalment.number} ({format_amount_fr(spec.amount)})",
                           debtor=obligations.AUTHORITY, due_on=due_on)
        added.append({"number": instalment.number, "amount": format_amount(spec.amount), "due_on": due_on})
    session.flush()
    return added


def check_instalment_conditions(session: Session, grant: Grant, specs: list[facts.AmendmentInstalment]) -> None:
    """The facts the instalments wait for, checked against what the convention asks (as at
    load); a convention already signed is not waited for (the instalment would never fall due)."""
    signed = len(obligations.signed_parties(session, grant)) == 2
    for index, spec in enumerate(specs):
        if spec.on is Condition.SIGNATURE and (signed or not grant.convention_required):
            raise RuleViolation(f"instalments[{index}].on", spec.on.value,
                                "la convention est déjà signée (ou n'en demande pas) : une échéance ajoutée "
                                "se date, ou attend un compte rendu (rapport, compte_rendu_financier)")
        if spec.on is not None:
            reports = reports_asked(grant.duration_months, grant.reports_every_months)
            check_condition(spec.on, spec.number, reports=reports, financial_report_owed=grant.financial_report_owed,
                            field=f"instalments[{index}]", financial_reports=grant.years or 1)
            _not_happened_yet(session, grant, spec, field=f"instalments[{index}]")


def _not_happened_yet(session: Session, grant: Grant, spec: facts.AmendmentInstalment, *, field: str) -> None:
    """An instalment added now cannot wait for a report already answered or approved: its fact is past."""
    if spec.on is Condition.RAPPORT:
        done = session.scalar(sa.select(Report.answered_on).where(Report.grant_id == grant.id,
                                                                  Report.number == spec.number))
    elif spec.on is Condition.COMPTE_RENDU_FINANCIER and spec.number is not None:
        done = session.scalar(sa.select(FinancialReport.checked_on).where(
            FinancialReport.grant_id == grant.id, FinancialReport.number == spec.number,
            FinancialReport.approved.is_(True)))
    else:
        return
    if done is not None:
        raise RuleViolation(f"{field}.number", spec.number,
                            f"{condition_text(spec.on, spec.number)} date du {format_date_fr(done)} : "
                            "une échéance ajoutée après se date")


def record_amendment(session: Session, grant: Grant, fact: facts.Amendment, settings: Settings, *,
                     actor: str) -> dict[str, Any]:
    previous = _previous(session, grant)
    for payload in previous:
        if ("exercise" not in payload  # a CPO's year by avenant is not this avenant again
                and payload.get("on") == fact.on.isoformat() and payload.get("ends_on") == fact.ends_on.isoformat()
                and fact.number in (None, payload.get("number"))):
            return payload  # the same avenant again (a retried run, a dossier loaded again)
    number = fact.number or len(previous) + 1
    for payload in previous:
        if payload.get("number") == number:
            raise RuleViolation("number", number, f"l'avenant n°{number} est déjà enregistré (signé le "
                                                  f"{format_date_fr(dt.date.fromisoformat(payload['on']))})")
    if grant.stage not in AMENDABLE_STAGES or grant.ends_on is None or grant.starts_on is None:
        raise RuleViolation("on", fact.on.isoformat(),
                            f"la subvention est à l'étape {labels.stages(grant.stage)} : un avenant modifie une convention "
                            f"en cours (étapes {labels.stages(*AMENDABLE_STAGES)}, convention commencée)")
    if fact.on < grant.starts_on or fact.on > grant.ends_on:
        raise RuleViolation("on", fact.on.isoformat(),
                            f"un avenant se signe pendant la convention (du {format_date_fr(grant.starts_on)} au "
                            f"{format_date_fr(grant.ends_on)}) ; après sa fin, c'est une nouvelle subvention")
    if fact.ends_on <= grant.ends_on:
        # A CPO's year is the one avenant that keeps the end date: it is recorded as such.
        yearly = (" ; l'avenant qui vote une année d'une convention pluriannuelle sans changer sa fin "
                  "s'enregistre comme l'année (événement « tranche » avec « avenant »)" if grant.years else "")
        raise RuleViolation("ends_on", fact.ends_on.isoformat(),
                            f"la nouvelle fin doit être postérieure à la fin actuelle de la convention "
                            f"({format_date_fr(grant.ends_on)}){yearly}")
    if grant.years is not None and fact.extra_amount:
        raise RuleViolation("extra_amount", format_amount(fact.extra_amount),
                            "une convention pluriannuelle reçoit son argent année par année : événement « tranche » "
                            "(acte annuel ou avenant qui vote l'année)")
    if fact.instalments and not fact.extra_amount:
        raise RuleViolation("instalments", [format_amount(i.amount) for i in fact.instalments],
                            "des échéances sont données sans montant supplémentaire (extra_amount)")
    extra_instalments = []
    if fact.extra_amount:
        extra_instalments = fact.instalments or [facts.AmendmentInstalment(amount=fact.extra_amount)]
        check_instalments([i.amount for i in extra_instalments], fact.extra_amount, field="instalments")
        check_instalment_conditions(session, grant, extra_instalments)
        for index, instalment in enumerate(extra_instalments):
            if instalment.due is not None and instalment.due < fact.on:
                raise RuleViolation(f"instalments[{index}].due", instalment.due.isoformat(),
                                    f"échéance antérieure à l'avenant ({format_date_fr(fact.on)})")

    old_end, grant.ends_on = grant.ends_on, fact.ends_on
    changes: list[dict[str, Any]] = []

    def due(day: dt.date) -> dt.date:
        return obligations.deadline(grant, day, settings)

    def move(obligation: Obligation | None, kind: str, number: int, label: str, debtor: str, on: dt.date) -> None:
        if obligation is None:
            obligations.ensure(session, grant, kind, number, label=label, debtor=debtor, due_on=on)
            changes.append({"kind": kind, "number": number, "due_on_before": None, "due_on": on})
        elif obligation.status in OBLIGATION_OPEN and obligation.due_on != on:
            changes.append({"kind": kind, "number": number, "due_on_before": obligation.due_on, "due_on": on})
            obligations.reschedule(obligation, on)

    if grant.reports_every_months:
        for n, day in enumerate(rules.report_due_dates(grant.starts_on, grant.ends_on, grant.reports_every_months),
                                start=1):
            move(_obligation(session, grant, "report", n), "report", n, f"compte rendu n°{n}",
                 obligations.ASSOCIATION, due(day))
    evaluations = list(session.scalars(sa.select(Evaluation).where(Evaluation.grant_id == grant.id)
                                       .order_by(Evaluation.at_months, Evaluation.id)))
    final_day = grant.ends_on + dt.timedelta(days=1)
    for n, evaluation in enumerate(evaluations, start=1):
        if evaluation.done_on is not None:
            continue
        if rules.evaluation_due_date(grant.starts_on, evaluation.at_months) > old_end:
            evaluation.at_months = _months_between(grant.starts_on, final_day)
            move(_obligation(session, grant, "evaluation", n), "evaluation", n, f"évaluation {evaluation.name}",
                 obligations.AUTHORITY, due(final_day))
    if obligations.financial_report_asked(grant):
        move(_obligation(session, grant, "financial_report", 1), "financial_report", 1,
             "compte rendu financier (Cerfa 15059)", obligations.ASSOCIATION,
             due(obligations.financial_report_due_date(grant)))

    new_instalments: list[dict[str, Any]] = []
    if fact.extra_amount:
        grant.amount = grant.amount + fact.extra_amount
        new_instalments = add_instalments(session, grant, extra_instalments, fact.on, settings)
        changes += [{"kind": "payment", "number": i["number"], "due_on_before": None, "due_on": i["due_on"]}
                    for i in new_instalments]
    required_before = grant.convention_required
    if grant.years is None:  # a CPO's threshold is read on each year's amount (services.multi_year)
        grant.convention_required = convention_required(grant.amount, threshold=settings.convention_threshold)
    if grant.convention_required and not required_before:
        signed = obligations.signed_parties(session, grant)
        for obligation in obligations.convention_to_sign(session, grant, fact.on, settings, signed):
            changes.append({"kind": obligation.kind, "number": 1, "due_on_before": None,
                            "due_on": obligation.due_on})

    payload: dict[str, Any] = {
        "number": number, "on": fact.on.isoformat(), "ends_on_before": old_end.isoformat(),
        "ends_on": grant.ends_on.isoformat(), "extra_amount": format_amount(fact.extra_amount or ZERO),
        "amount": format_amount(grant.amount), "instalments": new_instalments,
        "convention_required": grant.convention_required, "obligations": changes, "text": fact.text,
    }
    journal.append(session, grant, "amendment", payload, actor=actor)
    return payload
