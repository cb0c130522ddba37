"""The daily sweep: set-based SQL over grants and obligations for one business date.

A fixed number of statements whatever the number of grants (never one task, one query
or one object per grant), and nothing per grant comes back to Python: the grants to move
and the obligations to mark are staged in temporary tables, applied from there, and
journalled by one INSERT ... SELECT that computes the hash chain in SQL
(`services.journal_sql`). Memory does not grow with the number of grants. This module
runs a day (its parts, their transactions, the run recorded); `services.sweep_steps`
holds the statements, `services.sweep_rules` what they take from domain's rule tables.

A day reads what is due that day, not the whole portfolio: every read goes through an
index bounded by the day. Reminders: a level is reached on its trigger day (the due date
+ its offset), so a day reads the obligations whose trigger day of some level falls
between the last day swept and itself (the day after a sweep: due dates exactly 7 days
ahead, today, 7 and 21 days ago), plus those placed (created, or their due date moved:
`placed_on`) since the last day swept, at every level they reached
(`sweep_steps.ReminderWindow`). Nothing is written to remember what was read: the
reminders already queued decide what is queued. The overdue marks read the pending
obligations due before the day; the moves read the active grants whose end passed and
the grants waiting at signature.

Running it again for the same day, or for an earlier day, changes nothing more:
transitions and overdue marks only move forward, a reminder is unique per (obligation,
level) and never queued below a level already queued, and an earlier day's window is
empty. A gap of several days is caught up: the window spans every day since the last one
swept, and the highest level reached is queued. An obligation created with past due dates
is read by the next sweep at the highest level it reached.

A large day (the first sweep of a portfolio, days without a sweep) is split by grant-id
ranges (`plan`), each part in its own transaction (`sweep_part`), several at once on
PostgreSQL (`sweep_day`): every part is idempotent, so a crash leaves the day to be swept
again, which does only what is left.

Several sweeps at once (PostgreSQL): a grant's journal is written by whoever holds the
grant's row lock. Each sweep first claims, in one statement with `FOR NO KEY UPDATE SKIP
LOCKED`, the grants whose journal it writes today (a move, an obligation past due); a
second sweep started at the same time skips the grants the first holds, which the first
one does. The statements after the claim see everything committed before it and check the
staged obligations' conditions again, so nothing is done twice. Reminders write no
journal and need no grant lock: the unique (obligation, level) key with ON CONFLICT DO
NOTHING keeps one reminder each (a second sweep queueing the same ones waits for the
first to commit, then skips them). A grant locked by someone else's transaction at that
moment (an operator recording a report) is left for the next sweep: every move and mark
is "on or before the day", so the next sweep catches up. On SQLite the write lock (BEGIN
IMMEDIATE) serialises sweeps instead.
"""
from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import clock
from core.settings import Settings
from db.models import SweepRun
from services import journal_sql
from services import sweep_steps as steps
from services.journal_sql import Dialect
from services.sweep_rules import SWEPT_MOVES, level_offsets, policy_of
from services.sweep_steps import EVERY_GRANT, MAX_GRANT_ID, GrantRange

# SweepResult keeps the first transitions (by stage then reference) and counts them all.
TRANSITIONS_LISTED = 1000
# A day with more obligations to look at than this is split in parts of PART_GRANTS grants.
SPLIT_ABOVE = 20_000
PART_GRANTS = 10_000
# As one sweep lists its moves: signature -> active, then active -> closing.
_MOVE_ORDER = {(source.value, target.value): order for order, (source, target) in enumerate(SWEPT_MOVES, 1)}


@dataclass
class SweepResult:
    business_date: dt.date
    # (reference, from, to): the first TRANSITIONS_LISTED of them; transitions_total counts all.
    transitions: list[tuple[str, str, str]] = field(default_factory=list)
    transitions_total: int = 0
    overdue: int = 0
    reminders: dict[str, int] = field(default_factory=dict)  # level -> queued
    parts: int = 1

    def as_dict(self) -> dict[str, object]:
        return {"business_date": self.business_date.isoformat(),
                "transitions": max(self.transitions_total, len(self.transitions)),
                "overdue": self.overdue, "reminders": dict(self.reminders)}

    @classmethod
    def merged(cls, day: dt.date, results: Iterable[SweepResult]) -> SweepResult:
        total = cls(business_date=day, parts=0)
        for result in results:
            total.transitions += result.transitions
            total.transitions_total += result.transitions_total
            total.overdue += result.overdue
            total.reminders = {level: total.reminders.get(level, 0) + n for level, n in result.reminders.items()}
            total.parts += 1
        total.transitions = sorted(total.transitions, key=lambda t: (_MOVE_ORDER.get((t[1], t[2]), 0), t[0]))
        total.transitions = total.transitions[:TRANSITIONS_LISTED]
        return total


