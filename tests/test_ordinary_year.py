"""An ordinary operating grant's year and the six months after (issue 11, item 8): seed 003,
`examples/val-fougere-fonctionnement-2023.yaml`, played by `grantflow simulate`.

Every figure below is written by hand from the dossier:
- one act for three grants: voted 26/01/2023, received by the prefect 31/01/2023, published
  01/02/2023, so all three are exécutoire on Wednesday 01/02/2023; their conventions run 12
  months from then, to 31/01/2024, and enter `closing` on 01/02/2024; the prefect's window
  ends two months after the receipt, 31/03/2023;
- the ludothèque, 24,000.00 EUR (above 23,000 EUR: a convention, signed by both within 30
  days of exécutoire, by 03/03/2023): the association signs on 20/02, the mayor on 27/02;
  acompte 12,000.00 EUR 30 days after the signatures, Wednesday 29/03/2023; SCDL publication
  due 3 months after the signature: 27/05/2023 is a Saturday and Monday 29/05 Pentecost
  Monday, so Tuesday 30/05/2023 (done by the export of 14/04/2023);
- its compte rendu financier of the 2023 exercise is due 6 months after 31/12/2023: Sunday
  30/06/2024, so Monday 01/07/2024; it comes late, on 10/07/2024, after the reminders of
  24/06 (7 days before), 01/07 (the day) and 08/07 (7 days late); the commune approves it on
  18/07/2024; the solde falls due 30 days later: Saturday 17/08/2024, so Monday 19/08/2024;
- the clause is the prorata of the charges borne: budgeted 48,000.00 EUR, borne 43,000.00
  EUR, so the association is entitled to 24,000.00 x 43,000 / 48,000 = 21,500.00 EUR; the
  acompte paid 12,000.00, so the solde is reduced from 12,000.00 to 9,500.00 EUR and nothing
  is claimed back;
- the comité des fêtes (3,500.00 EUR) and the tennis de table club (1,800.00 EUR): under the
  threshold, no convention, no compte rendu financier; one instalment 60 days after
  exécutoire: Sunday 02/04/2023, so Monday 03/04/2023; closed on 01/02/2024 with nothing
  to claim back (clause `aucun`);
- department 035 (Ille-et-Vilaine): the national holidays only.
"""
from __future__ import annotations

import datetime as dt
import email
import json
from email import policy

from grantflow.cli import main
from tests.support import EXAMPLES, VAL_FOUGERE, play_year

SEED = EXAMPLES / "val-fougere-fonctionnement-2023.yaml"
LUDO, FETES, TENNIS = VAL_FOUGERE
MAIRIE = "mairie@val-fougere.example.org"
LUDOTHEQUE = "contact@ludotheque-lamarelle.example.org"

FACTS = f"""
- {{reference: {LUDO}, event: signature, party: association, on: 2023-02-20}}
- {{reference: {LUDO}, event: signature, party: authority, on: 2023-02-27}}
- {{reference: {LUDO}, event: payment, number: 1, paid_on: 2023-03-31}}
- {{reference: {FETES}, event: payment, number: 1, paid_on: 2023-04-05}}
- {{reference: {TENNIS}, event: payment, number: 1, paid_on: 2023-04-05}}
- {{reference: {LUDO}, event: financial_report, on: 2024-07-10, charges_budgeted: "48 000,00",
    charges_actual: "43 000,00", products_budgeted: "48 000,00", products_actual: "44 200,00"}}
- {{reference: {LUDO}, event: financial_report_checked, on: 2024-07-18, approved: true,
    eligible_spending: "43 000,00"}}
- {{reference: {LUDO}, event: payment, number: 2, paid_on: 2024-08-22}}
"""

