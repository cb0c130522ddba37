"""Evaluations (issue 5): indicators against the targets of seed 002, money, reports; the
table, the summary, the CSV and Excel files, the mail with both files, the Prefect artifacts.

Seed 002 targets (art. 2 and 3), over the year: 12 to 20 projects, at least 200,000 EUR
raised, at least 2 companies, at least 5 young graduates hired, at least 5 sessions.
"""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client

from core import clock
from core.settings import get_settings
from db.models import Evaluation, Event, Message, Obligation
from db.session import unit_of_work
from domain.errors import RuleViolation
from gateways.wiring import mail_gateway
from services import commands, evaluation, mailing, sweep
from services.grants import get_grant
from tests.support import INNOSPRINT, latest_artifact, record, scalar, sign_both

D = dt.date
AUTHORITY = "dev-eco@casq.example.org"


def report(on: dt.date, **indicators: int) -> commands.ProgressReport:
    return commands.ProgressReport(on=on, indicators=commands.Indicators(**indicators))


def mid_term_year() -> None:
    """Signed, paid 35,000.00 on 15/05/2019, 7,700.00 redistributed, reports n°1 and n°3
    received (n°2, due 12/04/2019, never came)."""
    sign_both()
    record(INNOSPRINT, report(D(2019, 2, 1), projects_supported=4, sessions_held=1))
    record(INNOSPRINT, commands.PaymentConfirmation(number=1, paid_on=D(2019, 5, 15)))
    record(INNOSPRINT, commands.Disbursement(on=D(2019, 5, 23), beneficiary="Atelier Bilbot", amount="4500.00"))
    record(INNOSPRINT, commands.Disbursement(on=D(2019, 5, 23), beneficiary="Serre connectée du Vermandois",
                                             amount="3200.00"))
    # Figures to date: 9 projects, 80,000 EUR raised, 1 company, 2 hired, 3 sessions.
    record(INNOSPRINT, commands.ProgressReport(
        on=D(2019, 6, 3), number=3, indicators=commands.Indicators(
            projects_supported=9, funding_raised_eur=Decimal("80000"), companies_created=1,
            young_graduates_hired=2, sessions_held=3)))


def evaluate(name: str, day: dt.date) -> evaluation.EvaluationOutcome:
    with clock.frozen(day), unit_of_work() as session:
        return evaluation.evaluate(session, get_grant(session, INNOSPRINT, for_update=True), name, get_settings(),
                                   day=day, actor="test")


MID_TERM_FINDINGS = [
    "projets accompagnés : 9 pour 12 au minimum, il en manque 3",
    "investissements captés (EUR) : 80 000 pour 200 000 au minimum, il en manque 120 000",
    "entreprises créées : 1 pour 2 au minimum, il en manque 1",
    "alternants ou jeunes diplômés embauchés : 2 pour 5 au minimum, il en manque 3",
    "sessions Innosprint : 3 pour 5 au minimum, il en manque 2",
]


