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
    deliberation,
    disbursements,
    facts,
    financial_reports,
    multi_year,
    payment_confirmation,
    prefecture,
    refunds,
    reporting,
    signature,
)


def apply_fact(session: Session, grant: Grant, fact: facts.Fact, settings: Settings, *, actor: str) -> Any:
    if type(fact) in ACT_HANDLERS:
        # A fact of the act told about one of its grants: it holds for every grant of the act.
        return apply_act_fact(session, acts.own_act(session, grant), fact, settings, actor=actor)
    handler = HANDLERS.get(type(fact))
    if handler is None:
        raise NotImplementedError(f"fait non pris en charge : {type(fact).__name__}")
    return handler(session, grant, fact, settings, actor)


def apply_act_fact(session: Session, act: Act, fact: facts.Fact, settings: Settings, *, actor: str) -> Any:
    return ACT_HANDLERS[type(fact)](session, act, fact, settings, actor)


ACT_HANDLERS: dict[type, Callable[[Session, Act, Any, Settings, str], Any]] = {
    facts.Vote: lambda s, act, f, st, a: deliberation.record_vote(s, act, f, st, actor=a),
    facts.PrefectureReceipt: lambda s, act, f, st, a: prefecture.record_receipt(s, act, f, st, actor=a),
    facts.ControlRestarted: lambda s, act, f, st, a: prefecture.restart_control(s, act, f, actor=a),
}

HANDLERS: dict[type, Callable[[Session, Grant, Any, Settings, str], Any]] = {
    facts.Signature: lambda s, g, f, st, a: signature.record_signature(s, g, f, st, actor=a),
    facts.ProgressReport: lambda s, g, f, st, a: reporting.record_report(s, g, f, st, actor=a),
    facts.ReportAnswer: lambda s, g, f, st, a: reporting.record_answer(s, g, f, st, actor=a),
    facts.PaymentConfirmation: lambda s, g, f, st, a: payment_confirmation.confirm_payment(s, g, f, st, actor=a),
    facts.Disbursement: lambda s, g, f, st, a: disbursements.record_disbursement(s, g, f, st, actor=a),
    facts.RefundReceived: lambda s, g, f, st, a: refunds.record_refund(s, g, f, st, actor=a),
    facts.Amendment: lambda s, g, f, st, a: amendments.record_amendment(s, g, f, st, actor=a),
    facts.AnnualTranche: lambda s, g, f, st, a: multi_year.record_tranche(s, g, f, st, actor=a),
    facts.FinancialReport: lambda s, g, f, st, a: financial_reports.record_financial_report(s, g, f, st, actor=a),
    facts.FinancialReportChecked: lambda s, g, f, st, a: financial_reports.record_check(s, g, f, st, actor=a),
}
