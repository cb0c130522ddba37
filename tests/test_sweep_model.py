"""The daily sweep's reminders against the rule they implement, on random histories (issue 16).

The rule, as an operator would state it: on each day swept, every open obligation of a
grant that still reminds gets a reminder at the highest level it has reached (7 days
before, due, 7 and 21 days late), unless one at or above that level is already queued; a
day earlier than the last day swept queues nothing. The sweep reads only a window of due
dates and the obligations placed since its last day: these histories mix days swept one
after the other, gaps of weeks, past days swept again, obligations created or re-dated
between two sweeps (with due dates already past), and grants closed meanwhile, and
compare the queue with the rule after every sweep. On both stores.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import clock
from core.settings import get_settings
from db.models import Grant, Message, Obligation
from db.session import unit_of_work
from domain.obligations import ReminderPolicy
from grantflow.synthetic import generate
from services import obligations, sweep, sweep_rules
from tests.support import empty_store

LEVELS = sweep_rules.level_offsets(ReminderPolicy())
START = dt.date(2019, 6, 1)

steps = st.lists(st.one_of(
    st.tuples(st.just("next days"), st.integers(1, 3)),
    st.tuples(st.just("gap"), st.integers(8, 45)),
    st.tuples(st.just("past day"), st.integers(0, 20)),
    st.tuples(st.just("create"), st.integers(-40, 20)),
    st.tuples(st.just("re-date"), st.integers(-30, 30)),
    st.tuples(st.just("close a grant"), st.integers(0, 11)),
), min_size=4, max_size=10)


def highest_level(due_on: dt.date, day: dt.date) -> int | None:
    reached = [rank for rank, (_name, offset) in enumerate(LEVELS) if due_on + dt.timedelta(days=offset) <= day]
    return max(reached) if reached else None


def queue() -> set[tuple[int, str, dt.date]]:
    with unit_of_work() as session:
        return {tuple(row) for row in session.execute(
            sa.select(Message.obligation_id, Message.level, Message.queued_on).where(Message.obligation_id.is_not(None)))}


def what_the_rule_queues(day: dt.date, last: dt.date | None) -> set[tuple[int, str, dt.date]]:
    """The reminders the rule adds to today's queue for a sweep of `day`."""
    if last is not None and day < last:
        return set()
    with unit_of_work() as session:
        rows = session.execute(
            sa.select(Obligation.id, Obligation.due_on, sa.func.max(Message.level_rank))
            .join(Grant, Grant.id == Obligation.grant_id)
            .outerjoin(Message, Message.obligation_id == Obligation.id)
            .where(Obligation.remind, Obligation.status.in_(("pending", "overdue")),
                   Grant.stage.in_(sweep_rules.LIVE_STAGES))
            .group_by(Obligation.id, Obligation.due_on)).all()
    added = set()
    for obligation_id, due_on, queued in rows:
        level = highest_level(due_on, day)
        if level is not None and level > (queued if queued is not None else -1):
            added.add((obligation_id, LEVELS[level][0], day))
    return added


def run_sweep(day: dt.date) -> None:
    with clock.frozen(day), unit_of_work() as session:
        sweep.sweep(session, day, get_settings())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=steps)
def test_the_reminders_queued_are_those_of_the_rule_whatever_the_history(store, history):
    empty_store(store.engine)
    with unit_of_work() as session:
        generate(session, 12, seed=11)
    ids = {}
    with unit_of_work() as session:
        ids["grants"] = list(session.scalars(sa.select(Grant.id).order_by(Grant.id)))
    day, last, created = START, None, 0
    for what, n in [("next days", 0), *history]:
        if what in ("next days", "gap", "past day"):
            swept = day - dt.timedelta(days=n) if what == "past day" else day + dt.timedelta(days=n)
            if what != "past day":
                day = swept
            expected = queue() | what_the_rule_queues(swept, last)
            run_sweep(swept)
            assert queue() == expected, (what, swept, last)
            last = max(last or swept, swept)
        elif what == "create":  # after today's sweep, with a due date maybe already past
            created += 1
            with clock.frozen(day), unit_of_work() as session:
                grant = session.get(Grant, ids["grants"][created % len(ids["grants"])])
                obligations.ensure(session, grant, "payment", 100 + created, label="versement supplémentaire",
                                   debtor=obligations.AUTHORITY, due_on=day + dt.timedelta(days=n))
        elif what == "re-date":  # an avenant moves a due date (the first open one of a grant)
            with clock.frozen(day), unit_of_work() as session:
                moved = session.scalars(sa.select(Obligation).where(
                    Obligation.grant_id == ids["grants"][abs(n) % len(ids["grants"])],
                    Obligation.status.in_(("pending", "overdue"))).order_by(Obligation.id).limit(1)).first()
                if moved is not None:
                    obligations.reschedule(moved, day + dt.timedelta(days=n))
        else:  # a grant closed: its reminders are over
            with unit_of_work() as session:
                session.execute(sa.update(Grant).where(Grant.id == ids["grants"][n]).values(stage="closed"))
