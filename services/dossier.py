"""Dossier import: YAML files of authorities, associations and grants with their history.

Everything is validated first (services.dossier_file: pydantic, then the rules), and written
in one transaction through the same actions the flows run: any error leaves the store unchanged.

One module, just over 300 lines: the loader as a whole (the act, its grants, their history,
in the order a dossier gives them); the schema, the file and the messages are apart.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import clock
from core.settings import Settings
from db.models import Act, Association, Authority, ConventionYear, Evaluation, Grant, Instalment
from domain import identifiers
from domain.bank_change import BankDetails
from domain.calendar import format_date_fr
from domain.convention import convention_required
from domain.errors import RuleViolation
from domain.grant_end import (
    awaited_number,
    check_condition,
    check_grant_end,
    clause_of,
    exercise_end,
    financial_report_owed_by_default,
    reports_asked,
)
from domain.lifecycle import InstalmentStatus, Stage
from domain.money import check_instalments
from services import acts, bank_changes, conventions, deliberation, facts, journal, journal_anchors, prefecture
from services.dossier_file import parse
from services.dossier_messages import DossierError, message
from services.dossier_schema import ActIn, AssociationIn, Dossier, GrantIn
from services.fact_handlers import apply_act_fact, apply_fact


@dataclass
class LoadReport:
    created: list[str]
    unchanged: list[str]
    completed: list[str] = dataclasses.field(default_factory=list)  # new history events applied
    notices: list[str] = dataclasses.field(default_factory=list)  # for the operator (services.conventions)
    changes: list[str] = dataclasses.field(default_factory=list)  # associations' details changed or pending


def _sync(session: Session, model: type[Authority] | type[Association], code: str, values: dict[str, Any]) -> None:
    """Directory entries: created once, then kept as the latest dossier says."""
    row = session.scalars(sa.select(model).where(model.code == code)).one_or_none()
    if row is None:
        session.add(model(code=code, **values))
        return
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)


_ASSOCIATION_CHANGED = {"name": "nom modifié", "siret": "SIRET modifié", "rna": "RNA modifié",
                        "email": "adresse électronique modifiée"}


def _sync_association(session: Session, spec: AssociationIn, settings: Settings, *, actor: str) -> list[str]:
    """The association as the dossier says, and what changed, in French. Its bank details
    never change here: a new IBAN, BIC or holder is recorded as a pending change
    (services.bank_changes), announced at the address known before this load."""
    values = spec.model_dump(exclude={"id", "bank"})
    row = session.scalars(sa.select(Association).where(Association.code == spec.id)).one_or_none()
    if row is None:
        session.add(Association(code=spec.id, **values, **spec.bank.model_dump()))
        return []
    lines = []
    change = bank_changes.request(session, row, BankDetails(**spec.bank.model_dump()), settings,
                                  day=clock.today(), actor=actor)
    if change is not None:
        lines.append(f"association {spec.id} : changement de coordonnées bancaires NON appliqué, en attente "
                     f"({bank_changes.describe(change)}) : annoncé à {change.notified_email} et à la collectivité ; "
                     "à confirmer par un second opérateur (déploiement bank-details-confirmation), sinon effectif "
                     f"le {format_date_fr(change.applies_on)} ; les paiements de l'association attendent jusque-là")
    changed = {key: {"old": getattr(row, key), "new": value} for key, value in values.items()
               if getattr(row, key) != value}
    if changed:
        for key, value in values.items():
            setattr(row, key, value)
        bank_changes.journal_for_association(session, row, "association_changed", {"changes": changed}, actor=actor)
        lines.append(f"association {spec.id} : " + ", ".join(
            f"{_ASSOCIATION_CHANGED[key]} ({both['old'] or '—'} → {both['new'] or '—'})"
            for key, both in changed.items()))
    return lines


def create_grant(session: Session, spec: GrantIn, settings: Settings, *, actor: str) -> Grant:
    """The one way a grant is created, from a dossier or from an act's annex table."""
    authority = session.scalars(sa.select(Authority).where(Authority.code == spec.authority)).one_or_none()
    if authority is None:
        raise RuleViolation("authority", spec.authority, "collectivité inconnue (à déclarer dans authorities)")
    association = session.scalars(sa.select(Association).where(Association.code == spec.association)).one_or_none()
    if association is None:
        raise RuleViolation("association", spec.association, "association inconnue (à déclarer dans associations)")
    identifiers.valid_siret(association.siret, field="association.siret")
    check_instalments([p.amount for p in spec.payments], spec.amount, field="payments")
    act = None
    if spec.act is not None:
        act = acts.find(session, spec.act, authority=spec.authority)
        if act is None:
            raise RuleViolation("act", spec.act, "acte inconnu de cette collectivité (à déclarer dans acts)")
    clause = clause_of(spec.kind, spec.refund_clause, spec.unspent)
    owed = financial_report_owed_by_default(spec.kind) if spec.financial_report is None else spec.financial_report
    check_grant_end(spec.kind, clause, owed)
    reports = reports_asked(spec.duration.months, spec.reports.every_months if spec.reports else None)
    for index, payment in enumerate(spec.payments):
        if payment.on is not None:
            check_condition(payment.on, payment.number, reports=reports, financial_report_owed=owed,
                            field=f"payments[{index}]",
                            financial_reports=spec.convention.years if spec.convention else 1)
    starts_from = spec.duration.from_
    grant = Grant(
        reference=spec.reference, authority=authority, association=association, object=spec.object,
        amount=spec.amount, stage=Stage.DELIBERATION.value,
        convention_required=convention_required(spec.amount, threshold=settings.convention_threshold),
        duration_months=spec.duration.months,
        starts_from=starts_from.isoformat() if isinstance(starts_from, dt.date) else starts_from,
        reports_every_months=spec.reports.every_months if spec.reports else None,
        kind=spec.kind.value, refund_clause=clause.value, financial_report_owed=owed,
        exercise_ends_on=None if spec.exercise is None else exercise_end(spec.exercise),
        years=spec.convention.years if spec.convention else None,
        targets={k: v.model_dump(mode="json", exclude_none=True) for k, v in spec.targets.items()},
        dossier=spec.model_dump(mode="json", by_alias=True),
    )
    session.add(grant)
    session.flush()
    for number, payment in enumerate(spec.payments, start=1):
        awaited = awaited_number(payment.on, payment.number, multi_year=bool(spec.convention)) if payment.on else None
        session.add(Instalment(grant_id=grant.id, number=number, amount=payment.amount, due_on=payment.due,
                               condition=payment.on.value if payment.on else None, condition_number=awaited,
                               condition_days=payment.days if payment.on else None,
                               status=InstalmentStatus.SCHEDULED.value,
                               idempotency_key=uuid.uuid4().hex))
    if grant.years is not None and grant.exercise_ends_on is not None:
        session.add(ConventionYear(grant_id=grant.id, number=1, exercise=grant.exercise_ends_on.year,
                                   amount=spec.amount))
    for evaluation in spec.evaluations:
        session.add(Evaluation(grant_id=grant.id, name=evaluation.name, at_months=evaluation.at_months))
    journal.append(session, grant, "grant_proposed", {"amount": spec.amount, "object": spec.object}, actor=actor)
    if act is not None:
        # An act already voted or received decides the grant at once.
        deliberation.join(session, grant, act, settings, actor=actor)
        prefecture.join(session, grant, act, settings, actor=actor)
    return grant


