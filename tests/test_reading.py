"""What operations staff read: `grantflow list` (a table) and `grantflow show REF [--json]`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from grantflow.cli import main
from tests.support import VAL_FOUGERE

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
CASQ = "CASQ-2018-INNOSPRINT"
CASA = "CASA-2015-CREATIVE-CLUSTER"
STAGES = {"deliberation", "prefecture", "signature", "active", "closing", "closed", "rejected"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def loaded(store, capsys):
    status, _, err = run(capsys, "load", *map(str, EXAMPLES))
    assert status == 0, err
    return store


def test_list_on_an_empty_store(store, capsys):
    status, out, _ = run(capsys, "list")
    assert status == 0
    assert out.strip() == "Aucune subvention."


def test_list_is_one_row_per_grant(loaded, capsys):
    status, out, err = run(capsys, "list")
    assert status == 0, err
    lines = out.strip().splitlines()
    header = " ".join(lines[0].split())
    assert header == ("référence collectivité association étape montant payé prochaine échéance pour en retard")
    rows = {line.split()[0]: " ".join(line.split()) for line in lines[1:]}
    assert set(rows) == {CASQ, CASA, *VAL_FOUGERE}
    # CASQ: exécutoire 12/12/2018; first due, the convention's signatures on 11/01/2019.
    assert rows[CASQ].startswith(f"{CASQ} casq faubourg-numerique signature de la convention 35000.00 0.00 "
                                 "11/01/2019 signature de la convention par l'association 0")
    # CASA waits for the prefecture: nothing due yet, shown as a dash (not "NaN" or "None").
    assert rows[CASA] == f"{CASA} casa creative-cluster transmission en préfecture 30000.00 0.00 — — 0"
    assert "NaN" not in out and "None" not in out


def test_list_by_authority(loaded, capsys):
    status, out, _ = run(capsys, "list", "--authority", "casa")
    assert status == 0
    assert CASA in out and CASQ not in out


def test_show_json_has_the_documented_shape(loaded, capsys):
    for reference in (CASQ, CASA):
        status, out, err = run(capsys, "show", reference, "--json")
        assert status == 0, err
        view = json.loads(out)
        for key in ("reference", "stage", "executoire_on", "starts_on", "ends_on", "obligations", "payments",
                    "refund", "events"):
            assert key in view, key
        assert view["reference"] == reference
        assert view["stage"] in STAGES
        for obligation in view["obligations"]:
            assert {"kind", "due_on", "status"} <= set(obligation)
        for payment in view["payments"]:
            assert {"number", "amount", "due_on", "status"} <= set(payment)
            assert isinstance(payment["amount"], str) and payment["amount"].split(".")[1].isdigit()
            assert len(payment["amount"].split(".")[1]) == 2
        assert view["events"], "the journal is shown"
        assert {"seq", "at", "actor", "kind", "payload"} <= set(view["events"][0])
        assert view["events"][0]["actor"] == "grantflow load"


def test_show_text(loaded, capsys):
    """Issue 11: dates as dd/mm/yyyy, stages and statuses in French, no "None"."""
    status, out, err = run(capsys, "show", CASQ)
    assert status == 0, err
    assert out.splitlines()[0] == f"{CASQ} — Sprint des innovations numériques INNOSPRINT"
    assert "étape : signature de la convention" in out
    assert "montant : 35 000,00 EUR" in out
    assert "exécutoire le : 12/12/2018" in out
    assert "du 12/12/2018 au 11/12/2019" in out
    assert "versement n°1 35 000,00 EUR  échéance 31/05/2019  à verser" in out
    assert "14/10/2019  à venir   compte rendu n°5" in out
    for english in ("None", "pending", "scheduled", "2018-12-12"):
        assert english not in out


def test_show_text_of_a_grant_waiting_for_the_prefecture(loaded, capsys):
    status, out, err = run(capsys, "show", CASA)
    assert status == 0, err
    assert "étape : transmission en préfecture" in out
    assert "exécutoire le : —" in out and "convention : du — au —" in out
    assert "versement n°1 30 000,00 EUR  échéance à fixer  à verser" in out
    assert "None" not in out and "prefecture" not in out.replace("préfecture", "")


def test_show_an_unknown_reference(store, capsys):
    status, out, err = run(capsys, "show", "CASQ-2099-NULLE", "--json")
    assert status == 1
    assert out == ""
    assert "CASQ-2099-NULLE" in err and "aucune subvention ne porte cette référence" in err
