"""Calendar arithmetic of French procedure: months, clear days, holidays, due dates.

Every date here is a `datetime.date` read as a Europe/Paris calendar date (DOMAIN §7):
a due date is a day, not an instant, so no time zone can shift it. The only function
that sees an instant is `paris_date`, which turns one into its Paris day.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType

import holidays
import pendulum

from domain.departments import ALSACE_MOSELLE, normalise_department
from domain.errors import RuleViolation

PARIS = pendulum.timezone("Europe/Paris")

# The `holidays` package names French subdivisions its own way: Moselle "57", Bas-Rhin
# and Haut-Rhin together "6AE", overseas by number or ISO letters. Metropolitan
# departments (and Corsica) have no subdivision: the national list applies.
_HOLIDAY_SUBDIVISIONS: Mapping[str, str] = MappingProxyType(
    {
        "057": "57",
        "067": "6AE",
        "068": "6AE",
        "971": "971",
        "972": "972",
        "973": "973",
        "974": "974",
        "975": "PM",
        "976": "976",
        "977": "BL",
        "978": "MF",
        "984": "TF",
        "986": "WF",
        "987": "PF",
        "988": "NC",
    }
)


def format_date_fr(day: date) -> str:
    """27/11/2018: the one spelling of a date in French acts, messages, mails and files."""
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


def format_datetime_fr(instant: datetime) -> str:
    """27/11/2018 14:05: an instant as it is shown, in its own time zone."""
    return f"{format_date_fr(instant)} {instant:%H:%M}"


def paris_date(instant: datetime) -> date:
    """The Europe/Paris calendar date of an aware instant (23:30 UTC on 31/12 is 01/01)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        # A naive datetime has no place on the time line: guessing its zone could move
        # a deadline by one day.
        raise RuleViolation("instant", instant, "horodatage sans fuseau horaire : un instant daté (aware) est attendu")
    return instant.astimezone(PARIS).date()


def days_in_month(year: int, month: int) -> int:
    """28 to 31."""
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def last_day_of_month(year: int, month: int) -> date:
    """31/05/2019 for "au plus tard en mai 2019" (seed 002)."""
    return date(year, month, days_in_month(year, month))


def add_months(day: date, months: int) -> date:
    """Same day-of-month `months` later (or earlier), clamped to the month's end (§7).

    31/08/2019 + 6 -> 29/02/2020; 31/08/2018 + 6 -> 28/02/2019.
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    if not 1 <= year <= 9999:
        raise RuleViolation("date", day, f"date hors calendrier après ajout de {months} mois")
    return date(year, month, min(day.day, days_in_month(year, month)))


def add_days(day: date, days: int) -> date:
    """Plain calendar days (used by the 60-day payment rule and answer delays)."""
    return day + timedelta(days=days)


# -- holidays ----------------------------------------------------------------------

def easter_sunday(year: int) -> date:
    """Gregorian Easter (Meeus/Jones/Butcher), for the Alsace-Moselle Good Friday."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=512)
def _holidays_of(department: str, year: int) -> Mapping[date, str]:
    found = dict(
        holidays.France(subdiv=_HOLIDAY_SUBDIVISIONS.get(department), years=year, language="fr").items()
    )
    if department in ALSACE_MOSELLE:
        # Code du travail L3134-13: the two local holidays. The package has them today;
        # stating them here keeps them if a release renames or drops the subdivision.
        found.setdefault(easter_sunday(year) - timedelta(days=2), "Vendredi saint")
        found.setdefault(date(year, 12, 26), "Saint-Étienne")
    return MappingProxyType(dict(sorted(found.items())))


def french_holidays(department: str, years: int | Iterable[int]) -> dict[date, str]:
    """Public holidays of the department for the given year(s), date -> French name."""
    code = normalise_department(department)
    wanted = [years] if isinstance(years, int) else sorted(set(years))
    result: dict[date, str] = {}
    for year in wanted:
        result.update(_holidays_of(code, year))
    return result


def is_holiday(day: date, department: str) -> bool:
    return day in _holidays_of(normalise_department(department), day.year)


def is_working_day(day: date, department: str) -> bool:
    """Monday to Friday and not a public holiday of the department."""
    return day.weekday() < 5 and not is_holiday(day, department)


def next_working_day(day: date, department: str) -> date:
    """The day itself when it is a working day, otherwise the next one."""
    code = normalise_department(department)
    while not (day.weekday() < 5 and day not in _holidays_of(code, day.year)):
        day += timedelta(days=1)
    return day


def deadline(day: date, department: str, shift_to_working_day: bool = True) -> date:
    """A due date that falls on a Saturday, Sunday or holiday moves to the next working
    day (§7, configurable, on by default; cf. code de procédure civile art. 642)."""
    code = normalise_department(department)
    return next_working_day(day, code) if shift_to_working_day else day


# -- clear days ("jours francs") ----------------------------------------------------

def clear_days_between(earlier: date, later: date) -> int:
    """Whole days strictly between the two dates: 21/11 -> 27/11 is 5 (§7)."""
    if later < earlier:
        raise RuleViolation(
            "dates",
            (earlier.isoformat(), later.isoformat()),
            f"ordre des dates incohérent : le {format_date_fr(later)} précède le {format_date_fr(earlier)}",
        )
    return max(0, (later - earlier).days - 1)


def after_clear_days(day: date, n: int) -> date:
    """First day something may happen once n clear days have passed after `day`."""
    if n < 0:
        raise RuleViolation("jours_francs", n, "un nombre de jours francs est positif ou nul")
    return day + timedelta(days=n + 1)


# -- TARGET2 (the euro payment system) ---------------------------------------------------

def target2_closed(day: date) -> bool:
    """TARGET2 is closed on weekends, 1 January, Good Friday, Easter Monday, 1 May, 25 and
    26 December (ECB, TARGET2 calendar): no SEPA credit transfer is executed on those days,
    whatever the French holidays."""
    if day.weekday() >= 5 or (day.month, day.day) in ((1, 1), (5, 1), (12, 25), (12, 26)):
        return True
    easter = easter_sunday(day.year)
    return day in (easter - timedelta(days=2), easter + timedelta(days=1))


def next_target2_day(day: date) -> date:
    """`day` itself if TARGET2 is open, otherwise its next business day: the requested
    execution date of a transfer ordered on `day`."""
    while target2_closed(day):
        day += timedelta(days=1)
    return day
