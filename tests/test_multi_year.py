"""Multi-year conventions (CPO, issue 11 item 4), on SQLite and PostgreSQL.

The dossier: the Département de la Seine-Saint-Denis (SIREN 229300082) signs a convention
pluriannuelle d'objectifs 2023-2025 with the Ludothèque des Quatre-Chemins: 20,000 EUR for
2023 voted by its commission permanente of 16/01/2023 (exécutoire 18/01/2023), 22,000 EUR for
2024 by avenant n°1 signed 05/02/2024 (the end date, 31/12/2025, does not move), 24,000 EUR
for 2025 by the commission permanente of 20/01/2025 (exécutoire 22/01/2025). One compte
rendu financier per year, 6 months after each exercise: 30/06/2024 is a Sunday, so
01/07/2024; 30/06/2025 (Monday); 30/06/2026 (Tuesday). Year 2 spent 19,500.00 of its 22,000:
2,500.00 claimed back, although year 3 spent 26,000.00 for 24,000 (each year on its own).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from core import clock
from core.settings import get_settings
from db.models import ConventionYear, Event, Instalment, Obligation, Refund
from db.session import unit_of_work
from domain.errors import RuleViolation
from services import closure, conditions, facts, sweep
from services.dossier import load_files
from services.dossier_messages import DossierError
from services.follow_up import LocalFollowUpSteps
from services.grants import get_grant
from tests.support import record, sign_both

D = dt.date
CPO = "CD93-CPO-LUDO"
AUTHORITY = {"id": "cd93", "name": "Département de la Seine-Saint-Denis", "siren": "229300082",
             "department": "093", "kind": "departement", "email": "subventions@seinesaintdenis.example.fr"}
ASSOCIATION = {"id": "ludo-4c", "name": "Ludothèque des Quatre-Chemins", "siret": "99912345800013",
               "email": "contact@ludo-4c.example.org",
               "bank": {"iban": "FR7630004000000000001234573", "bic": "BNPAFRPPXXX", "holder": "LUDO 4 CHEMINS"}}


def act(reference: str, day: str, number: str, received: str) -> dict:
    return {"id": reference, "authority": "cd93", "body": "commission_permanente", "act_number": number,
            "deliberation": {"session": day, "outcome": "adopted"},
            "history": [{"event": "prefecture_receipt", "act_id": f"093-229300082-{day.replace('-', '')}-{number}-DE",
                         "received": received, "published": received}]}


YEAR_2_BY_AVENANT = {"event": "tranche", "exercise": 2024, "amount": "22000.00",
                     "avenant": {"on": "2024-02-05", "number": 1, "text": "Montant 2024"},
                     "instalments": [{"amount": "11000.00", "due": "2024-03-29"},
                                     {"amount": "11000.00", "due": "2024-09-30"}]}


def cpo(history: list[dict], **more: object) -> dict:
    return {"reference": CPO, "authority": "cd93", "association": "ludo-4c", "act": "CD93-CP-2023-04",
            "object": "Projet associatif de la ludothèque 2023-2025", "convention": {"years": 3},
            "exercise": 2023, "amount": "20000.00", "duration": {"months": 36, "from": "2023-01-01"},
            "payments": [{"amount": "20000.00", "due": "2023-03-31"}], "history": history, **more}


def load(tmp_path: Path, grant: dict, name: str = "cpo.yaml") -> None:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({
        "authorities": [AUTHORITY], "associations": [ASSOCIATION],
        "acts": [act("CD93-CP-2023-04", "2023-01-16", "CP2023004", "2023-01-18"),
                 act("CD93-CP-2025-02", "2025-01-20", "CP2025002", "2025-01-22")],
        "grants": [grant]}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load_files([path], get_settings(), unit_of_work)


def state() -> dict:
    with unit_of_work() as session:
        grant = get_grant(session, CPO)
        years = session.scalars(sa.select(ConventionYear).where(ConventionYear.grant_id == grant.id)
                                .order_by(ConventionYear.number))
        reports = session.scalars(sa.select(Obligation).where(Obligation.grant_id == grant.id,
                                                              Obligation.kind == "financial_report")
                                  .order_by(Obligation.number))
        instalments = session.scalars(sa.select(Instalment).where(Instalment.grant_id == grant.id)
                                      .order_by(Instalment.number))
        return {"amount": str(grant.amount), "stage": grant.stage, "required": grant.convention_required,
                "ends_on": grant.ends_on, "years": [(y.number, y.exercise, str(y.amount)) for y in years],
                "reports": [(o.number, o.due_on, o.status) for o in reports],
                "instalments": [(i.number, str(i.amount), i.due_on) for i in instalments]}


def close_due(day: dt.date) -> list[str]:
    steps = LocalFollowUpSteps(unit_of_work, get_settings(), actor="test")
    return [steps.close(reference, day) for reference in steps.due_closures()]


def crf(number: int, on: dt.date, budgeted: str, actual: str) -> facts.FinancialReport:
    return facts.FinancialReport(on=on, number=number, charges_budgeted=budgeted, charges_actual=actual,
                                    products_budgeted=budgeted, products_actual=actual)


def year_3(**more: object) -> facts.AnnualTranche:
    return facts.AnnualTranche(**({"exercise": 2025, "amount": "24000.00", "act": "CD93-CP-2025-02"} | more))


def test_a_three_year_convention_has_each_year_voted_paid_reported_and_settled_on_its_own(store, tmp_path):
    load(tmp_path, cpo([
        {"event": "payment", "number": 1, "paid_on": "2023-03-31"},
        YEAR_2_BY_AVENANT,
        {"event": "financial_report", "on": "2024-05-15", "number": 1, "charges_budgeted": "50000.00",
         "charges_actual": "51000.00", "products_budgeted": "50000.00", "products_actual": "51000.00"},
        {"event": "financial_report_checked", "on": "2024-06-10", "number": 1, "eligible_spending": "20000.00"},
    ]))
    after_two = state()
    # 22,000 in 2024 stays under 23,000 a year: no convention compulsory, although 42,000 in all.
    assert after_two["amount"] == "42000.00" and after_two["required"] is False
    assert after_two["ends_on"] == D(2025, 12, 31)
    assert after_two["years"] == [(1, 2023, "20000.00"), (2, 2024, "22000.00")]
    assert after_two["instalments"] == [(1, "20000.00", D(2023, 3, 31)), (2, "11000.00", D(2024, 3, 29)),
                                        (3, "11000.00", D(2024, 9, 30))]
    assert after_two["reports"] == [(1, D(2024, 7, 1), "done"), (2, D(2025, 6, 30), "pending")]
    with unit_of_work() as session:
        [avenant] = [e.payload for e in session.scalars(sa.select(Event).where(Event.kind == "amendment"))]
    assert (avenant["number"], avenant["exercise"], avenant["ends_on_before"], avenant["ends_on"]) == (
        1, 2024, "2025-12-31", "2025-12-31")

    # Year 3 by its own act of the commission permanente: 60 days after 22/01/2025 is Sunday 23/03/2025.
    record(CPO, year_3())
    after_three = state()
    assert after_three["amount"] == "66000.00" and after_three["required"] is True  # 24,000 in 2025
    assert after_three["instalments"][-1] == (4, "24000.00", D(2025, 3, 24))
    assert [(n, due) for n, due, _ in after_three["reports"]] == [
        (1, D(2024, 7, 1)), (2, D(2025, 6, 30)), (3, D(2026, 6, 30))]
    with unit_of_work() as session:
        [voted] = [e.payload for e in session.scalars(sa.select(Event).where(Event.kind == "tranche_voted"))]
        signatures = session.scalars(sa.select(Obligation.kind).where(Obligation.kind.like("signature_%"))).all()
    assert voted["act"] == "CD93-CP-2025-02" and voted["total"] == "66000.00" and voted["year"] == 3
    assert sorted(signatures) == ["signature_association", "signature_authority"]
    record(CPO, year_3())  # the same year again changes nothing
    assert state()["amount"] == "66000.00"

    sign_both(CPO, D(2025, 2, 3), D(2025, 2, 5))
    for number, day in ((2, D(2024, 3, 29)), (3, D(2024, 9, 30)), (4, D(2025, 3, 24))):
        record(CPO, facts.PaymentConfirmation(number=number, paid_on=day))
    record(CPO, crf(2, D(2025, 5, 20), "55000.00", "52500.00"))
    record(CPO, facts.FinancialReportChecked(on=D(2025, 6, 15), number=2, eligible_spending="19500.00"))

    with clock.frozen(D(2026, 1, 1)), unit_of_work() as session:
        sweep.sweep(session, D(2026, 1, 1), get_settings())
    with clock.frozen(D(2026, 1, 1)):
        assert close_due(D(2026, 1, 1)) == []
    with unit_of_work() as session:
        grant = get_grant(session, CPO)
        assert grant.stage == "closing"
        assert "n°3 (2025)" in closure.waiting_for(session, grant)

    record(CPO, crf(3, D(2026, 5, 11), "60000.00", "65000.00"))
    record(CPO, facts.FinancialReportChecked(on=D(2026, 6, 1), number=3, eligible_spending="26000.00"))
    with clock.frozen(D(2026, 6, 2)):
        [line] = close_due(D(2026, 6, 2))
    assert "2 500,00" in line
    with unit_of_work() as session:
        refund = session.scalars(sa.select(Refund)).one()
        [titre] = [e.payload for e in session.scalars(sa.select(Event).where(Event.kind == "titre_de_recette"))]
    # Per year: 20,000 + 19,500 + 24,000 (26,000 spent, capped at the year's 24,000) = 63,500 kept
    # of 66,000 paid; as a whole, 65,500 of eligible spending would have claimed only 500.00.
    assert (str(refund.amount), refund.status) == ("2500.00", "due")
    assert [(y["exercise"], y["amount"], y["entitlement"], y["unused"]) for y in titre["years"]] == [
        (2023, "20000.00", "20000.00", "0.00"), (2024, "22000.00", "19500.00", "2500.00"),
        (2025, "24000.00", "24000.00", "0.00")]
    assert "2024 : 22 000,00" in refund.grounds.replace("\u202f", " ").replace("\xa0", " ")


def test_a_year_s_solde_waits_for_that_year_s_compte_rendu_financier(store, tmp_path):
    """Year 1 (20,000) paid 14,000 in March and its solde on its compte rendu financier; year 2
    (22,000) 15,400 in March 2024 and its solde on year 2's: each CRF approved releases its own
    year's solde, due 60 days later, and not the other's."""
    year_2 = YEAR_2_BY_AVENANT | {"instalments": [{"amount": "15400.00", "due": "2024-03-29"},
                                                 {"amount": "6600.00", "on": "compte_rendu_financier"}]}
    load(tmp_path, cpo([{"event": "payment", "number": 1, "paid_on": "2023-03-31"}, year_2],
                       payments=[{"amount": "14000.00", "due": "2023-03-31"},
                                 {"amount": "6000.00", "on": "compte_rendu_financier"}]))
    assert state()["instalments"] == [(1, "14000.00", D(2023, 3, 31)), (2, "6000.00", None),
                                      (3, "15400.00", D(2024, 3, 29)), (4, "6600.00", None)]
    with unit_of_work() as session:
        solde = session.scalars(sa.select(Instalment).where(Instalment.number == 4)).one()
        said = conditions.waiting_for(solde)
        assert said.startswith("versement n°4 (") and \
            said.endswith(") en attente du compte rendu financier n°2 approuvé par la collectivité")
        assert session.scalar(sa.select(sa.func.count()).where(Obligation.kind == "payment",
                                                               Obligation.number.in_((2, 4)))) == 0
    record(CPO, crf(1, D(2024, 5, 15), "50000.00", "51000.00"))
    record(CPO, facts.FinancialReportChecked(on=D(2024, 6, 10), number=1, eligible_spending="20000.00"))
    assert [i[2] for i in state()["instalments"]] == [D(2023, 3, 31), D(2024, 8, 9), D(2024, 3, 29), None]
    record(CPO, crf(2, D(2025, 5, 20), "55000.00", "52500.00"))
    record(CPO, facts.FinancialReportChecked(on=D(2025, 6, 15), number=2, eligible_spending="19500.00"))
    assert state()["instalments"][3] == (4, "6600.00", D(2025, 8, 14))
    with unit_of_work() as session:
        assert session.scalar(sa.select(Obligation.due_on).where(Obligation.kind == "payment",
                                                                 Obligation.number == 4)) == D(2025, 8, 14)


def test_a_year_s_instalment_waits_only_for_a_fact_that_can_still_happen(store, tmp_path):
    load(tmp_path, cpo([]))
    before = state()
    with pytest.raises(RuleViolation, match="n°1 à 3") as refused:
        record(CPO, year_3(instalments=[{"amount": "24000.00", "on": "compte_rendu_financier", "number": 4}]))
    assert refused.value.field == "instalments[0].number"
    # Signed long ago (or no convention owed): an instalment waiting for the signature would never fall due.
    with pytest.raises(RuleViolation, match="déjà signée"):
        record(CPO, year_3(instalments=[{"amount": "24000.00", "on": "signature"}]))
    with pytest.raises(ValueError, match="une date ou une condition"):
        record(CPO, year_3(instalments=[{"amount": "24000.00", "on": "compte_rendu_financier", "due": "2025-04-01"}]))
    assert state() == before
    # Year 1's compte rendu financier already approved: waiting for it would never end.
    record(CPO, crf(1, D(2024, 5, 15), "50000.00", "51000.00"))
    record(CPO, facts.FinancialReportChecked(on=D(2024, 6, 10), number=1, eligible_spending="20000.00"))
    before = state()
    with pytest.raises(RuleViolation, match="n°1 approuvé par la collectivité date du 10/06/2024"):
        record(CPO, year_3(instalments=[{"amount": "24000.00", "on": "compte_rendu_financier", "number": 1}]))
    assert state() == before

def test_a_year_outside_the_convention_or_an_avenant_that_changes_nothing_is_refused(store, tmp_path):
    load(tmp_path, cpo([]))
    before = state()
    with pytest.raises(RuleViolation, match="hors des années de la convention pluriannuelle .2023 à 2025."):
        record(CPO, facts.AnnualTranche(exercise=2026, amount="24000.00", act="CD93-CP-2025-02"))
    with pytest.raises(RuleViolation, match="première année"):
        record(CPO, facts.AnnualTranche(exercise=2023, amount="24000.00", act="CD93-CP-2025-02"))
    # An avenant that neither moves the end nor adds an amount.
    with pytest.raises(RuleViolation, match="postérieure à la fin actuelle .*tranche"):
        record(CPO, facts.Amendment(on=D(2024, 2, 5), ends_on=D(2025, 12, 31)))
    with pytest.raises(RuleViolation, match="strictement positif"):
        record(CPO, facts.AnnualTranche(exercise=2024, amount="0.00", avenant={"on": "2024-02-05"}))
    with pytest.raises(RuleViolation, match="adopte la convention"):
        record(CPO, facts.AnnualTranche(exercise=2024, amount="22000.00", act="CD93-CP-2023-04"))
    with pytest.raises(RuleViolation, match="compte rendu financier n°2"):
        record(CPO, crf(2, D(2024, 5, 15), "50000.00", "50000.00"))
    assert state() == before  # nothing written

    # The same refusals from a dossier name the file, the grant and the field; nothing is written.
    with pytest.raises(DossierError) as refused:
        load(tmp_path, cpo([{"event": "tranche", "exercise": 2026, "amount": "24000.00", "act": "CD93-CP-2025-02"}]),
             name="again.yaml")
    assert "subvention CD93-CPO-LUDO : champ « history[0].exercise » = 2026" in str(refused.value)
    with pytest.raises(DossierError, match="convention.years.*2 à 4 ans"):
        load(tmp_path, cpo([], reference="CD93-CPO-5", convention={"years": 5}), name="five.yaml")
    assert state() == before


def test_the_yearly_threshold_counts_a_convention_s_year_not_its_total(store, tmp_path, capsys):
    # 20,000 for 2023 from the CPO (42,000 in all with 2024) and 2,000 for 2023 by another act:
    # 22,000 in 2023 from the département, no convention compulsory for the small grant.
    load(tmp_path, cpo([YEAR_2_BY_AVENANT]))
    small = {"reference": "CD93-2023-JEUX", "authority": "cd93", "association": "ludo-4c",
             "object": "Fête du jeu 2023", "amount": "2000.00", "duration": {"months": 12, "from": "executoire"},
             "payments": [{"amount": "2000.00"}],
             "deliberation": {"session": "2023-06-12", "outcome": "adopted", "act_number": "CP2023060"},
             "history": [{"event": "prefecture_receipt", "act_id": "093-229300082-20230612-CP2023060-DE",
                          "received": "2023-06-14", "published": "2023-06-14"}]}
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump({"grants": [small]}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    report = load_files([path], get_settings(), unit_of_work)
    assert report.notices == []
    with unit_of_work() as session:
        assert get_grant(session, "CD93-2023-JEUX").convention_required is False

    from grantflow.cli import print_grant
    from services.reading import grant_view
    with unit_of_work() as session:
        print_grant(grant_view(session, CPO))
    shown = capsys.readouterr().out
    assert "convention pluriannuelle sur 3 ans" in shown
    assert "année 2 (2024) 22 000,00" in shown.replace("\u202f", " ").replace("\xa0", " ")
    assert "votée par avenant n°1" in shown and "None" not in shown


def test_the_year_is_recorded_from_the_ui_flow(prefect_server, store, tmp_path):
    from flows.amendment import convention_year_voted

    load(tmp_path, cpo([]))
    run = convention_year_voted(CPO, facts.AnnualTranche(
        exercise=2024, amount="22000.00", avenant=facts.TrancheAvenant(on=D(2024, 2, 5))), return_state=True)
    assert run.is_completed(), run.message
    assert state()["years"] == [(1, 2023, "20000.00"), (2, 2024, "22000.00")]
    refused = convention_year_voted(CPO, year_3(exercise=2026), return_state=True)
    assert refused.is_failed() and "hors des années de la convention pluriannuelle (2023 à 2025)" in refused.message
    # An ordinary avenant brings no money to a CPO: the year does.
    with pytest.raises(RuleViolation, match="année par année"):
        record(CPO, facts.Amendment(on=D(2024, 3, 1), ends_on=D(2026, 6, 30), extra_amount="1000.00"))
