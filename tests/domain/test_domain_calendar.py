"""Months, holidays, working days, clear days. Expected dates written by hand from a
2019 wall calendar (1 January 2019 was a Tuesday; Easter Sunday was 21 April)."""
import calendar as stdlib_calendar
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import (
    add_months,
    after_clear_days,
    clear_days_between,
    deadline,
    easter_sunday,
    french_holidays,
    is_working_day,
    last_day_of_month,
    next_target2_day,
    next_working_day,
    paris_date,
)
from domain.departments import normalise_department
from domain.errors import RuleViolation

AISNE = "002"  # seed 002: Saint-Quentin


# -- months -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2018, 8, 31), 6, date(2019, 2, 28)),
        (date(2019, 8, 31), 6, date(2020, 2, 29)),  # leap year
        (date(2018, 12, 12), 12, date(2019, 12, 12)),  # seed 002: one year from exécutoire
        (date(2019, 1, 31), 1, date(2019, 2, 28)),
        (date(2019, 1, 31), 2, date(2019, 3, 31)),
        (date(2019, 3, 31), -1, date(2019, 2, 28)),
        (date(2019, 1, 15), -13, date(2017, 12, 15)),
        (date(2019, 12, 31), 0, date(2019, 12, 31)),
    ],
)
def test_add_months(start, months, expected):
    assert add_months(start, months) == expected


@settings(max_examples=80, deadline=None)
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)), st.integers(-1200, 1200))
def test_add_months_never_overflows_and_clamps(start, months):
    result = add_months(start, months)
    # the month moves by exactly `months`
    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    # the day is kept, or clamped to the last day of the target month
    last = stdlib_calendar.monthrange(result.year, result.month)[1]
    assert result.day == min(start.day, last)


def test_last_day_of_month():
    assert last_day_of_month(2019, 5) == date(2019, 5, 31)  # "au plus tard en Mai 2019"
    assert last_day_of_month(2020, 2) == date(2020, 2, 29)
    assert last_day_of_month(2019, 12) == date(2019, 12, 31)


# -- holidays -----------------------------------------------------------------------

@pytest.mark.parametrize("year, expected", [(2019, date(2019, 4, 21)), (2024, date(2024, 3, 31)),
                                             (2025, date(2025, 4, 20)), (2000, date(2000, 4, 23)),
                                             (2038, date(2038, 4, 25)), (2018, date(2018, 4, 1))])
def test_easter(year, expected):
    assert easter_sunday(year) == expected


@pytest.mark.parametrize(
    "day",
    [
        date(2019, 1, 1),
        date(2019, 4, 22),  # Easter Monday
        date(2019, 5, 1),  # Wednesday
        date(2019, 5, 8),  # Wednesday
        date(2019, 5, 30),  # Ascension, Thursday
        date(2019, 7, 14),
        date(2019, 8, 15),  # Thursday
        date(2019, 11, 1),
        date(2019, 11, 11),
        date(2019, 12, 25),
    ],
)
def test_national_holidays_in_aisne(day):
    assert day in french_holidays(AISNE, 2019)
    assert not is_working_day(day, AISNE)


def test_alsace_moselle_good_friday_and_26_december():
    good_friday = date(2019, 4, 19)
    st_stephen = date(2019, 12, 26)
    assert is_working_day(good_friday, AISNE)
    assert is_working_day(st_stephen, AISNE)
    for department in ("057", "067", "068"):
        assert not is_working_day(good_friday, department), department
        assert not is_working_day(st_stephen, department), department
    assert date(2018, 3, 30) in french_holidays("057", [2018, 2019])  # Good Friday 2018
    assert date(2019, 12, 26) in french_holidays("67", range(2019, 2020))


def test_overseas_and_corsica():
    assert date(2019, 12, 20) in french_holidays("974", 2019)  # La Réunion, abolition of slavery
    assert date(2019, 12, 20) not in french_holidays(AISNE, 2019)
    assert french_holidays("2A", 2019) == french_holidays(AISNE, 2019)


def test_holiday_names_are_french():
    assert french_holidays(AISNE, 2019)[date(2019, 7, 14)] == "Fête nationale"


@pytest.mark.parametrize(("given", "code"), [("2", "002"), ("02", "002"), ("002", "002"), ("2a", "02A"),
                                             ("02B", "02B"), ("974", "974"), (" 57 ", "057")])
def test_department_normalised(given, code):
    assert normalise_department(given) == code


@pytest.mark.parametrize("bad", ["000", "020", "96", "6AE", "979", "", "Aisne", 2])
def test_unknown_department_refused(bad):
    with pytest.raises(RuleViolation) as refused:
        normalise_department(bad)
    assert refused.value.field == "department"


