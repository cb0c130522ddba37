"""The statements of one part of the daily sweep (`services.sweep` runs them in order).

Set-based: a fixed number of statements whatever the number of grants, and nothing per
grant comes back to Python. The part's work is staged in temporary tables, created and
dropped inside its transaction (a rollback drops them too), applied from there, and
journalled by one INSERT ... SELECT computing the hash chain in SQL (`services.journal_sql`).
The conditions come from domain's tables through `services.sweep_rules`.

Over 300 lines as one cohesive thing: the staging tables and the statements that fill
and apply them share their names and conditions, and are read together.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from core import clock
from db.models import OPEN_OBLIGATION
from db.types import Instant
from domain.lifecycle import ObligationStatus, Stage
from services.journal import canonical
from services.journal_sql import Dialect
from services.sweep_rules import HAS_ENDED, LIVE_STAGES, MAY_START, template_for

STAGE_CHANGED, OBLIGATION_OVERDUE = "stage_changed", "obligation_overdue"
SWEPT_BY = "daily-sweep"  # the "by" of a stage_changed payload, whoever the actor
MAX_GRANT_ID = 2**31 - 1  # INTEGER keys
# The statuses and stages the statements write and compare, as SQL literals.
PENDING, OVERDUE, DONE = (f"'{status.value}'" for status in (ObligationStatus.PENDING, ObligationStatus.OVERDUE,
                                                            ObligationStatus.DONE))
SIGNATURE, ACTIVE, CLOSING = (f"'{stage.value}'" for stage in (Stage.SIGNATURE, Stage.ACTIVE, Stage.CLOSING))


@dataclass(frozen=True)
class GrantRange:
    """The grants of one part of a day's sweep: ids from `first` to `last`, both included."""

    first: int = 0
    last: int = MAX_GRANT_ID


EVERY_GRANT = GrantRange()

# The staging tables. past_due: the part's obligations pending past their due date, read once
# (ix_obligations_open_due); claimed: the grants this sweep writes the journal of (moves,
# overdue marks); moves: their stage changes (ord 1 signature -> active, ord 2 active ->
# closing, both on the same day possible); journal: the events to write, numbered per grant
# (k), with the obligation marked overdue; queue: the reminders to queue, the highest level
# each obligation reached (none queued at or above it yet).
_STAGING = {
    "sweep_past_due": "obligation_id INTEGER PRIMARY KEY, grant_id INTEGER NOT NULL, remind BOOLEAN NOT NULL",
    "sweep_claimed": "grant_id INTEGER PRIMARY KEY",
    "sweep_moves": "grant_id INTEGER NOT NULL, ord INTEGER NOT NULL, reference VARCHAR(64) NOT NULL, "
                   "src VARCHAR(16) NOT NULL, dst VARCHAR(16) NOT NULL, PRIMARY KEY (grant_id, ord)",
    "sweep_journal": "grant_id INTEGER NOT NULL, k INTEGER NOT NULL, kind VARCHAR(32) NOT NULL, "
                     "payload TEXT NOT NULL, obligation_id INTEGER, PRIMARY KEY (grant_id, k)",
    "sweep_queue": "obligation_id INTEGER PRIMARY KEY, grant_id INTEGER NOT NULL, level_rank INTEGER NOT NULL",
}

_FALLS_OVERDUE = f"o.remind = true AND o.status = {PENDING} AND o.due_on < :day"
_IN_PART = "BETWEEN :first AND :last"
# The staged past-due obligations of the grants claimed, read again by id: their conditions
# are checked again in each statement (another sweep may have done them before our claim).
_PAST_DUE_CLAIMED = ("sweep_past_due d JOIN sweep_claimed c ON c.grant_id = d.grant_id "
                     "JOIN obligations o ON o.id = d.obligation_id")


def _execute(connection: sa.Connection, sql: str, params: dict[str, object]) -> sa.CursorResult:
    """Run a statement with its date parameters bound as dates (SQLite would compare text)."""
    dates = [name for name, value in params.items() if isinstance(value, dt.date) and f":{name}" in sql]
    return connection.execute(sa.text(sql).bindparams(*(sa.bindparam(name, type_=sa.Date) for name in dates)), params)