def test_a_mid_term_evaluation_says_which_targets_are_missed_and_by_how_much(examples_loaded):
    mid_term_year()
    outcome = evaluate("mi-parcours", D(2019, 6, 12))

    rows = outcome.table.to_dict(orient="records")
    assert [(r["indicateur"], r["cible"], r["réalisé"], r["statut"], r["écart"]) for r in rows] == [
        ("projets accompagnés", "12 à 20", "9", "en dessous", "-3"),
        ("investissements captés (EUR)", "au moins 200 000", "80 000", "en dessous", "-120 000"),
        ("entreprises créées", "au moins 2", "1", "en dessous", "-1"),
        ("alternants ou jeunes diplômés embauchés", "au moins 5", "2", "en dessous", "-3"),
        ("sessions Innosprint", "au moins 5", "3", "en dessous", "-2"),
    ]
    for finding in MID_TERM_FINDINGS:
        assert f"- {finding}" in outcome.summary
    assert "Objectifs non atteints (5 sur 5)" in outcome.summary
    # Paid 35,000.00, redistributed 4,500.00 + 3,200.00 = 7,700.00 (22 %), 27,300.00 left.
    assert ("versé par la collectivité 35 000,00 EUR ; redistribué aux porteurs de projets 7 700,00 EUR "
            "(22 % du versé) ; reste à redistribuer 27 300,00 EUR.") in outcome.summary
    # Report n°2 was due on Friday 12/04/2019 and never came; n°3 (due 12/06) came on 03/06.
    assert "2 reçu(s), 3 échu(s) à cette date ; manquant(s) : n°2 (attendu le 12/04/2019)" in outcome.summary

    # The CSV (French spreadsheet dialect) and the Excel workbook say the same.
    csv_path, xlsx_path = outcome.files
    assert csv_path == examples_loaded.home.resolve() / "documents" / INNOSPRINT / "evaluation-mi-parcours.csv"
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.DictReader(handle, delimiter=";"))
    assert [line["constat"] for line in lines] == MID_TERM_FINDINGS
    assert lines[0]["écart"] == "-3" and lines[1]["réalisé"] == "80 000"
    workbook = openpyxl.load_workbook(xlsx_path)
    assert workbook.sheetnames[0] == "indicateurs"
    sheet = workbook["indicateurs"]
    assert [c.value for c in sheet[1]] == ["indicateur", "cible", "réalisé", "statut", "écart", "constat"]
    assert [sheet.cell(row=r, column=6).value for r in range(2, 7)] == MID_TERM_FINDINGS
    money = {row[0]: row[1] for row in workbook["financement"].iter_rows(min_row=2, values_only=True)}
    assert money == {"versé par la collectivité": 35000, "redistribué aux porteurs de projets": 7700,
                     "reste à redistribuer": 27300}
    late = list(workbook["retards"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[3]) for r in late] == [("n°2", "manquant")]
    # Numbers and dates as Excel cells, not text: achieved values, signed gaps, euros, due dates.
    achieved, gap = sheet.cell(row=3, column=3), sheet.cell(row=2, column=5)
    assert (achieved.data_type, achieved.value, gap.data_type, gap.value) == ("n", 80000, "n", -3)
    paid = workbook["financement"].cell(row=2, column=2)
    assert (paid.data_type, paid.number_format) == ("n", '#,##0.00 "€"')
    due = workbook["retards"].cell(row=2, column=2)
    assert due.is_date and due.value == dt.datetime(2019, 4, 12) and due.number_format == "DD/MM/YYYY"
    received = workbook["comptes rendus"].cell(row=2, column=2)
    assert received.is_date

    # Stored on the evaluation, the obligation fulfilled, journaled.
    with unit_of_work() as session:
        stored = session.scalars(sa.select(Evaluation).where(Evaluation.name == "mi-parcours")).one()
        assert stored.done_on == D(2019, 6, 12) and stored.summary == outcome.summary
        assert [r["gap"] for r in stored.results] == ["3", "120000", "1", "3", "2"]
        obligation = session.scalars(sa.select(Obligation).where(Obligation.kind == "evaluation",
                                                                 Obligation.number == 1)).one()
        assert (obligation.status, obligation.done_on) == ("done", D(2019, 6, 12))
        [event] = session.scalars(sa.select(Event).where(Event.kind == "evaluation")).all()
        assert event.payload["missed"]["projects_supported"] == {"status": "en dessous", "gap": "3"}
        assert event.payload["missing_reports"] == [2]


