"""Closure and refund (issue 5), disbursements and avenants, on SQLite and PostgreSQL.

Seed 002 art. 4.1: 35,000.00 EUR paid "au plus tard en Mai 2019"; "si à la fin de la
période de validité de cette convention, l'intégralité de la dotation n'a pas été
redistribuée aux porteurs de projets, la somme restante sera restituée". The convention
runs from 12/12/2018 to 11/12/2019: the grant enters `closing` on 12/12/2019.
"""
from __future__ import annotations

import datetime as dt
import email
from decimal import Decimal
from email import policy
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from core import clock
from core.settings import get_settings
from db.models import Event, Grant, Instalment, Message, Obligation, Refund
from db.session import unit_of_work
from domain.errors import RuleViolation
from gateways.wiring import mail_gateway
from services import closure, commands, mailing, sweep
from services.dossier import load_files
from services.grants import get_grant
from services.reading import grant_view
from tests.support import EXAMPLES, INNOSPRINT, record, scalar, sign_both

D = dt.date
ASSOCIATION = "contact@faubourg-numerique.example.org"


def run_sweep(day: dt.date) -> sweep.SweepResult:
    with clock.frozen(day), unit_of_work() as session:
        return sweep.sweep(session, day, get_settings())


def paid_and_redistributed(*amounts: str, paid_on: dt.date = D(2019, 5, 15)) -> None:
    sign_both()
    record(INNOSPRINT, commands.PaymentConfirmation(number=1, paid_on=paid_on))
    for index, amount in enumerate(amounts):
        record(INNOSPRINT, commands.Disbursement(on=D(2019, 6, 1) + dt.timedelta(days=7 * index),
                                                 beneficiary=f"Porteur n°{index + 1}", amount=amount))


def close(day: dt.date = D(2019, 12, 12)) -> closure.ClosureOutcome:
    with clock.frozen(day), unit_of_work() as session:
        return closure.close(session, get_grant(session, INNOSPRINT, for_update=True), get_settings(), day=day,
                             actor="test")


def view() -> dict:
    with unit_of_work() as session:
        return grant_view(session, INNOSPRINT)


def events(kind: str) -> list[dict]:
    with unit_of_work() as session:
        return [e.payload for e in session.scalars(sa.select(Event).where(Event.kind == kind).order_by(Event.id))]


def send_all() -> list[str]:
    settings = get_settings()
    return mailing.send_queued(unit_of_work, mail_gateway(settings), settings).sent


# -- the refund ---------------------------------------------------------------------

