"""The daily sweep reads only what is due (issue 16): the obligations whose reminder level
falls on the day and those placed since the last day swept; gaps of several days,
obligations created with past due dates or after the day's sweep, past days swept again,
a large day in parts, two sweeps at once. On both stores unless said otherwise."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core import clock
from core.settings import get_settings
from db.models import Grant, Message, Obligation
from db.session import unit_of_work
from domain.obligations import ReminderPolicy, reminder_level
from grantflow.synthetic import generate
from services import journal, obligations, sweep, sweep_rules, sweep_steps
from services.grants import get_grant
from tests.support import INNOSPRINT, at_once, empty_store, load_examples, scalar, sign_both

D = dt.date


def run_sweep(day: dt.date) -> sweep.SweepResult:
    with clock.frozen(day), unit_of_work() as session:
        return sweep.sweep(session, day, get_settings())


def run_day(day: dt.date, workers: int = 2) -> sweep.SweepResult:
    with clock.frozen(day):
        return sweep.sweep_day(unit_of_work, day, get_settings(), workers=workers)


def reminders_of(kind: str, number: int = 1) -> list[tuple[str, dt.date]]:
    with unit_of_work() as session:
        return [tuple(r) for r in session.execute(
            sa.select(Message.level, Message.queued_on).join(Obligation, Obligation.id == Message.obligation_id)
            .where(Obligation.kind == kind, Obligation.number == number).order_by(Message.level_rank))]


def placed_on(kind: str, number: int = 1) -> dt.date | None:
    with unit_of_work() as session:
        return session.execute(sa.select(Obligation.placed_on).where(Obligation.kind == kind,
                                                                     Obligation.number == number)).scalar_one()


def read_on(day: dt.date, after: dt.date | None) -> int:
    """How many obligations a sweep of `day` reads for reminders, `after` the last day swept."""
    window = sweep_steps.ReminderWindow(day, after, tuple(sweep_rules.level_offsets(ReminderPolicy())))
    with unit_of_work() as session:
        return sweep_steps.reminders_due(session.connection(), window, up_to=10_000)


def add_second_payment(on: dt.date, due_on: dt.date) -> None:
    """A fact of `on` makes a second instalment due on `due_on` (a conditional instalment, an act recorded late)."""
    with clock.frozen(on), unit_of_work() as session:
        grant = get_grant(session, INNOSPRINT, for_update=True)
        obligations.ensure(session, grant, "payment", 2, label="versement n°2 (5 000,00 EUR)",
                           debtor=obligations.AUTHORITY, due_on=due_on)


def test_a_day_reads_only_the_obligations_whose_level_falls_on_it(store):
    # Loaded and signed on their business days: nothing is placed after 5 February.
    with clock.frozen(D(2018, 12, 12)):
        load_examples()
    with clock.frozen(D(2019, 1, 7)):
        sign_both()
    # Report n°1 is due 12/02/2019, report n°2 12/04/2019 (a bimonthly report from 12/12/2018).
    run_sweep(D(2019, 2, 4))
    run_sweep(D(2019, 2, 5))
    assert reminders_of("report", 1) == [("before", D(2019, 2, 5))]
    # A day when no level falls reads nothing and queues nothing; the day a level falls
    # reads the obligations whose level it is, not the others.
    assert read_on(D(2019, 2, 6), after=D(2019, 2, 5)) == 0
    quiet = run_sweep(D(2019, 2, 6))
    assert sum(quiet.reminders.values()) == 0 and quiet.overdue == 0
    with unit_of_work() as session:
        open_reminding = session.scalar(sa.select(sa.func.count()).where(
            Obligation.remind, Obligation.status.in_(("pending", "overdue"))))
    assert 0 < read_on(D(2019, 2, 12), after=D(2019, 2, 11)) < open_reminding
    run_sweep(D(2019, 2, 12))
    assert reminders_of("report", 1) == [("before", D(2019, 2, 5)), ("due", D(2019, 2, 12))]
    late = run_sweep(D(2019, 2, 13))
    assert (late.overdue, sum(late.reminders.values())) == (1, 0)
    run_sweep(D(2019, 2, 19))
    assert reminders_of("report", 1) == [("before", D(2019, 2, 5)), ("due", D(2019, 2, 12)),
                                         ("late_7", D(2019, 2, 19))]


def test_a_gap_of_several_days_reminds_once_at_the_highest_level_reached(examples_loaded):
    sign_both()
    run_sweep(D(2019, 2, 5))
    # No sweep from 6 February to 4 March: on 5 March report n°1 (12/02) is 21 days late.
    result = run_sweep(D(2019, 3, 5))
    assert result.reminders == {"before": 0, "due": 0, "late_7": 0, "late_21": 1}
    assert reminders_of("report", 1) == [("before", D(2019, 2, 5)), ("late_21", D(2019, 3, 5))]
    assert scalar("SELECT count(*) FROM events WHERE kind = 'obligation_overdue'") == 1
    # The days after the gap, swept again or for the first time, add nothing for it.
    for day in (D(2019, 3, 5), D(2019, 2, 20), D(2019, 3, 6), D(2019, 3, 30)):
        run_sweep(day)
    assert reminders_of("report", 1) == [("before", D(2019, 2, 5)), ("late_21", D(2019, 3, 5))]


def test_an_obligation_created_with_past_due_dates_is_reminded_at_its_highest_level(examples_loaded):
    sign_both()
    run_sweep(D(2019, 3, 5))
    add_second_payment(on=D(2019, 3, 6), due_on=D(2019, 2, 20))  # 14 days late on 6 March: "late_7"
    assert placed_on("payment", 2) == D(2019, 3, 6)
    result = run_sweep(D(2019, 3, 6))
    assert reminders_of("payment", 2) == [("late_7", D(2019, 3, 6))]
    assert result.overdue == 1
    run_sweep(D(2019, 3, 12))
    run_sweep(D(2019, 3, 13))  # 21 days after 20/02
    assert reminders_of("payment", 2) == [("late_7", D(2019, 3, 6)), ("late_21", D(2019, 3, 13))]


def test_an_obligation_created_after_the_days_sweep_is_reminded_the_next_day(examples_loaded):
    """The sweep of 6 March ran in the morning; the obligation is created in the afternoon
    with a level reached that very day (its due date): the sweep of 7 March reads it."""
    sign_both()
    run_sweep(D(2019, 3, 5))
    run_sweep(D(2019, 3, 6))
    add_second_payment(on=D(2019, 3, 6), due_on=D(2019, 3, 6))
    assert reminders_of("payment", 2) == []
    result = run_sweep(D(2019, 3, 7))
    assert reminders_of("payment", 2) == [("due", D(2019, 3, 7))]
    assert result.overdue == 1
    # Read once: the next days read it only when its next level falls (13/03).
    assert sum(run_sweep(D(2019, 3, 8)).reminders.values()) == 0
    run_sweep(D(2019, 3, 13))
    assert reminders_of("payment", 2) == [("due", D(2019, 3, 7)), ("late_7", D(2019, 3, 13))]


def test_a_due_date_moved_is_placed_again_on_its_ladder(examples_loaded):
    sign_both()
    run_sweep(D(2019, 4, 5))  # 7 days before report n°2 (12/04/2019)
    assert reminders_of("report", 2) == [("before", D(2019, 4, 5))]
    with clock.frozen(D(2019, 4, 6)), unit_of_work() as session:  # brought forward to 8 April
        grant = get_grant(session, INNOSPRINT, for_update=True)
        moved = session.scalars(sa.select(Obligation).where(Obligation.grant_id == grant.id,
                                                            Obligation.kind == "report", Obligation.number == 2)).one()
        obligations.reschedule(moved, D(2019, 4, 8))
    assert placed_on("report", 2) == D(2019, 4, 6)
    run_sweep(D(2019, 4, 8))  # its new due day: read although 8/04 is no level of its old date
    assert reminders_of("report", 2) == [("before", D(2019, 4, 5)), ("due", D(2019, 4, 8))]
    run_sweep(D(2019, 4, 12))  # the old due day: nothing more
    assert reminders_of("report", 2) == [("before", D(2019, 4, 5)), ("due", D(2019, 4, 8))]
    run_sweep(D(2019, 4, 15))
    assert reminders_of("report", 2) == [("before", D(2019, 4, 5)), ("due", D(2019, 4, 8)),
                                         ("late_7", D(2019, 4, 15))]


def test_a_past_day_swept_again_queues_nothing_even_for_an_obligation_placed_since(examples_loaded):
    sign_both()
    run_sweep(D(2019, 3, 5))
    add_second_payment(on=D(2019, 3, 5), due_on=D(2019, 2, 20))
    before = scalar("SELECT count(*) FROM messages")
    # 20 February is its "due" day; a sweep of that past day queues nothing: the next day
    # swept reads it at the highest level it reached by then.
    assert sum(run_sweep(D(2019, 2, 20)).reminders.values()) == 0
    assert scalar("SELECT count(*) FROM messages") == before
    run_sweep(D(2019, 3, 6))
    assert reminders_of("payment", 2) == [("late_7", D(2019, 3, 6))]


def highest_levels() -> dict[int, int]:
    with unit_of_work() as session:
        return dict(session.execute(sa.text(
            "SELECT obligation_id, max(level_rank) FROM messages GROUP BY obligation_id")).all())


def open_obligations_due() -> list[tuple[int, dt.date]]:
    with unit_of_work() as session:
        return [tuple(r) for r in session.execute(
            sa.select(Obligation.id, Obligation.due_on).join(Grant, Grant.id == Obligation.grant_id)
            .where(Obligation.remind, Obligation.status.in_(("pending", "overdue")),
                   Grant.stage.in_(sweep_rules.LIVE_STAGES)))]


RANKS = {"before": 0, "due": 1, "late_7": 2, "late_21": 3}


def test_days_swept_after_gaps_reach_the_highest_level_of_each_obligation(store):
    """200 synthetic grants: every open obligation ends with its highest level reached by
    the last day (domain.obligations.reminder_level), whether the days between were swept."""
    with unit_of_work() as session:
        generate(session, 200, seed=3)
    run_sweep(D(2019, 1, 2))
    for day in (D(2019, 1, 12), D(2019, 1, 30)):  # gaps of 10 and 18 days
        run_sweep(day)
    reached = {i: reminder_level(due, D(2019, 1, 30), ReminderPolicy()) for i, due in open_obligations_due()}
    expected = {i: RANKS[level] for i, level in reached.items() if level is not None}
    top = highest_levels()
    assert expected and {i: top.get(i) for i in expected} == expected
    # Nothing is queued above the level reached, nor for an obligation that reached none.
    assert all(i in expected and rank <= expected[i] for i, rank in top.items() if i in reached)


def state() -> dict[str, list[tuple]]:
    with unit_of_work() as session:
        def rows(sql: str) -> list[tuple]:
            return sorted(tuple(r) for r in session.execute(sa.text(sql)))

        return {
            "stages": rows("SELECT reference, stage FROM grants"),
            "obligations": rows("SELECT g.reference, o.kind, o.number, o.status, o.placed_on "
                                "FROM obligations o JOIN grants g ON g.id = o.grant_id"),
            "reminders": rows("SELECT g.reference, o.kind, o.number, m.level, m.queued_on FROM messages m "
                              "JOIN obligations o ON o.id = m.obligation_id JOIN grants g ON g.id = o.grant_id"),
            "events": rows("SELECT g.reference, e.seq, e.kind, e.hash FROM events e JOIN grants g ON g.id = e.grant_id"),
        }


@pytest.fixture
def small_parts(monkeypatch):
    # A large day made small: more than 50 obligations to look at, parts of 40 grants.
    monkeypatch.setattr(sweep, "SPLIT_ABOVE", 50)
    monkeypatch.setattr(sweep, "PART_GRANTS", 40)


def test_a_large_day_in_parts_does_what_one_transaction_does(store, small_parts):
    with unit_of_work() as session:
        generate(session, 200, seed=7)
    with unit_of_work() as session:
        assert len(sweep.plan(session, D(2019, 7, 1), get_settings())) == 5
    # The same portfolio swept once in one transaction, then again from scratch in parts.
    one = run_sweep(D(2019, 7, 1))
    whole = state()
    empty_store(store.engine)
    with unit_of_work() as session:
        generate(session, 200, seed=7)
    parts = run_day(D(2019, 7, 1), workers=2 if store.backend == "postgresql" else 1)
    assert parts.parts == 5
    assert (parts.transitions_total, parts.overdue, parts.reminders) == \
        (one.transitions_total, one.overdue, one.reminders)
    assert parts.transitions == one.transitions
    assert state() == whole
    with unit_of_work() as session:
        assert journal.verify(session) == []
    # The next days are small again: one part; a rerun of the day, in parts, adds nothing.
    again = run_day(D(2019, 7, 1))
    assert (again.overdue, sum(again.reminders.values()), again.transitions_total) == (0, 0, 0)
    with unit_of_work() as session:
        assert sweep.plan(session, D(2019, 7, 2), get_settings()) == [sweep.EVERY_GRANT]
    assert scalar("SELECT count(*) FROM sweep_runs WHERE business_date = :d", d=D(2019, 7, 1)) == 1


def test_a_failed_part_leaves_the_day_to_be_swept_again_which_does_only_what_is_left(store, small_parts,
                                                                                      monkeypatch):
    with unit_of_work() as session:
        generate(session, 200, seed=7)
    real = sweep.sweep_part
    calls = []

    def failing(session, day, settings, part=sweep.EVERY_GRANT, **kwargs):  # noqa: ANN001
        calls.append(part)
        if len(calls) == 3:
            raise RuntimeError("connexion perdue au milieu du balayage")
        return real(session, day, settings, part, **kwargs)

    monkeypatch.setattr(sweep, "sweep_part", failing)
    with pytest.raises(RuntimeError):
        run_day(D(2019, 7, 1), workers=1)
    assert scalar("SELECT count(*) FROM sweep_runs") == 0
    first = scalar("SELECT count(*) FROM messages")
    assert first > 0  # the parts before the failure are committed
    monkeypatch.setattr(sweep, "sweep_part", real)
    rest = run_day(D(2019, 7, 1), workers=1)
    done = state()
    empty_store(store.engine)
    with unit_of_work() as session:
        generate(session, 200, seed=7)
    run_sweep(D(2019, 7, 1))
    assert state()["reminders"] == done["reminders"] and state()["obligations"] == done["obligations"]
    assert first + sum(rest.reminders.values()) == scalar("SELECT count(*) FROM messages")


def test_two_sweeps_in_parts_at_once_do_the_day_once(postgres_store, small_parts):
    with unit_of_work() as session:
        generate(session, 200, seed=7)
    results = at_once(lambda: run_day(D(2019, 7, 1), workers=2), lambda: run_day(D(2019, 7, 1), workers=2))
    together = state()
    overdue = sum(r.overdue for r in results)
    queued = sum(sum(r.reminders.values()) for r in results)
    with unit_of_work() as session:
        assert journal.verify(session) == []
    assert scalar("SELECT count(DISTINCT obligation_id) FROM messages") == scalar("SELECT count(*) FROM messages")
    empty_store(postgres_store.engine)
    with unit_of_work() as session:
        generate(session, 200, seed=7)
    alone = run_sweep(D(2019, 7, 1))
    assert (overdue, queued) == (alone.overdue, sum(alone.reminders.values()))
    assert together == state()
