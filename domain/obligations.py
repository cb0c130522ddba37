"""Due dates of what the association owes (reports, evaluations, financial report) and
the reminder ladder around each due date.

Dates here are calendar dates, not yet shifted off weekends and holidays: the caller
applies `calendar.deadline` with the department, so the shift stays one configurable rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from domain.calendar import add_days, add_months, format_date_fr
from domain.errors import RuleViolation

FINANCIAL_REPORT_MONTHS = 6  # Cerfa 15059 / arrêté 11/10/2006: within 6 months of the exercise's end
ANSWER_DAYS = 15  # the authority answers each report (seed 002 art. 4) but no delay is set: configurable default


def report_due_dates(starts_on: date, ends_on: date, every_months: int) -> list[date]:
    """A report at the end of each period of `every_months`, due the day after the
    period ends; the last period stops with the convention, even when shorter.

    Start 12/12/2018, end 11/12/2019, every 2 months: 12/02, 12/04, 12/06, 12/08, 12/10,
    12/12/2019. Each date is counted from the start (not from the previous date) so a
    31st stays a 31st after February.
    """
    if isinstance(every_months, bool) or not isinstance(every_months, int) or every_months < 1:
        raise RuleViolation("reports.every_months", every_months, "périodicité des comptes rendus : au moins 1 mois")
    if ends_on < starts_on:
        raise RuleViolation(
            "reports.ends_on",
            ends_on,
            f"fin de convention ({format_date_fr(ends_on)}) antérieure à son début ({format_date_fr(starts_on)})",
        )
    after_end = ends_on + timedelta(days=1)
    dates: list[date] = []
    k = 1
    while (due := add_months(starts_on, k * every_months)) <= after_end:
        dates.append(due)
        k += 1
    if not dates or dates[-1] < after_end:
        dates.append(after_end)  # the short last period still ends with a report
    return dates


def evaluation_due_date(starts_on: date, at_months: int) -> date:
    """Evaluation `at_months` after the start (seed 002 art. 6: 6 and 12 months)."""
    if isinstance(at_months, bool) or not isinstance(at_months, int) or at_months < 1:
        raise RuleViolation("evaluation.at_months", at_months, "échéance d'évaluation : au moins 1 mois après le début")
    return add_months(starts_on, at_months)


def financial_report_due(exercise_ends_on: date) -> date:
    """Compte rendu financier (Cerfa 15059) within 6 months after the financed exercise
    ends (loi 2000-321 art. 10, arrêté du 11/10/2006): 31/12/2019 -> 30/06/2020."""
    return add_months(exercise_ends_on, FINANCIAL_REPORT_MONTHS)


def answer_due(report_received_on: date, days: int = ANSWER_DAYS) -> date:
    """When the authority's answer to a report is due."""
    if days < 0:
        raise RuleViolation("reports.answer_days", days, "délai de réponse invalide : nombre de jours positif")
    return add_days(report_received_on, days)


# -- reminders ---------------------------------------------------------------------

BEFORE = "before"
DUE = "due"


@dataclass(frozen=True)
class ReminderPolicy:
    """A reminder `before_days` ahead, one on the due day, then escalations after it."""

    before_days: int = 7
    escalation_days: tuple[int, ...] = (7, 21)

    def __post_init__(self) -> None:
        if self.before_days < 0:
            raise RuleViolation("reminders.before_days", self.before_days, "nombre de jours positif ou nul attendu")
        steps = self.escalation_days
        if any(n < 1 for n in steps) or list(steps) != sorted(set(steps)):
            # Levels are named after their day (late_7): duplicates would collide and an
            # unordered ladder would escalate backwards.
            raise RuleViolation(
                "reminders.escalation_days", steps, "relances attendues à des jours strictement croissants, au moins 1"
            )


def reminder_schedule(due_on: date, policy: ReminderPolicy = ReminderPolicy()) -> list[tuple[str, date]]:
    """Each level with its trigger day, in order: before, due, late_7, late_21."""
    schedule = [(BEFORE, due_on - timedelta(days=policy.before_days))] if policy.before_days else []
    schedule.append((DUE, due_on))
    schedule.extend((f"late_{n}", due_on + timedelta(days=n)) for n in policy.escalation_days)
    return schedule


def reminder_level(due_on: date, today: date, policy: ReminderPolicy = ReminderPolicy()) -> str | None:
    """The level whose trigger day is the latest one reached by `today`; None before the first."""
    level = None
    for name, trigger in reminder_schedule(due_on, policy):
        if trigger <= today:
            level = name
    return level
