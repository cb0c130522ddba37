"""Payments happen exactly once (issue 4): retries, manual reruns, concurrent runs,
rejections, the Innosprint example.

Real stores (SQLite and PostgreSQL, fixture `store`), the real Prefect flows against the
test server, and the simulated treasury, whose own SQLite file counts what it was sent
per idempotency key (`orders_for`: accepted orders, must stay at 1; `attempts_for`:
every call, timeouts included). Figures are seed 002's: 35,000.00 EUR, act exécutoire
on 12/12/2018, payment "au plus tard en Mai 2019" (31/05/2019).
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from core import clock
from core import settings as settings_module
from core.settings import get_settings
from db.models import Association, Authority, Grant, Instalment, Message, Obligation
from db.session import unit_of_work
from gateways.bank import FaultPlan, SimulatedTreasury
from services import payments
from services.commands import PaymentConfirmation
from services.dossier import DossierError, load_files
from tests.support import EXAMPLES, INNOSPRINT, load_examples, sign_both

PAYDAY = dt.date(2019, 5, 31)  # art. 4.1: "au plus tard en Mai 2019"
INNOSPRINT_IBAN = "FR7630004000000000001234573"  # examples/casq-innosprint.yaml (fictitious)
CORRECTED_IBAN = "FR7630004000000000009876594"  # another valid French IBAN (RIB key 94)


# -- helpers ------------------------------------------------------------------------------

def treasury() -> SimulatedTreasury:
    return SimulatedTreasury(get_settings().treasury_path)


def instalments(reference: str = INNOSPRINT) -> list[dict[str, Any]]:
    with unit_of_work() as session:
        rows = session.scalars(sa.select(Instalment).join(Grant, Grant.id == Instalment.grant_id)
                               .where(Grant.reference == reference).order_by(Instalment.number))
        return [{"number": i.number, "status": i.status, "key": i.idempotency_key, "attempts": i.attempts,
                 "ordered_at": i.ordered_at, "paid_on": i.paid_on, "reason": i.reason, "batch_id": i.batch_id,
                 "amount": i.amount} for i in rows]


def key(number: int = 1, reference: str = INNOSPRINT) -> str:
    return instalments(reference)[number - 1]["key"]


def journal_kinds(reference: str = INNOSPRINT) -> list[str]:
    with unit_of_work() as session:
        return list(session.scalars(sa.text(
            "SELECT e.kind FROM events e JOIN grants g ON g.id = e.grant_id WHERE g.reference = :r ORDER BY e.seq"),
            {"r": reference}))


def use_fault_plan(monkeypatch: pytest.MonkeyPatch, plan: FaultPlan) -> None:
    """The treasury's faults, as a JSON file named by the settings (as a worker would read it)."""
    path = get_settings().home / "fault-plan.json"
    plan.to_json(path)
    monkeypatch.setenv("GRANTFLOW_TREASURY_FAULT_PLAN", str(path))
    settings_module.get_settings.cache_clear()


def set_iban(association_code: str, iban: str) -> None:
    """What operations do once the association sent a new RIB."""
    with unit_of_work() as session:
        association = session.scalars(sa.select(Association).where(Association.code == association_code)).one()
        association.iban = iban


def load_split_innosprint(tmp_path: Path, amounts_and_dues: list[tuple[str, dt.date]]) -> None:
    """The Innosprint dossier with another instalment plan (the rest of it unchanged)."""
    dossier = yaml.safe_load((EXAMPLES / "casq-innosprint.yaml").read_text(encoding="utf-8"))
    dossier["grants"][0]["payments"] = [{"amount": a, "due": d} for a, d in amounts_and_dues]
    path = tmp_path / "casq-split.yaml"
    path.write_text(yaml.safe_dump(dossier, allow_unicode=True), encoding="utf-8")
    load_files([path], get_settings(), unit_of_work)


