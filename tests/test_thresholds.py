"""Thresholds over a year of grants (issue 11, DOMAIN §9).

Décret 2001-495 art. 1: a convention is compulsory when what one authority grants one
association in a year exceeds 23,000 EUR, so two grants of 14,000 and 12,000 EUR in 2019
(26,000 EUR) both need one. Code de commerce L612-4: above 153,000 EUR of public subsidies
in a year the association publishes certified accounts.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml

from grantflow.cli import main

REPO = Path(__file__).resolve().parents[1]
CASQ_SIREN = "200071892"


def _directory() -> dict[str, Any]:
    dossier = yaml.safe_load((REPO / "examples" / "casq-innosprint.yaml").read_text(encoding="utf-8"))
    casa = yaml.safe_load((REPO / "examples" / "casa-creative-cluster.yaml").read_text(encoding="utf-8"))
    return {"authorities": dossier["authorities"] + casa["authorities"], "associations": dossier["associations"],
            "grants": []}


def _grant(reference: str, amount: str, session: dt.date, number: str, *, authority: str = "casq",
           siren: str = CASQ_SIREN, department: str = "002", history: list[dict[str, Any]] | None = None
           ) -> dict[str, Any]:
    act_id = f"{department}-{siren}-{session:%Y%m%d}-{number}-DE"
    return {
        "reference": reference, "authority": authority, "association": "faubourg-numerique",
        "object": f"Subvention {reference}", "amount": amount, "duration": {"months": 12, "from": "executoire"},
        "payments": [{"amount": amount}],
        "deliberation": {"session": session, "outcome": "adopted", "act_number": number},
        "history": [{"event": "prefecture_receipt", "act_id": act_id, "received": session + dt.timedelta(days=5),
                     "published": session + dt.timedelta(days=5)}] + (history or []),
    }


def _load(capsys, tmp_path: Path, name: str, grants: list[dict[str, Any]]) -> tuple[int, str, str]:
    dossier = _directory() | {"grants": grants}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(dossier, allow_unicode=True, sort_keys=False), encoding="utf-8")
    capsys.readouterr()
    status = main(["load", str(path)])
    out, err = capsys.readouterr()
    return status, out, err


def _show(capsys, reference: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["show", reference, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


FIRST = _grant("CASQ-2019-A", "14000.00", dt.date(2019, 3, 25), "101")
SECOND = _grant("CASQ-2019-B", "12000.00", dt.date(2019, 6, 24), "102")


def test_two_grants_over_23000_in_a_year_both_need_a_convention(store, capsys, tmp_path):
    status, out, err = _load(capsys, tmp_path, "first", [FIRST])
    assert status == 0, err
    assert _show(capsys, "CASQ-2019-A")["convention_required"] is False  # 14,000 alone: none
    assert "attention" not in out

    status, out, err = _load(capsys, tmp_path, "both", [FIRST, SECOND])
    assert status == 0, err
    first, second = _show(capsys, "CASQ-2019-A"), _show(capsys, "CASQ-2019-B")
    assert first["convention_required"] is True and second["convention_required"] is True
    # The operator is told, for each grant, with the year's total and the rule.
    notices = [line for line in out.splitlines() if line.startswith("attention : ")]
    assert len(notices) == 2
    for reference, notice in zip(("CASQ-2019-A", "CASQ-2019-B"), notices):
        assert notice.startswith(f"attention : {reference} : convention obligatoire")
        assert "en 2019" in notice and "26 000,00 EUR" in notice and "décret 2001-495" in notice
    # A was exécutoire already (received 30/03/2019): both signatures fall due 30 days after
    # the vote of B (24/06/2019), Wednesday 24/07/2019; B's will follow its own receipt.
    signatures = {o["kind"]: o["due_on"] for o in first["obligations"] if o["kind"].startswith("signature")}
    assert signatures == {"signature_association": "2019-07-24", "signature_authority": "2019-07-24"}
    assert {o["kind"]: o["due_on"] for o in second["obligations"] if o["kind"].startswith("signature")} == {
        "signature_association": "2019-07-29", "signature_authority": "2019-07-29"}  # 29/06 + 30 days
    kinds = [e["kind"] for e in first["events"]]
    assert kinds.count("convention_requise") == 1

    # Loaded again: nothing new, no notice twice.
    status, out, _ = _load(capsys, tmp_path, "again", [FIRST, SECOND])
    assert status == 0 and "attention" not in out


def test_grants_of_different_years_are_not_added_up(store, capsys, tmp_path):
    next_year = _grant("CASQ-2020-B", "12000.00", dt.date(2020, 1, 27), "7")
    status, out, err = _load(capsys, tmp_path, "years", [FIRST, next_year])
    assert status == 0, err
    assert _show(capsys, "CASQ-2019-A")["convention_required"] is False
    assert _show(capsys, "CASQ-2020-B")["convention_required"] is False
    assert "attention" not in out


def test_exactly_23000_in_a_year_needs_no_convention(store, capsys, tmp_path):
    status, out, err = _load(capsys, tmp_path, "exact", [
        FIRST, _grant("CASQ-2019-C", "9000.00", dt.date(2019, 6, 24), "103")])
    assert status == 0, err
    assert _show(capsys, "CASQ-2019-A")["convention_required"] is False
    assert "attention" not in out


def test_a_grant_already_paid_without_a_convention_is_flagged_not_changed(store, capsys, tmp_path):
    paid = _grant("CASQ-2019-A", "14000.00", dt.date(2019, 3, 25), "101",
                  history=[{"event": "payment", "number": 1, "paid_on": dt.date(2019, 5, 15)}])
    assert _load(capsys, tmp_path, "paid", [paid])[0] == 0
    status, out, err = _load(capsys, tmp_path, "second", [paid, SECOND])
    assert status == 0, err
    first = _show(capsys, "CASQ-2019-A")
    assert first["convention_required"] is False  # the past is not rewritten
    assert not [o for o in first["obligations"] if o["kind"].startswith("signature")]
    assert _show(capsys, "CASQ-2019-B")["convention_required"] is True
    assert "attention : CASQ-2019-A : déjà versée sans convention" in out
    assert "à régulariser" in out and "26 000,00 EUR" in out


def test_more_than_153000_from_all_authorities_asks_for_certified_accounts(store, capsys, tmp_path):
    grants = [
        _grant("CASQ-2019-BIG", "100000.00", dt.date(2019, 3, 25), "101"),
        _grant("CASA-2019-BIG", "53000.01", dt.date(2019, 4, 2), "55", authority="casa", siren="999000003",
               department="094"),
    ]
    status, out, err = _load(capsys, tmp_path, "big", grants[:1])
    assert status == 0 and "comptes annuels certifiés" not in out
    status, out, err = _load(capsys, tmp_path, "big2", grants)
    assert status == 0, err
    notices = [line for line in out.splitlines() if "comptes annuels certifiés" in line]
    assert len(notices) == 1
    assert "Faubourg Numérique" in notices[0] and "153 000,01 EUR" in notices[0] and "en 2019" in notices[0]
    assert "L612-4" in notices[0]
    status, out, _ = _load(capsys, tmp_path, "big3", grants)
    assert status == 0 and "comptes annuels certifiés" not in out


def test_exactly_153000_asks_for_nothing(store, capsys, tmp_path):
    grants = [
        _grant("CASQ-2019-BIG", "100000.00", dt.date(2019, 3, 25), "101"),
        _grant("CASA-2019-BIG", "53000.00", dt.date(2019, 4, 2), "55", authority="casa", siren="999000003",
               department="094"),
    ]
    status, out, err = _load(capsys, tmp_path, "big", grants)
    assert status == 0, err
    assert "comptes annuels certifiés" not in out
