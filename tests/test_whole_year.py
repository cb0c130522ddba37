"""The whole Innosprint year (seed 002), from the council vote of 27/11/2018 to closure,
played by `grantflow simulate` (issue 5).

Every figure below is written by hand from the seed:
- the act: voted 27/11/2018, received by the prefect 12/12/18, published 11/12/18, so
  exécutoire on 12/12/2018; the convention runs one year from then (art. 5): 12/12/2018 to
  11/12/2019; bimonthly reports (art. 4); evaluations at 6 and 12 months (art. 6);
- 35,000.00 EUR paid "au plus tard en Mai 2019" (art. 4.1), here on 15/05/2019;
- targets (art. 2 and 3): 12 to 20 projects, at least 200 kEUR raised, at least 2 companies,
  at least 5 young graduates hired, at least 5 sessions;
- what is not redistributed by the end is refunded (art. 4.1): 35,000.00 - 31,250.50 =
  3,749.50 EUR, claimed by a titre de recette;
- department 002 (Aisne): no local holiday; weekends move deadlines to the Monday.
"""
from __future__ import annotations

import datetime as dt
import email
import json
import time
from email import policy

from grantflow.cli import main
from tests.support import EXAMPLES, INNOSPRINT, play_year

R = INNOSPRINT
ASSOCIATION = "contact@faubourg-numerique.example.org"
AUTHORITY = "dev-eco@casq.example.org"

# The association reports the figures to date; the authority answers within the week.
FACTS = f"""
- {{reference: {R}, event: signature, party: association, on: 2018-12-20}}
- {{reference: {R}, event: signature, party: authority, on: 2019-01-07}}
- {{reference: {R}, event: report, on: 2019-02-01, indicators: {{projects_supported: 4, funding_raised_eur: "0",
    companies_created: 0, young_graduates_hired: 0, sessions_held: 1}}}}
- {{reference: {R}, event: report_answer, on: 2019-02-06}}
- {{reference: {R}, event: report, on: 2019-04-10, indicators: {{projects_supported: 7, funding_raised_eur: "45000",
    companies_created: 0, young_graduates_hired: 1, sessions_held: 2}}}}
- {{reference: {R}, event: report_answer, on: 2019-04-15}}
- {{reference: {R}, event: payment, number: 1, paid_on: 2019-05-15}}
- {{reference: {R}, event: disbursement, on: 2019-05-23, beneficiary: "Atelier Bilbot", amount: "4500.00"}}
- {{reference: {R}, event: disbursement, on: 2019-05-23, beneficiary: "Serre connectée du Vermandois",
    amount: "3200.00"}}
- {{reference: {R}, event: report, on: 2019-06-03, indicators: {{projects_supported: 9, funding_raised_eur: "80000",
    companies_created: 1, young_graduates_hired: 2, sessions_held: 3}}}}
- {{reference: {R}, event: report_answer, on: 2019-06-07}}
- {{reference: {R}, event: disbursement, on: 2019-07-04, beneficiary: "Drone agricole de l'Aisne", amount: "6000.00"}}
- {{reference: {R}, event: disbursement, on: 2019-07-04, beneficiary: "Mobilité Saint-Quentin", amount: "2750.50"}}
- {{reference: {R}, event: report, on: 2019-08-02, indicators: {{projects_supported: 12, funding_raised_eur: "140000",
    companies_created: 1, young_graduates_hired: 3, sessions_held: 4}}}}
- {{reference: {R}, event: report_answer, on: 2019-08-09}}
- {{reference: {R}, event: disbursement, on: 2019-09-19, beneficiary: "Capteurs pour ruches", amount: "5300.00"}}
- {{reference: {R}, event: disbursement, on: 2019-09-19, beneficiary: "Impression 3D béton", amount: "4000.00"}}
- {{reference: {R}, event: report, on: 2019-10-09, indicators: {{projects_supported: 14, funding_raised_eur: "185000",
    companies_created: 2, young_graduates_hired: 4, sessions_held: 5}}}}
- {{reference: {R}, event: report_answer, on: 2019-10-14}}
- {{reference: {R}, event: disbursement, on: 2019-11-21, beneficiary: "Plateforme e-artisanat", amount: "5500.00"}}
- {{reference: {R}, event: report, on: 2019-12-09, indicators: {{projects_supported: 15, funding_raised_eur: "212500",
    companies_created: 2, young_graduates_hired: 4, sessions_held: 6}}}}
- {{reference: {R}, event: report_answer, on: 2019-12-13}}
- {{reference: {R}, event: refund, on: 2020-01-03, amount: "3749.50"}}
"""

