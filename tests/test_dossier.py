"""`grantflow load`: the two seeds as dossiers, refusals, idempotence, reconvened sittings.

Everything goes through the real command (`grantflow.cli.main`) against the real stores
(SQLite and PostgreSQL, fixture `store`). Expected values are the seeds' own figures
(../shared/seeds/002: CASQ, council of 27/11/2018) written out by hand, never computed
with the code under test.
"""
from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from tests.support import run, show, snapshot, write

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
CASQ_FILE = REPO / "examples" / "casq-innosprint.yaml"
CASA_FILE = REPO / "examples" / "casa-creative-cluster.yaml"
CASQ = "CASQ-2018-INNOSPRINT"
CASA = "CASA-2015-CREATIVE-CLUSTER"


# -- helpers ----------------------------------------------------------------------------

def casq() -> dict[str, Any]:
    return yaml.safe_load(CASQ_FILE.read_text(encoding="utf-8"))


# -- 1. the seeds load, and read back as the acts say ------------------------------------

def test_examples_load_and_casq_reads_as_the_act(store, capsys):
    status, out, err = run(capsys, "load", *map(str, EXAMPLES))
    assert status == 0, err
    assert f"chargé : {CASQ}" in out and f"chargé : {CASA}" in out

    view = show(capsys, CASQ)
    assert view["reference"] == CASQ
    assert view["amount"] == "35000.00"
    assert view["stage"] == "signature"  # exécutoire, convention not signed yet
    assert view["convention_required"] is True  # 35,000 > 23,000 EUR
    # Received 12/12/18, published 11/12/18: exécutoire on the later, 12/12/2018.
    assert view["executoire_on"] == "2018-12-12"
    # The acknowledgement "...-44208A-DE-1-1" is stored without its message code.
    assert view["act_id"] == "002-200071892-20181127-44208A-DE"
    # Art. 5: one year from the act becoming exécutoire.
    assert view["starts_on"] == "2018-12-12"
    assert view["ends_on"] == "2019-12-11"
    # Art. 4.1: paid in full "au plus tard en Mai 2019".
    assert len(view["payments"]) == 1
    payment = view["payments"][0]
    assert (payment["number"], payment["amount"], payment["due_on"], payment["status"]) == (
        1, "35000.00", "2019-05-31", "scheduled")
    assert view["refund"] is None

    kinds = [e["kind"] for e in view["events"]]
    assert kinds[0] == "grant_proposed"
    assert "vote_recorded" in kinds and "prefecture_receipt" in kinds
    assert [e["seq"] for e in view["events"]] == list(range(1, len(kinds) + 1))
    stages = [(e["payload"]["from"], e["payload"]["to"]) for e in view["events"] if e["kind"] == "stage_changed"]
    assert stages == [("deliberation", "prefecture"), ("prefecture", "signature")]
    vote = next(e for e in view["events"] if e["kind"] == "vote_recorded")["payload"]
    assert vote["decision"] == "adopted"
    assert vote["quorum_required"] == 39  # 76 in office // 2 + 1


def test_casq_obligations_follow_the_convention_calendar(store, capsys):
    """Bimonthly reports from 12/12/2018, moved off weekends (DOMAIN §7, department 002)."""
    assert run(capsys, "load", *map(str, EXAMPLES))[0] == 0
    obligations = show(capsys, CASQ)["obligations"]
    due = lambda kind: [o["due_on"] for o in sorted(  # noqa: E731
        (o for o in obligations if o["kind"] == kind), key=lambda o: o["number"])]

    # 12/10/2019 is a Saturday: moved to Monday 14/10/2019. The others are working days.
    assert due("report") == ["2019-02-12", "2019-04-12", "2019-06-12", "2019-08-12", "2019-10-14", "2019-12-12"]
    # Art. 6: mid-term at 6 months, final at 12 months.
    assert due("evaluation") == ["2019-06-12", "2019-12-12"]
    assert due("payment") == ["2019-05-31"]
    # CGCT L2131-6: the prefect's window closes two months after receipt (12/12/2018).
    assert due("legality_control") == ["2019-02-12"]
    # Cerfa 15059 within 6 months of the end (11/12/2019): 11/06/2020, a Thursday.
    assert due("financial_report") == ["2020-06-11"]
    # Settings.signature_days (30, the authority's practice) after 12/12/2018: Friday 11/01/2019.
    assert due("signature_association") == ["2019-01-11"]
    assert due("signature_authority") == ["2019-01-11"]
    assert {o["status"] for o in obligations} == {"pending"}
    assert all(o["debtor"] == "association" for o in obligations if o["kind"] in ("report", "financial_report"))


