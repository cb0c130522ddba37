"""One function per kind of fact: the dossier's history and the flows apply the same ones."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Act, Grant
from services import (
    acts,
    amendments,
    closure,
    commands,
    deliberation,
    disbursements,
    financial_reports,
    multi_year,
    payments,
    prefecture,
    reporting,
    signature,
)


def apply_event(session: Session, grant: Grant, event: commands.Command, settings: Settings, *,
                actor: str) -> Any:
    if type(event) in ACT_HANDLERS:
        # A fact of the act told about one of its grants: it holds for every grant of the act.
        return apply_act_event(session, acts.own_act(session, grant), event, settings, actor=actor)
    handler = HANDLERS.get(type(event))
    if handler is None:
        raise NotImplementedError(f"événement non pris en charge : {type(event).__name__}")
    return handler(session, grant, event, settings, actor)


def apply_act_event(session: Session, act: Act, event: commands.Command, settings: Settings, *,
                    actor: str) -> Any:
    return ACT_HANDLERS[type(event)](session, act, event, settings, actor)


ACT_HANDLERS: dict[type, Callable[[Session, Act, Any, Settings, str], Any]] = {
    commands.Vote: lambda s, act, e, st, a: deliberation.record_vote(s, act, e, st, actor=a),
    commands.PrefectureReceipt: lambda s, act, e, st, a: prefecture.record_receipt(s, act, e, st, actor=a),
    commands.ControlRestarted: lambda s, act, e, st, a: prefecture.restart_control(s, act, e, actor=a),
}

HANDLERS: dict[type, Callable[[Session, Grant, Any, Settings, str], Any]] = {
    commands.Signature: lambda s, g, e, st, a: signature.record_signature(s, g, e, st, actor=a),
    commands.ProgressReport: lambda s, g, e, st, a: reporting.record_report(s, g, e, st, actor=a),
    commands.ReportAnswer: lambda s, g, e, st, a: reporting.record_answer(s, g, e, st, actor=a),
    commands.PaymentConfirmation: lambda s, g, e, st, a: payments.confirm_payment(s, g, e, st, actor=a),
    commands.Disbursement: lambda s, g, e, st, a: disbursements.record_disbursement(s, g, e, st, actor=a),
    commands.RefundReceived: lambda s, g, e, st, a: closure.record_refund(s, g, e, st, actor=a),
    commands.Amendment: lambda s, g, e, st, a: amendments.record_amendment(s, g, e, st, actor=a),
    commands.AnnualTranche: lambda s, g, e, st, a: multi_year.record_tranche(s, g, e, st, actor=a),
    commands.FinancialReport: lambda s, g, e, st, a: financial_reports.record_financial_report(s, g, e, st, actor=a),
    commands.FinancialReportChecked: lambda s, g, e, st, a: financial_reports.record_check(s, g, e, st, actor=a),
}
