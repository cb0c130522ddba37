"""Reminders agree with the day's work (issue 13, finding 6): a payment ordered by the
morning's run is not reminded that day.

Innosprint's instalment is due on 31/05/2019: the sweep of that morning queues the "due"
reminder to the authority; the payment run orders the 35,000.00 EUR; the mail run then
sends nothing about that payment.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core import clock
from core.settings import get_settings
from db.models import Message, Obligation
from db.session import unit_of_work
from deployments.catalog import DEPLOYMENTS
from services import payments, sweep
from tests.support import load_examples, sign_both

PAYDAY = dt.date(2019, 5, 31)


def payment_reminders() -> list[tuple[str, str]]:
    with unit_of_work() as session:
        return list(session.execute(
            sa.select(Message.level, Message.status).join(Obligation, Obligation.id == Message.obligation_id)
            .where(Obligation.kind == "payment").order_by(Message.id)).tuples())


def test_a_payment_ordered_by_the_morning_run_is_not_reminded_that_day(store):
    load_examples()
    sign_both()
    with clock.frozen(PAYDAY), unit_of_work() as session:
        sweep.sweep(session, PAYDAY, get_settings())
    assert ("due", "queued") in payment_reminders()

    with clock.frozen(PAYDAY):
        report = payments.pay(unit_of_work, get_settings(), PAYDAY, "remise-31-05")
    assert [a.amount for a in report.ordered if a.reference == "CASQ-2018-INNOSPRINT"] == [35000]
    assert ("due", "queued") not in payment_reminders()
    assert ("due", "withdrawn") in payment_reminders()


def test_the_payment_run_is_scheduled_between_the_sweep_and_the_first_mail_run():
    cron = {d.name: d.cron for d in DEPLOYMENTS}
    assert cron["daily-sweep"] == "0 7 * * *"
    assert cron["payment-run"] == "30 7 * * 1-5"
    assert cron["mail-run"].split()[1].startswith("8")