@dataclass(frozen=True)
class ReminderWindow:
    """The obligations a sweep of `day` reads for reminders, `after` the last day swept.

    A level is reached on its trigger day (the due date + its offset), so a day reads the
    obligations whose trigger day of some level falls in (after, day]: the day after a
    sweep, the due dates exactly 7 days ahead, today, 7 and 21 days ago (`due_on IN ...`
    on ix_obligations_open_due), whatever the size of the portfolio. Plus the obligations
    placed (created, or their due date moved) since the last day swept, at every level they
    reached (ix_obligations_placed_on): the window never saw them. Never swept (`after`
    None): every open obligation whose first level is reached. The last day swept, swept
    again (`after` == day), reads only what was placed since; an earlier day (`after` >
    day) reads nothing: a past date never queues a level the days after it did not.
    """

    day: dt.date
    after: dt.date | None
    offsets: tuple[tuple[str, int], ...]

    def condition(self) -> tuple[str, dict[str, dt.date]]:
        """The SQL condition on obligation `o` (open and reminding checked elsewhere), and its parameters."""
        first = self.day - dt.timedelta(days=self.offsets[0][1])  # the last due date whose first level is reached
        if self.after is None:
            return "o.due_on <= :reached_first", {"reached_first": first}
        if self.after > self.day:
            return "1 = 0", {}
        params: dict[str, dt.date] = {"reached_first": first, "placed_since": self.after}
        conditions = ["(o.placed_on >= :placed_since AND o.due_on <= :reached_first)"]
        if self.after < self.day:
            for rank, (_level, offset) in enumerate(self.offsets):
                params |= {f"crossed_after_{rank}": self.after - dt.timedelta(days=offset),
                           f"crossed_by_{rank}": self.day - dt.timedelta(days=offset)}
                conditions.append(f"(o.due_on > :crossed_after_{rank} AND o.due_on <= :crossed_by_{rank})")
        return "(" + " OR ".join(conditions) + ")", params


def reminders_due(connection: sa.Connection, window: ReminderWindow, *, up_to: int) -> int:
    """How many obligations the window reads for reminders, counted no further than `up_to`."""
    condition, params = window.condition()
    return _execute(connection, f"""
        SELECT count(*) FROM (SELECT 1 FROM obligations o
                              WHERE o.{OPEN_OBLIGATION} AND o.remind = true AND {condition} LIMIT {int(up_to)}) due
    """, params).scalar_one()


def create_staging(connection: sa.Connection, sql: Dialect) -> None:
    if sql.postgresql:
        # The day's statements are planned in a few ms and run in tens of ms: compiling them
        # to machine code (JIT, on above a cost PostgreSQL's estimates of these joins
        # reach) cost more than it saved on every day measured (benchmarks/).
        connection.execute(sa.text("SET LOCAL jit = off"))
        # A catch-up part sorts its tens of thousands of events by grant: in memory, not on disk.
        connection.execute(sa.text("SET LOCAL work_mem = '64MB'"))
    for table, columns in _STAGING.items():
        connection.execute(sa.text(f"CREATE TEMPORARY TABLE {table} ({columns})"))


def drop_staging(connection: sa.Connection, sql: Dialect) -> None:
    if sql.postgresql:
        connection.execute(sa.text(f"DROP TABLE {', '.join(sql.temp(t) for t in _STAGING)}"))
    else:
        for table in _STAGING:
            connection.execute(sa.text(f"DROP TABLE {sql.temp(table)}"))


def _analyze(connection: sa.Connection, sql: Dialect, table: str) -> None:
    """Statistics for a staging table just filled: PostgreSQL plans the joins on it on its
    real size (a temporary table's default guess sends them to hash joins over whole tables)."""
    if sql.postgresql:
        connection.execute(sa.text(f"ANALYZE {table}"))


def stage_past_due(connection: sa.Connection, sql: Dialect, day: dt.date, part: GrantRange) -> None:
    """The part's obligations still pending past their due date (ix_obligations_open_due):
    to mark overdue, or over for an informative one. Read once here; the statements after
    the claim read these rows by id and check them again."""
    _execute(connection, f"""
        INSERT INTO sweep_past_due (obligation_id, grant_id, remind)
        SELECT o.id, o.grant_id, o.remind FROM obligations o
        WHERE o.status = {PENDING} AND o.due_on < :day AND o.grant_id {_IN_PART}
    """, {"day": day, "first": part.first, "last": part.last})
    _analyze(connection, sql, "sweep_past_due")


def claim(connection: sa.Connection, sql: Dialect, day: dt.date, part: GrantRange) -> None:
    """Lock the grants whose journal this sweep writes, skipping those already locked.

    Each set is bounded by the day: grants waiting at signature, active grants whose end
    passed (partial index), the grants of the obligations past due (`stage_past_due`).
    Reminders need no grant lock: they write no journal, and a reminder is unique per
    (obligation, level)."""
    # NO KEY UPDATE: excludes another sweep and an operator's FOR UPDATE, not the foreign
    # key checks of rows referring to the grant (the reminders of another sweep).
    lock = "FOR NO KEY UPDATE OF g SKIP LOCKED" if sql.postgresql else ""
    _execute(connection, f"""
        INSERT INTO sweep_claimed (grant_id)
        SELECT g.id FROM grants g
        WHERE g.id IN (SELECT g.id FROM grants g
                       WHERE g.stage = {SIGNATURE} AND g.id {_IN_PART} AND {MAY_START}
                       UNION
                       SELECT g.id FROM grants g WHERE g.stage = {ACTIVE} AND {HAS_ENDED} AND g.id {_IN_PART}
                       UNION
                       SELECT d.grant_id FROM sweep_past_due d)
        {lock}
    """, {"day": day, "first": part.first, "last": part.last})
    _analyze(connection, sql, "sweep_claimed")