def sweep_part(session: Session, day: dt.date, settings: Settings, part: GrantRange = EVERY_GRANT, *,
               after: dt.date | None = None, actor: str = "daily-sweep", at: dt.datetime | None = None) -> SweepResult:
    """Move the part's grants on, mark what fell overdue and journal both, queue the
    reminders: all in the session's transaction, committed (or rolled back) by the caller.
    `after`: the last day swept before this one (`last_swept_day`)."""
    session.flush()
    connection = session.connection()
    sql = Dialect.of(connection)
    window = steps.ReminderWindow(day, after, tuple(level_offsets(policy_of(settings))))
    result = SweepResult(business_date=day)
    steps.create_staging(connection, sql)
    steps.stage_past_due(connection, sql, day, part)
    steps.claim(connection, sql, day, part)
    steps.stage_reminders(connection, sql, window, part)
    steps.stage_moves(connection, day)
    steps.apply_moves(connection, day)
    steps.mark_overdue_and_stage_journal(connection, sql, day)
    journal_sql.append_staged(connection, "sweep_journal", at=at or clock.now(), actor=actor)
    result.reminders = steps.queue_reminders(connection, sql, day, list(window.offsets))
    result.transitions_total, result.overdue, result.transitions = steps.counts(connection, TRANSITIONS_LISTED)
    steps.drop_staging(connection, sql)
    return result


def sweep(session: Session, day: dt.date, settings: Settings, *, actor: str = "daily-sweep") -> SweepResult:
    """The whole day in the session's transaction (one part), its run recorded."""
    result = sweep_part(session, day, settings, after=last_swept_day(session), actor=actor)
    steps.record_run(session.connection(), day, result.as_dict())
    return result


def plan(session: Session, day: dt.date, settings: Settings, workers: int = 1) -> list[GrantRange]:
    """The parts of the day's sweep: one, unless more than SPLIT_ABOVE obligations are to be
    read for reminders (counted no further), then grant-id ranges of about PART_GRANTS
    grants, at least one per worker. The day after a sweep (or a day already swept) is
    not counted: only a first sweep or a gap has that much to do."""
    last = last_swept_day(session)
    if last is not None and last >= day - dt.timedelta(days=1):
        return [EVERY_GRANT]
    window = steps.ReminderWindow(day, last, tuple(level_offsets(policy_of(settings))))
    if steps.reminders_due(session.connection(), window, up_to=SPLIT_ABOVE + 1) <= SPLIT_ABOVE:
        return [EVERY_GRANT]
    grants = session.scalar(sa.text("SELECT count(*) FROM grants"))
    return grant_ranges(session, max(workers, -(-grants // PART_GRANTS)))


def grant_ranges(session: Session, parts: int) -> list[GrantRange]:
    """`parts` grant-id ranges of about as many grants each, covering every id: a grant
    added meanwhile falls in the first or the last one."""
    firsts = list(session.scalars(sa.text("""
        SELECT min(id) FROM (SELECT id, ntile(:parts) OVER (ORDER BY id) AS part FROM grants) numbered
        GROUP BY part ORDER BY 1
    """), {"parts": parts}))
    bounds = [0, *firsts[1:], MAX_GRANT_ID + 1]
    return [GrantRange(lo, hi - 1) for lo, hi in zip(bounds, bounds[1:])]


def sweep_day(unit_of_work: Callable[[], AbstractContextManager[Session]], day: dt.date, settings: Settings, *,
              actor: str = "daily-sweep", workers: int = 1) -> SweepResult:
    """The day in parts (`plan`), each in its own transaction, `workers` at a time; the run
    is recorded once every part is committed. A failed part fails the day after the others
    finish: sweeping the day again does only what is left."""
    with unit_of_work() as session:
        parts = plan(session, day, settings, workers)
        if parts == [EVERY_GRANT]:  # an ordinary day: one transaction, its run recorded in it
            return sweep(session, day, settings, actor=actor)
        after = last_swept_day(session)
    at = clock.now()  # every part's events carry the same instant

    def run(part: GrantRange) -> SweepResult:
        with unit_of_work() as session:
            return sweep_part(session, day, settings, part, after=after, actor=actor, at=at)

    if workers > 1 and len(parts) > 1:
        # Each part in a copy of this context: the clock frozen by the caller holds there too.
        contexts = [contextvars.copy_context() for _ in parts]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep") as pool:
            results = list(pool.map(lambda context, part: context.run(run, part), contexts, parts))
    else:
        results = [run(part) for part in parts]
    result = SweepResult.merged(day, results)
    with unit_of_work() as session:
        steps.record_run(session.connection(), day, result.as_dict())
    return result


def last_swept_day(session: Session) -> dt.date | None:
    return session.scalar(sa.select(sa.func.max(SweepRun.business_date)))
