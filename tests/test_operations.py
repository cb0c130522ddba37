"""Operations: portfolio export, SCDL open data, the tamper-evident journal and audit bundle (issue 6)."""
from __future__ import annotations

import csv
import datetime as dt
import zipfile

import openpyxl
import sqlalchemy as sa

from core import clock
from db.session import unit_of_work
from grantflow.cli import main
from tests.support import INNOSPRINT, scalar, sign_both


def test_portfolio_report_opens_in_excel_with_numbers_and_dates(examples_loaded, tmp_path, capsys):
    output = tmp_path / "casq.xlsx"
    assert main(["report", "--authority", "casq", "--format", "xlsx", "--output", str(output)]) == 0
    sheet = openpyxl.load_workbook(output)["portefeuille"]
    assert [c.value for c in sheet[1]] == ["Référence", "Collectivité", "Association", "Étape", "Montant", "Versé",
                                           "Prochaine échéance", "Prochaine obligation", "Obligations en retard"]
    [row] = list(sheet.iter_rows(min_row=2))
    reference, _, _, stage, amount, paid, due, obligation, overdue = row
    assert (reference.value, stage.value) == (INNOSPRINT, "signature de la convention")
    assert (amount.data_type, amount.value, amount.number_format) == ("n", 35000, '#,##0.00 "€"')
    assert (paid.data_type, paid.value) == ("n", 0)
    assert due.is_date and due.value == dt.datetime(2019, 1, 11) and due.number_format == "DD/MM/YYYY"
    assert obligation.value == "signature de la convention par l'association"
    assert (overdue.data_type, overdue.value) == ("n", 0)


def test_portfolio_report_in_csv_reads_as_french_numbers_and_dates(examples_loaded, tmp_path):
    output = tmp_path / "casq.csv"
    assert main(["report", "--authority", "casq", "--format", "csv", "--output", str(output)]) == 0
    [row] = list(csv.DictReader(output.open(encoding="utf-8-sig"), delimiter=";"))
    assert (row["Étape"], row["Montant"], row["Versé"]) == ("signature de la convention", "35000,00", "0,00")
    assert row["Prochaine échéance"] == "11/01/2019"


def test_scdl_export_lists_signed_conventions_and_fulfils_the_publication(examples_loaded, tmp_path):
    output = tmp_path / "scdl.csv"
    assert main(["export", "scdl", "--authority", "casq", "--output", str(output)]) == 0
    assert list(csv.DictReader(output.open(encoding="utf-8"))) == []  # not signed yet: nothing to publish
    sign_both(association_on=dt.date(2018, 12, 20), authority_on=dt.date(2019, 1, 7))
    # Published within 3 months of the signature (07/01/2019 -> 07/04/2019, a Sunday -> 08/04).
    assert scalar("SELECT due_on FROM obligations WHERE kind = 'open_data'") in (dt.date(2019, 4, 8), "2019-04-08")
    with clock.frozen(dt.date(2019, 2, 1)):
        assert main(["export", "scdl", "--authority", "casq", "--output", str(output)]) == 0
    [row] = list(csv.DictReader(output.open(encoding="utf-8")))
    assert row["nomAttribuant"] == "Communauté d'Agglomération du Saint-Quentinois"
    assert row["dateConvention"] == "2019-01-07"
    assert row["referenceDecision"] == "002-200071892-20181127-44208A-DE"
    assert (row["nomBeneficiaire"], row["montant"], row["conditionsVersement"]) == ("Faubourg Numérique",
                                                                                     "35000.00", "unique")
    assert row["datesPeriodeVersement"] == "2019-05-31"
    assert scalar("SELECT status FROM obligations WHERE kind = 'open_data'") == "done"


def test_audit_verify_names_an_event_altered_in_the_database(examples_loaded, capsys):
    assert main(["audit", "verify"]) == 0
    assert "journal intègre" in capsys.readouterr().out
    seq = scalar("SELECT e.seq FROM events e JOIN grants g ON g.id = e.grant_id "
                 "WHERE g.reference = :r AND e.kind = 'prefecture_receipt'", r=INNOSPRINT)
    with unit_of_work() as session:
        session.execute(sa.text("UPDATE events SET payload = :p WHERE kind = 'prefecture_receipt' AND grant_id = "
                                "(SELECT id FROM grants WHERE reference = :r)"),
                        {"p": '{"act_id": "002-200071892-20181127-99999-DE"}', "r": INNOSPRINT})
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"{INNOSPRINT} : événement n°{seq}" in out and "modifié" in out
    assert "CASA-2015" not in out


def test_audit_bundle_holds_journal_dossier_and_mails(examples_loaded, tmp_path):
    sign_both()
    assert main(["simulate", "--from", "2019-02-04", "--until", "2019-02-06"]) == 0
    target = tmp_path / "audit.zip"
    assert main(["audit", "bundle", INNOSPRINT, "--output", str(target)]) == 0
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        assert {"journal.json", "dossier.yaml", "etat.json", "integrite.txt"} <= set(names)
        mails = [n for n in names if n.startswith("courriels/") and n.endswith(".eml")]
        assert len(mails) == 1  # the reminder of 05/02/2019 for report n°1
        assert b"compte rendu n" in archive.read(mails[0])
        assert "44208A" in archive.read("dossier.yaml").decode()