@pytest.fixture
def signed(store):
    """Both seeds loaded; the Innosprint convention signed by both parties after 12/12/2018."""
    load_examples()
    sign_both()
    return store


# -- the Done-when list -------------------------------------------------------------------

@pytest.mark.parametrize("faults", ["lost in transit", "answer lost"])
def test_a_technical_failure_retried_by_prefect_orders_once(signed, prefect_server, monkeypatch, faults):
    from flows.payment import grant_payment

    k = key()
    if faults == "lost in transit":  # two timeouts before the treasury records anything
        use_fault_plan(monkeypatch, FaultPlan(timeouts={k: 2}))
    else:  # the treasury recorded the order, the answer was lost: the retry must not resend it
        use_fault_plan(monkeypatch, FaultPlan(timeouts={k: 1}, timeout_after_commit=True))

    result = grant_payment(INNOSPRINT, business_date=PAYDAY)

    bank = treasury()
    assert bank.orders_for(k) == 1
    assert bank.attempts_for(k) == (3 if faults == "lost in transit" else 1)  # the retry asked first
    assert bank.duplicate_attempts_for(k) == 0
    [instalment] = instalments()
    assert instalment["status"] == "ordered" and instalment["ordered_at"] is not None
    assert instalment["attempts"] == 1  # one claim: Prefect retried the bank call, not the claim
    assert [a["number"] for a in result["ordered"]] == [1]
    assert journal_kinds().count("payment_ordered") == 1


def test_a_failed_run_rerun_by_hand_orders_nothing_already_ordered_or_paid(store, tmp_path, prefect_server,
                                                                          monkeypatch):
    from flows.payment import payment_confirmation, payment_run

    load_split_innosprint(tmp_path, [("15000.00", dt.date(2019, 3, 29)), ("10000.00", dt.date(2019, 4, 30)),
                                     ("10000.00", PAYDAY)])
    sign_both()
    k1, k2, k3 = (key(n) for n in (1, 2, 3))
    use_fault_plan(monkeypatch, FaultPlan(reject={k2: "pièce manquante : attestation d'assurance"}))

    with pytest.raises(payments.PaymentRunFailed) as failed:
        payment_run(business_date=PAYDAY)
    assert "CASQ-2018-INNOSPRINT, versement n°2 (10 000,00 EUR)" in str(failed.value)
    assert "pièce manquante : attestation d'assurance" in str(failed.value)
    assert [i["status"] for i in instalments()] == ["ordered", "rejected", "ordered"]

    # n°1 is paid meanwhile (the treasury executes it and says so); n°3 stays ordered.
    treasury().settle(k1)
    payment_confirmation(INNOSPRINT, PaymentConfirmation(number=1, paid_on=dt.date(2019, 6, 3)))

    # The failed run, rerun by hand with the same parameters: fails again for n°2 only.
    with pytest.raises(payments.PaymentRunFailed) as again:
        payment_run(business_date=PAYDAY)
    assert "versement n°2" in str(again.value) and "n°1 " not in str(again.value) and "n°3" not in str(again.value)

    use_fault_plan(monkeypatch, FaultPlan())  # the missing document was sent
    result = payment_run(business_date=PAYDAY)
    assert [a["number"] for a in result["ordered"]] == [2]

    bank = treasury()
    assert [bank.orders_for(k) for k in (k1, k2, k3)] == [1, 1, 1]
    assert [bank.attempts_for(k) for k in (k1, k3)] == [1, 1]  # never sent again
    assert bank.attempts_for(k2) == 3  # rejected twice, then ordered
    assert [i["status"] for i in instalments()] == ["paid", "ordered", "ordered"]
    assert bank.total_paid() == Decimal("35000.00")


