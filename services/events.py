"""One function per kind of fact: the dossier's history and the flows apply the same ones."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from db.models import Grant
from grantflow.settings import Settings
from services import (
    amendments,
    closure,
    commands,
    deliberation,
    disbursements,
    financial_reports,
    payments,
    prefecture,
    reporting,
    signature,
)


def apply_event(session: Session, grant: Grant, event: commands.Command, settings: Settings, *,
                actor: str) -> Any:
    handler = HANDLERS.get(type(event))
    if handler is None:
        raise NotImplementedError(f"événement non pris en charge : {type(event).__name__}")
    return handler(session, grant, event, settings, actor)


HANDLERS: dict[type, Callable[[Session, Grant, Any, Settings, str], Any]] = {
    commands.Vote: lambda s, g, e, st, a: deliberation.record_vote(s, g, e, st, actor=a),
    commands.PrefectureReceipt: lambda s, g, e, st, a: prefecture.record_receipt(s, g, e, st, actor=a),
    commands.ControlRestarted: lambda s, g, e, st, a: prefecture.restart_control(s, g, e, actor=a),
    commands.Signature: lambda s, g, e, st, a: signature.record_signature(s, g, e, st, actor=a),
    commands.ProgressReport: lambda s, g, e, st, a: reporting.record_report(s, g, e, st, actor=a),
    commands.ReportAnswer: lambda s, g, e, st, a: reporting.record_answer(s, g, e, st, actor=a),
    commands.PaymentConfirmation: lambda s, g, e, st, a: payments.confirm_payment(s, g, e, st, actor=a),
    commands.Disbursement: lambda s, g, e, st, a: disbursements.record_disbursement(s, g, e, st, actor=a),
    commands.RefundReceived: lambda s, g, e, st, a: closure.record_refund(s, g, e, st, actor=a),
    commands.Amendment: lambda s, g, e, st, a: amendments.record_amendment(s, g, e, st, actor=a),
    commands.FinancialReport: lambda s, g, e, st, a: financial_reports.record_financial_report(s, g, e, st, actor=a),
    commands.FinancialReportChecked: lambda s, g, e, st, a: financial_reports.record_check(s, g, e, st, actor=a),
}
