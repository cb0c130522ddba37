"""Test helper: one payment in a process of its own, as a Prefect worker would run it.

    python -m tests.payment_worker [--crash-after-order] flow REFERENCE BUSINESS_DATE
        runs the `grant-payment` flow (PREFECT_API_URL: the tests' Prefect server);
    python -m tests.payment_worker [--crash-after-order] service REFERENCE BUSINESS_DATE BATCH_ID
        runs services.payments.pay directly, without Prefect.

The store, the home folder (treasury, fault plan) come from the environment
(GRANTFLOW_DATABASE_URL, GRANTFLOW_HOME, GRANTFLOW_TREASURY_FAULT_PLAN). With
--crash-after-order the simulated treasury of this process SIGKILLs it right after it
answered an order (no cleanup, no rollback handler, no Prefect state), before the store
records the answer: the fault lives here, at the gateway, not in the production code.
Exit status 0: paid as asked; 3: the run failed (message on stderr).
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

CRASH_AFTER_ORDER = "--crash-after-order"


def crash_after_each_order() -> None:
    """The treasury keeps the order (its SQLite file is committed), then the process dies."""
    from gateways.treasury_simulated import SimulatedTreasury

    order = SimulatedTreasury.order

    def order_then_die(self: SimulatedTreasury, orders: Sequence[Any], *, batch_id: str) -> Any:
        order(self, orders, batch_id=batch_id)
        os.kill(os.getpid(), signal.SIGKILL)

    SimulatedTreasury.order = order_then_die  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    if argv and argv[0] == CRASH_AFTER_ORDER:
        crash_after_each_order()
        argv = argv[1:]
    mode, reference, day = argv[0], argv[1], dt.date.fromisoformat(argv[2])
    from services.payment_results import PaymentRunFailed

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
