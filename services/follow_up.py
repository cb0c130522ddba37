"""After the daily sweep: the evaluations that fell due, then the closures of the grants
that entered `closing`. Written once for `grantflow simulate` and the daily-sweep flow.

`follow_up` takes `FollowUpSteps`, how each step is run: `LocalFollowUpSteps` calls the
services in a unit of work each (the simulation); flows/closure.py runs each evaluation
and closure as its own subflow (a failed one is told to its authority by its hook and
does not stop the others).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from core.settings import Settings
from domain import labels
from services import closure, evaluation
from services.grants import get_grant


@dataclass(frozen=True)
class FollowUpSteps:
    """Each step returns what it did in French, or None when it failed (told elsewhere)."""

    due_evaluations: Callable[[dt.date, int | None], list[tuple[str, str]]]
    evaluate: Callable[[str, str, dt.date], str | None]
    due_closures: Callable[[int | None], list[str]]
    close: Callable[[str, dt.date], str | None]


@dataclass
class FollowUp:
    evaluations: list[str] = field(default_factory=list)
    closures: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return self.evaluations + self.closures + self.failed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def follow_up(steps: FollowUpSteps, day: dt.date, limit: int | None = None) -> FollowUp:
    """At most `limit` of each (None: all); the rest, if any, on the next day."""
    done = FollowUp()
    for reference, name in steps.due_evaluations(day, limit):
        if (said := steps.evaluate(reference, name, day)) is not None:
            done.evaluations.append(said)
        else:
            done.failed.append(f"évaluation {name} {reference}")
    for reference in steps.due_closures(limit):
        if (said := steps.close(reference, day)) is not None:
            done.closures.append(said)
        else:
            done.failed.append(f"clôture {reference}")
    return done


@dataclass(frozen=True)
class LocalFollowUpSteps:
    """Each evaluation and closure in its own transaction; a failure stops the day (simulate)."""

    unit_of_work: Callable[[], AbstractContextManager[Session]]
    settings: Settings
    actor: str = "grantflow simulate"

    def due_evaluations(self, day: dt.date, limit: int | None = None) -> list[tuple[str, str]]:
        with self.unit_of_work() as session:
            return evaluation.due_evaluations(session, day, limit=limit)

    def evaluate(self, reference: str, name: str, day: dt.date) -> str:
        with self.unit_of_work() as session:
            outcome = evaluation.evaluate(session, get_grant(session, reference, for_update=True), name,
                                          self.settings, day=day, actor=self.actor)
        missed = ", ".join(f"{r.label} ({r.status})" for r in outcome.missed) or "tous atteints"
        return f"{reference} : évaluation {name} faite, objectifs non atteints : {missed}"

    def due_closures(self, limit: int | None = None) -> list[str]:
        with self.unit_of_work() as session:
            return closure.due_closures(session, limit=limit)

    def close(self, reference: str, day: dt.date) -> str:
        with self.unit_of_work() as session:
            outcome = closure.close(session, get_grant(session, reference, for_update=True), self.settings,
                                    day=day, actor=self.actor)
        return f"{reference} : clôture, {outcome.message} ({labels.stage_move(outcome.stage, outcome.stage)})"

    def steps(self) -> FollowUpSteps:
        return FollowUpSteps(self.due_evaluations, self.evaluate, self.due_closures, self.close)


def daily_follow_up(unit_of_work: Callable[[], AbstractContextManager[Session]], settings: Settings, *,
                    actor: str = "grantflow simulate") -> Callable[[dt.date], list[str]]:
    """The follow-up as a daily job of `grantflow simulate` (services.simulation.DailyJob)."""
    steps = LocalFollowUpSteps(unit_of_work, settings, actor).steps()
    return lambda day: follow_up(steps, day).lines()
