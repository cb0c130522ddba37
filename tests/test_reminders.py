"""Obligations, the daily sweep and the reminders, through a real SMTP server (issue 3)."""
from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from core import clock
from core.settings import get_settings
from db.models import Grant, Message, Obligation
from db.session import unit_of_work
from gateways.wiring import mail_gateway
from services import commands, mailing, sweep
from tests.support import INNOSPRINT, AtMessage, empty_store, record, scalar, sign_both

D = dt.date


def run_sweep(day: dt.date) -> sweep.SweepResult:
    with clock.frozen(day), unit_of_work() as session:
        return sweep.sweep(session, day, get_settings())


def send_all() -> mailing.SendResult:
    settings = get_settings()
    return mailing.send_queued(unit_of_work, mail_gateway(settings), settings)


def obligations(kind: str) -> list[tuple[int, dt.date, str]]:
    with unit_of_work() as session:
        return [tuple(r) for r in session.execute(
            sa.select(Obligation.number, Obligation.due_on, Obligation.status).join(Grant)
            .where(Grant.reference == INNOSPRINT, Obligation.kind == kind).order_by(Obligation.number))]


def test_report_obligations_every_two_months_with_the_working_day_rule(examples_loaded):
    # One year from exécutoire (12/12/2018), a report every two months; 12/10/2019 is a
    # Saturday: the deadline moves to Monday 14/10/2019.
    assert [(n, due) for n, due, _ in obligations("report")] == [
        (1, D(2019, 2, 12)), (2, D(2019, 4, 12)), (3, D(2019, 6, 12)),
        (4, D(2019, 8, 12)), (5, D(2019, 10, 14)), (6, D(2019, 12, 12)),
    ]
    assert [due for _, due, _ in obligations("evaluation")] == [D(2019, 6, 12), D(2019, 12, 12)]
    assert [due for _, due, _ in obligations("payment")] == [D(2019, 5, 31)]
    # 11/12/2019 + 6 months = 11/06/2020, a Thursday.
    assert [due for _, due, _ in obligations("financial_report")] == [D(2020, 6, 11)]


def test_a_reminder_goes_through_smtp_in_french_with_the_due_date(examples_loaded, smtp_settings):
    sign_both()
    result = run_sweep(D(2019, 2, 5))  # 7 days before report n°1
    assert result.reminders["before"] == 1
    sent = send_all()
    assert len(sent.sent) == 1
    [mail] = smtp_settings.messages
    assert mail["To"] == "contact@faubourg-numerique.example.org"
    assert "12/02/2019" in mail["Subject"] and "compte rendu n°1" in mail["Subject"]
    body = mail.get_body(("plain",)).get_content()
    assert "mardi 12 février 2019" in body
    assert "Communauté d'Agglomération du Saint-Quentinois" in body
    assert mail.get_all("Message-ID") == [mail["Message-ID"]]


def test_escalation_is_copied_to_the_authority(examples_loaded, smtp_settings):
    sign_both()
    run_sweep(D(2019, 3, 5))  # report n°1 (12/02) is 21 days late
    send_all()
    [mail] = smtp_settings.messages
    assert "21 jours" in mail["Subject"]
    assert mail["Cc"] == "dev-eco@casq.example.org"
    # Only the highest level reached is queued: no burst of "before", "due" and "late_7".
    assert scalar("SELECT count(*) FROM messages") == 1


def test_sweeping_again_the_same_or_an_earlier_day_changes_nothing(examples_loaded):
    sign_both()
    run_sweep(D(2019, 2, 20))
    with unit_of_work() as session:
        before = [tuple(r) for r in session.execute(sa.text(
            "SELECT o.id, o.status, m.level FROM obligations o LEFT JOIN messages m ON m.obligation_id = o.id "
            "ORDER BY o.id, m.level"))]
        events = session.scalar(sa.text("SELECT count(*) FROM events"))
    for day in (D(2019, 2, 20), D(2019, 2, 12), D(2019, 2, 5)):
        again = run_sweep(day)
        assert again.transitions == [] and again.overdue == 0 and sum(again.reminders.values()) == 0
    with unit_of_work() as session:
        after = [tuple(r) for r in session.execute(sa.text(
            "SELECT o.id, o.status, m.level FROM obligations o LEFT JOIN messages m ON m.obligation_id = o.id "
            "ORDER BY o.id, m.level"))]
        assert session.scalar(sa.text("SELECT count(*) FROM events")) == events
    assert after == before


