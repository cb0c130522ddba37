"""The association's progress reports and the authority's answers."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Grant, Report
from domain import labels
from domain.errors import RuleViolation
from domain.grant_end import Condition
from domain.lifecycle import Stage
from domain.obligations import answer_due
from services import commands, conditions, journal, obligations


def record_report(session: Session, grant: Grant, report: commands.ProgressReport, settings: Settings, *,
                  actor: str) -> Report:
    if grant.stage not in (Stage.ACTIVE.value, Stage.CLOSING.value):
        raise RuleViolation("on", report.on.isoformat(),
                            f"la subvention est à l'étape {labels.stages(grant.stage)} : la convention n'a pas commencé")
    count = session.scalar(sa.select(sa.func.count()).where(Report.grant_id == grant.id)) or 0
    number = report.number or count + 1
    existing = session.scalars(
        sa.select(Report).where(Report.grant_id == grant.id, Report.number == number)).one_or_none()
    if existing is not None:
        if existing.received_on != report.on:
            raise RuleViolation("number", number, f"le compte rendu n°{number} est déjà reçu "
                                                  f"le {existing.received_on:%d/%m/%Y}")
        return existing
    row = Report(grant_id=grant.id, number=number, received_on=report.on,
                 indicators=report.indicators.model_dump(mode="json", exclude_none=True), text=report.text)
    session.add(row)
    session.flush()
    journal.append(session, grant, "report", {"number": number, "on": report.on,
                                              "indicators": row.indicators, "text": report.text}, actor=actor)
    obligations.fulfil(session, grant, "report", number, report.on)
    obligations.ensure(session, grant, "report_answer", number, label=f"réponse au compte rendu n°{number}",
                       debtor=obligations.AUTHORITY,
                       due_on=obligations.deadline(grant, answer_due(report.on, settings.report_answer_days),
                                                   settings))
    return row


def record_answer(session: Session, grant: Grant, answer: commands.ReportAnswer, settings: Settings, *,
                  actor: str) -> Report:
    query = sa.select(Report).where(Report.grant_id == grant.id)
    if answer.number is not None:
        query = query.where(Report.number == answer.number)
    else:
        query = query.where(Report.answered_on.is_(None)).order_by(Report.number).limit(1)
    report = session.scalars(query).one_or_none()
    if report is None:
        raise RuleViolation("number", answer.number, "aucun compte rendu reçu n'attend cette réponse")
    if report.answered_on is not None:
        if report.answered_on != answer.on:
            raise RuleViolation("on", answer.on.isoformat(), f"le compte rendu n°{report.number} a déjà reçu "
                                                             f"une réponse le {report.answered_on:%d/%m/%Y}")
        return report
    if answer.on < report.received_on:
        raise RuleViolation("on", answer.on.isoformat(),
                            f"la réponse précède la réception du compte rendu ({report.received_on:%d/%m/%Y})")
    report.answered_on = answer.on
    journal.append(session, grant, "report_answer", {"number": report.number, "on": answer.on}, actor=actor)
    obligations.fulfil(session, grant, "report_answer", report.number, answer.on)
    conditions.release(session, grant, Condition.RAPPORT, answer.on, settings, actor=actor, number=report.number)
    return report


