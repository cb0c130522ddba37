"""Run names for the Prefect UI: the grant, the step, the business day."""
from __future__ import annotations

import datetime as dt
from typing import Any

from prefect.runtime import flow_run

from domain.calendar import format_date_fr
from grantflow import clock


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