def test_two_payment_runs_at_the_same_time_order_once(signed, prefect_server):
    from flows.payment import grant_payment

    barrier = threading.Barrier(2)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(grant_payment(INNOSPRINT, business_date=PAYDAY))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sorted(len(r["ordered"]) for r in results) == [0, 1]
    k = key()
    assert treasury().orders_for(k) == 1
    assert treasury().attempts_for(k) == 1
    [instalment] = instalments()
    assert instalment["status"] == "ordered" and instalment["attempts"] == 1


class PausingTreasury:
    """The real simulated treasury, holding each `order` call until the test lets it go."""

    def __init__(self, inner: SimulatedTreasury) -> None:
        self.inner, self.entered, self.release = inner, threading.Event(), threading.Event()

    def order(self, orders, *, batch_id):
        self.entered.set()
        assert self.release.wait(60)
        return self.inner.order(orders, batch_id=batch_id)

    def lookup(self, key):
        return self.inner.lookup(key)


def test_a_run_started_while_another_is_at_the_bank_waits_and_orders_nothing(signed):
    """The overlap made certain: run A is inside the bank call (its claim committed, its
    answer not yet); run B must neither order the instalment nor take A's claim as a crash."""
    settings = get_settings()
    slow = PausingTreasury(SimulatedTreasury(settings.treasury_path))
    reports: dict[str, payments.PaymentReport] = {}

    def run(name: str, gateway_for) -> None:
        reports[name] = payments.pay(unit_of_work, settings, PAYDAY, f"batch-{name}", reference=INNOSPRINT,
                                     gateway_for=gateway_for)

    a = threading.Thread(target=run, args=("a", lambda s, authority: slow))
    a.start()
    assert slow.entered.wait(30)
    b = threading.Thread(target=run, args=("b", lambda s, authority: SimulatedTreasury(s.treasury_path)))
    b.start()
    time.sleep(0.5)
    assert b.is_alive()  # waiting for A's lock
    slow.release.set()
    a.join(60)
    b.join(60)
    assert [len(reports["a"].ordered), len(reports["b"].ordered), len(reports["b"].recovered)] == [1, 0, 0]
    assert treasury().attempts_for(key()) == 1
    assert instalments()[0]["batch_id"] == "batch-a"


def test_a_rejection_for_invalid_bank_details_fails_the_run_then_the_corrected_rerun_orders_once(
        signed, prefect_server, monkeypatch):
    from flows.payment import payment_run

    use_fault_plan(monkeypatch,
                   FaultPlan(reject_iban={INNOSPRINT_IBAN: "compte clos : coordonnées bancaires invalides"}))
    with pytest.raises(payments.PaymentRunFailed) as failed:
        payment_run(business_date=PAYDAY)
    message = str(failed.value)
    assert "subvention CASQ-2018-INNOSPRINT, versement n°1 (35 000,00 EUR) : rejeté par le Trésor" in message
    assert "compte clos : coordonnées bancaires invalides" in message
    [instalment] = instalments()
    assert instalment["status"] == "rejected"
    assert instalment["reason"] == "compte clos : coordonnées bancaires invalides"
    k = instalment["key"]
    assert treasury().orders_for(k) == 0
    with unit_of_work() as session:  # the authority hears of it, once for this run
        [mail] = session.scalars(sa.select(Message).where(Message.kind == "run_failed"))
        assert mail.recipients == "authority" and "compte clos" in mail.context["reason"]

    set_iban("faubourg-numerique", CORRECTED_IBAN)
    result = payment_run(business_date=PAYDAY)

    assert [a["number"] for a in result["ordered"]] == [1]
    bank = treasury()
    assert bank.orders_for(k) == 1 and bank.attempts_for(k) == 2
    assert bank.total_paid() == Decimal("35000.00")
    [instalment] = instalments()
    assert instalment["status"] == "ordered" and instalment["reason"] is None
    assert instalment["key"] == k  # the same key, ordered again after correction
    # A further run changes nothing.
    assert payment_run(business_date=PAYDAY)["ordered"] == []
    assert treasury().attempts_for(k) == 2


