"""A worker killed mid-payment: the next run asks the bank, it never orders twice.

The payment runs in a separate process (tests/payment_worker.py, the real `grant-payment`
flow against the tests' Prefect server) with GRANTFLOW_TEST_CRASH_AFTER_ORDER=1: it
SIGKILLs itself right after the simulated treasury accepted the order, before the answer
is committed to the store. The treasury's memory is a SQLite file, so it survives.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys

import prefect.settings
import pytest

from core.settings import get_settings
from db.session import unit_of_work
from services import payments
from tests.support import INNOSPRINT, REPO, load_examples, sign_both
from tests.test_payments import PAYDAY, instalments, journal_kinds, key, treasury


def run_worker(*args: str, crash: bool) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)  # the store's URL and home, set by the `store` fixture
    env["PREFECT_API_URL"] = prefect.settings.PREFECT_API_URL.value() or ""
    env.pop(payments.CRASH_AFTER_ORDER_ENV, None)
    if crash:
        env[payments.CRASH_AFTER_ORDER_ENV] = "1"
    return subprocess.run([sys.executable, "-m", "tests.payment_worker", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def signed(store):
    load_examples()
    sign_both()
    return store


def test_a_worker_killed_between_the_bank_call_and_the_commit_is_resolved_without_a_second_order(
        signed, prefect_server):
    from flows.payment import grant_payment, payment_run

    k = key()
    killed = run_worker("flow", INNOSPRINT, PAYDAY.isoformat(), crash=True)

    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    # The bank has the order; the store has only the claim (committed before the call).
    bank = treasury()
    assert bank.orders_for(k) == 1 and bank.attempts_for(k) == 1
    [instalment] = instalments()
    assert instalment["status"] == "ordered" and instalment["ordered_at"] is None
    assert "payment_ordered" not in journal_kinds()

    # The run started again (same parameters): the answer is found, nothing is sent again.
    result = grant_payment(INNOSPRINT, business_date=PAYDAY)
    assert [(a["number"], a["status"], a["via"]) for a in result["recovered"]] == [(1, "ordered", "lookup")]
    assert result["ordered"] == []
    assert payment_run(business_date=PAYDAY)["ordered"] == []

    bank = treasury()
    assert bank.orders_for(k) == 1
    assert bank.attempts_for(k) == 1  # asked with lookup(), never ordered again
    [instalment] = instalments()
    assert instalment["status"] == "ordered" and instalment["ordered_at"] is not None
    assert instalment["attempts"] == 1
    assert journal_kinds().count("payment_ordered") == 1


def test_a_worker_killed_after_a_payment_the_bank_already_settled_ends_paid(signed):
    k = key()
    killed = run_worker("service", INNOSPRINT, PAYDAY.isoformat(), "killed-batch", crash=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    treasury().settle(k)  # the treasury executed it meanwhile

    report = payments.pay(unit_of_work, get_settings(), dt.date(2019, 6, 3), "next-day")

    assert [(a.number, a.status) for a in report.recovered] == [(1, "paid")]
    assert report.ordered == [] and report.problems == []
    assert treasury().orders_for(k) == 1 and treasury().attempts_for(k) == 1
    [instalment] = instalments()
    assert (instalment["status"], instalment["paid_on"]) == ("paid", dt.date(2019, 6, 3))


def test_a_claim_left_by_a_crash_before_the_bank_call_is_ordered_once(signed):
    """Killed after the claim's commit, before the call: the bank never saw the key, so
    the next run records the claim as failed and orders it, once, with the same key."""
    with unit_of_work() as session:
        [ready] = payments.payment_plan(session, get_settings(), PAYDAY).ready
    with unit_of_work() as session:
        assert payments.claim(session, ready, "dead-batch") is not None
    with unit_of_work() as session:  # a second claim of the same instalment is refused
        assert payments.claim(session, ready, "other-batch") is None

    report = payments.pay(unit_of_work, get_settings(), PAYDAY, "next-run")

    assert [(a.number, a.status) for a in report.recovered] == [(1, "failed")]
    assert [a.number for a in report.ordered] == [1]
    k = key()
    assert treasury().orders_for(k) == 1 and treasury().attempts_for(k) == 1
    [instalment] = instalments()
    assert instalment["status"] == "ordered" and instalment["attempts"] == 2
    assert instalment["batch_id"] == "next-run"