# -- working days and deadlines -------------------------------------------------------

@pytest.mark.parametrize(
    ("day", "department", "expected"),
    [
        (date(2019, 5, 30), AISNE, date(2019, 5, 31)),  # Ascension Thursday -> Friday
        (date(2019, 5, 1), AISNE, date(2019, 5, 2)),
        (date(2019, 8, 15), AISNE, date(2019, 8, 16)),
        (date(2019, 7, 14), AISNE, date(2019, 7, 15)),  # a Sunday
        (date(2019, 4, 19), AISNE, date(2019, 4, 19)),  # Good Friday works in Aisne
        (date(2019, 4, 19), "057", date(2019, 4, 23)),  # Fri holiday, Sat, Sun, Easter Monday
        (date(2019, 12, 25), "067", date(2019, 12, 27)),
        (date(2019, 12, 25), AISNE, date(2019, 12, 26)),
        (date(2019, 5, 31), AISNE, date(2019, 5, 31)),  # seed 002 payment deadline, a Friday
        (date(2019, 6, 8), AISNE, date(2019, 6, 11)),  # Sat, Sun, Whit Monday 10/06
    ],
)
def test_next_working_day(day, department, expected):
    assert next_working_day(day, department) == expected


def test_deadline_shift_is_configurable():
    saturday = date(2019, 6, 1)
    assert deadline(saturday, AISNE) == date(2019, 6, 3)
    assert deadline(saturday, AISNE, shift_to_working_day=False) == saturday


@settings(max_examples=60, deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31)),
       st.sampled_from(["002", "057", "067", "974", "02A", "075"]))
def test_next_working_day_is_the_first_working_day_from_the_input(day, department):
    result = next_working_day(day, department)
    assert result >= day
    assert result.weekday() < 5
    assert is_working_day(result, department)
    assert result - day < timedelta(days=7)
    for offset in range((result - day).days):
        assert not is_working_day(day + timedelta(days=offset), department)


# -- clear days ----------------------------------------------------------------------

def test_clear_days_seed_002_convocation():
    # convened 21/11/2018, session 27/11/2018: 22, 23, 24, 25, 26 are clear
    assert clear_days_between(date(2018, 11, 21), date(2018, 11, 27)) == 5
    assert after_clear_days(date(2018, 11, 21), 5) == date(2018, 11, 27)
    assert clear_days_between(date(2018, 11, 27), date(2018, 11, 27)) == 0
    assert clear_days_between(date(2018, 11, 26), date(2018, 11, 27)) == 0


def test_clear_days_reversed_refused():
    with pytest.raises(RuleViolation):
        clear_days_between(date(2018, 11, 27), date(2018, 11, 21))


@settings(max_examples=60, deadline=None)
@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 400))
def test_after_clear_days_leaves_exactly_n_clear_days(day, n):
    assert clear_days_between(day, after_clear_days(day, n)) == n


# -- instants to Paris days ----------------------------------------------------------------

def test_paris_date():
    assert paris_date(datetime(2018, 12, 31, 23, 30, tzinfo=timezone.utc)) == date(2019, 1, 1)  # UTC+1
    assert paris_date(datetime(2019, 6, 30, 22, 30, tzinfo=timezone.utc)) == date(2019, 7, 1)  # UTC+2
    assert paris_date(datetime(2019, 6, 30, 21, 30, tzinfo=timezone.utc)) == date(2019, 6, 30)
    with pytest.raises(RuleViolation):
        paris_date(datetime(2019, 6, 30, 21, 30))


@pytest.mark.parametrize("ordered_on, executed_on", [
    (date(2019, 5, 31), date(2019, 5, 31)),   # a Friday: that day
    (date(2019, 6, 1), date(2019, 6, 3)),     # Saturday -> Monday
    (date(2019, 4, 19), date(2019, 4, 23)),   # Good Friday -> (Easter Monday closed) Tuesday
    (date(2019, 5, 1), date(2019, 5, 2)),     # 1 May
    (date(2019, 12, 24), date(2019, 12, 24)),  # open
    (date(2019, 12, 25), date(2019, 12, 27)),  # 25 and 26 December
    (date(2019, 7, 14), date(2019, 7, 15)),   # a Sunday; 14 July is no TARGET2 holiday
    (date(2019, 5, 30), date(2019, 5, 30)),   # Ascension: a French holiday, TARGET2 open
])
def test_the_execution_date_is_a_target2_business_day(ordered_on, executed_on):
    assert next_target2_day(ordered_on) == executed_on
