"""Test helper: one payment in a process of its own, as a Prefect worker would run it.

    python -m tests.payment_worker flow REFERENCE BUSINESS_DATE
        runs the `grant-payment` flow (PREFECT_API_URL: the tests' Prefect server);
    python -m tests.payment_worker service REFERENCE BUSINESS_DATE BATCH_ID
        runs services.payments.pay directly, without Prefect.

The store, the home folder (treasury, fault plan) come from the environment
(GRANTFLOW_DATABASE_URL, GRANTFLOW_HOME, GRANTFLOW_TREASURY_FAULT_PLAN). With
GRANTFLOW_TEST_CRASH_AFTER_ORDER=1 the process SIGKILLs itself right after the bank
answered (services/payments.py, the one test hook). Exit status 0: paid as asked;
3: the run failed (message on stderr).
"""
from __future__ import annotations

import datetime as dt
import sys


def main(argv: list[str]) -> int:
    mode, reference, day = argv[0], argv[1], dt.date.fromisoformat(argv[2])
    from services.payments import PaymentRunFailed

    try:
        if mode == "flow":
            from flows.payment import grant_payment

            grant_payment(reference, business_date=day)
        else:
            from core.settings import get_settings
            from db.session import unit_of_work
            from services.payments import pay

            pay(unit_of_work, get_settings(), day, argv[3], reference=reference,
                actor="payment-worker").raise_for_problems()
    except PaymentRunFailed as failed:
        print(failed, file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