def stage_moves(connection: sa.Connection, day: dt.date) -> None:
    _execute(connection, f"""
        INSERT INTO sweep_moves (grant_id, ord, reference, src, dst)
        SELECT g.id, 1, g.reference, {SIGNATURE}, {ACTIVE}
        FROM grants g JOIN sweep_claimed c ON c.grant_id = g.id
        WHERE g.stage = {SIGNATURE} AND {MAY_START}
        UNION ALL
        SELECT g.id, 2, g.reference, {ACTIVE}, {CLOSING}
        FROM grants g JOIN sweep_claimed c ON c.grant_id = g.id
        WHERE {HAS_ENDED} AND (g.stage = {ACTIVE} OR (g.stage = {SIGNATURE} AND {MAY_START}))
    """, {"day": day})


def apply_moves(connection: sa.Connection, day: dt.date) -> None:
    connection.execute(sa.text("""
        UPDATE grants SET stage = (SELECT m.dst FROM sweep_moves m WHERE m.grant_id = grants.id
                                   ORDER BY m.ord DESC LIMIT 1)
        WHERE id IN (SELECT grant_id FROM sweep_moves)
    """))
    # Informative deadlines (the prefect's control window) are not owed by anyone: past, they are over.
    _execute(connection, f"""
        UPDATE obligations SET status = {DONE}, done_on = due_on
        WHERE remind = false AND status = {PENDING} AND due_on < :day
          AND id IN (SELECT d.obligation_id FROM sweep_past_due d JOIN sweep_claimed c ON c.grant_id = d.grant_id
                     WHERE d.remind = false)
    """, {"day": day})


def mark_overdue_and_stage_journal(connection: sa.Connection, sql: Dialect, day: dt.date) -> None:
    """Mark the claimed grants' obligations that fell overdue and stage each claimed grant's
    new events in order: its moves, then its obligations by id.

    PostgreSQL stages exactly the rows it marked (UPDATE ... RETURNING in the same
    statement); SQLite, whose write lock is held, stages them and then updates them.
    Payloads are written as `journal.canonical` writes them (keys sorted, no spaces).
    """
    if sql.postgresql:
        marked = "marked"
        prefix = f"""WITH marked AS (
            UPDATE obligations o SET status = {OVERDUE}
            FROM sweep_past_due d JOIN sweep_claimed c ON c.grant_id = d.grant_id
            WHERE d.remind = true AND o.id = d.obligation_id AND {_FALLS_OVERDUE}
            RETURNING o.id, o.grant_id, o.kind, o.number, o.due_on)"""
    else:
        marked = f"""(SELECT o.id, o.grant_id, o.kind, o.number, o.due_on
                      FROM {_PAST_DUE_CLAIMED} WHERE {_FALLS_OVERDUE})"""
        prefix = ""
    _execute(connection, f"""
        {prefix}
        INSERT INTO sweep_journal (grant_id, k, kind, payload, obligation_id)
        SELECT grant_id, row_number() OVER (PARTITION BY grant_id ORDER BY ord, obligation_id),
               kind, payload, obligation_id
        FROM (
            SELECT m.grant_id, m.ord, NULL AS obligation_id, :stage_changed AS kind,
                   '{{"by":' || :by || ',"from":' || {sql.json_string('m.src')}
                   || ',"to":' || {sql.json_string('m.dst')} || '}}' AS payload
            FROM sweep_moves m
            UNION ALL
            SELECT o.grant_id, 3, o.id, :obligation_overdue,
                   '{{"due_on":"' || {sql.iso_date('o.due_on')} || '","kind":' || {sql.json_string('o.kind')}
                   || ',"number":' || o.number || '}}'
            FROM {marked} o
        ) staged
    """, {"day": day, "by": canonical(SWEPT_BY), "stage_changed": STAGE_CHANGED,
           "obligation_overdue": OBLIGATION_OVERDUE})
    if not sql.postgresql:
        _execute(connection, f"""
            UPDATE obligations SET status = {OVERDUE}
            WHERE {_FALLS_OVERDUE.replace('o.', '')}
              AND id IN (SELECT d.obligation_id FROM sweep_past_due d JOIN sweep_claimed c ON c.grant_id = d.grant_id)
        """, {"day": day})


