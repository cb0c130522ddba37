"""The one place that reads the time.

Everything else asks this module, so that a whole convention year can be simulated
(`grantflow simulate`) and a past business day re-run: `frozen(day)` sets the clock
for the code inside the block, in this thread and the tasks it starts.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator

import pendulum

PARIS = pendulum.timezone("Europe/Paris")

_frozen: contextvars.ContextVar[pendulum.DateTime | None] = contextvars.ContextVar(
    "grantflow_frozen_now", default=None
)


def now() -> pendulum.DateTime:
    """The current instant, in Europe/Paris."""
    frozen_at = _frozen.get()
    if frozen_at is not None:
        return frozen_at
    return pendulum.now(PARIS)


def today() -> dt.date:
    """The current business date: the Europe/Paris calendar day (a plain date: sqlite3
    cannot bind pendulum's Date subclass)."""
    day = now().date()
    return dt.date(day.year, day.month, day.day)


@contextlib.contextmanager
def frozen(at: dt.date | dt.datetime) -> Iterator[pendulum.DateTime]:
    """Run the block as if it were `at` (a day means 09:00 Paris time that day)."""
    if isinstance(at, dt.datetime):
        instant = pendulum.instance(at, tz=PARIS)
    else:
        instant = pendulum.datetime(at.year, at.month, at.day, 9, 0, tz=PARIS)
    token = _frozen.set(instant)
    try:
        yield instant
    finally:
        _frozen.reset(token)