def test_3749_50_is_claimed_for_35000_paid_and_31250_50_redistributed(examples_loaded):
    # 4,500.00 + 3,200.00 + 6,000.00 + 2,750.50 + 5,300.00 + 4,000.00 + 5,500.00 = 31,250.50
    paid_and_redistributed("4500.00", "3200.00", "6000.00", "2750.50", "5300.00", "4000.00", "5500.00")
    assert run_sweep(D(2019, 12, 11)).transitions == []
    assert run_sweep(D(2019, 12, 12)).transitions == [(INNOSPRINT, "active", "closing")]
    with unit_of_work() as session:
        assert closure.due_closures(session) == [INNOSPRINT]
    outcome = close()
    assert (outcome.paid, outcome.eligible) == (Decimal("35000.00"), Decimal("31250.50"))
    refund = outcome.refund
    assert (refund.amount, refund.status, refund.titre_number) == (Decimal("3749.50"), "due", "TR-2019-000001")
    assert refund.issued_on == D(2019, 12, 12)
    # 12/12/2019 + 30 days = Saturday 11/01/2020: due Monday 13/01/2020.
    assert refund.due_on == D(2020, 1, 13)
    assert "article 4.1 de la convention" in refund.grounds
    assert "Versé : 35 000,00 EUR ; redistribué aux porteurs de projets pendant la convention : 31 250,50 EUR ; " \
           "à reverser : 3 749,50 EUR." in refund.grounds
    assert outcome.stage == "closing"
    grant = view()
    assert grant["refund"] == {"amount": "3749.50", "received": "0.00", "status": "due",
                               "titre_number": "TR-2019-000001", "due_on": "2020-01-13"}
    [obligation] = [o for o in grant["obligations"] if o["kind"] == "refund"]
    assert (obligation["debtor"], obligation["due_on"], obligation["status"]) == ("association", "2020-01-13",
                                                                                 "pending")
    [titre] = events("titre_de_recette")
    assert (titre["titre_number"], titre["refund"], titre["contest_until"]) == ("TR-2019-000001", "3749.50",
                                                                                "2020-02-12")
    # The letter to the association (the sweeps also reminded of the reports never sent).
    assert [line for line in send_all() if "Titre" in line] == [
        f"{ASSOCIATION} : Titre de recette n° TR-2019-000001 : reversement de la subvention {INNOSPRINT}"]
    [letter] = [mail for mail in (email.message_from_bytes(eml.read_bytes(), policy=policy.default)
                                  for eml in (examples_loaded.home / "outbox").glob("*.eml"))
                if mail["Subject"].startswith("Titre de recette")]
    assert letter["To"] == ASSOCIATION
    body = letter.get_body(("plain",)).get_content()
    assert "titre de recette n° TR-2019-000001 d'un montant de 3 749,50 €" in body
    assert "au plus tard le lundi 13 janvier 2020" in body
    assert "article 4.1 de la convention" in body

    # Closing again computes nothing more.
    assert close(D(2019, 12, 13)).refund.titre_number == "TR-2019-000001"
    assert scalar("SELECT count(*) FROM refunds") == 1 and len(events("titre_de_recette")) == 1


def test_10_eur_left_unspent_closes_the_grant_without_a_titre_and_the_journal_says_so(examples_loaded):
    paid_and_redistributed("20000.00", "14990.00")  # 34,990.00: 10.00 unspent
    run_sweep(D(2019, 12, 12))
    outcome = close()
    assert (outcome.refund.amount, outcome.refund.status, outcome.refund.titre_number) == (
        Decimal("10.00"), "waived", None)
    assert outcome.stage == "closed"
    [waived] = events("refund_waived")
    assert waived["reason"] == "montant inférieur au seuil de 15 EUR : pas de titre de recette"
    assert waived["refund"] == "10.00"
    assert events("stage_changed")[-1] == {"from": "closing", "to": "closed"}
    grant = view()
    assert grant["stage"] == "closed"
    assert [o for o in grant["obligations"] if o["kind"] == "refund"] == []
    assert scalar("SELECT count(*) FROM messages WHERE kind = 'titre_de_recette'") == 0


@pytest.mark.parametrize("spent, refund, titre", [
    ("34985.00", "15.00", "TR-2019-000001"),  # the floor itself: a titre
    ("34985.01", "14.99", None),  # one cent below: none
    ("35000.00", "0.00", None),  # everything redistributed: closes at once
])
def test_the_15_eur_floor(examples_loaded, spent, refund, titre):
    paid_and_redistributed(spent)
    run_sweep(D(2019, 12, 12))
    outcome = close()
    assert (str(outcome.refund.amount), outcome.refund.titre_number) == (refund, titre)
    assert outcome.stage == ("closing" if titre else "closed")


def test_nothing_paid_nothing_claimed(examples_loaded):
    sign_both()
    run_sweep(D(2019, 12, 12))
    outcome = close()
    assert (outcome.paid, outcome.refund.amount, outcome.stage) == (Decimal("0.00"), Decimal("0.00"), "closed")
    assert events("refund_waived")[0]["reason"] == "rien à reverser : la subvention est close"


