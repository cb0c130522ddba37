"""The daily sweep: set-based SQL over grants and obligations for one business date.

A fixed number of statements whatever the number of grants (never one task, one query
or one object per grant). Running it again for the same day, or for an earlier day,
changes nothing more: transitions and overdue marks only move forward, and a reminder
is unique per (obligation, level) and never queued below a level already queued.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from db.models import Act, Grant, Message, Obligation, Signature, SweepRun
from domain.lifecycle import Stage
from domain.obligations import DUE, ReminderPolicy, reminder_schedule
from grantflow import clock
from grantflow.settings import Settings
from services import journal

OPEN = ("pending", "overdue")
LIVE_STAGES = (Stage.PREFECTURE.value, Stage.SIGNATURE.value, Stage.ACTIVE.value, Stage.CLOSING.value)


@dataclass
class SweepResult:
    business_date: dt.date
    transitions: list[tuple[str, str, str]] = field(default_factory=list)  # (reference, from, to)
    overdue: int = 0
    reminders: dict[str, int] = field(default_factory=dict)  # level -> queued

    def as_dict(self) -> dict[str, object]:
        return {"business_date": self.business_date.isoformat(), "transitions": len(self.transitions),
                "overdue": self.overdue, "reminders": dict(self.reminders)}


def policy_of(settings: Settings) -> ReminderPolicy:
    return ReminderPolicy(before_days=settings.reminder_before_days,
                          escalation_days=tuple(settings.reminder_escalation_days))


def level_offsets(policy: ReminderPolicy) -> list[tuple[str, int]]:
    """Each reminder level and its trigger day relative to the due date (before = -7 ...)."""
    origin = dt.date(2000, 1, 1)
    return [(name, (trigger - origin).days) for name, trigger in reminder_schedule(origin, policy)]


def template_for(level: str) -> str:
    if level == DUE:
        return "reminder_due"
    return "reminder_before" if level.startswith("before") else "reminder_late"


def _move_stages(session: Session, day: dt.date, result: SweepResult, *, actor: str) -> None:
    """The time-driven moves of domain.lifecycle, as two UPDATEs.

    signature -> active: act exécutoire by `day` and, when the convention is compulsory,
    signed by both parties; active -> closing: the convention ended before `day`.
    """
    signatures = (sa.select(sa.func.count()).where(Signature.grant_id == Grant.id)
                  .correlate(Grant).scalar_subquery())
    executoire = (sa.select(Act.executoire_on).where(Act.grant_id == Grant.id)
                  .correlate(Grant).scalar_subquery())
    moves = [
        (Stage.SIGNATURE, Stage.ACTIVE,
         sa.and_(executoire <= day, sa.or_(Grant.convention_required.is_(False), signatures >= 2))),
        (Stage.ACTIVE, Stage.CLOSING, Grant.ends_on < day),
    ]
    new_events: list[journal.NewEvent] = []
    for source, target, condition in moves:
        moved = session.execute(
            sa.update(Grant).where(Grant.stage == source.value, condition)
            .values(stage=target.value).returning(Grant.id, Grant.reference)
            .execution_options(synchronize_session=False)
        ).all()
        for grant_id, reference in moved:
            result.transitions.append((reference, source.value, target.value))
            new_events.append(journal.NewEvent(grant_id, "stage_changed",
                                               {"from": source.value, "to": target.value, "by": "daily-sweep"}))
    journal.append_many(session, new_events, actor=actor)


def _mark_overdue(session: Session, day: dt.date, result: SweepResult, *, actor: str) -> None:
    # Informative deadlines (the prefect's control window) are not owed by anyone: past, they are over.
    session.execute(
        sa.update(Obligation).where(Obligation.remind.is_(False), Obligation.status == "pending",
                                    Obligation.due_on < day)
        .values(status="done", done_on=Obligation.due_on).execution_options(synchronize_session=False)
    )
    marked = session.execute(
        sa.update(Obligation).where(Obligation.remind.is_(True), Obligation.status == "pending",
                                    Obligation.due_on < day)
        .values(status="overdue")
        .returning(Obligation.grant_id, Obligation.kind, Obligation.number, Obligation.due_on)
        .execution_options(synchronize_session=False)
    ).all()
    result.overdue = len(marked)
    journal.append_many(session, [
        journal.NewEvent(grant_id, "obligation_overdue", {"kind": kind, "number": number, "due_on": due_on})
        for grant_id, kind, number, due_on in marked
    ], actor=actor)


def _queue_reminders(session: Session, day: dt.date, policy: ReminderPolicy, result: SweepResult) -> None:
    """One INSERT ... SELECT per level: the highest level reached today, if none at or above it yet."""
    offsets = level_offsets(policy)
    last = len(offsets) - 1
    for rank, (level, offset) in enumerate(offsets):
        reached = Obligation.due_on <= day - dt.timedelta(days=offset)
        if rank < last:  # not yet at the next level (that one is queued by its own statement)
            reached = sa.and_(reached, Obligation.due_on > day - dt.timedelta(days=offsets[rank + 1][1]))
        already = (sa.select(Message.id).where(Message.obligation_id == Obligation.id,
                                               Message.level_rank >= rank).exists())
        candidates = (
            sa.select(Obligation.grant_id, sa.literal(template_for(level)), Obligation.id, sa.literal(level),
                      sa.literal(rank), sa.literal(day), sa.literal("queued"), sa.literal(0),
                      sa.literal(rank == last))
            .join(Grant, Grant.id == Obligation.grant_id)
            .where(Obligation.remind.is_(True), Obligation.status.in_(OPEN), Grant.stage.in_(LIVE_STAGES),
                   reached, ~already)
        )
        inserted = session.execute(
            sa.insert(Message).from_select(
                ["grant_id", "kind", "obligation_id", "level", "level_rank", "queued_on", "status", "attempts",
                 "copy_authority"], candidates).returning(Message.id)
        )
        # Counted from RETURNING: psycopg reports no rowcount for INSERT ... SELECT.
        result.reminders[level] = len(inserted.all())


def sweep(session: Session, day: dt.date, settings: Settings, *, actor: str = "daily-sweep") -> SweepResult:
    result = SweepResult(business_date=day)
    _move_stages(session, day, result, actor=actor)
    _mark_overdue(session, day, result, actor=actor)
    _queue_reminders(session, day, policy_of(settings), result)
    if session.get(SweepRun, day) is None:
        session.add(SweepRun(business_date=day, finished_at=clock.now(), summary=result.as_dict()))
    return result


def last_swept_day(session: Session) -> dt.date | None:
    return session.scalar(sa.select(sa.func.max(SweepRun.business_date)))