def test_innosprint_pays_35000_eur_once_by_31_may_2019(store, prefect_server):
    from flows.payment import payment_confirmation, payment_run

    load_examples()
    sign_both(association_on=dt.date(2018, 12, 20), authority_on=dt.date(2019, 1, 7))
    k = key()
    # The payment run on working days of the simulated year (a sample: a flow run costs ~1 s).
    for day in (dt.date(2018, 12, 13), dt.date(2019, 1, 8), dt.date(2019, 3, 1), dt.date(2019, 5, 2),
                dt.date(2019, 5, 30)):
        with clock.frozen(day):
            assert payment_run(business_date=day)["ordered"] == []
    assert treasury().attempts_for(k) == 0 and instalments()[0]["status"] == "scheduled"

    with clock.frozen(PAYDAY):
        result = payment_run()  # business date: the (simulated) clock's day
    assert [(a["number"], a["amount"]) for a in result["ordered"]] == [(1, "35000.00")]
    for day in (dt.date(2019, 6, 3), dt.date(2019, 6, 4)):
        with clock.frozen(day):
            assert payment_run()["ordered"] == []

    bank = treasury()
    assert bank.settle(k) == 1
    with clock.frozen(PAYDAY):
        payment_confirmation(INNOSPRINT, PaymentConfirmation(number=1, paid_on=PAYDAY))
    assert bank.orders_for(k) == 1 and bank.attempts_for(k) == 1
    assert bank.total_paid() == Decimal("35000.00")
    [instalment] = instalments()
    assert instalment["status"] == "paid" and instalment["paid_on"] == PAYDAY
    assert instalment["amount"] == Decimal("35000.00")
    assert clock.PARIS.convert(instalment["ordered_at"]).date() == PAYDAY
    with unit_of_work() as session:
        obligation = session.scalars(sa.select(Obligation).join(Grant, Grant.id == Obligation.grant_id).where(
            Grant.reference == INNOSPRINT, Obligation.kind == "payment")).one()
        assert (obligation.status, obligation.due_on, obligation.done_on) == ("done", PAYDAY, PAYDAY)
    kinds = journal_kinds()
    assert [kinds.count(k) for k in ("payment_claimed", "payment_ordered", "payment")] == [1, 1, 1]


def test_an_instalment_plan_that_does_not_add_up_is_refused_at_load(store, tmp_path):
    with pytest.raises(DossierError) as refused:
        load_split_innosprint(tmp_path, [("20000.00", dt.date(2019, 3, 29)), ("14999.99", PAYDAY)])
    assert "CASQ-2018-INNOSPRINT" in str(refused.value) and "payments" in str(refused.value)
    with unit_of_work() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Instalment)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(Grant)) == 0


# -- preconditions, confirmation, gateways ------------------------------------------------

def test_refused_preconditions_fail_the_run_in_french_and_send_nothing(store, prefect_server):
    from flows.payment import grant_payment

    load_examples()  # not signed
    with unit_of_work() as session:
        association = session.scalars(sa.select(Association).where(Association.code == "faubourg-numerique")).one()
        association.bic = "bnpafrppxxx"
    with pytest.raises(payments.PaymentRunFailed) as failed:
        grant_payment(INNOSPRINT, number=1, business_date=PAYDAY)
    message = str(failed.value)
    assert "subvention CASQ-2018-INNOSPRINT, versement n°1 (35 000,00 EUR) : conditions de paiement non remplies" \
        in message
    assert "il manque la signature de l'association et celle de la collectivité" in message
    assert "champ « association.bic » = 'bnpafrppxxx' : BIC refusé : il doit être saisi en majuscules" in message
    assert "à corriger : les coordonnées bancaires de l'association « faubourg-numerique »" in message
    assert treasury().attempts_for(key()) == 0
    assert instalments()[0]["status"] == "scheduled"


