"""Several workers on one PostgreSQL store (issue 7): sweeps and mail runs share the work.

200 synthetic grants (grantflow.synthetic), swept on 1 February 2019: a few grants move
on, about 250 obligations fall overdue and about 270 reminders are queued at every level,
then sent through a real aiosmtpd server.
"""
from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from core import clock
from core.settings import get_settings
from db.models import Event, Message, Obligation
from db.session import unit_of_work
from gateways.wiring import mail_gateway
from grantflow.synthetic import generate
from services import journal, mailing, sweep
from tests.support import AtMessage, at_once, scalar

DAY = dt.date(2019, 2, 1)
GRANTS = 200


def run_sweep(day: dt.date = DAY, actor: str = "daily-sweep") -> sweep.SweepResult:
    with clock.frozen(day), unit_of_work() as session:
        return sweep.sweep(session, day, get_settings(), actor=actor)


def send_all(**kwargs) -> mailing.SendResult:
    settings = get_settings()
    with clock.frozen(DAY):
        return mailing.send_queued(unit_of_work, mail_gateway(settings), settings, **kwargs)


def breaks() -> list[journal.Break]:
    with unit_of_work() as session:
        return journal.verify(session)


@pytest.fixture
def portfolio(postgres_store):
    with unit_of_work() as session:
        generate(session, GRANTS, seed=11)
    return postgres_store


def state() -> dict[str, object]:
    with unit_of_work() as session:
        def rows(sql: str) -> list[tuple]:
            return [tuple(r) for r in session.execute(sa.text(sql))]

        return {
            "stages": rows("SELECT id, stage FROM grants ORDER BY id"),
            "obligations": rows("SELECT id, status FROM obligations ORDER BY id"),
            "reminders": rows("SELECT obligation_id, level FROM messages ORDER BY obligation_id, level"),
            "events": rows("SELECT grant_id, kind, count(*) FROM events GROUP BY grant_id, kind ORDER BY 1, 2"),
        }


def test_two_sweeps_and_two_mail_runs_at_once_share_the_work(portfolio, smtp_settings):
    first, second = at_once(run_sweep, run_sweep)
    # Between them they did the day's work once: every obligation due before the day is
    # marked (none left behind), each by one sweep, with one journal event each.
    assert scalar("SELECT count(*) FROM obligations WHERE status = 'pending' AND remind AND due_on < :d", d=DAY) == 0
    overdue = scalar("SELECT count(*) FROM obligations WHERE status = 'overdue'")
    assert overdue > 200
    assert first.overdue + second.overdue == overdue
    assert scalar("SELECT count(*) FROM events WHERE kind = 'obligation_overdue'") == overdue
    assert first.transitions_total + second.transitions_total == scalar(
        "SELECT count(*) FROM events WHERE kind = 'stage_changed' AND actor = 'daily-sweep'") > 0
    queued = scalar("SELECT count(*) FROM messages")
    assert sum(first.reminders.values()) + sum(second.reminders.values()) == queued > 250
    assert scalar("SELECT count(DISTINCT obligation_id) FROM messages") == queued  # one level each
    assert {level for _, level in state()["reminders"]} == {"before", "due", "late_7", "late_21"}
    assert breaks() == []
    # Another sweep of the same day finds nothing left to do.
    again = run_sweep()
    assert (again.transitions_total, again.overdue, sum(again.reminders.values())) == (0, 0, 0)

    sent = at_once(send_all, send_all)
    assert sum(len(s.sent) for s in sent) == queued
    assert all(s.sent for s in sent)  # both runs took a share
    assert smtp_settings.connections == 2
    assert scalar("SELECT count(*) FROM messages WHERE status = 'sent'") == queued
    ids = Counter(m["Message-ID"] for m in smtp_settings.messages)
    assert len(ids) == queued and set(ids.values()) == {1}  # none twice, none left behind


