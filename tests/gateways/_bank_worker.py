"""A separate process ordering payments, for the cross-process tests (not collected).

usage: _bank_worker.py MODE PATH GO_FILE KEY... where MODE is
  treasury   SimulatedTreasury(PATH): order each key alone, print the outcomes as JSON
  sepa       SepaFileGateway(PATH): the same, one batch per key
  kill       SimulatedTreasury(PATH): order the keys, then SIGKILL itself before any
             "database commit" of the caller could happen
The worker waits for GO_FILE to exist, so that two workers start together.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from gateways.bank import PaymentOrder
from gateways.sepa_file import SepaFileGateway
from gateways.treasury_simulated import SimulatedTreasury


def order_for(key: str) -> PaymentOrder:
    return PaymentOrder(key=key, amount=Decimal("1500.00"), creditor_name="Faubourg Numérique",
                        iban="FR7630006000011234567890189", remittance=f"Subvention {key}",
                        execution_date=date(2019, 5, 31))


def main() -> None:
    mode, path, go_file, *keys = sys.argv[1:]
    deadline = time.monotonic() + 10
    while not Path(go_file).exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    if mode == "sepa":
        bank = SepaFileGateway(Path(path), debtor_name="Agglo", debtor_iban="FR1420041010050500013M02606")
    else:
        bank = SimulatedTreasury(Path(path))
    if mode == "kill":
        bank.order([order_for(k) for k in keys], batch_id=f"run-{os.getpid()}")
        os.kill(os.getpid(), signal.SIGKILL)
    outcomes = {}
    for key in keys:
        [outcome] = bank.order([order_for(key)], batch_id=f"run-{os.getpid()}-{key}")
        outcomes[key] = [outcome.status, outcome.reference]
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main()