# Every mail, by hand: (day, recipients, subject).
MAILS = [
    # The mayor has not signed 7 days before 03/03/2023 (the association signed on 20/02).
    ("2023-02-24", MAIRIE, f"Rappel – échéance du 03/03/2023 : signature de la convention par la collectivité "
                           f"(subvention {LUDO})"),
    # The commune is told of each instalment it owes 7 days before; the mail of the day itself
    # is withdrawn, since the payment run ordered the instalment that morning (issue 13).
    ("2023-03-22", MAIRIE, f"Rappel – échéance du 29/03/2023 : versement n°1 (12 000,00 EUR) (subvention {LUDO})"),
    ("2023-03-27", MAIRIE, f"Rappel – échéance du 03/04/2023 : versement n°1 (3 500,00 EUR) (subvention {FETES})"),
    ("2023-03-27", MAIRIE, f"Rappel – échéance du 03/04/2023 : versement n°1 (1 800,00 EUR) (subvention {TENNIS})"),
    # The compte rendu financier, to the association: before, on the day, 7 days late.
    ("2024-06-24", LUDOTHEQUE, f"Rappel – échéance du 01/07/2024 : compte rendu financier (Cerfa 15059) "
                               f"(subvention {LUDO})"),
    ("2024-07-01", LUDOTHEQUE, f"Échéance du 01/07/2024 : compte rendu financier (Cerfa 15059) (subvention {LUDO})"),
    ("2024-07-08", LUDOTHEQUE, f"Relance : compte rendu financier (Cerfa 15059) en retard de 7 jours "
                               f"(subvention {LUDO})"),
    # The reduced solde.
    ("2024-08-12", MAIRIE, f"Rappel – échéance du 19/08/2024 : versement n°2 (9 500,00 EUR) (subvention {LUDO})"),
]

# (kind, number): (due date, status, done on), by hand.
LUDO_OBLIGATIONS = {
    ("signature_association", 1): ("2023-03-03", "done", "2023-02-20"),
    ("signature_authority", 1): ("2023-03-03", "done", "2023-02-27"),
    ("legality_control", 1): ("2023-03-31", "done", "2023-03-31"),
    # The commune's part is done when it orders the transfer, not when the treasury confirms it.
    ("payment", 1): ("2023-03-29", "done", "2023-03-29"),
    ("open_data", 1): ("2023-05-30", "done", "2023-04-14"),
    ("financial_report", 1): ("2024-07-01", "done", "2024-07-10"),
    ("payment", 2): ("2024-08-19", "done", "2024-08-19"),
}
SMALL_OBLIGATIONS = {
    ("legality_control", 1): ("2023-03-31", "done", "2023-03-31"),
    ("payment", 1): ("2023-04-03", "done", "2023-04-03"),
}