def _replay(steps: list[tuple[str, facts.Fact]], apply: Callable[[facts.Fact], Any], *,
            source: str, where: str) -> None:
    """Apply facts in order; the first refused names its place in the dossier (`history[2].on`)."""
    for prefix, event in steps:
        try:
            apply(event)
        except RuleViolation as violation:
            name = violation.field if violation.field.startswith(prefix) else f"{prefix}.{violation.field}"
            raise DossierError(message(source, where, name, violation.value, violation.rule)) from violation


def _steps(vote: facts.Vote | None, history: Sequence[facts.Fact], first: int) -> list[
        tuple[str, facts.Fact]]:
    """The vote (when nothing is applied yet: `first` < 0) and the history events from `first`."""
    steps: list[tuple[str, facts.Fact]] = [("deliberation", vote)] if vote is not None and first < 0 else []
    start = max(first, 0)
    return steps + [(f"history[{index}]", event) for index, event in enumerate(history[start:], start=start)]


def _apply_history(session: Session, grant: Grant, spec: GrantIn, settings: Settings, *, first: int,
                   source: str, actor: str) -> None:
    _replay(_steps(spec.deliberation, spec.history, first),
            lambda event: apply_fact(session, grant, event, settings, actor=actor),
            source=source, where=spec.reference)