def test_no_reminder_for_a_report_recorded_on_time(examples_loaded):
    sign_both()
    record(INNOSPRINT, commands.ProgressReport(on=D(2019, 2, 1), indicators=commands.Indicators(
        projects_supported=4)))
    for day in (D(2019, 2, 5), D(2019, 2, 12), D(2019, 2, 19), D(2019, 3, 5)):
        run_sweep(day)
    assert obligations("report")[0] == (1, D(2019, 2, 12), "done")
    with unit_of_work() as session:
        levels = session.scalars(sa.select(Message.level).join(Obligation, Obligation.id == Message.obligation_id)
                                 .where(Obligation.kind == "report")).all()
    assert levels == []


def test_smtp_down_mid_run_loses_nothing_and_sends_nothing_twice(examples_loaded, smtp_settings):
    sign_both()
    # 12/06/2019: report n°3 and the mid-term evaluation are due; report n°1 and n°2 late;
    # the payment of 31/05 is late too: several reminders at once.
    run_sweep(D(2019, 6, 12))
    queued = scalar("SELECT count(*) FROM messages WHERE status = 'queued'")
    assert queued >= 4
    settings = get_settings()
    first = mailing.send_queued(unit_of_work, AtMessage(mail_gateway(settings), lambda n: n == 3 and smtp_settings.stop()), settings)
    assert len(first.sent) == 2 and first.error is not None
    assert scalar("SELECT count(*) FROM messages WHERE status = 'queued'") == queued - 2
    assert scalar("SELECT count(*) FROM messages WHERE last_error IS NOT NULL") == 1
    smtp_settings.start()
    second = send_all()
    assert len(second.sent) == queued - 2 and second.waiting == 0
    ids = Counter(m["Message-ID"] for m in smtp_settings.messages)
    assert len(ids) == queued and set(ids.values()) == {1}


def test_two_sweeps_and_two_mail_runs_at_once_send_each_reminder_once(examples_loaded, smtp_settings):
    if examples_loaded.backend != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite serialises them, covered by the sequential tests)")
    sign_both()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            run_sweep(D(2019, 6, 12))
            barrier.wait()
            send_all()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    queued = scalar("SELECT count(*) FROM messages")
    assert queued >= 4
    assert scalar("SELECT count(*) FROM messages WHERE status = 'sent'") == queued
    ids = Counter(m["Message-ID"] for m in smtp_settings.messages)
    assert len(ids) == queued and set(ids.values()) == {1}
    assert smtp_settings.connections == 2  # both workers did send a share


def test_the_sweep_moves_an_ended_convention_to_closing(examples_loaded):
    sign_both()
    assert run_sweep(D(2019, 12, 11)).transitions == []  # last day of the convention
    assert run_sweep(D(2019, 12, 12)).transitions == [(INNOSPRINT, "active", "closing")]


def count_statements(engine: sa.Engine, day: dt.date) -> int:
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        run_sweep(day)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    return len(statements)


@pytest.mark.parametrize("day", [D(2019, 7, 1), D(2020, 3, 1)])
def test_the_sweep_statement_count_does_not_depend_on_the_number_of_grants(store, day):
    from grantflow.synthetic import generate

    counts = {}
    for n in (10, 1000):
        empty_store(store.engine)
        with unit_of_work() as session:
            generate(session, n, seed=n)
        counts[n] = count_statements(store.engine, day)
        # The day does real work at both sizes: reminders queued, grants moved on.
        assert scalar("SELECT count(*) FROM messages") > 0
    assert counts[10] == counts[1000]