def test_an_act_not_yet_executoire_refuses_payment(store):
    load_examples()  # CASA 2015: no prefecture acknowledgement, no due date yet
    settings = get_settings()
    with unit_of_work() as session:
        plan = payments.payment_plan(session, settings, dt.date(2016, 6, 1), "CASA-2015-CREATIVE-CLUSTER", 1)
    [problem] = plan.problems
    assert problem.kind == "conditions" and "acte pas encore exécutoire" in problem.reason
    with unit_of_work() as session:  # not due: a payment run leaves it alone
        assert payments.payment_plan(session, settings, dt.date(2016, 6, 1)).ready == []


def test_the_payment_history_event_confirms_an_instalment(store, tmp_path):
    dossier = yaml.safe_load((EXAMPLES / "casq-innosprint.yaml").read_text(encoding="utf-8"))
    dossier["grants"][0]["history"] += [
        {"event": "signature", "party": "association", "on": "2018-12-20"},
        {"event": "signature", "party": "authority", "on": "2019-01-07"},
        {"event": "payment", "number": 1, "paid_on": "2019-05-15"},
    ]
    path = tmp_path / "casq-paid.yaml"
    path.write_text(yaml.safe_dump(dossier, allow_unicode=True), encoding="utf-8")
    load_files([path], get_settings(), unit_of_work)
    [instalment] = instalments()
    assert (instalment["status"], instalment["paid_on"]) == ("paid", dt.date(2019, 5, 15))
    # Paid outside grantflow: a payment run never orders it.
    report = payments.pay(unit_of_work, get_settings(), PAYDAY, "after-history")
    assert report.ordered == [] and report.problems == []
    assert treasury().attempts_for(instalment["key"]) == 0


def test_a_confirmation_twice_is_harmless_and_another_date_is_refused(signed):
    from domain.errors import RuleViolation
    from services.grants import get_grant

    payments.pay(unit_of_work, get_settings(), PAYDAY, "b1").raise_for_problems()
    confirmation = PaymentConfirmation(number=1, paid_on=dt.date(2019, 6, 3))
    for _ in range(2):
        with unit_of_work() as session:
            payments.confirm_payment(session, get_grant(session, INNOSPRINT), confirmation, get_settings(),
                                     actor="test")
    assert journal_kinds().count("payment") == 1
    with pytest.raises(RuleViolation, match="déjà enregistré comme payé le 03/06/2019"):
        with unit_of_work() as session:
            payments.confirm_payment(session, get_grant(session, INNOSPRINT),
                                     PaymentConfirmation(number=1, paid_on=dt.date(2019, 6, 4)), get_settings(),
                                     actor="test")
    with pytest.raises(RuleViolation, match="pas d'échéance n°2"):
        with unit_of_work() as session:
            payments.confirm_payment(session, get_grant(session, INNOSPRINT),
                                     PaymentConfirmation(number=2, paid_on=dt.date(2019, 6, 4)), get_settings(),
                                     actor="test")


def test_the_bank_unreachable_for_the_whole_run_leaves_the_instalment_failed_then_orders_it_once(
        signed, monkeypatch):
    k = key()
    use_fault_plan(monkeypatch, FaultPlan(timeouts={k: 1}))
    report = payments.pay(unit_of_work, get_settings(), PAYDAY, "b1")
    assert [p.kind for p in report.problems] == ["technique"]
    assert instalments()[0]["status"] == "failed"
    report = payments.pay(unit_of_work, get_settings(), PAYDAY, "b2")
    assert [a.number for a in report.ordered] == [1] and report.problems == []
    assert treasury().orders_for(k) == 1 and treasury().attempts_for(k) == 2