def load_innosprint(tmp_path: Path, **changes: object) -> None:
    dossier = yaml.safe_load((EXAMPLES / "casq-innosprint.yaml").read_text(encoding="utf-8"))
    dossier["grants"][0].update(changes)
    path = tmp_path / "casq.yaml"
    path.write_text(yaml.safe_dump(dossier, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load_files([path], get_settings(), unit_of_work)


def test_a_convention_letting_the_association_keep_the_rest_claims_nothing(store, tmp_path):
    load_innosprint(tmp_path, unspent="keep")
    paid_and_redistributed("31250.50")
    run_sweep(D(2019, 12, 12))
    outcome = close()
    assert (outcome.refund.amount, outcome.refund.status, outcome.stage) == (Decimal("0.00"), "waived", "closed")
    assert "laisse à l'association la part non utilisée (3 749,50 EUR)" in outcome.refund.grounds


def test_a_partial_refund_leaves_the_rest_due_and_the_reminders_go_on(examples_loaded):
    paid_and_redistributed("31250.50")
    run_sweep(D(2019, 12, 12))
    close()
    send_all()
    record(INNOSPRINT, commands.RefundReceived(on=D(2020, 1, 3), amount="1000.00"))
    record(INNOSPRINT, commands.RefundReceived(on=D(2020, 1, 3), amount="1000.00"))  # the same receipt again
    grant = view()
    assert grant["refund"]["received"] == "1000.00" and grant["refund"]["status"] == "due"
    assert grant["stage"] == "closing"
    [obligation] = [o for o in grant["obligations"] if o["kind"] == "refund"]
    assert obligation["status"] == "pending"
    assert obligation["label"] == ("reversement du titre de recette TR-2019-000001 (3 749,50 EUR), reste dû "
                                   "2 749,50 EUR")
    # 7 days before Monday 13/01/2020, the association is reminded of what is left.
    run_sweep(D(2020, 1, 6))
    assert [line for line in send_all() if "titre" in line] == [
        f"{ASSOCIATION} : Rappel – échéance du 13/01/2020 : reversement du titre de recette TR-2019-000001 "
        f"(3 749,50 EUR), reste dû 2 749,50 EUR (subvention {INNOSPRINT})"]
    # More than what is left is refused, and names the amount and the rule.
    with pytest.raises(RuleViolation, match=r"montant supérieur au reste dû sur le titre TR-2019-000001 "
                                            r"\(2 749,50 EUR sur 3 749,50 EUR\)") as refused:
        record(INNOSPRINT, commands.RefundReceived(on=D(2020, 1, 8), amount="3000.00"))
    assert refused.value.field == "amount"
    record(INNOSPRINT, commands.RefundReceived(on=D(2020, 1, 8), amount="2749.50"))
    grant = view()
    assert grant["refund"] == {"amount": "3749.50", "received": "3749.50", "status": "paid",
                               "titre_number": "TR-2019-000001", "due_on": "2020-01-13"}
    assert grant["stage"] == "closed"
    assert [(o["status"], o["done_on"]) for o in grant["obligations"] if o["kind"] == "refund"] == [
        ("done", "2020-01-08")]
    assert [(e["amount"], e["left"]) for e in events("refund_received")] == [("1000.00", "2749.50"),
                                                                            ("2749.50", "0.00")]
    # Closed: no more reminders.
    run_sweep(D(2020, 1, 13))
    run_sweep(D(2020, 1, 20))
    assert send_all() == []


def test_a_refund_without_a_titre_is_refused(examples_loaded):
    paid_and_redistributed("31250.50")
    with pytest.raises(RuleViolation, match="la clôture n'a pas encore été calculée"):
        record(INNOSPRINT, commands.RefundReceived(on=D(2019, 12, 1), amount="100.00"))


def test_closing_before_the_convention_ends_is_refused(examples_loaded):
    paid_and_redistributed("1000.00")
    with pytest.raises(RuleViolation, match="convention jusqu'au 11/12/2019"):
        close(D(2019, 12, 1))


def test_titre_numbers_follow_each_other_within_a_year(examples_loaded):
    paid_and_redistributed("31250.50")
    with unit_of_work() as session:
        casa = session.scalars(sa.select(Grant).where(Grant.reference == "CASA-2015-CREATIVE-CLUSTER")).one()
        session.add(Refund(grant_id=casa.id, amount=Decimal("500.00"), status="paid", grounds="autre titre",
                           titre_number="TR-2019-000041", receipts=[]))
    run_sweep(D(2019, 12, 12))
    assert close().refund.titre_number == "TR-2019-000042"


# -- disbursements ------------------------------------------------------------------

def test_disbursements_cannot_add_up_to_more_than_the_grant(examples_loaded):
    paid_and_redistributed("30000.00")
    with pytest.raises(RuleViolation) as refused:
        record(INNOSPRINT, commands.Disbursement(on=D(2019, 9, 1), beneficiary="Projet X", amount="5000.01"))
    assert refused.value.field == "amount"
    assert refused.value.rule == ("le total redistribué aux porteurs de projets (35 000,01 EUR) dépasserait le "
                                  "montant de la subvention (35 000,00 EUR) de 0,01 EUR : déjà redistribué "
                                  "30 000,00 EUR")
    record(INNOSPRINT, commands.Disbursement(on=D(2019, 9, 1), beneficiary="Projet X", amount="5000.00"))
    # The same disbursement again (a retried run) is recorded once.
    record(INNOSPRINT, commands.Disbursement(on=D(2019, 9, 1), beneficiary="Projet X", amount="5000.00"))
    assert scalar("SELECT count(*) FROM disbursements") == 2


def test_a_disbursement_after_the_end_is_not_eligible_and_none_after_the_closure(examples_loaded):
    paid_and_redistributed("30000.00")
    record(INNOSPRINT, commands.Disbursement(on=D(2019, 12, 11), beneficiary="Dernier jour", amount="1000.00"))
    run_sweep(D(2019, 12, 12))
    record(INNOSPRINT, commands.Disbursement(on=D(2019, 12, 12), beneficiary="Trop tard", amount="2000.00"))
    assert events("disbursement")[-1]["eligible"] is False
    assert "non retenu dans les dépenses éligibles" in events("disbursement")[-1]["note"]
    outcome = close()
    # 35,000.00 - (30,000.00 + 1,000.00): the one of 12/12 is outside the convention.
    assert (outcome.eligible, outcome.refund.amount) == (Decimal("31000.00"), Decimal("4000.00"))
    with pytest.raises(RuleViolation, match="la clôture a déjà calculé le reversement"):
        record(INNOSPRINT, commands.Disbursement(on=D(2019, 12, 5), beneficiary="Oubli", amount="100.00"))


def test_a_disbursement_before_the_convention_is_active_is_refused(examples_loaded):
    with pytest.raises(RuleViolation, match="étape « signature de la convention »") as refused:
        record(INNOSPRINT, commands.Disbursement(on=D(2019, 1, 3), beneficiary="Projet", amount="100.00"))
    assert refused.value.field == "on"


# -- avenant ------------------------------------------------------------------------

def obligations_of(kind: str) -> list[tuple[int, dt.date, str]]:
    with unit_of_work() as session:
        return [tuple(r) for r in session.execute(
            sa.select(Obligation.number, Obligation.due_on, Obligation.status).join(Grant)
            .where(Grant.reference == INNOSPRINT, Obligation.kind == kind).order_by(Obligation.number))]


def test_an_avenant_extends_the_convention_and_adds_money_with_its_obligations(examples_loaded):
    sign_both()
    record(INNOSPRINT, commands.ProgressReport(on=D(2019, 2, 1)))
    avenant = commands.Amendment(on=D(2019, 11, 15), ends_on=D(2020, 6, 11), extra_amount="10000.00",
                                 instalments=[commands.AmendmentInstalment(amount="6000.00", due=D(2020, 1, 31)),
                                              commands.AmendmentInstalment(amount="4000.00")],
                                 text="prolongation de six mois")
    record(INNOSPRINT, avenant)
    record(INNOSPRINT, avenant)  # the same avenant again changes nothing
    grant = view()
    assert (grant["ends_on"], grant["amount"], grant["convention_required"]) == ("2020-06-11", "45000.00", True)
    # Reports every two months from 12/12/2018 to the new end (11/06/2020): n°7 12/02/2020,
    # n°8 12/04/2020 (a Sunday -> Tuesday 14/04, Easter Monday 13/04), n°9 12/06/2020.
    assert obligations_of("report") == [
        (1, D(2019, 2, 12), "done"), (2, D(2019, 4, 12), "pending"), (3, D(2019, 6, 12), "pending"),
        (4, D(2019, 8, 12), "pending"), (5, D(2019, 10, 14), "pending"), (6, D(2019, 12, 12), "pending"),
        (7, D(2020, 2, 12), "pending"), (8, D(2020, 4, 14), "pending"), (9, D(2020, 6, 12), "pending")]
    # The mid-term evaluation keeps its date; the final one moves to the day after the new end.
    assert obligations_of("evaluation") == [(1, D(2019, 6, 12), "pending"), (2, D(2020, 6, 12), "pending")]
    # Financial report: 6 months after 11/06/2020 = Friday 11/12/2020.
    assert obligations_of("financial_report") == [(1, D(2020, 12, 11), "pending")]
    # The extra money: two instalments; the second, without a date, 60 days after the
    # avenant: 15/11/2019 + 60 = Tuesday 14/01/2020.
    assert [(p["number"], p["amount"], p["due_on"], p["status"]) for p in grant["payments"]] == [
        (1, "35000.00", "2019-05-31", "scheduled"), (2, "6000.00", "2020-01-31", "scheduled"),
        (3, "4000.00", "2020-01-14", "scheduled")]
    assert obligations_of("payment") == [(1, D(2019, 5, 31), "pending"), (2, D(2020, 1, 31), "pending"),
                                         (3, D(2020, 1, 14), "pending")]
    [amendment] = events("amendment")
    assert (amendment["number"], amendment["ends_on_before"], amendment["ends_on"], amendment["extra_amount"],
            amendment["amount"]) == (1, "2019-12-11", "2020-06-11", "10000.00", "45000.00")
    assert {"kind": "evaluation", "number": 2, "due_on_before": "2019-12-12", "due_on": "2020-06-12"} in \
        amendment["obligations"]
    # The convention now ends on 11/06/2020: still active on 12/12/2019, closing on 12/06/2020.
    assert run_sweep(D(2019, 12, 12)).transitions == []
    assert run_sweep(D(2020, 6, 12)).transitions == [(INNOSPRINT, "active", "closing")]


def test_an_avenant_that_does_not_extend_or_does_not_add_up_is_refused(examples_loaded):
    sign_both()
    with pytest.raises(RuleViolation, match=r"postérieure à la fin actuelle de la convention \(11/12/2019\)") as bad:
        record(INNOSPRINT, commands.Amendment(on=D(2019, 10, 1), ends_on=D(2019, 12, 11)))
    assert bad.value.field == "ends_on"
    with pytest.raises(RuleViolation, match=r"la somme des échéances \(9 000,00 EUR\) doit être égale au montant "
                                            r"de la subvention \(10 000,00 EUR\)") as bad:
        record(INNOSPRINT, commands.Amendment(on=D(2019, 10, 1), ends_on=D(2020, 6, 11), extra_amount="10000.00",
                                              instalments=[commands.AmendmentInstalment(amount="9000.00")]))
    assert bad.value.field == "instalments"
    with pytest.raises(RuleViolation, match="un avenant se signe pendant la convention"):
        record(INNOSPRINT, commands.Amendment(on=D(2019, 12, 20), ends_on=D(2020, 6, 11)))
    # Nothing was written by the refused avenants.
    assert view()["ends_on"] == "2019-12-11"
    assert events("amendment") == []
    with unit_of_work() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Instalment)) == 6  # CASQ 1 + CASA 1 + seed 003 4