def test_the_mail_to_the_authority_carries_the_summary_and_both_files(examples_loaded, smtp_server, monkeypatch):
    monkeypatch.setenv("GRANTFLOW_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("GRANTFLOW_SMTP_PORT", str(smtp_server.port))
    get_settings.cache_clear()
    mid_term_year()
    evaluate("mi-parcours", D(2019, 6, 12))
    settings = get_settings()
    sent = mailing.send_queued(unit_of_work, mail_gateway(settings), settings)
    assert sent.sent == [f"{AUTHORITY} : Synthèse de l'évaluation « mi-parcours » (subvention {INNOSPRINT})"]
    [mail] = smtp_server.messages
    assert mail["To"] == AUTHORITY
    body = mail.get_body(("plain",)).get_content()
    for finding in MID_TERM_FINDINGS:
        assert finding in body
    attachments = {part.get_filename(): part.get_payload(decode=True) for part in mail.iter_attachments()}
    assert set(attachments) == {"evaluation-mi-parcours.csv", "evaluation-mi-parcours.xlsx"}
    text = attachments["evaluation-mi-parcours.csv"].decode("utf-8-sig")
    assert f"investissements captés (EUR);au moins 200 000;80 000;en dessous;-120 000;{MID_TERM_FINDINGS[1]}" in text
    assert attachments["evaluation-mi-parcours.xlsx"][:2] == b"PK"  # a zip: the xlsx container


def test_indicators_are_the_latest_figures_to_date_not_the_sum_of_the_reports(examples_loaded):
    sign_both()
    record(INNOSPRINT, report(D(2019, 2, 1), projects_supported=4, sessions_held=1, companies_created=1))
    # Report n°2 gives projects only: the sessions are still those of report n°1.
    record(INNOSPRINT, report(D(2019, 4, 10), projects_supported=7))
    record(INNOSPRINT, report(D(2019, 6, 3), projects_supported=22, companies_created=2))
    # A report received after the evaluation date is not read.
    record(INNOSPRINT, report(D(2019, 6, 14), projects_supported=30))
    outcome = evaluate("mi-parcours", D(2019, 6, 12))
    by_indicator = {r.indicator: r for r in outcome.results}
    assert by_indicator["projects_supported"].achieved == 22  # not 4 + 7 + 22 = 33
    assert by_indicator["projects_supported"].finding == (
        "projets accompagnés : 22 pour 20 au maximum, 2 de trop")
    assert by_indicator["sessions_held"].achieved == 1
    assert by_indicator["companies_created"].status == "atteint"
    assert by_indicator["companies_created"].finding == "entreprises créées : 2 (objectif : au moins 2), atteint"
    # Nothing ever declared: said so, and the whole minimum is missing.
    hired = by_indicator["young_graduates_hired"]
    assert (hired.status, hired.gap, hired.achieved) == ("non renseigné", 5, None)
    assert "alternants ou jeunes diplômés embauchés : aucune valeur déclarée" in outcome.summary
    assert outcome.table.iloc[0]["écart"] == "+2"
    assert "aucun versement de la collectivité encore payé" in outcome.summary


def test_an_evaluation_is_done_once(examples_loaded):
    mid_term_year()
    first = evaluate("mi-parcours", D(2019, 6, 12))
    again = evaluate("mi-parcours", D(2019, 6, 20))
    assert again.already_done and again.on == D(2019, 6, 12) and again.summary == first.summary
    assert [r.finding for r in again.results] == MID_TERM_FINDINGS
    assert scalar("SELECT count(*) FROM events WHERE kind = 'evaluation'") == 1
    assert scalar("SELECT count(*) FROM messages WHERE kind = 'evaluation_summary'") == 1


def test_an_unknown_evaluation_or_a_convention_not_started_is_refused(examples_loaded):
    with pytest.raises(RuleViolation, match="étape « signature de la convention » : une évaluation porte sur une convention en cours"):
        evaluate("mi-parcours", D(2019, 6, 12))
    sign_both()
    with pytest.raises(RuleViolation, match=r"ne prévoit pas cette évaluation \(prévues : mi-parcours, "
                                                       r"finale\)"):
        evaluate("trimestrielle", D(2019, 6, 12))


def test_the_due_day_reminder_is_withdrawn_when_the_evaluation_is_done_that_day(examples_loaded):
    sign_both()
    day = D(2019, 6, 12)
    with clock.frozen(day), unit_of_work() as session:
        sweep.sweep(session, day, get_settings())
        assert evaluation.due_evaluations(session, day) == [(INNOSPRINT, "mi-parcours")]
        assert evaluation.due_evaluations(session, D(2019, 6, 11)) == []
    with unit_of_work() as session:
        levels = session.execute(sa.select(Message.level, Message.status).join(
            Obligation, Obligation.id == Message.obligation_id).where(Obligation.kind == "evaluation")).all()
    assert levels == [("due", "queued")]
    evaluate("mi-parcours", day)
    assert scalar("SELECT status FROM messages WHERE level = 'due' AND obligation_id IN "
                  "(SELECT id FROM obligations WHERE kind = 'evaluation')") == "withdrawn"
    with unit_of_work() as session:
        assert evaluation.due_evaluations(session, day) == []


def test_the_evaluation_flow_publishes_the_table_and_summary_keyed_by_grant(prefect_server, examples_loaded):
    from flows.evaluation import grant_evaluation

    mid_term_year()
    state = grant_evaluation(reference=INNOSPRINT, name="mi-parcours", business_date=D(2019, 6, 12),
                             return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert result["key"] == "evaluation-casq-2018-innosprint-mi-parcours"
    assert result["artifacts"] == ["evaluation-casq-2018-innosprint-mi-parcours",
                                   "evaluation-casq-2018-innosprint-mi-parcours-synthese"]
    table = latest_artifact("evaluation-casq-2018-innosprint-mi-parcours")
    assert table["type"] == "table"
    rows = table["data"] if isinstance(table["data"], list) else json.loads(table["data"])
    assert [(r["indicateur"], r["écart"], r["constat"]) for r in rows][0] == (
        "projets accompagnés", "-3", MID_TERM_FINDINGS[0])
    markdown = latest_artifact("evaluation-casq-2018-innosprint-mi-parcours-synthese")
    assert markdown["type"] == "markdown"
    for finding in MID_TERM_FINDINGS:
        assert finding in markdown["data"]

    async def run_name() -> str:
        async with get_client() as client:
            return (await client.read_flow_run(state.state_details.flow_run_id)).name

    assert asyncio.run(run_name()) == f"évaluation mi-parcours {INNOSPRINT}"
    assert scalar("SELECT actor FROM events WHERE kind = 'evaluation'") == (
        f"prefect:évaluation mi-parcours {INNOSPRINT}")
