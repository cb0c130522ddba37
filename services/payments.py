"""Paying instalments exactly once (DOMAIN.md §4, DESIGN.md "Exactly once"): the payment
run, written once for `grantflow simulate` and for the Prefect flows.

A run goes through these steps, each one its own unit of work:

1. recover (services/payment_recovery.py): claims a crashed run left without the bank's
   answer are settled by asking the bank about their key, never by ordering again;
2. plan (services/payment_plan.py): what is due, and what forbids ordering it;
3. claim (services/payment_orders.py): committed BEFORE the bank is called;
4. order (services/payment_orders.py): the bank called with the idempotency keys, its
   answers recorded in the same unit of work; a technical failure rolls the step back,
   and once the caller gives up (Prefect retries, or none) the claims become "failed";
5. the treasury's confirmation, later (services/payment_confirmation.py).

`run_payments` is the run itself; it takes `PaymentSteps`, how each step is run:
`LocalPaymentSteps` calls the services directly (the calendar simulation, the crash-test
worker, the tests); tasks/payments.py gives the same steps as Prefect tasks, with their
names and retries, which call `LocalPaymentSteps` inside. One bad order never stops the
others.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.settings import Settings
from gateways.wiring import bank_gateway
from services import payment_orders, payment_plan, payment_recovery
from services.payment_orders import GatewayFor
from services.payment_results import Answer, PaymentReport, Plan, Problem, ProblemKind

UnitOfWork = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class PaymentSteps:
    """How each step of a payment run is run (plain calls, or Prefect tasks): same signatures."""

    recover: Callable[[str | None, dt.date], list[Answer]]
    plan: Callable[[dt.date, str | None, int | None], Plan]
    claim: Callable[[list[int], str], list[int]]
    order: Callable[[list[int], str, dt.date], list[Answer]]
    record_technical_failure: Callable[[list[int], str, str], list[Answer]]


def chunks(ids: Sequence[int], size: int) -> list[list[int]]:
    size = max(1, size)
    return [list(ids[i:i + size]) for i in range(0, len(ids), size)]


def run_payments(steps: PaymentSteps, business_date: dt.date, batch_id: str, *, claim_batch: int,
                 reference: str | None = None, number: int | None = None) -> PaymentReport:
    """One payment run for everything due (or one grant, or one instalment). The report
    lists the problems; `raise_for_problems()` turns them into PaymentRunFailed."""
    report = PaymentReport(business_date, batch_id)
    report.recovered = steps.recover(reference, business_date)
    plan = steps.plan(business_date, reference, number)
    report.problems += plan.problems
    report.settled += plan.settled
    report.waiting += plan.waiting
    claimed: list[int] = []
    for chunk in chunks(plan.ready, claim_batch):
        claimed += steps.claim(chunk, batch_id)
    if not claimed:
        return report
    try:
        answers = steps.order(claimed, batch_id, business_date)
    except Exception as error:  # the bank unreachable, or a gateway that cannot be built or refuses the file
        reason = str(error) or type(error).__name__
        failed = steps.record_technical_failure(claimed, batch_id, reason)
        report.problems += [Problem(a.reference, a.number, a.amount, ProblemKind.TECHNICAL, reason) for a in failed]
    else:
        report.add_answers(answers)
    return report


@dataclass(frozen=True)
class LocalPaymentSteps:
    """Each step as a plain call in its own unit of work. No retry here: a failure of the
    bank call leaves the claims "failed" for the next run."""

    unit_of_work: UnitOfWork
    settings: Settings
    actor: str = "grantflow"
    gateway_for: GatewayFor = bank_gateway

    def recover(self, reference: str | None, business_date: dt.date) -> list[Answer]:
        with self.unit_of_work() as session:
            doubtful = payment_recovery.in_doubt(session, reference)
        answers = []
        for instalment_id in doubtful:  # one at a time: each waits for its grant's lock
            with self.unit_of_work() as session:
                answer = payment_recovery.resolve_in_doubt(session, self.settings, instalment_id, business_date,
                                                           actor=self.actor, gateway_for=self.gateway_for)
            if answer is not None:
                answers.append(answer)
        return answers

    def plan(self, business_date: dt.date, reference: str | None = None, number: int | None = None) -> Plan:
        with self.unit_of_work() as session:
            return payment_plan.payment_plan(session, self.settings, business_date, reference, number)

    def claim(self, instalment_ids: list[int], batch_id: str) -> list[int]:
        with self.unit_of_work() as session:
            return payment_orders.claim_many(session, instalment_ids, batch_id, actor=self.actor)

    def order(self, instalment_ids: list[int], batch_id: str, business_date: dt.date, *,
              ask_first: bool = False) -> list[Answer]:
        with self.unit_of_work() as session:
            return payment_orders.order_claimed(session, self.settings, instalment_ids, batch_id, business_date,
                                                actor=self.actor, ask_first=ask_first, gateway_for=self.gateway_for)

    def record_technical_failure(self, instalment_ids: list[int], batch_id: str, reason: str) -> list[Answer]:
        with self.unit_of_work() as session:
            return payment_orders.record_technical_failure(session, instalment_ids, batch_id, reason,
                                                           actor=self.actor)

    def steps(self) -> PaymentSteps:
        return PaymentSteps(self.recover, self.plan, self.claim, self.order, self.record_technical_failure)


def pay(unit_of_work: UnitOfWork, settings: Settings, business_date: dt.date, batch_id: str, *,
        reference: str | None = None, number: int | None = None, actor: str = "grantflow",
        gateway_for: GatewayFor = bank_gateway) -> PaymentReport:
    """The payment run with plain calls."""
    steps = LocalPaymentSteps(unit_of_work, settings, actor, gateway_for).steps()
    return run_payments(steps, business_date, batch_id, claim_batch=settings.payment_claim_batch,
                        reference=reference, number=number)


def daily_payments(unit_of_work: UnitOfWork, settings: Settings) -> Callable[[dt.date], list[str]]:
    """The payment run as a daily job of `grantflow simulate` (services.simulation.DailyJob):
    one batch per simulated day, problems reported as lines instead of failing the day."""
    def job(day: dt.date) -> list[str]:
        return pay(unit_of_work, settings, day, f"simulation-{day:%Y%m%d}", actor="grantflow simulate").lines()

    return job