# Every mail of the year, by hand: (day, recipients, subject).
MAILS = [
    # Signatures due 30 days after exécutoire: 11/01/2019; the authority, which signs on
    # 07/01, is reminded 7 days before (the association signed on 20/12/2018).
    ("2019-01-04", AUTHORITY, f"Rappel – échéance du 11/01/2019 : signature de la convention par la collectivité "
                              f"(subvention {R})"),
    # Report n°2 (due Friday 12/04/2019) arrives on 10/04, after the reminder of 05/04.
    ("2019-04-05", ASSOCIATION, f"Rappel – échéance du 12/04/2019 : compte rendu n°2 (subvention {R})"),
    # Mid-term evaluation, 6 months after 12/12/2018: Wednesday 12/06/2019.
    ("2019-06-05", AUTHORITY, f"Rappel – échéance du 12/06/2019 : évaluation mi-parcours (subvention {R})"),
    ("2019-06-12", AUTHORITY, f"Synthèse de l'évaluation « mi-parcours » (subvention {R})"),
    # Report n°5: 12/10/2019 is a Saturday, due Monday 14/10; it arrives on 09/10.
    ("2019-10-07", ASSOCIATION, f"Rappel – échéance du 14/10/2019 : compte rendu n°5 (subvention {R})"),
    # Report n°6 and the final evaluation: 12/12/2019, the day after the end.
    ("2019-12-05", ASSOCIATION, f"Rappel – échéance du 12/12/2019 : compte rendu n°6 (subvention {R})"),
    ("2019-12-05", AUTHORITY, f"Rappel – échéance du 12/12/2019 : évaluation finale (subvention {R})"),
    ("2019-12-12", AUTHORITY, f"Synthèse de l'évaluation « finale » (subvention {R})"),
    ("2019-12-12", ASSOCIATION, f"Titre de recette n° TR-2019-000001 : reversement de la subvention {R}"),
]

# (kind, number, due date, status, done on): every obligation of the year, by hand.
OBLIGATIONS = {
    ("signature_association", 1): ("2019-01-11", "done", "2018-12-20"),
    ("signature_authority", 1): ("2019-01-11", "done", "2019-01-07"),
    # CGCT L2131-6: two months after the receipt of 12/12/2018; informative, over when past.
    ("legality_control", 1): ("2019-02-12", "done", "2019-02-12"),
    # Décret 2017-779: 3 months after the signature (07/01/2019): Sunday 07/04 -> Monday 08/04.
    ("open_data", 1): ("2019-04-08", "done", "2019-03-15"),
    ("payment", 1): ("2019-05-31", "done", "2019-05-15"),
    ("report", 1): ("2019-02-12", "done", "2019-02-01"),
    ("report", 2): ("2019-04-12", "done", "2019-04-10"),
    ("report", 3): ("2019-06-12", "done", "2019-06-03"),
    ("report", 4): ("2019-08-12", "done", "2019-08-02"),
    ("report", 5): ("2019-10-14", "done", "2019-10-09"),
    ("report", 6): ("2019-12-12", "done", "2019-12-09"),
    # Answers within 15 days of each report, moved off weekends: 16/02 (Sat) -> 18/02,
    # 25/04, 18/06, 17/08 (Sat) -> 19/08, 24/10, 24/12.
    ("report_answer", 1): ("2019-02-18", "done", "2019-02-06"),
    ("report_answer", 2): ("2019-04-25", "done", "2019-04-15"),
    ("report_answer", 3): ("2019-06-18", "done", "2019-06-07"),
    ("report_answer", 4): ("2019-08-19", "done", "2019-08-09"),
    ("report_answer", 5): ("2019-10-24", "done", "2019-10-14"),
    ("report_answer", 6): ("2019-12-24", "done", "2019-12-13"),
    ("evaluation", 1): ("2019-06-12", "done", "2019-06-12"),
    ("evaluation", 2): ("2019-12-12", "done", "2019-12-12"),
    # Cerfa 15059: 6 months after the end (11/12/2019): Thursday 11/06/2020, not yet due.
    ("financial_report", 1): ("2020-06-11", "pending", None),
    # The titre, issued 12/12/2019, is due 30 days later: Saturday 11/01/2020 -> Monday 13/01.
    ("refund", 1): ("2020-01-13", "done", "2020-01-03"),
}

MID_TERM = [
    "projets accompagnés : 9 pour 12 au minimum, il en manque 3",
    "investissements captés (EUR) : 80 000 pour 200 000 au minimum, il en manque 120 000",
    "entreprises créées : 1 pour 2 au minimum, il en manque 1",
    "alternants ou jeunes diplômés embauchés : 2 pour 5 au minimum, il en manque 3",
    "sessions Innosprint : 3 pour 5 au minimum, il en manque 2",
]
FINAL_MISSED = "alternants ou jeunes diplômés embauchés : 4 pour 5 au minimum, il en manque 1"
FINAL_MET = [
    "projets accompagnés : 15 (objectif : 12 à 20), atteint",
    "investissements captés (EUR) : 212 500 (objectif : au moins 200 000), atteint",
    "entreprises créées : 2 (objectif : au moins 2), atteint",
    "sessions Innosprint : 6 (objectif : au moins 5), atteint",
]


