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
from services.sweep_rules import FINAL_STAGES, HAS_ENDED, LIVE_STAGES, MAY_START, template_for

# remind_on of an obligation whose whole ladder is queued (or whose grant is over).
NEVER = dt.date.max
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

# The staging tables. due: the part's obligations with something to do today (a reminder level
# reached, past due while pending), read once
# through the indexes; claimed: the grants this sweep changes (moves, overdue marks,
# reminders due);
# moves: their stage changes (ord 1 signature -> active, ord 2 active -> closing, both on
# the same day possible);
# journal: the events to write, numbered per grant (k), with the obligation marked overdue;
# reminders: the claimed grants' obligations whose reminders are due, the level each
# reached today (NULL for a grant that is over) and the next day to look at it;
# queue: the reminders to queue (no message at or above the level yet).
_STAGING = {
    "sweep_due": "obligation_id INTEGER PRIMARY KEY, grant_id INTEGER NOT NULL",
    "sweep_claimed": "grant_id INTEGER PRIMARY KEY",
    "sweep_moves": "grant_id INTEGER NOT NULL, ord INTEGER NOT NULL, reference VARCHAR(64) NOT NULL, "
                   "src VARCHAR(16) NOT NULL, dst VARCHAR(16) NOT NULL, PRIMARY KEY (grant_id, ord)",
    "sweep_journal": "grant_id INTEGER NOT NULL, k INTEGER NOT NULL, kind VARCHAR(32) NOT NULL, "
                     "payload TEXT NOT NULL, obligation_id INTEGER, PRIMARY KEY (grant_id, k)",
    "sweep_reminders": "obligation_id INTEGER PRIMARY KEY, grant_id INTEGER NOT NULL, level_rank INTEGER, "
                       "next_on DATE NOT NULL",
    "sweep_queue": "obligation_id INTEGER PRIMARY KEY, grant_id INTEGER NOT NULL, level_rank INTEGER NOT NULL",
}

_FALLS_OVERDUE = f"o.remind = true AND o.status = {PENDING} AND o.due_on < :day"
# Reminders to look at today (ix_obligations_remind_on): the next level's day is reached,
# or the obligation is not placed yet and its first level (`horizon` = the day + 7) is.
_REMINDER_DUE = f"""o.{OPEN_OBLIGATION} AND o.remind = true
    AND (o.remind_on <= :day OR (o.remind_on IS NULL AND o.due_on <= :horizon))"""
_IN_PART = "BETWEEN :first AND :last"
# The staged obligations of the grants claimed, read again by id: their conditions are
# checked again in each statement (another sweep may have done them before our claim).
_DUE_CLAIMED = ("sweep_due d JOIN sweep_claimed c ON c.grant_id = d.grant_id "
                "JOIN obligations o ON o.id = d.obligation_id")
_DATES = ("day", "horizon", "never")


def _text(sql: str) -> sa.TextClause:
    return sa.text(sql).bindparams(*(sa.bindparam(name, type_=sa.Date) for name in _DATES if f":{name}" in sql))


def first_level_horizon(day: dt.date, offsets: list[tuple[str, int]]) -> dt.date:
    """The last due date whose first reminder level is reached on `day`."""
    return day - dt.timedelta(days=offsets[0][1])


def reminders_due(connection: sa.Connection, day: dt.date, horizon: dt.date, *, up_to: int) -> int:
    """How many obligations have reminders due on `day`, counted no further than `up_to`."""
    return connection.execute(_text(f"""
        SELECT count(*) FROM (SELECT 1 FROM obligations o WHERE {_REMINDER_DUE} LIMIT {int(up_to)}) due
    """), {"day": day, "horizon": horizon}).scalar_one()


def create_staging(connection: sa.Connection) -> None:
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


def stage_due(connection: sa.Connection, sql: Dialect, day: dt.date, horizon: dt.date, part: GrantRange) -> None:
    """The part's obligations with something to do today, each set read through an index
    bounded by the day: reminders due (placed, or not placed yet and their first level
    reached: ix_obligations_remind_on), pending past their due date (ix_obligations_open_due).

    Read once here; the statements after the claim read these rows by id and check them
    again (another sweep may have done them in between)."""
    connection.execute(_text(f"""
        INSERT INTO sweep_due (obligation_id, grant_id)
        SELECT o.id, o.grant_id FROM obligations o
        WHERE o.{OPEN_OBLIGATION} AND o.remind = true AND o.remind_on <= :day AND o.grant_id {_IN_PART}
        UNION
        SELECT o.id, o.grant_id FROM obligations o
        WHERE o.{OPEN_OBLIGATION} AND o.remind = true AND o.remind_on IS NULL AND o.due_on <= :horizon
          AND o.grant_id {_IN_PART}
        UNION
        SELECT o.id, o.grant_id FROM obligations o
        WHERE o.status = {PENDING} AND o.due_on < :day AND o.grant_id {_IN_PART}
    """), {"day": day, "horizon": horizon, "first": part.first, "last": part.last})
    _analyze(connection, sql, "sweep_due")