def test_the_sepa_file_gateway_writes_one_pain001_per_run_with_the_key(signed, monkeypatch):
    monkeypatch.setenv("GRANTFLOW_BANK", "sepa-file")
    settings_module.get_settings.cache_clear()
    settings = get_settings()
    with unit_of_work() as session:  # an authority whose dossier gives no treasury account
        authority = session.scalars(sa.select(Authority).where(Authority.code == "casq")).one()
        authority.iban = authority.bic = None
    refused = payments.pay(unit_of_work, settings, PAYDAY, "run-without-debtor")
    [problem] = refused.problems
    assert problem.kind == "configuration"
    assert str(problem).startswith(
        f"subvention {INNOSPRINT}, versement n°1 (35 000,00 EUR) : configuration de la collectivité à compléter : "
        "compte au Trésor de la collectivité « casq » absent ou invalide (IBAN manquant)")
    # A configuration error, not a technical failure: nothing claimed, nothing to retry.
    assert (instalments()[0]["status"], instalments()[0]["attempts"]) == ("scheduled", 0)
    assert "payment_failed" not in journal_kinds()

    with unit_of_work() as session:
        authority = session.scalars(sa.select(Authority).where(Authority.code == "casq")).one()
        authority.iban, authority.bic = "FR7630001007941234567890185", "BDFEFRPPCCT"
    report = payments.pay(unit_of_work, settings, PAYDAY, "run-20190531")
    assert [a.number for a in report.ordered] == [1]
    files = sorted(settings.payments_dir.glob("*.xml"))
    assert [f.name for f in files] == ["run-20190531.xml"]
    xml = files[0].read_text(encoding="utf-8")
    assert f"<EndToEndId>{key()}</EndToEndId>" in xml and "35000.00" in xml
    assert "<ReqdExctnDt>2019-05-31</ReqdExctnDt>" in xml  # a Friday
    assert payments.pay(unit_of_work, settings, PAYDAY, "run-20190603").ordered == []
    assert len(list(settings.payments_dir.glob("*.xml"))) == 1


def test_the_examples_write_sepa_files_and_ask_for_a_target2_business_day(signed, monkeypatch):
    """The examples give CASQ a treasury account; ordered by hand on Saturday 20/04/2019 (Easter
    Saturday), the transfer asks for Tuesday 23/04: Easter Monday is a TARGET2 holiday."""
    monkeypatch.setenv("GRANTFLOW_BANK", "sepa-file")
    settings_module.get_settings.cache_clear()
    settings = get_settings()
    report = payments.pay(unit_of_work, settings, dt.date(2019, 4, 20), "run-20190420", reference=INNOSPRINT,
                          number=1)
    assert [a.number for a in report.ordered] == [1] and report.problems == []
    xml = (settings.payments_dir / "run-20190420.xml").read_text(encoding="utf-8")
    assert "<ReqdExctnDt>2019-04-23</ReqdExctnDt>" in xml
    assert "<IBAN>FR043000100642C020000000046</IBAN>" in xml and "<BIC>BDFEFRPPCCT</BIC>" in xml

def test_a_missing_treasury_account_is_told_to_the_authority_once(signed, prefect_server, monkeypatch):
    """Issue 12: a configuration error of the authority, not a daily failure mail."""
    from flows.payment import payment_run

    monkeypatch.setenv("GRANTFLOW_BANK", "sepa-file")
    settings_module.get_settings.cache_clear()
    with unit_of_work() as session:
        authority = session.scalars(sa.select(Authority).where(Authority.code == "casq")).one()
        authority.iban = authority.bic = None
    for day in (PAYDAY, PAYDAY + dt.timedelta(days=3)):  # Friday 31/05, then Monday 03/06/2019
        with pytest.raises(payments.PaymentRunFailed) as failed:
            payment_run(business_date=day)
        assert "compte au Trésor de la collectivité « casq » absent ou invalide" in str(failed.value)
    with unit_of_work() as session:
        notices = session.scalars(sa.select(Message).where(Message.kind == "run_failed")).all()
        assert [(m.status, m.context["reason"].count("compte au Trésor")) for m in notices] == [("queued", 1)]
    assert (instalments()[0]["status"], instalments()[0]["attempts"]) == ("scheduled", 0)
