"""The simulated treasury: each key paid once, whatever the retries, faults and processes."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateways.bank import OrderOutcome, PaymentOrder, TreasuryUnavailable
from gateways.treasury_simulated import FaultPlan, SimulatedTreasury

WORKER = Path(__file__).with_name("_bank_worker.py")
IBAN = "FR7630006000011234567890189"
CORRECTED_IBAN = "FR7630004000031234567890143"
KEY = "CASQ-2018-44208A-V1"


def order(key: str = KEY, amount: str = "35000.00", iban: str = IBAN) -> PaymentOrder:
    return PaymentOrder(key=key, amount=Decimal(amount), creditor_name="Faubourg Numérique",
                        iban=iban, bic="AGRIFRPPXXX", remittance="Subvention Innosprint, versement 1",
                        execution_date=date(2019, 5, 31))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "treasury.sqlite"


def test_an_order_is_accepted_once_and_a_second_order_pays_nothing(db):
    bank = SimulatedTreasury(db)
    first = bank.order([order()], batch_id="run-1")
    again = bank.order([order()], batch_id="run-2")

    assert first == [OrderOutcome(KEY, "accepted", None, "SIM-00000001")]
    assert again == first
    assert bank.orders_for(KEY) == 1
    assert bank.attempts_for(KEY) == 2
    assert bank.duplicate_attempts_for(KEY) == 1
    assert bank.total_paid() == Decimal("35000.00")
    assert bank.lookup(KEY) == OrderOutcome(KEY, "accepted", None, "SIM-00000001")
    assert bank.lookup("UNKNOWN-KEY") is None


def test_a_batch_answers_each_order_in_its_place(db):
    bank = SimulatedTreasury(db, fault_plan=FaultPlan(reject={"K-2": "Compte clos (AC04)"}))
    outcomes = bank.order([order("K-1", "100.00"), order("K-2", "200.00"), order("K-3", "300.10")],
                          batch_id="run-1")
    assert [(o.key, o.status, o.reason) for o in outcomes] == [
        ("K-1", "accepted", None), ("K-2", "rejected", "Compte clos (AC04)"), ("K-3", "accepted", None)]
    assert bank.total_paid() == Decimal("400.10")


def test_memory_survives_a_new_instance(db):
    SimulatedTreasury(db).order([order()], batch_id="run-1")
    fresh = SimulatedTreasury(db)
    assert fresh.lookup(KEY).status == "accepted"
    fresh.order([order()], batch_id="run-2")
    assert fresh.orders_for(KEY) == 1


def test_timeouts_then_success_pay_once(db):
    bank = SimulatedTreasury(db, fault_plan=FaultPlan(timeouts={KEY: 2}))
    for _ in range(2):
        with pytest.raises(TreasuryUnavailable):
            bank.order([order()], batch_id="run-1")
        assert bank.lookup(KEY) is None  # nothing arrived: safe to order again
    [outcome] = bank.order([order()], batch_id="run-1")

    assert outcome.status == "accepted"
    assert bank.attempts_for(KEY) == 3
    assert bank.orders_for(KEY) == 1
    assert bank.total_paid() == Decimal("35000.00")


def test_a_timeout_loses_the_whole_remittance(db):
    bank = SimulatedTreasury(db, fault_plan=FaultPlan(timeouts={"K-2": 1}))
    with pytest.raises(TreasuryUnavailable):
        bank.order([order("K-1"), order("K-2")], batch_id="run-1")
    assert bank.lookup("K-1") is None and bank.lookup("K-2") is None
    assert bank.total_paid() == Decimal("0.00")


def test_timeout_after_commit_is_found_by_lookup_and_never_paid_twice(db):
    bank = SimulatedTreasury(db, fault_plan=FaultPlan(timeouts={KEY: 1}, timeout_after_commit=True))
    with pytest.raises(TreasuryUnavailable):
        bank.order([order()], batch_id="run-1")

    assert bank.lookup(KEY) == OrderOutcome(KEY, "accepted", None, "SIM-00000001")
    [outcome] = bank.order([order()], batch_id="run-2")  # a careless retry
    assert outcome.status == "accepted"
    assert bank.orders_for(KEY) == 1
    assert bank.total_paid() == Decimal("35000.00")


def test_rejected_key_stays_rejected_and_pays_nothing(db):
    bank = SimulatedTreasury(db, fault_plan=FaultPlan(reject={KEY: "RIB invalide (AC01)"}))
    for batch in ("run-1", "run-2"):
        [outcome] = bank.order([order()], batch_id=batch)
        assert outcome.status == "rejected" and outcome.reason == "RIB invalide (AC01)"
    assert bank.orders_for(KEY) == 0
    assert bank.total_paid() == Decimal("0.00")
    assert bank.lookup(KEY).status == "rejected"


def test_rejected_iban_then_corrected_iban_pays_once(db):
    plan = FaultPlan(reject_iban={"FR76 3000 6000 0112 3456 7890 189": "RIB invalide (AC01)"})
    bank = SimulatedTreasury(db, fault_plan=plan)
    [rejected] = bank.order([order()], batch_id="run-1")
    assert rejected.status == "rejected" and rejected.reason == "RIB invalide (AC01)"

    [accepted] = bank.order([order(iban=CORRECTED_IBAN)], batch_id="run-2")
    [again] = bank.order([order(iban=CORRECTED_IBAN)], batch_id="run-3")

    assert accepted.status == "accepted" and accepted.reason is None
    assert again == accepted
    assert bank.orders_for(KEY) == 1
    assert bank.total_paid() == Decimal("35000.00")


def test_settled_orders_are_paid_and_stay_paid(db):
    bank = SimulatedTreasury(db)
    bank.order([order("K-1"), order("K-2")], batch_id="run-1")
    assert bank.settle("K-1") == 1
    assert bank.lookup("K-1").status == "paid"
    assert bank.lookup("K-2").status == "accepted"
    [outcome] = bank.order([order("K-1")], batch_id="run-2")
    assert outcome.status == "paid"
    assert bank.orders_for("K-1") == 1
    assert bank.settle() == 1  # K-2


def test_fault_plan_from_json_is_shared_and_its_counters_persist(db, tmp_path):
    plan_file = tmp_path / "plan.json"
    FaultPlan(timeouts={KEY: 1}, reject={"K-X": "Compte clos (AC04)"}).to_json(plan_file)
    assert json.loads(plan_file.read_text())["timeouts"] == {KEY: 1}

    with pytest.raises(TreasuryUnavailable):
        SimulatedTreasury(db, fault_plan=plan_file).order([order()], batch_id="run-1")
    # Another "worker" with the same plan: the timeout was served already.
    [outcome] = SimulatedTreasury(db, fault_plan=plan_file).order([order()], batch_id="run-1")
    assert outcome.status == "accepted"

    with pytest.raises(ValueError, match="inconnues"):
        FaultPlan.from_dict({"timeout": {KEY: 1}})


def run_workers(mode: str, path: Path, tmp_path: Path, keys: list[str], count: int = 2):
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(WORKER), mode, str(path), str(go), *keys],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(count)]
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=30)
        results.append((p.returncode, out, err))
    return results


def test_two_processes_ordering_the_same_keys_pay_each_once(db, tmp_path):
    keys = [f"RUN-2019-05-{n:02d}" for n in range(15)]
    SimulatedTreasury(db)  # schema created once, before the race
    results = run_workers("treasury", db, tmp_path, keys)

    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    first, second = (json.loads(out) for _, out, _ in results)
    assert first == second  # both were told the same, accepted, with the same reference
    bank = SimulatedTreasury(db)
    for key in keys:
        assert first[key][0] == "accepted"
        assert bank.orders_for(key) == 1
        assert bank.attempts_for(key) == 2
        assert bank.duplicate_attempts_for(key) == 1
    assert bank.total_paid() == Decimal("1500.00") * 15


def test_a_worker_killed_after_ordering_leaves_an_order_lookup_finds(db, tmp_path):
    [(code, out, _)] = run_workers("kill", db, tmp_path, ["K-CRASH-1", "K-CRASH-2"], count=1)
    assert code == -signal.SIGKILL and out == ""

    bank = SimulatedTreasury(db)
    assert bank.lookup("K-CRASH-1").status == "accepted"
    assert bank.lookup("K-CRASH-2").status == "accepted"
    # The restarted run asks before ordering; even if it ordered, nothing is paid twice.
    bank.order([order("K-CRASH-1", "1500.00")], batch_id="rerun")
    assert bank.orders_for("K-CRASH-1") == 1
    assert bank.total_paid() == Decimal("3000.00")


# ----------------------------------------------------------------- the order value


def test_payment_order_normalises_bank_details():
    o = order(iban="fr76 3000 6000 0112 3456 7890 189")
    assert o.iban == IBAN and o.bic == "AGRIFRPPXXX"


@pytest.mark.parametrize("changes, error", [
    ({"amount": 35000.0}, TypeError),
    ({"amount": Decimal("10.005")}, ValueError),
    ({"amount": Decimal("0")}, ValueError),
    ({"amount": Decimal("-5.00")}, ValueError),
    ({"key": "K" * 36}, ValueError),
    ({"key": "clé avec accents"}, ValueError),
    ({"key": "/K-1"}, ValueError),
    ({"iban": "FR7630006000011234567890188"}, ValueError),  # wrong checksum
    ({"bic": "NOTABIC"}, ValueError),
    ({"currency": "USD"}, ValueError),
    ({"remittance": "x" * 141}, ValueError),
])
def test_payment_order_refuses_bad_fields(changes, error):
    fields = dict(key=KEY, amount=Decimal("35000.00"), creditor_name="Faubourg Numérique",
                  iban=IBAN, bic="AGRIFRPPXXX", remittance="Subvention",
                  execution_date=date(2019, 5, 31))
    with pytest.raises(error):
        PaymentOrder(**{**fields, **changes})
