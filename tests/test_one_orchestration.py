"""`grantflow simulate` and the Prefect flows run one orchestration (issue 15).

The same Innosprint dossier is played twice over the days where its payment, a report,
the overdue marks and the mid-term evaluation fall: once by `simulate` (plain calls), once
by the flows the deployments run (daily-sweep, payment-run, report-received: Prefect
tasks and subflows). The journals (each event's grant, kind, business date and payload,
run ids aside) and the treasury's orders must be the same.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from db.models import Event, Grant, Instalment
from grantflow import clock
from grantflow.cli import main
from grantflow.settings import get_settings
from services import facts
from tests.support import INNOSPRINT, REPO, empty_store

BEFORE = """
- {reference: CASQ-2018-INNOSPRINT, event: signature, party: association, on: 2018-12-20}
- {reference: CASQ-2018-INNOSPRINT, event: signature, party: authority, on: 2019-01-07}
- {reference: CASQ-2018-INNOSPRINT, event: report, on: 2019-02-01, indicators: {projects_supported: 4}}
"""
REPORT_3 = facts.ProgressReport(on=dt.date(2019, 6, 5), number=3,
                                   indicators=facts.Indicators(projects_supported=9, sessions_held=2))
# The instalment is due on Friday 31/05/2019; report n°2 (due 12/04) is reminded late, report
# n°3 comes on 05/06, the mid-term evaluation is due on 12/06.
START, UNTIL = dt.date(2019, 5, 30), dt.date(2019, 6, 12)
RUN_IDS = {"batch_id"}  # one bank batch per run: "simulation-YYYYMMDD", or the flow run's id


def instalment_keys(store: Any) -> dict[str, str]:
    """Idempotency keys are drawn at load: each is named by its instalment to compare two loads."""
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(Instalment.idempotency_key, Grant.reference, Instalment.number)
                                  .join(Grant, Grant.id == Instalment.grant_id))
        return {key: f"{reference} n°{number}" for key, reference, number in rows}


def journal(store: Any) -> list[tuple[Any, ...]]:
    keys = instalment_keys(store)
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(Grant.reference, Event.business_date, Event.kind, Event.payload)
                                  .join(Grant, Grant.id == Event.grant_id))
        # Within one day the flows and `simulate` may take the steps in another order.
        return sorted((reference, day.isoformat(), kind, sorted((k, keys.get(str(v), str(v)))
                                                                for k, v in payload.items() if k not in RUN_IDS))
                      for reference, day, kind, payload in rows)


def treasury_orders(store: Any) -> list[tuple[Any, ...]]:
    path = get_settings().treasury_path
    if not path.exists():
        return []
    keys = instalment_keys(store)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key, amount, currency, iban, creditor_name, status, reason, reference, "
                          "times_ordered, times_rejected, duplicate_attempts FROM orders ORDER BY key").fetchall()
    return sorted((keys[key], *rest) for key, *rest in rows)


def load_and_play_until_the_window(tmp_path: Path) -> None:
    assert main(["load", str(REPO / "examples" / "casq-innosprint.yaml")]) == 0
    before = tmp_path / "before.yaml"
    before.write_text(BEFORE, encoding="utf-8")
    assert main(["simulate", "--until", (START - dt.timedelta(days=1)).isoformat(), "--events", str(before)]) == 0


def test_simulate_and_the_flows_write_the_same_journal_and_order_the_same_transfers(
        prefect_server, store, tmp_path, capsys):
    from flows.payment import payment_run
    from flows.reporting import report_received
    from flows.sweep import daily_sweep

    load_and_play_until_the_window(tmp_path)
    window = tmp_path / "window.yaml"
    window.write_text(f"- {{reference: {INNOSPRINT}, event: report, on: 2019-06-05, number: 3, "
                      "indicators: {projects_supported: 9, sessions_held: 2}}\n", encoding="utf-8")
    assert main(["simulate", "--until", UNTIL.isoformat(), "--events", str(window)]) == 0
    simulated, simulated_orders = journal(store), treasury_orders(store)

    empty_store(store.engine)
    get_settings().treasury_path.unlink()
    load_and_play_until_the_window(tmp_path)
    day = START
    while day <= UNTIL:
        with clock.frozen(day):
            if day == REPORT_3.on:
                report_received(INNOSPRINT, REPORT_3)
            daily_sweep(business_date=day)
            if day.weekday() < 5:  # the payment-run deployment's schedule: working days
                payment_run(business_date=day)
        day += dt.timedelta(days=1)
    capsys.readouterr()

    kinds = {kind for _, day, kind, _ in simulated if day >= START.isoformat()}
    assert {"payment_claimed", "payment_ordered", "report", "evaluation"} <= kinds, kinds
    assert journal(store) == simulated
    assert len(simulated_orders) == 1 and treasury_orders(store) == simulated_orders