def _without_none(value: Any) -> Any:
    """A dossier as compared on reload: a field left out (None) is the same whether the
    version that stored it knew the field or not."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


# Fields a grant loaded before migration 0003 was stored without: its row holds what the
# migration set (the clause it was closing on), which a reload does not change.
_SINCE_0003 = frozenset({"kind", "refund_clause", "financial_report", "exercise"})


def _loaded(before: dict[str, Any], after: dict[str, Any], *, source: str, where: str, what: str) -> int:
    """How many history events the store already has; refused if the file contradicts it.

    A dossier loaded again may only add facts at the end of a history: everything else
    goes through the flows (an amendment for a grant's amount or dates).
    """
    before, after = _without_none(before), _without_none(after)
    known = before.get("history", [])
    changed = sorted(k for k in after.keys() | before.keys() if k != "history" and before.get(k) != after.get(k)
                     and not (k in _SINCE_0003 and k not in before))
    if changed:
        raise DossierError(message(source, where, changed[0], after.get(changed[0]),
                                    f"{what} avec une autre valeur : un dossier rechargé "
                                    "ne peut que compléter son historique (avenant pour le reste)"))
    if after.get("history", [])[:len(known)] != known:
        raise DossierError(message(source, where, "history", f"{len(known)} événement(s) déjà chargé(s)",
                                    "l'historique déjà chargé ne peut pas être modifié, seulement complété"))
    return len(known)


def _declare_act(session: Session, spec: ActIn, source: str) -> tuple[Act, int]:
    """The act's row, created if new; with how many of its events are already applied (-1: none,
    not even its vote)."""
    authority = session.scalars(sa.select(Authority).where(Authority.code == spec.authority)).one_or_none()
    if authority is None:
        raise DossierError(message(source, f"acte {spec.id}", "authority", spec.authority,
                                    "collectivité inconnue (à déclarer dans authorities)"))
    act = acts.find(session, spec.id, authority=spec.authority)
    if act is not None:
        return act, _loaded(act.dossier, spec.model_dump(mode="json", by_alias=True), source=source,
                            where=f"acte {spec.id}", what="l'acte est déjà chargé")
    first, last = spec.sitting_days()
    act = Act(authority_id=authority.id, reference=spec.id, body=spec.body, sitting_first=first, sitting_last=last,
              act_number=spec.act_number, dossier=spec.model_dump(mode="json", by_alias=True))
    session.add(act)
    session.flush()
    return act, -1


def _apply_act_history(session: Session, act: Act, spec: ActIn, settings: Settings, *, first: int,
                       source: str, actor: str) -> None:
    _replay(_steps(spec.deliberation, spec.history, first),
            lambda event: apply_act_fact(session, act, event, settings, actor=actor),
            source=source, where=f"acte {spec.id}")
    act.dossier = spec.model_dump(mode="json", by_alias=True)


def apply_dossier(session: Session, dossier: Dossier, settings: Settings, *, source: str,
                  actor: str) -> LoadReport:
    report = LoadReport(created=[], unchanged=[])
    mark = conventions.journal_mark(session)
    for authority in dossier.authorities:
        _sync(session, Authority, authority.id, authority.model_dump(exclude={"id"}))
    for association in dossier.associations:
        report.changes += _sync_association(session, association, settings, actor=actor)
    session.flush()
    declared = [(spec, *_declare_act(session, spec, source)) for spec in dossier.acts]
    # Grants first, so that the act's vote and transmission decide all of them; then the
    # grants' own facts (signatures, payments…), which need the act exécutoire.
    pending: list[tuple[Grant, GrantIn, int]] = []
    for spec in dossier.grants:
        grant = session.scalars(sa.select(Grant).where(Grant.reference == spec.reference)).unique().one_or_none()
        if grant is None:
            try:
                grant = create_grant(session, spec, settings, actor=actor)
            except RuleViolation as violation:
                raise DossierError(message(source, spec.reference, violation.field, violation.value,
                                            violation.rule)) from violation
            pending.append((grant, spec, -1))
            report.created.append(spec.reference)
            continue
        known = _loaded(grant.dossier, spec.model_dump(mode="json", by_alias=True), source=source,
                        where=spec.reference, what="la subvention est déjà chargée")
        if known == len(spec.history):
            report.unchanged.append(spec.reference)
            continue
        pending.append((grant, spec, known))
        report.completed.append(spec.reference)
    for spec, act, known in declared:
        if known < len(spec.history):
            _apply_act_history(session, act, spec, settings, first=known, source=source, actor=actor)
    for grant, spec, known in pending:
        _apply_history(session, grant, spec, settings, first=known, source=source, actor=actor)
        grant.dossier = spec.model_dump(mode="json", by_alias=True)
    report.notices = conventions.notices_since(session, mark)
    return report


def load_files(paths: Sequence[Path], settings: Settings, unit_of_work: Callable[[], Any], *,
               actor: str = "grantflow load") -> LoadReport:
    """Parse every file first, then write them all in one transaction (or nothing)."""
    parsed = [(path, parse(path)) for path in paths]
    try:
        total = _apply_files(parsed, settings, unit_of_work, actor=actor)
    except sa.exc.IntegrityError:
        # Another load created the same authority, association or grant meanwhile: this one,
        # rolled back whole, is applied again on what that one wrote.
        try:
            total = _apply_files(parsed, settings, unit_of_work, actor=actor)
        except sa.exc.IntegrityError as error:
            raise DossierError(f"{', '.join(map(str, paths))} : un autre chargement enregistre les mêmes "
                               "subventions au même moment ; rien n'a été enregistré, recharger le dossier "
                               "une fois l'autre chargement terminé") from error
    if total.created or total.completed or total.changes:
        with unit_of_work() as session:
            journal_anchors.anchor(session, settings)
    return total


def _apply_files(parsed: Sequence[tuple[Path, Dossier]], settings: Settings, unit_of_work: Callable[[], Any], *,
                 actor: str) -> LoadReport:
    total = LoadReport(created=[], unchanged=[])
    with unit_of_work() as session:
        for path, dossier in parsed:
            report = apply_dossier(session, dossier, settings, source=str(path), actor=actor)
            total.created += report.created
            total.unchanged += report.unchanged
            total.completed += report.completed
            total.notices += report.notices
            total.changes += report.changes
    return total