def stage_reminders(connection: sa.Connection, sql: Dialect, window: ReminderWindow, part: GrantRange) -> None:
    """The part's obligations the window reads (`ReminderWindow`), of a grant at a stage that
    reminds, with the highest level each reached on the day; kept if no message at or above
    that level is queued yet (a re-run or an earlier day queues nothing).

    Staged in a table of its own, so that the INSERT into messages never reads the table
    it writes (with a new store's statistics that would make the check quadratic). The
    look at the queue is a subquery per obligation read, on the (obligation, level) key:
    an anti-join would hash the whole messages table every day."""
    condition, params = window.condition()
    rank_cases = []
    for rank, (_level, offset) in reversed(list(enumerate(window.offsets))):
        params[f"reached_{rank}"] = window.day - dt.timedelta(days=offset)
        rank_cases.append(f"WHEN o.due_on <= :reached_{rank} THEN {rank}")
    live = ", ".join(f"'{stage}'" for stage in LIVE_STAGES)
    _execute(connection, f"""
        INSERT INTO sweep_queue (obligation_id, grant_id, level_rank)
        SELECT r.id, r.grant_id, r.level_rank
        FROM (SELECT o.id, o.grant_id, CASE {' '.join(rank_cases)} END AS level_rank
              FROM obligations o JOIN grants g ON g.id = o.grant_id
              WHERE o.{OPEN_OBLIGATION} AND o.remind = true AND {condition}
                AND o.grant_id {_IN_PART} AND g.stage IN ({live})) r
        WHERE r.level_rank IS NOT NULL
          AND r.level_rank > coalesce((SELECT max(m.level_rank) FROM messages m
                                       WHERE m.obligation_id = r.id), -1)
    """, params | {"first": part.first, "last": part.last})


def queue_reminders(connection: sa.Connection, sql: Dialect, day: dt.date,
                     offsets: list[tuple[str, int]]) -> dict[str, int]:
    params: dict[str, object] = {"day": day, "last": len(offsets) - 1}
    level_cases, template_cases = [], []
    for rank, (level, _offset) in enumerate(offsets):
        params |= {f"level_{rank}": level, f"template_{rank}": template_for(level)}
        level_cases.append(f"WHEN {rank} THEN :level_{rank}")
        template_cases.append(f"WHEN {rank} THEN :template_{rank}")
    insert = f"""
        INSERT INTO messages (grant_id, kind, obligation_id, level, level_rank, queued_on, status, attempts,
                              copy_authority)
        SELECT r.grant_id, CASE r.level_rank {' '.join(template_cases)} END, r.obligation_id,
               CASE r.level_rank {' '.join(level_cases)} END, r.level_rank, :day, 'queued', 0, r.level_rank = :last
        FROM sweep_queue r
        ORDER BY r.obligation_id  -- two sweeps at once meet their common rows in the same order
        ON CONFLICT (obligation_id, level) DO NOTHING
    """
    if sql.postgresql:  # a concurrent sweep may have queued some of them: count ours
        counted = connection.execute(sa.text(
            f"WITH queued AS ({insert} RETURNING level) SELECT level, count(*) FROM queued GROUP BY level"
        ).bindparams(sa.bindparam("day", type_=sa.Date)), params)
    else:  # the write lock is ours: the new rows are those above the highest id before
        before = connection.execute(sa.text("SELECT coalesce(max(id), 0) FROM messages")).scalar_one()
        connection.execute(sa.text(insert).bindparams(sa.bindparam("day", type_=sa.Date)), params)
        counted = connection.execute(sa.text(
            "SELECT level, count(*) FROM messages WHERE id > :before GROUP BY level"), {"before": before})
    queued = dict(counted.all())
    return {level: queued.get(level, 0) for level, _ in offsets}


def record_run(connection: sa.Connection, day: dt.date, summary: dict[str, object]) -> None:
    # Two sweeps of the same day at once: the first to commit keeps its summary.
    connection.execute(sa.text("""
        INSERT INTO sweep_runs (business_date, finished_at, summary) VALUES (:day, :finished_at, :summary)
        ON CONFLICT (business_date) DO NOTHING
    """).bindparams(sa.bindparam("day", type_=sa.Date), sa.bindparam("finished_at", type_=Instant),
                    sa.bindparam("summary", type_=sa.JSON)),
        {"day": day, "finished_at": clock.now(), "summary": summary})



def counts(connection: sa.Connection, listed: int) -> tuple[int, int, list[tuple[str, str, str]]]:
    """The part's moves and overdue marks counted, and its first `listed` moves (by stage, then reference)."""
    moves, overdue = connection.execute(sa.text(
        "SELECT (SELECT count(*) FROM sweep_moves),"
        " (SELECT count(*) FROM sweep_journal WHERE obligation_id IS NOT NULL)")).one()
    first = [(reference, src, dst) for reference, src, dst in connection.execute(sa.text(
        "SELECT reference, src, dst FROM sweep_moves ORDER BY ord, reference LIMIT :listed"), {"listed": listed})]
    return moves, overdue, first