# -- the flows, under Prefect ---------------------------------------------------------

def test_the_daily_sweep_starts_the_closure_and_the_refund_flow_closes_the_grant(prefect_server, examples_loaded):
    from flows.disbursement import disbursement_recorded, refund_received
    from flows.sweep import daily_sweep

    sign_both()
    record(INNOSPRINT, commands.PaymentConfirmation(number=1, paid_on=D(2019, 5, 15)))
    state = disbursement_recorded(INNOSPRINT, commands.Disbursement(on=D(2019, 6, 3), beneficiary="Atelier Bilbot",
                                                                    amount="31250.50"), return_state=True)
    assert state.is_completed(), state.message
    refused = disbursement_recorded(INNOSPRINT, commands.Disbursement(on=D(2019, 6, 4), beneficiary="Projet",
                                                                      amount="4000.00"), return_state=True)
    assert refused.is_failed() and "dépasserait le montant de la subvention" in refused.message

    # 12/12/2019: the final evaluation falls due (and the mid-term one, never run, is
    # caught up), the convention has ended: one subflow each, nothing for the other grant.
    result = daily_sweep(business_date=D(2019, 12, 12))
    assert result["evaluations"] == [f"évaluation mi-parcours {INNOSPRINT}", f"évaluation finale {INNOSPRINT}"]
    assert result["closures"] == [f"clôture {INNOSPRINT}"]
    assert result["failed"] == []
    grant = view()
    assert grant["refund"]["titre_number"] == "TR-2019-000001" and grant["refund"]["amount"] == "3749.50"
    assert grant["stage"] == "closing"
    # Again the same day: nothing more is due, nothing more is started.
    again = daily_sweep(business_date=D(2019, 12, 12))
    assert (again["evaluations"], again["closures"]) == ([], [])

    paid = refund_received(INNOSPRINT, commands.RefundReceived(on=D(2020, 1, 6), amount="3749.50"))
    assert paid["stage"] == "closed"
    assert view()["stage"] == "closed"
    with unit_of_work() as session:
        titre = session.scalars(sa.select(Message).where(Message.kind == "titre_de_recette")).one()
        assert titre.status == "sent"  # the sweep sent it


def test_the_amendment_flow_records_the_avenant(prefect_server, examples_loaded):
    from flows.amendment import grant_amendment

    sign_both()
    state = grant_amendment(INNOSPRINT, commands.Amendment(on=D(2019, 11, 15), ends_on=D(2020, 3, 11)),
                            return_state=True)
    assert state.is_completed(), state.message
    assert view()["ends_on"] == "2020-03-11"
    # 12/12/2018 to 11/03/2020 every two months: n°7 on 12/02/2020, then the short last
    # period ends with n°8 on 12/03/2020; the final evaluation moves to 12/03/2020 too.
    assert [(n, due) for n, due, _ in obligations_of("report")][6:] == [(7, D(2020, 2, 12)), (8, D(2020, 3, 12))]
    assert obligations_of("evaluation")[1] == (2, D(2020, 3, 12), "pending")
    assert scalar("SELECT actor FROM events WHERE kind = 'amendment'") == f"prefect:avenant {INNOSPRINT}"
    refused = grant_amendment(INNOSPRINT, commands.Amendment(on=D(2019, 11, 20), ends_on=D(2020, 1, 31)),
                              return_state=True)
    assert refused.is_failed() and "postérieure à la fin actuelle de la convention (11/03/2020)" in refused.message