def test_the_innosprint_year_from_the_council_vote_to_the_refund(store, tmp_path, capsys):
    started = time.monotonic()
    # The first half of March, then the authority publishes its open data (SCDL), then
    # the rest of the year and the refund.
    played = play_year(EXAMPLES / "casq-innosprint.yaml", FACTS, tmp_path, capsys, authority="casq",
                       published_on=dt.date(2019, 3, 15), until=dt.date(2020, 1, 31))
    on = played.on

    # The stages.
    assert on("2019-01-07", R, "étape signature de la convention → convention en cours")
    assert on("2019-12-12", R, "étape convention en cours → clôture")
    assert on("2020-01-03", R, "reversement enregistré (étape clôture → close)")
    assert on("2019-12-12", R, "titre de recette TR-2019-000001 émis : 3 749,50 EUR à reverser")

    # Every mail, in order, and nothing else.
    assert played.mails() == MAILS
    outbox = sorted((store.home / "outbox").glob("*.eml"))
    assert len(outbox) == len(MAILS) == 9
    parsed = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in outbox]
    by_subject = {m["Subject"]: m for m in parsed}

    # The evaluations: what is missed and by how much, in the mail and its two files.
    mid = by_subject[f"Synthèse de l'évaluation « mi-parcours » (subvention {R})"]
    body = mid.get_body(("plain",)).get_content().replace("\r\n", "\n")
    for finding in MID_TERM:
        assert finding in body
    assert ("versé par la collectivité 35 000,00 EUR ; redistribué aux porteurs de projets 7 700,00 EUR (22 % du "
            "versé) ; reste à redistribuer 27 300,00 EUR.") in body
    assert "3 reçu(s), 3 échu(s) à cette date ; manquant(s) : aucun ; reçu(s) en retard : aucun." in body
    assert sorted(a.get_filename() for a in mid.iter_attachments()) == ["evaluation-mi-parcours.csv",
                                                                        "evaluation-mi-parcours.xlsx"]
    final = by_subject[f"Synthèse de l'évaluation « finale » (subvention {R})"]
    body = final.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert f"Objectifs non atteints (1 sur 5) :\n- {FINAL_MISSED}" in body
    for finding in FINAL_MET:
        assert finding in body
    assert ("versé par la collectivité 35 000,00 EUR ; redistribué aux porteurs de projets 31 250,50 EUR (89 % du "
            "versé) ; reste à redistribuer 3 749,50 EUR.") in body
    attachments = {a.get_filename(): a.get_payload(decode=True) for a in final.iter_attachments()}
    csv_text = attachments["evaluation-finale.csv"].decode("utf-8-sig")
    assert f"alternants ou jeunes diplômés embauchés;au moins 5;4;en dessous;-1;{FINAL_MISSED}" in csv_text
    assert (store.home / "documents" / R / "evaluation-finale.xlsx").read_bytes() == \
        attachments["evaluation-finale.xlsx"]

    # The titre de recette, to the association.
    titre = by_subject[f"Titre de recette n° TR-2019-000001 : reversement de la subvention {R}"]
    assert titre["To"] == ASSOCIATION
    body = titre.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "d'un montant de 3 749,50 €" in body and "au plus tard le lundi 13 janvier 2020" in body
    assert "Versé : 35 000,00 EUR ; redistribué aux porteurs de projets pendant la convention : 31 250,50 EUR" in body

    # The final state.
    capsys.readouterr()
    assert main(["show", R, "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["stage"] == "closed"
    assert (view["executoire_on"], view["starts_on"], view["ends_on"]) == ("2018-12-12", "2018-12-12", "2019-12-11")
    assert [(p["number"], p["amount"], p["due_on"], p["status"], p["paid_on"]) for p in view["payments"]] == [
        (1, "35000.00", "2019-05-31", "paid", "2019-05-15")]
    assert view["refund"] == {"amount": "3749.50", "received": "3749.50", "status": "paid",
                              "titre_number": "TR-2019-000001", "due_on": "2020-01-13"}
    assert {(o["kind"], o["number"]): (o["due_on"], o["status"], o["done_on"]) for o in view["obligations"]} == \
        OBLIGATIONS
    kinds = [e["kind"] for e in view["events"]]
    assert kinds.count("disbursement") == 7 and kinds.count("evaluation") == 2 and kinds.count("report") == 6
    assert [e["payload"]["total"] for e in view["events"] if e["kind"] == "disbursement"][-1] == "31250.50"
    [titre_event] = [e["payload"] for e in view["events"] if e["kind"] == "titre_de_recette"]
    assert (titre_event["paid"], titre_event["eligible_spending"], titre_event["refund"]) == (
        "35000.00", "31250.50", "3749.50")
    stages = [(e["payload"]["from"], e["payload"]["to"]) for e in view["events"] if e["kind"] == "stage_changed"]
    assert stages == [("deliberation", "prefecture"), ("prefecture", "signature"), ("signature", "active"),
                      ("active", "closing"), ("closing", "closed")]
    assert main(["audit", "verify"]) == 0
    # A figure, not an assertion: a loaded machine may take longer.
    print(f"année Innosprint simulée en {time.monotonic() - started:.1f} s")