def test_casa_records_the_outcome_only_and_waits_for_the_prefecture(store, capsys):
    assert run(capsys, "load", *map(str, EXAMPLES))[0] == 0
    view = show(capsys, CASA)
    assert view["stage"] == "prefecture"
    assert view["act_id"] is None and view["executoire_on"] is None
    assert view["starts_on"] is None and view["ends_on"] is None
    assert view["obligations"] == []
    assert [(p["number"], p["amount"], p["due_on"], p["status"]) for p in view["payments"]] == [
        (1, "30000.00", None, "scheduled")]
    with store.engine.connect() as connection:
        row = connection.execute(sa.text(
            "SELECT d.session_on, d.outcome, d.present, d.members_in_office, d.votes_for, d.act_number "
            "FROM deliberations d JOIN grants g ON g.act_id = d.act_id WHERE g.reference = :r"), {"r": CASA}).one()
    session_on = row.session_on if isinstance(row.session_on, dt.date) else dt.date.fromisoformat(row.session_on)
    assert session_on == dt.date(2015, 10, 6)
    assert row.outcome == "adopted"
    assert (row.present, row.members_in_office, row.votes_for, row.act_number) == (None, None, None, None)


def test_loading_twice_changes_nothing(store, capsys):
    assert run(capsys, "load", *map(str, EXAMPLES))[0] == 0
    before = snapshot(store.engine)
    assert before["counts"]["grants"] == 5  # CASQ, CASA and the three grants of seed 003
    status, out, err = run(capsys, "load", *map(str, EXAMPLES))
    assert status == 0, err
    assert f"déjà présent, inchangé : {CASQ}" in out and f"déjà présent, inchangé : {CASA}" in out
    assert "chargé" not in out
    assert snapshot(store.engine) == before
    # One file at a time, too.
    assert run(capsys, "load", str(CASQ_FILE))[0] == 0
    assert snapshot(store.engine) == before


# -- 2. refusals: exit 1, a French message, nothing written ------------------------------

def _quorum_lacking(d: dict[str, Any]) -> None:
    # 30 present for 39 required (76 in office); 30 + 6 = 36 votes: the minutes hold.
    d["grants"][0]["deliberation"].update(present=30, represented=6,
                                          votes={"for": 35, "against": 0, "abstentions": 1})


def _set(path: tuple[Any, ...], value: Any):
    def change(d: dict[str, Any]) -> None:
        target = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _append_history(event: dict[str, Any]):
    return lambda d: d["grants"][0]["history"].append(event)


ASSOCIATION_CONTEXT = ("association faubourg-numerique", CASQ)