def test_a_sweep_skips_the_grants_another_holds_and_the_next_one_does_them(portfolio):
    """SKIP LOCKED made visible: while a transaction holds half the grants as a sweep in
    progress holds them, a sweep journals the other half; the next sweep does the rest, once."""
    with unit_of_work() as session:
        held = session.execute(sa.text(
            "SELECT id FROM grants WHERE id % 2 = 0 ORDER BY id FOR NO KEY UPDATE")).scalars().all()
        expected = session.scalar(sa.text(
            "SELECT count(*) FROM obligations WHERE remind AND status = 'pending' AND due_on < :d"), {"d": DAY})
        done = {}
        thread = threading.Thread(target=lambda: done.setdefault("first", run_sweep()))
        thread.start()
        thread.join(60)  # the sweep does not wait for the held grants
        assert not thread.is_alive()
    first = done["first"]
    assert 0 < first.overdue < expected
    with unit_of_work() as session:
        marked = session.execute(sa.select(Obligation.grant_id).where(Obligation.status == "overdue")).scalars().all()
    assert marked and not set(marked) & set(held)
    second = run_sweep()
    assert first.overdue + second.overdue == expected
    assert scalar("SELECT count(*) FROM events WHERE kind = 'obligation_overdue'") == expected
    # Reminders write no journal and take no grant lock: the first sweep queued those of
    # every grant, the held ones included; the second none. None twice, none left behind.
    with unit_of_work() as session:
        reminded = session.execute(sa.text("SELECT grant_id FROM messages WHERE queued_on = :d"), {"d": DAY})
        by_first = set(reminded.scalars()) & set(held)
    assert sum(first.reminders.values()) > 0 and by_first
    assert sum(second.reminders.values()) == 0
    assert scalar("SELECT count(DISTINCT obligation_id) FROM messages") == scalar("SELECT count(*) FROM messages")
    assert sum(run_sweep().reminders.values()) == 0
    assert breaks() == []


def test_the_set_based_journal_verifies_with_any_actor_on_both_stores(store):
    with unit_of_work() as session:
        generate(session, 40, seed=5)
    run_sweep(dt.date(2019, 7, 1), actor='opérateur "nuit"\n\\ é')
    run_sweep(dt.date(2020, 3, 1))
    assert scalar("SELECT count(*) FROM events WHERE kind IN ('obligation_overdue', 'stage_changed') "
                  "AND business_date >= :d", d=dt.date(2019, 7, 1)) > 100
    assert breaks() == []


def test_append_many_journals_a_long_stream_in_chunks(store):
    """More events than one chunk, several per grant, from a generator: chained in order."""
    with unit_of_work() as session:
        generate(session, 3, seed=1)
        ids = session.execute(sa.text("SELECT id FROM grants ORDER BY id")).scalars().all()
    total = journal.APPEND_CHUNK * 2 + 17
    stream = (journal.NewEvent(ids[i % 3], "note", {"n": i, "on": DAY}) for i in range(total))
    statements: list[str] = []
    def listener(conn, cursor, statement, *_args) -> None:  # noqa: ANN001
        statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", listener)
    try:
        with unit_of_work() as session:
            assert journal.append_many(session, stream, actor="test") == total
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", listener)
    assert sum("INSERT INTO events" in s for s in statements) == 3  # one per chunk
    with unit_of_work() as session:
        payloads = session.scalars(sa.select(Event.payload).where(Event.kind == "note")
                                   .order_by(Event.grant_id, Event.seq)).all()
        numbers = [p["n"] for p in payloads]
    assert sorted(numbers) == list(range(total))
    assert breaks() == []


def fail_at(n: int):
    def before(count: int) -> None:
        if count == n:
            raise RuntimeError("panne imprévue du processus d'envoi")

    return before


def test_an_unexpected_error_mid_batch_keeps_what_was_sent(portfolio, smtp_settings):
    run_sweep()
    settings = get_settings()
    # Batches of 1, 2, 4, 8: the 12th message is the 5th of the fourth batch.
    with pytest.raises(RuntimeError):
        mailing.send_queued(unit_of_work, AtMessage(mail_gateway(settings), fail_at(12)), settings)
    assert len(smtp_settings.messages) == 11
    assert scalar("SELECT count(*) FROM messages WHERE status = 'sent'") == 11
    rest = send_all()
    ids = Counter(m["Message-ID"] for m in smtp_settings.messages)
    assert len(ids) == scalar("SELECT count(*) FROM messages") == 11 + len(rest.sent)
    assert set(ids.values()) == {1}


def test_batch_claims_keep_the_limit_and_per_message_commits_remain_available(portfolio, smtp_settings):
    run_sweep()
    assert len(send_all(limit=5).sent) == 5
    assert len(send_all(limit=40, batch=1).sent) == 40
    with unit_of_work() as session:
        assert session.scalar(sa.select(sa.func.count()).where(Message.status == "sent")) == 45
    assert len(smtp_settings.messages) == 45
