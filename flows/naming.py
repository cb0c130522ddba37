"""Run names for the Prefect UI: the grant, the step, the business day.

A scheduled run gets its name when it is created (deployments/serve.py renames the runs the
server's scheduler makes), and the same name again when it starts: both come from here.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from prefect.runtime import flow_run

from core import clock
from domain.calendar import format_date_fr

# The scheduled steps, by flow name: what their runs are called on the day they are due.
SCHEDULED_STEPS = {
    "daily-sweep": "balayage du",
    "payment-run": "virements au",
    "mail-run": "envoi des courriels du",
}


def business_day(value: Any) -> dt.date:
    """A run's `business_date` parameter (a date, its ISO text, or absent: today)."""
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value) if value else clock.today()


def dated(prefix: str):
    """A run-name generator: "<prefix> <JJ/MM/AAAA>" from the run's business date."""
    def name() -> str:
        return f"{prefix} {format_date_fr(business_day(flow_run.parameters.get('business_date')))}"

    return name


def timed(prefix: str):
    """A run-name generator: "<prefix> <JJ/MM/AAAA HH:MM>" (Paris) from the run's scheduled start."""
    def name() -> str:
        return f"{prefix} {_paris(flow_run.scheduled_start_time or clock.now())}"

    return name


def _paris(instant: dt.datetime) -> str:
    local = instant.astimezone(clock.PARIS)
    return f"{format_date_fr(local.date())} {local:%H:%M}"


def scheduled_run_name(flow_name: str, expected_start: dt.datetime) -> str | None:
    """The name of a run the scheduler created, from its flow and its expected start."""
    prefix = SCHEDULED_STEPS.get(flow_name)
    if prefix is None:
        return None
    if flow_name == "mail-run":  # several a day: the time tells them apart
        return f"{prefix} {_paris(expected_start)}"
    return f"{prefix} {format_date_fr(expected_start.astimezone(clock.PARIS).date())}"
