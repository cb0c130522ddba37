"""Playing the calendar: each day, the facts of that day, the sweep, the payments, the mail.

The clock is set to each simulated day, so the journal, the reminders and the mails carry
that day's date. The same service functions as the flows run; only Prefect is left out
(a flow run costs about a second, and a year has 365 days).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from core import clock
from core.settings import Settings
from db.models import Deliberation
from domain import labels
from services import closure, commands, evaluation, journal_anchors, mailing, sweep
from services.dossier import DossierError, clipped, french_rule, read_yaml
from services.events import apply_event
from services.grants import get_grant

DailyJob = Callable[[dt.date], list[str]]


class ScheduledFact(BaseModel):
    """A fact to record on its own date during the simulation: `reference` + a history event."""

    model_config = ConfigDict(extra="forbid")
    reference: str
    fact: commands.HistoryEvent


def fact_date(fact: commands.Command) -> dt.date:
    for name in ("on", "received", "paid_on", "session"):
        value = getattr(fact, name, None)
        if isinstance(value, dt.date):
            return value
    raise ValueError(f"aucune date dans {fact!r}")


def read_facts(path: Path) -> list[ScheduledFact]:
    raw = read_yaml(path) or []
    if not isinstance(raw, list):
        raise DossierError(f"{path} : une liste d'événements datés est attendue (- {{reference: ..., event: ..., "
                           "on: AAAA-MM-JJ}})")
    facts = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise DossierError(f"{path} : événement n°{index + 1} : un objet {{reference: ..., event: ...}} est "
                               f"attendu, pas {clipped(repr(item))}")
        item = dict(item)
        reference = item.pop("reference", None)
        try:
            facts.append(ScheduledFact(reference=reference, fact=TypeAdapter(commands.HistoryEvent)
                                       .validate_python(item)))
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise DossierError(f"{path} : événement n°{index + 1} ({reference}) : champ « {field} » = "
                               f"{clipped(repr(first.get('input')))} : {french_rule(first)}") from error
    return facts


def first_day(session: Session) -> dt.date | None:
    last = sweep.last_swept_day(session)
    if last is not None:
        return last + dt.timedelta(days=1)
    return session.scalar(sa.select(sa.func.min(Deliberation.session_on)))


def days(start: dt.date, until: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= until:
        yield day
        day += dt.timedelta(days=1)


def evaluations_and_closures(unit_of_work: Callable[[], AbstractContextManager[Session]], settings: Settings, *,
                             actor: str = "grantflow simulate") -> DailyJob:
    """The daily job the sweep flow runs as subflows: the evaluations that fell due, then
    the closures of the grants that entered `closing` (one lookup on a day without any)."""

    def job(day: dt.date) -> list[str]:
        with unit_of_work() as session:
            due = bool(evaluation.due_evaluations(session, day, limit=1) or closure.due_closures(session, limit=1))
        if not due:
            return []
        return (evaluation.run_due(unit_of_work, settings, day, actor=actor)
                + closure.run_due(unit_of_work, settings, day, actor=actor))

    return job


@dataclass
class Simulation:
    unit_of_work: Callable[[], AbstractContextManager[Session]]
    settings: Settings
    mail_gateway: Any
    daily_jobs: Sequence[DailyJob] = ()

    def run(self, until: dt.date, facts: Sequence[ScheduledFact] = (), start: dt.date | None = None,
            echo: Callable[[str], None] = print) -> None:
        with self.unit_of_work() as session:
            start = start or first_day(session)
        if start is None:
            echo("Aucune subvention : rien à simuler.")
            return
        pending = sorted(facts, key=lambda f: fact_date(f.fact))
        for day in days(start, until):
            with clock.frozen(day):
                for line in self.one_day(day, [f for f in pending if fact_date(f.fact) == day]):
                    echo(f"{day.isoformat()}  {line}")
        # Once for the whole run (a simulated year takes seconds): the heads it leaves.
        with self.unit_of_work() as session:
            journal_anchors.anchor(session, self.settings)

    def one_day(self, day: dt.date, facts: Sequence[ScheduledFact]) -> list[str]:
        lines: list[str] = []
        for scheduled in facts:
            with self.unit_of_work() as session:
                grant = get_grant(session, scheduled.reference, for_update=True)
                before = grant.stage
                apply_event(session, grant, scheduled.fact, self.settings, actor="grantflow simulate")
                lines.append(f"{scheduled.reference} : {labels.label(labels.FACTS, scheduled.fact.event)} enregistré"
                             + (f" ({labels.stage_move(before, grant.stage)})" if grant.stage != before else ""))
        with self.unit_of_work() as session:
            result = sweep.sweep(session, day, self.settings, actor="grantflow simulate")
        lines += [f"{reference} : {labels.stage_move(source, target)}" for reference, source, target in result.transitions]
        for job in self.daily_jobs:
            lines += job(day)
        sent = mailing.send_queued(self.unit_of_work, self.mail_gateway, self.settings)
        lines += [f"courriel à {line}" for line in sent.sent]
        lines += [f"courriel en échec définitif : {line}" for line in sent.failures]
        if sent.error:
            lines.append(f"messagerie indisponible, {sent.waiting} courriel(s) en attente : {sent.error}")
        return lines