def test_an_operating_grant_voted_with_others_from_the_act_to_its_reduced_solde(store, tmp_path, capsys):
    # Until mid-April, then the commune publishes its open data, then the rest of the year
    # and the six months after.
    played = play_year(SEED, FACTS, tmp_path, capsys, authority="val-fougere", published_on=dt.date(2023, 4, 14),
                       until=dt.date(2024, 8, 31))
    on, lines = played.on, played.lines

    # The acompte waits for both signatures, then is ordered on its day, 30 days after.
    assert on("2023-02-24", LUDO, "versement n°1 (12 000,00 EUR) en attente de la signature de la convention")
    assert on("2023-02-27", LUDO, "signature enregistré (étape signature de la convention → convention en cours)")
    ordered = [line[:10] for line in lines if "versement n°1 (12 000,00 EUR) : ordonné" in line]
    assert ordered == ["2023-03-29"]
    assert on("2023-03-29", LUDO, "versement n°1 (12 000,00 EUR) : ordonné (ordonnancé, réf.")
    assert [line[:10] for line in lines if ": ordonné" in line and LUDO not in line] == ["2023-04-03", "2023-04-03"]

    # The end: all three enter `closing` the day after their convention; the small ones close
    # at once, the ludothèque waits for its compte rendu financier and its check.
    for reference in (LUDO, FETES, TENNIS):
        assert on("2024-02-01", reference, "étape convention en cours → clôture")
    for reference in (FETES, TENNIS):
        assert on("2024-02-01", reference, "clôture, La convention ne prévoit aucun reversement", "(étape close)")
    assert on("2024-07-10", LUDO, "compte rendu financier enregistré")
    assert on("2024-07-18", LUDO, "contrôle du compte rendu financier enregistré")
    assert on("2024-07-18", LUDO, "clôture, rien à reverser ; reste à verser à l'association : 9 500,00 EUR "
                                  "(étape clôture)")
    # The solde waits for the approval: never ordered before it, then ordered reduced.
    solde = [line for line in lines if "versement n°2" in line and ": ordonné" in line]
    assert solde == [f"2024-08-19  subvention {LUDO}, versement n°2 (9 500,00 EUR) : ordonné (ordonnancé, "
                     f"réf. {solde[0].rsplit('réf. ', 1)[1]}"]
    assert on("2024-07-17", LUDO, "versement n°2 (12 000,00 EUR) en attente du compte rendu financier approuvé")
    assert on("2024-08-22", LUDO, "paiement enregistré (étape clôture → close)")
    # No English word reaches the reader.
    for english in ("ordered", "paid", "closing", "closed", "active", "payment", "financial_report"):
        assert not [line for line in lines if f" {english}" in line or f"({english}" in line], english

    # Every mail, in order, and nothing else.
    assert played.mails() == MAILS
    outbox = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
              for p in sorted((store.home / "outbox").glob("*.eml"))]
    assert len(outbox) == len(MAILS) == 8
    assert sorted(m["To"] for m in outbox) == sorted(to for _, to, _ in MAILS)

    # The final state of each grant.
    def view(reference: str) -> dict:
        capsys.readouterr()
        assert main(["show", reference, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    ludo = view(LUDO)
    assert ludo["stage"] == "closed"
    assert (ludo["executoire_on"], ludo["starts_on"], ludo["ends_on"]) == ("2023-02-01", "2023-02-01", "2024-01-31")
    assert [(p["number"], p["amount"], p["due_on"], p["status"], p["paid_on"]) for p in ludo["payments"]] == [
        (1, "12000.00", "2023-03-29", "paid", "2023-03-31"), (2, "9500.00", "2024-08-19", "paid", "2024-08-22")]
    assert ludo["refund"]["amount"] == "0.00" and ludo["refund"]["titre_number"] is None
    assert {(o["kind"], o["number"]): (o["due_on"], o["status"], o["done_on"]) for o in ludo["obligations"]} == \
        LUDO_OBLIGATIONS
    [reduced] = [e["payload"] for e in ludo["events"] if e["kind"] == "instalment_reduced"]
    assert (reduced["number"], reduced["before"], reduced["after"]) == (2, "12000.00", "9500.00")
    stages = [(e["payload"]["from"], e["payload"]["to"]) for e in ludo["events"] if e["kind"] == "stage_changed"]
    assert stages == [("deliberation", "prefecture"), ("prefecture", "signature"), ("signature", "active"),
                      ("active", "closing"), ("closing", "closed")]
    for reference, amount in ((FETES, "3500.00"), (TENNIS, "1800.00")):
        small = view(reference)
        assert small["stage"] == "closed" and small["convention_required"] is False
        assert [(p["amount"], p["due_on"], p["status"], p["paid_on"]) for p in small["payments"]] == [
            (amount, "2023-04-03", "paid", "2023-04-05")]
        assert {(o["kind"], o["number"]): (o["due_on"], o["status"], o["done_on"])
                for o in small["obligations"]} == SMALL_OBLIGATIONS

    # As operations staff read it.
    capsys.readouterr()
    assert main(["show", LUDO]) == 0
    text = capsys.readouterr().out
    assert "étape : close   montant : 24 000,00 EUR   exécutoire le : 01/02/2023" in text
    assert "acte : VALFOUGERE-2023-004 — conseil" in text and "reçu en préfecture le 31/01/2023" in text
    assert "  01/07/2024  fait      compte rendu financier (Cerfa 15059)" in text
    assert "  versement n°2 9 500,00 EUR  échéance 19/08/2024  payé" in text
    assert "None" not in text
    assert main(["audit", "verify"]) == 0
