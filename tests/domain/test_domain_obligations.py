"""Report, evaluation and financial-report due dates; the reminder ladder."""
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import RuleViolation
from domain.obligations import (
    ReminderPolicy,
    answer_due,
    evaluation_due_date,
    financial_report_due,
    reminder_level,
    reminder_schedule,
    report_due_dates,
)

STARTS_002 = date(2018, 12, 12)  # exécutoire
ENDS_002 = date(2019, 12, 11)  # one year


def test_seed_002_bimonthly_reports():
    assert report_due_dates(STARTS_002, ENDS_002, 2) == [
        date(2019, 2, 12),
        date(2019, 4, 12),
        date(2019, 6, 12),
        date(2019, 8, 12),
        date(2019, 10, 12),
        date(2019, 12, 12),
    ]


def test_short_last_period_still_reports_at_the_end():
    assert report_due_dates(STARTS_002, ENDS_002, 5) == [date(2019, 5, 12), date(2019, 10, 12), date(2019, 12, 12)]


def test_report_dates_do_not_drift_after_february():
    # counted from the start each time: 31/03, not 28/03
    assert report_due_dates(date(2019, 1, 31), date(2019, 4, 29), 1) == [
        date(2019, 2, 28),
        date(2019, 3, 31),
        date(2019, 4, 30),
    ]


def test_report_dates_refused():
    with pytest.raises(RuleViolation):
        report_due_dates(STARTS_002, ENDS_002, 0)
    with pytest.raises(RuleViolation):
        report_due_dates(ENDS_002, STARTS_002, 2)


def test_evaluations_and_financial_report():
    assert evaluation_due_date(STARTS_002, 6) == date(2019, 6, 12)  # mid-term
    assert evaluation_due_date(STARTS_002, 12) == date(2019, 12, 12)  # final
    assert financial_report_due(date(2019, 12, 31)) == date(2020, 6, 30)
    assert financial_report_due(date(2019, 12, 11)) == date(2020, 6, 11)
    assert answer_due(date(2019, 2, 12)) == date(2019, 2, 27)
    assert answer_due(date(2019, 2, 12), days=30) == date(2019, 3, 14)


# -- reminders ---------------------------------------------------------------------------

DUE = date(2019, 2, 12)


def test_reminder_schedule_default_policy():
    assert reminder_schedule(DUE, ReminderPolicy()) == [
        ("before", date(2019, 2, 5)),
        ("due", date(2019, 2, 12)),
        ("late_7", date(2019, 2, 19)),
        ("late_21", date(2019, 3, 5)),
    ]


@pytest.mark.parametrize(
    ("today", "level"),
    [
        (date(2019, 2, 4), None),
        (date(2019, 2, 5), "before"),
        (date(2019, 2, 11), "before"),
        (date(2019, 2, 12), "due"),
        (date(2019, 2, 18), "due"),
        (date(2019, 2, 19), "late_7"),
        (date(2019, 3, 4), "late_7"),
        (date(2019, 3, 5), "late_21"),
        (date(2020, 1, 1), "late_21"),
    ],
)
def test_reminder_level(today, level):
    assert reminder_level(DUE, today, ReminderPolicy()) == level


def test_reminder_levels_named_after_the_policy():
    policy = ReminderPolicy(before_days=3, escalation_days=(1, 10))
    assert [name for name, _ in reminder_schedule(DUE, policy)] == ["before", "due", "late_1", "late_10"]
    assert reminder_level(DUE, date(2019, 2, 13), policy) == "late_1"


@pytest.mark.parametrize("bad", [{"before_days": -1}, {"escalation_days": (21, 7)}, {"escalation_days": (7, 7)},
                                 {"escalation_days": (0,)}])
def test_invalid_policy(bad):
    with pytest.raises(RuleViolation):
        ReminderPolicy(**bad)


@settings(max_examples=60, deadline=None)
@given(
    due=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    offsets=st.lists(st.integers(-60, 120), min_size=2, max_size=6),
    before=st.integers(0, 30),
    steps=st.lists(st.integers(1, 90), unique=True, max_size=4).map(sorted),
)
def test_reminder_levels_only_go_up_with_time(due, offsets, before, steps):
    policy = ReminderPolicy(before_days=before, escalation_days=tuple(steps))
    order = [name for name, _ in reminder_schedule(due, policy)]
    days = sorted(due + timedelta(days=o) for o in offsets)
    ranks = [-1 if (lvl := reminder_level(due, d, policy)) is None else order.index(lvl) for d in days]
    assert ranks == sorted(ranks)
    # on or after the due date there is always a level, and never "before"
    for d in days:
        if d >= due:
            assert reminder_level(due, d, policy) not in (None, "before")