def claim(connection: sa.Connection, sql: Dialect, day: dt.date, part: GrantRange) -> None:
    """Lock the grants this sweep has something to change for, skipping those already locked.

    Each set is bounded by the day: grants waiting at signature, active grants whose end
    passed (partial index), the grants of the obligations due today (`stage_due`)."""
    # NO KEY UPDATE: excludes another sweep and an operator's FOR UPDATE, not the foreign
    # key checks of rows referring to the grant (the reminders of another sweep).
    lock = "FOR NO KEY UPDATE OF g SKIP LOCKED" if sql.postgresql else ""
    connection.execute(_text(f"""
        INSERT INTO sweep_claimed (grant_id)
        SELECT g.id FROM grants g
        WHERE g.id IN (SELECT g.id FROM grants g
                       WHERE g.stage = {SIGNATURE} AND g.id {_IN_PART} AND {MAY_START}
                       UNION
                       SELECT g.id FROM grants g WHERE g.stage = {ACTIVE} AND {HAS_ENDED} AND g.id {_IN_PART}
                       UNION
                       SELECT d.grant_id FROM sweep_due d)
        {lock}
    """), {"day": day, "first": part.first, "last": part.last})
    _analyze(connection, sql, "sweep_claimed")


def stage_moves(connection: sa.Connection, day: dt.date) -> None:
    connection.execute(_text(f"""
        INSERT INTO sweep_moves (grant_id, ord, reference, src, dst)
        SELECT g.id, 1, g.reference, {SIGNATURE}, {ACTIVE}
        FROM grants g JOIN sweep_claimed c ON c.grant_id = g.id
        WHERE g.stage = {SIGNATURE} AND {MAY_START}
        UNION ALL
        SELECT g.id, 2, g.reference, {ACTIVE}, {CLOSING}
        FROM grants g JOIN sweep_claimed c ON c.grant_id = g.id
        WHERE {HAS_ENDED} AND (g.stage = {ACTIVE} OR (g.stage = {SIGNATURE} AND {MAY_START}))
    """), {"day": day})


def apply_moves(connection: sa.Connection, day: dt.date) -> None:
    connection.execute(sa.text("""
        UPDATE grants SET stage = (SELECT m.dst FROM sweep_moves m WHERE m.grant_id = grants.id
                                   ORDER BY m.ord DESC LIMIT 1)
        WHERE id IN (SELECT grant_id FROM sweep_moves)
    """))
    # Informative deadlines (the prefect's control window) are not owed by anyone: past, they are over.
    connection.execute(_text(f"""
        UPDATE obligations SET status = {DONE}, done_on = due_on
        WHERE remind = false AND status = {PENDING} AND due_on < :day
          AND id IN (SELECT d.obligation_id FROM sweep_due d JOIN sweep_claimed c ON c.grant_id = d.grant_id)
    """), {"day": day})