REFUSALS = {
    # case: (change, field, words of the rule, other words that must appear)
    "quorum_failed_then_receipt": (
        _quorum_lacking, "history[0].act_id", ["quorum", "CGCT L2121-17"], [CASQ, "27/11/2018"]),
    "votes_miscounted": (
        _set(("grants", 0, "deliberation", "votes"), {"for": 66, "against": 0, "abstentions": 1}),
        "deliberation.votes", ["décompte incohérent"], [CASQ, "67", "68"]),
    "acknowledgement_other_siren": (
        _set(("grants", 0, "history", 0, "act_id"), "002-999000003-20181127-44208A-DE-1-1"),
        "history[0].act_id", ["SIREN 999000003", "200071892"], [CASQ]),
    "acknowledgement_other_date": (
        _set(("grants", 0, "history", 0, "act_id"), "002-200071892-20181128-44208A-DE-1-1"),
        "history[0].act_id", ["28/11/2018", "27/11/2018", "séance"], [CASQ]),
    "published_before_the_sitting": (
        _set(("grants", 0, "history", 0, "published"), dt.date(2018, 11, 26)),
        "history[0].published", ["27/11/2018", "publi"], [CASQ, "2018-11-26"]),
    "instalments_do_not_add_up": (
        _set(("grants", 0, "payments"), [{"amount": "20000.00", "due": dt.date(2019, 3, 31)},
                                          {"amount": "10000.00", "due": dt.date(2019, 5, 31)}]),
        "payments", ["30 000,00 EUR", "35 000,00 EUR", "égale"], [CASQ]),
    "float_amount": (
        _set(("grants", 0, "amount"), 35000.5),
        "amount", ["virgule flottante"], [CASQ, "35000.5"]),
    # Issue 11: "45.800 euros" (a French thousands dot) loaded silently as 45.80 EUR.
    "amount_with_a_thousands_dot": (
        _set(("grants", 0, "amount"), "45.800"),
        "amount", ["ambigu", "45 800,00 EUR", "45,80 EUR"], [CASQ, "45.800"]),
    "instalment_with_a_thousands_dot": (
        _set(("grants", 0, "payments"), [{"amount": "35.000", "due": dt.date(2019, 5, 31)}]),
        "payments[0].amount", ["ambigu", "35 000,00 EUR", "35,00 EUR"], [CASQ, "35.000"]),
    "invalid_siret": (
        _set(("associations", 0, "siret"), "99912345800014"),
        "associations[0].siret", ["SIRET invalide", "Luhn"], [*ASSOCIATION_CONTEXT, "99912345800014"]),
    "lower_case_iban": (
        _set(("associations", 0, "bank", "iban"), "fr7630004000000000001234573"),
        "associations[0].bank.iban", ["majuscules"], [*ASSOCIATION_CONTEXT, "fr7630004000000000001234573"]),
    "holder_too_long": (
        _set(("associations", 0, "bank", "holder"), "ASSOCIATION FAUBOURG NUMERIQUE ST-QUENTIN"),  # 41
        "associations[0].bank.holder", ["41 caractères", "32 au plus"], [*ASSOCIATION_CONTEXT]),
    "unknown_event": (
        _append_history({"event": "teleportation", "on": dt.date(2019, 1, 15)}),
        "history[1]", ["événement inconnu", "prefecture_receipt"], [CASQ, "teleportation"]),
    "signature_before_receipt": (
        _append_history({"event": "signature", "party": "association", "on": dt.date(2018, 12, 1)}),
        "history[1].on", ["01/12/2018", "12/12/2018", "CE, avis, 10/06/1996"], [CASQ, "2018-12-01"]),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_bad_dossier_is_refused_whole(store, capsys, tmp_path, case):
    change, field, rule_words, other_words = REFUSALS[case]
    assert run(capsys, "load", str(CASA_FILE))[0] == 0  # the store is not empty
    before = snapshot(store.engine)

    dossier = casq()
    change(dossier)
    path = write(tmp_path / f"{case}.yaml", dossier)
    status, out, err = run(capsys, "load", str(path))

    assert status == 1
    assert "chargé" not in out
    assert "rien n'a été enregistré" in err
    assert str(path) in err
    assert f"« {field} »" in err, err
    for words in rule_words + other_words:
        assert words in err, f"{words!r} missing from: {err}"
    assert snapshot(store.engine) == before


def test_quorum_failed_then_receipt_message_says_why(store, capsys, tmp_path):
    dossier = casq()
    _quorum_lacking(dossier)
    path = write(tmp_path / "quorum.yaml", dossier)
    status, _, err = run(capsys, "load", str(path))
    assert status == 1
    # Names the sitting, the figures and what to do: 30 present for 39 required.
    assert "30 présents" in err and "39 requis" in err, err
    assert "reconvoqu" in err, err


def test_a_valid_grant_before_a_bad_one_in_the_same_file_is_not_written(store, capsys, tmp_path):
    before = snapshot(store.engine)
    dossier = casq()
    second = copy.deepcopy(dossier["grants"][0])
    second["reference"] = "CASQ-2018-AUTRE"
    second["deliberation"]["act_number"] = "44209A"
    second["deliberation"]["votes"] = {"for": 60, "against": 0, "abstentions": 1}  # 61 != 68
    second["history"][0]["act_id"] = "002-200071892-20181127-44209A-DE-1-1"
    dossier["grants"].append(second)
    path = write(tmp_path / "two.yaml", dossier)

    status, out, err = run(capsys, "load", str(path))
    assert status == 1
    assert "CASQ-2018-AUTRE" in err and "« deliberation.votes »" in err
    assert snapshot(store.engine) == before
    assert before["counts"]["grants"] == 0 and before["counts"]["authorities"] == 0
    status, _, err = run(capsys, "show", CASQ, "--json")
    assert status == 1 and CASQ in err


def test_a_valid_file_before_a_bad_file_is_not_written(store, capsys, tmp_path):
    before = snapshot(store.engine)
    dossier = casq()
    dossier["associations"][0]["siret"] = "99912345800014"
    bad = write(tmp_path / "bad.yaml", dossier)
    status, _, err = run(capsys, "load", str(CASA_FILE), str(bad))
    assert status == 1 and str(bad) in err
    assert snapshot(store.engine) == before


# -- 3. a sitting without quorum, then the reconvened one -------------------------------

def _failed_sitting_dossier() -> dict[str, Any]:
    dossier = casq()
    _quorum_lacking(dossier)
    dossier["grants"][0]["history"] = []
    return dossier


def _reconvened(session: str, **extra: Any) -> dict[str, Any]:
    # Fewer than the 39 required: a reconvened sitting votes without quorum (CGCT L2121-17).
    return {"event": "vote", "session": dt.date.fromisoformat(session), "reconvened_after": dt.date(2018, 11, 27),
            "members_in_office": 76, "present": 20, "represented": 4,
            "votes": {"for": 23, "against": 1, "abstentions": 0}, "act_number": "44208A", **extra}


def test_a_lone_sitting_without_quorum_leaves_the_grant_in_deliberation(store, capsys, tmp_path):
    path = write(tmp_path / "failed.yaml", _failed_sitting_dossier())
    status, out, err = run(capsys, "load", str(path))
    assert status == 0, err
    view = show(capsys, CASQ)
    assert view["stage"] == "deliberation"
    assert view["act_id"] is None and view["obligations"] == []
    vote = next(e for e in view["events"] if e["kind"] == "vote_recorded")["payload"]
    assert vote["decision"] == "quorum_failed"
    assert vote["quorum_required"] == 39
    assert "stage_changed" not in [e["kind"] for e in view["events"]]


def test_a_reconvened_sitting_three_clear_days_later_adopts_without_quorum(store, capsys, tmp_path):
    dossier = _failed_sitting_dossier()
    # 28, 29 and 30 November are the 3 clear days: 1 December is the earliest sitting.
    dossier["grants"][0]["history"] = [
        _reconvened("2018-12-01"),
        {"event": "prefecture_receipt", "act_id": "002-200071892-20181201-44208A-DE-1-1",
         "received": dt.date(2018, 12, 12), "published": dt.date(2018, 12, 11)},
    ]
    path = write(tmp_path / "reconvened.yaml", dossier)
    status, out, err = run(capsys, "load", str(path))
    assert status == 0, err
    view = show(capsys, CASQ)
    assert view["stage"] == "signature"
    assert view["act_id"] == "002-200071892-20181201-44208A-DE"
    decisions = [e["payload"]["decision"] for e in view["events"] if e["kind"] == "vote_recorded"]
    assert decisions == ["quorum_failed", "adopted"]
    with store.engine.connect() as connection:
        outcomes = [tuple(r) for r in connection.execute(sa.text(
            "SELECT outcome, present FROM deliberations ORDER BY session_on"))]
    assert outcomes == [("quorum_failed", 30), ("adopted", 20)]


def test_a_reconvened_sitting_too_early_is_refused(store, capsys, tmp_path):
    dossier = _failed_sitting_dossier()
    dossier["grants"][0]["history"] = [_reconvened("2018-11-30")]  # 2 clear days only
    path = write(tmp_path / "too-early.yaml", dossier)
    before = snapshot(store.engine)
    status, _, err = run(capsys, "load", str(path))
    assert status == 1
    assert str(path) in err and CASQ in err
    assert "reconvened_after" in err
    assert "2 jours francs" in err and "3 requis" in err and "01/12/2018" in err, err
    assert snapshot(store.engine) == before


def test_reconvened_after_a_sitting_that_had_quorum_is_refused(store, capsys, tmp_path):
    dossier = casq()
    dossier["grants"][0]["deliberation"]["reconvened_after"] = dt.date(2018, 11, 20)  # never recorded
    dossier["grants"][0]["history"] = []
    path = write(tmp_path / "no-failed-sitting.yaml", dossier)
    status, _, err = run(capsys, "load", str(path))
    assert status == 1
    assert "« deliberation.reconvened_after »" in err and "sans quorum" in err, err


def test_a_convention_running_from_a_fixed_date(store, capsys, tmp_path):
    """`duration: {from: 2019-01-01}`: the convention starts on that date once the act is
    exécutoire, and its deadlines skip the department's public holidays (DOMAIN §7)."""
    dossier = casq()
    dossier["grants"][0]["duration"] = {"months": 12, "from": dt.date(2019, 1, 1)}
    path = write(tmp_path / "from-date.yaml", dossier)
    status, _, err = run(capsys, "load", str(path))
    assert status == 0, err
    view = show(capsys, CASQ)
    assert (view["starts_on"], view["ends_on"]) == ("2019-01-01", "2019-12-31")
    due = lambda kind: [o["due_on"] for o in sorted(  # noqa: E731
        (o for o in view["obligations"] if o["kind"] == kind), key=lambda o: o["number"])]
    # 01/05 (fête du Travail) -> 02/05; Sunday 01/09 -> 02/09; 01/11 (Toussaint, then a
    # week-end) -> Monday 04/11; 01/01/2020 (jour de l'an) -> 02/01/2020.
    assert due("report") == ["2019-03-01", "2019-05-02", "2019-07-01", "2019-09-02", "2019-11-04", "2020-01-02"]
    assert due("evaluation") == ["2019-07-01", "2020-01-02"]


def test_an_act_already_recorded_for_another_grant_is_refused(store, capsys, tmp_path):
    assert run(capsys, "load", str(CASQ_FILE))[0] == 0
    before = snapshot(store.engine)
    dossier = casq()
    dossier["grants"][0]["reference"] = "CASQ-2018-COPIE"  # same sitting, same act, same acknowledgement
    path = write(tmp_path / "copy.yaml", dossier)
    status, _, err = run(capsys, "load", str(path))
    assert status == 1
    assert "CASQ-2018-COPIE" in err and "« history[0].act_id »" in err
    assert f"déjà enregistré pour l'acte {CASQ}" in err and f"« act: {CASQ} »" in err, err
    assert snapshot(store.engine) == before


def test_a_proposed_grant_without_its_vote_waits_for_the_council(store, capsys, tmp_path):
    dossier = casq()
    del dossier["grants"][0]["deliberation"]
    dossier["grants"][0]["history"] = []
    status, _, err = run(capsys, "load", str(write(tmp_path / "proposed.yaml", dossier)))
    assert status == 0, err
    view = show(capsys, CASQ)
    assert view["stage"] == "deliberation"
    assert [e["kind"] for e in view["events"]] == ["grant_proposed"]

    del dossier["grants"][0]["history"]
    dossier["grants"][0]["reference"] = "CASQ-2018-SANS-VOTE"
    dossier["grants"][0]["history"] = casq()["grants"][0]["history"]
    before = snapshot(store.engine)
    status, _, err = run(capsys, "load", str(write(tmp_path / "receipt-without-vote.yaml", dossier)))
    assert status == 1
    assert "CASQ-2018-SANS-VOTE" in err and "aucun vote du conseil" in err, err
    assert snapshot(store.engine) == before


def test_a_dossier_loaded_again_with_new_facts_applies_only_those(store, capsys, tmp_path):
    dossier = casq()
    path = write(tmp_path / "casq.yaml", dossier)
    assert run(capsys, "load", str(path))[0] == 0
    dossier["grants"][0]["history"].append({"event": "signature", "party": "association", "on": "2018-12-20"})
    write(path, dossier)
    code, out, _ = run(capsys, "load", str(path))
    assert code == 0 and "historique complété : CASQ-2018-INNOSPRINT" in out
    view = show(capsys, "CASQ-2018-INNOSPRINT")
    assert [e["kind"] for e in view["events"]].count("signature") == 1
    assert view["stage"] == "signature"
    before = snapshot(store.engine)
    assert "inchangé" in run(capsys, "load", str(path))[1]  # the same file a third time: nothing
    assert snapshot(store.engine) == before


def test_a_dossier_loaded_again_cannot_rewrite_what_is_known(store, capsys, tmp_path):
    dossier = casq()
    path = write(tmp_path / "casq.yaml", dossier)
    assert run(capsys, "load", str(path))[0] == 0
    before = snapshot(store.engine)
    changed = copy.deepcopy(dossier)
    changed["grants"][0]["amount"] = "36000.00"
    changed["grants"][0]["payments"][0]["amount"] = "36000.00"
    code, _, err = run(capsys, "load", str(write(path, changed)))
    assert code == 1 and "amount" in err and "avenant" in err
    rewritten = copy.deepcopy(dossier)
    rewritten["grants"][0]["history"][0]["received"] = "2018-12-13"
    code, _, err = run(capsys, "load", str(write(path, rewritten)))
    assert code == 1 and "seulement complété" in err
    assert snapshot(store.engine) == before


def test_amounts_as_written_in_acts_load_to_the_cent(store, capsys, tmp_path):
    """Seed 002 writes "une somme de 35 000 €": read as 35,000.00 EUR, the instalment too."""
    dossier = casq()
    dossier["grants"][0]["amount"] = "35 000 €"
    dossier["grants"][0]["payments"] = [{"amount": "35.000,00 euros", "due": dt.date(2019, 5, 31)}]
    assert run(capsys, "load", str(write(tmp_path / "casq.yaml", dossier)))[0] == 0
    view = show(capsys, CASQ)
    assert view["amount"] == "35000.00"
    assert [p["amount"] for p in view["payments"]] == ["35000.00"]
