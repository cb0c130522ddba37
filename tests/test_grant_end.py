"""Kinds of grant and the end of a grant (issue 11, item 3), on SQLite and PostgreSQL.

The grants below are ordinary ones of the CASQ (SIREN 200071892, Aisne): each voted on
28/01/2019 and exécutoire on Monday 04/02/2019, so a 12-month convention runs to
03/02/2020 and enters `closing` on 04/02/2020; an instalment without a date is due 60 days
after exécutoire, Friday 05/04/2019 (loi 2021-875); the compte rendu financier of the 2019
exercise is due 6 months after 31/12/2019, Tuesday 30/06/2020 (arrêté du 11/10/2006).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from core import clock
from core.settings import get_settings
from db.models import Event, Instalment, Obligation, Refund
from db.session import unit_of_work
from services import closure, commands, payments, sweep
from services.dossier import DossierError, load_files
from services.grants import get_grant
from tests.support import record, scalar, sign_both

D = dt.date
AUTHORITY = {"id": "casq", "name": "Communauté d'Agglomération du Saint-Quentinois", "siren": "200071892",
             "department": "002", "kind": "epci", "email": "dev-eco@casq.example.org"}
ASSOCIATION = {"id": "maison-quartier", "name": "Maison de quartier Europe", "siret": "99912345800013",
               "email": "contact@mq-europe.example.org",
               "bank": {"iban": "FR7630004000000000001234573", "bic": "BNPAFRPPXXX", "holder": "MQ EUROPE"}}


def grant(reference: str, number: str, amount: str, payments_: list[dict], **more: object) -> dict:
    return {"reference": reference, "authority": "casq", "association": "maison-quartier",
            "object": "Animation du centre social", "amount": amount,
            "duration": {"months": 12, "from": "executoire"}, "payments": payments_,
            "deliberation": {"session": "2019-01-28", "outcome": "adopted", "act_number": number},
            "history": [{"event": "prefecture_receipt", "act_id": f"002-200071892-20190128-{number}-DE",
                         "received": "2019-02-04", "published": "2019-02-04"}], **more}


def load(tmp_path: Path, *grants: dict) -> None:
    path = tmp_path / "dossier.yaml"
    path.write_text(yaml.safe_dump({"authorities": [AUTHORITY], "associations": [ASSOCIATION],
                                    "grants": list(grants)}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load_files([path], get_settings(), unit_of_work)


def run_sweep(day: dt.date) -> sweep.SweepResult:
    with clock.frozen(day), unit_of_work() as session:
        return sweep.sweep(session, day, get_settings())


def close_due(day: dt.date) -> list[str]:
    with clock.frozen(day):
        return closure.run_due(unit_of_work, get_settings(), day, actor="test")


def pay(day: dt.date) -> payments.PaymentReport:
    with clock.frozen(day):
        return payments.pay(unit_of_work, get_settings(), day, f"b-{day:%Y%m%d}")


def stage(reference: str) -> str:
    with unit_of_work() as session:
        return get_grant(session, reference).stage


def instalments(reference: str) -> list[tuple[int, str, str, dt.date | None]]:
    with unit_of_work() as session:
        grant_id = get_grant(session, reference).id
        return [(i.number, str(i.amount), i.status, i.due_on) for i in session.scalars(
            sa.select(Instalment).where(Instalment.grant_id == grant_id).order_by(Instalment.number))]


def refund(reference: str) -> Refund | None:
    with unit_of_work() as session:
        grant_id = get_grant(session, reference).id
        return session.scalars(sa.select(Refund).where(Refund.grant_id == grant_id)).one_or_none()


def journal(kind: str) -> list[dict]:
    with unit_of_work() as session:
        return [e.payload for e in session.scalars(sa.select(Event).where(Event.kind == kind).order_by(Event.id))]


def crf(on: dt.date, budgeted: str, actual: str) -> commands.FinancialReport:
    return commands.FinancialReport(on=on, charges_budgeted=budgeted, charges_actual=actual,
                                    products_budgeted=budgeted, products_actual=actual)


OPERATING = "CASQ-2019-CENTRE-SOCIAL"


def test_an_operating_grant_waits_for_its_financial_report_and_claims_back_only_the_unspent_share(store, tmp_path):
    # Seen: 11,000 EUR, one payment, no clause: closed the day after the convention's end
    # with a titre for the whole 11,000 EUR.
    load(tmp_path, grant(OPERATING, "19001", "11000.00", [{"amount": "11000.00"}]))
    assert instalments(OPERATING) == [(1, "11000.00", "scheduled", D(2019, 4, 5))]
    record(OPERATING, commands.PaymentConfirmation(number=1, paid_on=D(2019, 4, 5)))
    assert run_sweep(D(2020, 2, 4)).transitions == [(OPERATING, "active", "closing")]
    assert close_due(D(2020, 2, 4)) == []
    assert refund(OPERATING) is None and stage(OPERATING) == "closing"
    with unit_of_work() as session:
        obligation = session.scalars(sa.select(Obligation).where(Obligation.kind == "financial_report")).one()
        assert (obligation.due_on, obligation.status) == (D(2020, 6, 30), "pending")
        with pytest.raises(Exception, match="compte rendu financier"):
            closure.close(session, get_grant(session, OPERATING), get_settings(), day=D(2020, 2, 4), actor="test")
    # Reminded after the convention's end like any obligation: 7 days before 30/06/2020.
    run_sweep(D(2020, 6, 23))
    assert scalar("SELECT count(*) FROM messages m JOIN obligations o ON o.id = m.obligation_id "
                  "WHERE o.kind = 'financial_report' AND m.level = 'before'") == 1

    # Charges of the action: 40,000.00 budgeted, 38,000.00 spent: -2,000.00 EUR, -5.0 %.
    record(OPERATING, crf(D(2020, 6, 24), "40000.00", "38000.00"))
    [received] = journal("financial_report")
    assert received["charges"] == {"budgeted": "40000.00", "actual": "38000.00", "gap": "-2000.00",
                                   "gap_percent": "-5.0"}
    assert close_due(D(2020, 6, 25)) == []  # received, not yet checked
    record(OPERATING, commands.FinancialReportChecked(on=D(2020, 7, 6), eligible_spending="10400.00"))
    [line] = close_due(D(2020, 7, 6))
    # Clause "reliquat" (the default of an operating grant): 11,000.00 - 10,400.00 = 600.00.
    assert "titre de recette TR-2020-000001 émis : 600,00 EUR à reverser" in line
    claimed = refund(OPERATING)
    assert (claimed.amount, claimed.status) == (Decimal("600.00"), "due")
    assert "clause « reliquat »" in claimed.grounds


def test_a_grant_whose_convention_ended_before_its_act_is_not_closed_before_being_paid(store, tmp_path):
    # Seen: closed on the day its act became exécutoire ("rien à reverser"), paid two months later.
    reference = "CASQ-2019-FETE"
    load(tmp_path, grant(reference, "19002", "8000.00", [{"amount": "8000.00"}],
                         duration={"months": 12, "from": "2018-01-01"}))
    run_sweep(D(2019, 2, 4))
    assert stage(reference) == "closing"
    assert close_due(D(2019, 2, 4)) == [] and refund(reference) is None
    report = pay(D(2019, 4, 5))
    assert [(a.reference, a.number, a.status) for a in report.ordered] == [(reference, 1, "ordered")]
    record(reference, commands.PaymentConfirmation(number=1, paid_on=D(2019, 4, 9)))
    record(reference, crf(D(2019, 5, 2), "8000.00", "8000.00"))
    record(reference, commands.FinancialReportChecked(on=D(2019, 5, 20), eligible_spending="8000.00"))
    [line] = close_due(D(2019, 5, 20))
    assert "rien à reverser" in line and stage(reference) == "closed"
    assert pay(D(2019, 7, 1)).ordered == []


def test_an_instalment_not_yet_paid_at_closure_is_cancelled_and_never_paid_with_a_titre_outstanding(store, tmp_path):
    # Seen: a second instalment paid while a titre for the whole first one was outstanding.
    reference = "CASQ-2019-JARDINS"
    load(tmp_path, grant(reference, "19003", "20000.00",
                         [{"amount": "10000.00", "due": "2019-04-01"}, {"amount": "10000.00", "due": "2020-03-02"}]))
    sign_both(reference, D(2019, 2, 11), D(2019, 2, 15))
    record(reference, commands.PaymentConfirmation(number=1, paid_on=D(2019, 4, 1)))
    run_sweep(D(2020, 2, 4))
    assert close_due(D(2020, 2, 4)) == []  # no titre before the compte rendu financier is checked
    record(reference, crf(D(2020, 2, 10), "25000.00", "9000.00"))
    record(reference, commands.FinancialReportChecked(on=D(2020, 2, 20), approved=False,
                                                      eligible_spending="4000.00"))
    close_due(D(2020, 2, 20))
    # Entitled to 4,000.00, paid 10,000.00: 6,000.00 claimed back, instalment 2 cancelled.
    claimed = refund(reference)
    assert (claimed.amount, claimed.titre_number) == (Decimal("6000.00"), "TR-2020-000001")
    assert instalments(reference) == [(1, "10000.00", "paid", D(2019, 4, 1)),
                                      (2, "10000.00", "cancelled", D(2020, 3, 2))]
    [cancelled] = journal("instalment_cancelled")
    assert cancelled["number"] == 2 and "annulé à la clôture" in cancelled["reason"]
    assert "droits de l'association 4 000,00 EUR" in cancelled["reason"]
    with unit_of_work() as session:
        payment = session.scalars(sa.select(Obligation).where(Obligation.kind == "payment",
                                                              Obligation.number == 2)).one()
        assert payment.status == "cancelled"
    assert pay(D(2020, 3, 2)).ordered == []
    asked = payments.pay(unit_of_work, get_settings(), D(2020, 3, 2), "by-name", reference=reference, number=2)
    assert asked.ordered == [] and [a.status for a in asked.settled] == ["cancelled"]
    assert scalar("SELECT count(*) FROM instalments WHERE status IN ('ordered', 'paid')") == 1


def test_instalments_due_on_a_fact_wait_for_it_and_the_solde_is_reduced_to_what_is_owed(store, tmp_path):
    reference = "CASQ-2019-LUDOTHEQUE"
    load(tmp_path, grant(reference, "19004", "30000.00",
                         [{"amount": "15000.00", "on": "signature", "days": 30},
                          {"amount": "15000.00", "on": "compte_rendu_financier"}]))
    assert instalments(reference) == [(1, "15000.00", "scheduled", None), (2, "15000.00", "scheduled", None)]
    waiting = pay(D(2019, 4, 5))
    assert waiting.ordered == [] and waiting.waiting == [
        f"subvention {reference}, versement n°1 (15 000,00 EUR) en attente de la signature de la convention par "
        "les deux parties : pas encore dû, non ordonné",
        f"subvention {reference}, versement n°2 (15 000,00 EUR) en attente du compte rendu financier approuvé par "
        "la collectivité : pas encore dû, non ordonné"]
    # Signed by both on 15/02/2019: + 30 days = Sunday 17/03 -> Monday 18/03/2019.
    sign_both(reference, D(2019, 2, 11), D(2019, 2, 15))
    assert instalments(reference)[0] == (1, "15000.00", "scheduled", D(2019, 3, 18))
    assert [(a.number, a.status) for a in pay(D(2019, 3, 18)).ordered] == [(1, "ordered")]
    record(reference, commands.PaymentConfirmation(number=1, paid_on=D(2019, 3, 20)))
    run_sweep(D(2020, 2, 4))
    record(reference, crf(D(2020, 3, 2), "60000.00", "54000.00"))
    record(reference, commands.FinancialReportChecked(on=D(2020, 3, 16), eligible_spending="27000.00"))
    # Approved on 16/03/2020: the solde falls due 60 days later, Friday 15/05/2020; the
    # closure leaves the association 27,000.00 - 15,000.00 = 12,000.00.
    [line] = close_due(D(2020, 3, 16))
    assert "rien à reverser" in line and "reste à verser à l'association : 12 000,00 EUR" in line
    assert instalments(reference)[1] == (2, "12000.00", "scheduled", D(2020, 5, 15))
    [reduced] = journal("instalment_reduced")
    assert (reduced["before"], reduced["after"]) == ("15000.00", "12000.00")
    assert stage(reference) == "closing"  # never closed with an instalment still to pay
    assert [(a.number, a.amount) for a in pay(D(2020, 5, 15)).ordered] == [(2, Decimal("12000.00"))]
    assert stage(reference) == "closing"
    record(reference, commands.PaymentConfirmation(number=2, paid_on=D(2020, 5, 19)))
    assert stage(reference) == "closed"


@pytest.mark.parametrize(("payment", "field", "rule"), [
    ({"amount": "11000.00", "on": "rapport_final"}, "payments[0].on",
     "'signature', 'compte_rendu_financier' ou 'rapport'"),
    ({"amount": "11000.00", "on": "rapport", "number": 7}, "payments[0].number",
     "numéro attendu parmi les comptes rendus n°1 à 6"),
])
def test_an_unknown_condition_or_report_is_refused_whole(store, tmp_path, payment, field, rule):
    with pytest.raises(DossierError) as refused:
        load(tmp_path, grant(OPERATING, "19001", "11000.00", [payment], reports={"every_months": 2}))
    message = str(refused.value)
    assert f"subvention {OPERATING} : champ « {field} »" in message and rule in message
    assert scalar("SELECT count(*) FROM grants") == 0
    assert scalar("SELECT count(*) FROM messages") == 0


def test_a_dossier_stored_before_the_kinds_of_grant_loads_again(store, tmp_path):
    """`./grantflow-up` reloads examples/ at each start: a grant stored before migration
    0003 (its dossier without `kind`) is found unchanged, and keeps the clause it had."""
    load(tmp_path, grant(OPERATING, "19001", "11000.00", [{"amount": "11000.00"}]))
    with unit_of_work() as session:
        stored = get_grant(session, OPERATING)
        stored.dossier = {k: v for k, v in stored.dossier.items() if k != "kind"}
        stored.kind, stored.refund_clause, stored.financial_report_owed = "redistribution", "non_redistribue", False
    load(tmp_path, grant(OPERATING, "19001", "11000.00", [{"amount": "11000.00"}]))
    with unit_of_work() as session:
        assert get_grant(session, OPERATING).refund_clause == "non_redistribue"


def test_a_prorata_clause_with_its_financial_report_in_the_dossier_history(store, tmp_path):
    # 11,000.00 EUR; the action cost 30,000.00 of the 40,000.00 budgeted: entitled to
    # 11,000.00 x 30,000 / 40,000 = 8,250.00; paid 11,000.00: 2,750.00 claimed back.
    history = [{"event": "payment", "number": 1, "paid_on": "2019-04-05"},
               {"event": "financial_report", "on": "2020-01-20", "charges_budgeted": "40000.00",
                "charges_actual": "30000.00", "products_budgeted": "40000.00", "products_actual": "30000.00"},
               {"event": "financial_report_checked", "on": "2020-01-27", "eligible_spending": "30000.00"}]
    spec = grant(OPERATING, "19001", "11000.00", [{"amount": "11000.00"}], refund_clause="prorata")
    spec["history"] += history
    load(tmp_path, spec)
    assert close_due(D(2020, 2, 3)) == []  # the convention runs until 03/02/2020 included
    run_sweep(D(2020, 2, 4))
    [line] = close_due(D(2020, 2, 4))
    assert "titre de recette TR-2020-000001 émis : 2 750,00 EUR à reverser" in line
    assert "clause « prorata »" in refund(OPERATING).grounds