def mark_overdue_and_stage_journal(connection: sa.Connection, sql: Dialect, day: dt.date) -> None:
    """Mark the claimed grants' obligations that fell overdue, move the staged ones to their
    next reminder day, and stage each claimed grant's new events in order: its moves, then
    its obligations by id.

    PostgreSQL writes each obligation once (both changes in one UPDATE) and stages exactly
    the rows it marked (UPDATE ... RETURNING in the same statement); SQLite, whose write
    lock is held, stages them and then updates them. Payloads are written as
    `journal.canonical` writes them (keys sorted, no spaces).
    """
    if sql.postgresql:
        marked = "marked"
        prefix = f"""WITH touched AS (
            SELECT id, max(next_on) AS next_on, bool_or(falls) AS falls
            FROM (SELECT r.obligation_id AS id, r.next_on, false AS falls FROM sweep_reminders r
                  UNION ALL
                  SELECT o.id, NULL, true FROM {_DUE_CLAIMED} WHERE {_FALLS_OVERDUE}) u
            GROUP BY id),
        marked AS (
            UPDATE obligations o SET status = CASE WHEN t.falls THEN {OVERDUE} ELSE o.status END,
                                     remind_on = coalesce(t.next_on, o.remind_on)
            FROM touched t WHERE t.id = o.id AND (t.falls OR t.next_on IS DISTINCT FROM o.remind_on)
            RETURNING o.id, o.grant_id, o.kind, o.number, o.due_on, t.falls)"""
    else:
        marked = f"""(SELECT o.id, o.grant_id, o.kind, o.number, o.due_on
                      FROM {_DUE_CLAIMED} WHERE {_FALLS_OVERDUE})"""
        prefix = ""
    connection.execute(_text(f"""
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
            FROM {marked} o {'WHERE o.falls' if sql.postgresql else ''}
        ) staged
    """), {"day": day, "by": canonical(SWEPT_BY), "stage_changed": STAGE_CHANGED,
           "obligation_overdue": OBLIGATION_OVERDUE})
    if not sql.postgresql:
        connection.execute(_text(f"""
            UPDATE obligations SET status = {OVERDUE}
            WHERE {_FALLS_OVERDUE.replace('o.', '')}
              AND id IN (SELECT d.obligation_id FROM sweep_due d JOIN sweep_claimed c ON c.grant_id = d.grant_id)
        """), {"day": day})
        connection.execute(sa.text("""
            UPDATE obligations SET remind_on = (SELECT r.next_on FROM sweep_reminders r
                                                WHERE r.obligation_id = obligations.id)
            WHERE id IN (SELECT obligation_id FROM sweep_reminders)
        """))


def _plus_days(sql: Dialect, column: str, days: int) -> str:
    return f"({column} + {days})" if sql.postgresql else f"date({column}, '{days:+d} days')"


def stage_reminders(connection: sa.Connection, sql: Dialect, day: dt.date, offsets: list[tuple[str, int]]) -> None:
    """The claimed grants' obligations whose reminders are due: the highest level each
    reached today, and the trigger day of the level after it (NEVER after the last one, or
    when the grant is over); then, in a table of their own, those to queue: no message at
    or above that level yet (a re-run or an earlier day queues nothing).

    An obligation pending on its due day keeps that day as its next one: tomorrow its
    overdue mark rewrites the row anyway, and places it on its next level in the same
    write (the day's one UPDATE skips a row whose next day does not change).

    Staged first, so that the INSERT into messages never reads the table it writes (with a
    new store's statistics that would make the check quadratic). The look at the queue is
    a subquery per staged obligation, on the (obligation, level) key: an anti-join would
    hash the whole messages table every day."""
    last = len(offsets) - 1
    params: dict[str, object] = {"day": day, "horizon": first_level_horizon(day, offsets), "never": NEVER}
    rank_cases, next_cases = [], []
    for rank, (_level, offset) in reversed(list(enumerate(offsets))):
        params[f"reached_{rank}"] = day - dt.timedelta(days=offset)
        rank_cases.append(f"WHEN o.due_on <= :reached_{rank} THEN {rank}")
        following = ":never" if rank == last else _plus_days(sql, "o.due_on", offsets[rank + 1][1])
        next_cases.append(f"WHEN o.due_on <= :reached_{rank} THEN {following}")
    live = ", ".join(f"'{stage}'" for stage in LIVE_STAGES)
    final = ", ".join(f"'{stage}'" for stage in FINAL_STAGES)
    reached = [sa.bindparam(name, type_=sa.Date) for name in params if name.startswith("reached_")]
    connection.execute(_text(f"""
        INSERT INTO sweep_reminders (obligation_id, grant_id, level_rank, next_on)
        SELECT o.id, o.grant_id,
               CASE WHEN g.stage IN ({live}) THEN CASE {' '.join(rank_cases)} END END,
               CASE WHEN g.stage IN ({final}) THEN :never
                    WHEN o.status = {PENDING} AND o.due_on = :day THEN o.due_on {' '.join(next_cases)}
                    ELSE {_plus_days(sql, 'o.due_on', offsets[0][1])} END
        FROM {_DUE_CLAIMED} JOIN grants g ON g.id = o.grant_id
        WHERE {_REMINDER_DUE} AND g.stage IN ({live}, {final})
    """).bindparams(*reached), params)
    _analyze(connection, sql, "sweep_reminders")
    connection.execute(sa.text("""
        INSERT INTO sweep_queue (obligation_id, grant_id, level_rank)
        SELECT r.obligation_id, r.grant_id, r.level_rank FROM sweep_reminders r
        WHERE r.level_rank IS NOT NULL
          AND r.level_rank > coalesce((SELECT max(m.level_rank) FROM messages m
                                       WHERE m.obligation_id = r.obligation_id), -1)
    """))


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
