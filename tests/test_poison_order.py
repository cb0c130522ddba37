"""One bad grant never stops the others' payments (issue 13, finding 1).

A store of 100 synthetic grants; on 31/12/2019 the payment run finds the instalments
due that day and before. One of them is given, behind the loader's back (a row written
before the SEPA ceiling was checked at load), 1,000,000,000.00 EUR, above what a SEPA
transfer can carry: that one order is parked with its own reason, every other one is
ordered, and the treasury is asked nothing for the poison.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.settings import get_settings
from db.models import Instalment
from db.session import unit_of_work
from gateways.bank import SimulatedTreasury
from grantflow.synthetic import generate
from services import payments

DAY = dt.date(2019, 12, 31)
POISON = Decimal("1000000000.00")


@pytest.mark.parametrize("bank", ["simulated", "sepa-file"])
def test_one_poison_order_among_a_hundred_grants_leaves_the_others_ordered(store, monkeypatch, bank):
    from core import settings as settings_module

    monkeypatch.setenv("GRANTFLOW_BANK", bank)
    settings_module.get_settings.cache_clear()
    with unit_of_work() as session:
        generate(session, 100, seed=13)
        if bank == "sepa-file":  # each authority's treasury account, the debtor of the files
            session.execute(sa.text("UPDATE authorities SET iban = 'FR7630001007941234567890185', "
                                    "bic = 'BDFEFRPPCCT'"))
    with unit_of_work() as session:
        ready = payments.payment_plan(session, get_settings(), DAY).ready
    assert len(ready) >= 10, ready
    poison = ready[len(ready) // 2]
    with unit_of_work() as session:
        session.execute(sa.update(Instalment).where(Instalment.id == poison).values(amount=POISON))

    with unit_of_work() as session:
        keys = dict(session.execute(sa.select(Instalment.id, Instalment.idempotency_key)
                                    .where(Instalment.id.in_(ready))).tuples().all())
    report = payments.pay(unit_of_work, get_settings(), DAY, "remise-poison")

    ordered = sorted(a.instalment_id for a in report.ordered)
    assert ordered == sorted(set(ready) - {poison})
    [problem] = [p for p in report.problems if p.kind != "conditions"]  # others wait for a signature
    assert problem.kind == "ordre" and problem.amount == POISON
    assert "ordre impossible à émettre" in problem.reason and "999999999.99" in problem.reason
    with unit_of_work() as session:
        statuses = dict(session.execute(sa.select(Instalment.id, Instalment.status)
                                        .where(Instalment.id.in_(ready))).tuples().all())
    assert statuses.pop(poison) == "failed"
    assert set(statuses.values()) <= {"ordered", "paid"}
    if bank == "simulated":
        treasury = SimulatedTreasury(get_settings().treasury_path)
        assert treasury.attempts_for(keys[poison]) == 0  # never sent
        assert all(treasury.orders_for(k) == 1 for i, k in keys.items() if i != poison)
    print(f"{len(ready)} versements dus au {DAY:%d/%m/%Y} : {len(ordered)} ordonnés, 1 écarté ({bank})")
    settings_module.get_settings.cache_clear()
