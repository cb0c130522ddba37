"""The floors of the daily sweep: a day's work as ONE hand-written PostgreSQL statement.

What services/sweep.py does (moves, overdue marks, their hash-chained journal events,
reminders at the highest level reached, the sweep_runs row), written as data-modifying
CTEs in one statement, in one transaction, for one worker: no claims, no staging tables,
nothing returned but a summary. It computes the same hashes (same instant and actor), so
the benchmark compares the stores row for row.

Two floors:
- `FLOOR_SQL`, the full floor: the same algorithm as the application before issue 16
  (every open obligation due up to 7 days ahead, against every reminder queued). Right
  on any day: the floor of the catch-up day.
- `BOUNDED_FLOOR_SQL`, the best hand-written SQL for a steady-state day (the day after a
  sweep): every read bounded by the day on an index (pending obligations due before the
  day, active grants whose end passed, and for the reminders only the obligations due
  exactly 7 days ahead, today, 7 and 21 days ago: `due_on IN (...)`), reminders queued
  with ON CONFLICT and no look at the queue. It only sees the levels crossed today, so it
  is wrong after a gap or for an obligation created with past due dates: a floor, not a
  sweep.

And the floor of the writes alone, `WRITES_FLOOR_SQL`: the rows the day writes (overdue
marks, one event each, the reminders at the highest level reached), written with the
schema's indexes and foreign keys as they are, but with nothing else (no claim, no hash
chain: a constant hash and sequence numbers above the grant's; no look at the queue: the
store has no message at those levels yet), split in grant-id ranges run at once on
separate connections. No sweep can write the same rows in less time on this machine; it
leaves a broken journal, so it runs on a copy that is thrown away.

The reminder ladder is the default one (7 days before, on the day, 7 and 21 days late);
run.py checks that the settings have not changed it.
"""
from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from core.settings import get_settings
from db.types import Instant
from services.journal import GENESIS, canonical
from services.journal_key import journal_key
from services.journal_sql import padded_keys

LADDER = (("before", -7, "reminder_before"), ("due", 0, "reminder_due"),
          ("late_7", 7, "reminder_late"), ("late_21", 21, "reminder_late"))

_MOVES_AND_JOURNAL = """
WITH RECURSIVE
started AS (                       -- signature -> active (and -> closing when already ended)
    UPDATE grants g SET stage = CASE WHEN g.ends_on < :day THEN 'closing' ELSE 'active' END
    WHERE g.stage = 'signature'
      AND EXISTS (SELECT 1 FROM acts a WHERE a.id = g.act_id AND a.executoire_on <= :day)
      AND (NOT g.convention_required OR (SELECT count(*) FROM signatures s WHERE s.grant_id = g.id) >= 2)
    RETURNING g.id, g.reference, g.ends_on < :day AS ended
),
ended AS (                         -- active -> closing
    UPDATE grants g SET stage = 'closing' WHERE g.stage = 'active' AND g.ends_on < :day
    RETURNING g.id, g.reference
),
informative AS (
    UPDATE obligations SET status = 'done', done_on = due_on
    WHERE NOT remind AND status = 'pending' AND due_on < :day
),
overdue AS (
    UPDATE obligations o SET status = 'overdue'
    WHERE o.remind AND o.status = 'pending' AND o.due_on < :day
    RETURNING o.id, o.grant_id, o.kind, o.number, o.due_on
),
journal AS (
    SELECT id AS grant_id, 1 AS ord, 0 AS okey, 'stage_changed' AS kind,
           '{"by":"daily-sweep","from":"signature","to":"active"}' AS payload FROM started
    UNION ALL
    SELECT id, 2, 0, 'stage_changed', '{"by":"daily-sweep","from":"active","to":"closing"}' FROM started WHERE ended
    UNION ALL
    SELECT id, 2, 0, 'stage_changed', '{"by":"daily-sweep","from":"active","to":"closing"}' FROM ended
    UNION ALL
    SELECT grant_id, 3, id, 'obligation_overdue',
           '{"due_on":"' || to_char(due_on, 'YYYY-MM-DD') || '","kind":' || to_json(kind::text)::text
           || ',"number":' || number || '}'
    FROM overdue
),
per_grant AS (
    SELECT j.grant_id, array_agg(j.kind ORDER BY j.ord, j.okey) AS kinds,
           array_agg(j.payload ORDER BY j.ord, j.okey) AS payloads
    FROM journal j GROUP BY j.grant_id
),
chain (grant_id, k, n, kinds, payloads, seq, prev_hash, hash) AS (
    SELECT p.grant_id, 1, cardinality(p.payloads), p.kinds, p.payloads, h.seq + 1, h.hash,
           encode(sha256(:key_opad || sha256(:key_ipad || convert_to('[' || p.grant_id || ',' || (h.seq + 1)
               || ',' || :head || ',' || to_json(p.kinds[1])::text || ',' || p.payloads[1] || ',"' || h.hash
               || '"]', 'UTF8'))), 'hex')
    FROM per_grant p
    CROSS JOIN LATERAL (
        SELECT coalesce(max(e.seq), 0) AS seq,
               coalesce((array_agg(e.hash ORDER BY e.seq DESC))[1], :genesis)::text AS hash
        FROM events e WHERE e.grant_id = p.grant_id) h
    UNION ALL
    SELECT grant_id, k + 1, n, kinds, payloads, seq + 1, hash,
           encode(sha256(:key_opad || sha256(:key_ipad || convert_to('[' || grant_id || ',' || (seq + 1)
               || ',' || :head || ',' || to_json(kinds[k + 1])::text || ',' || payloads[k + 1] || ',"' || hash
               || '"]', 'UTF8'))), 'hex')
    FROM chain WHERE k < n
),
journalled AS (
    INSERT INTO events (grant_id, seq, at, business_date, actor, kind, payload, prev_hash, hash, alg)
    SELECT grant_id, seq, :at, :day, :actor, kinds[k], payloads[k]::json, prev_hash, hash, 'hmac-sha256' FROM chain
),
"""

_SUMMARY = """
summary AS (
    SELECT json_build_object(
        'business_date', to_char(CAST(:day AS date), 'YYYY-MM-DD'),
        'transitions', (SELECT count(*) FROM started) + (SELECT count(*) FROM started WHERE ended)
                       + (SELECT count(*) FROM ended),
        'overdue', (SELECT count(*) FROM overdue),
        'reminders', json_build_object(
            :level_0, (SELECT count(*) FROM queued WHERE level = :level_0),
            :level_1, (SELECT count(*) FROM queued WHERE level = :level_1),
            :level_2, (SELECT count(*) FROM queued WHERE level = :level_2),
            :level_3, (SELECT count(*) FROM queued WHERE level = :level_3))) AS summary
),
recorded AS (
    INSERT INTO sweep_runs (business_date, finished_at, summary)
    SELECT :day, :at, summary FROM summary
    ON CONFLICT (business_date) DO NOTHING
)
SELECT summary::text FROM summary
"""

def _queued(source: str, *, on_conflict: str = "ON CONFLICT (obligation_id, level) DO NOTHING") -> str:
    """The CTE queueing the reminders of `source` (rows: id, grant_id, level_rank)."""
    return f"""
queued AS (
    INSERT INTO messages (grant_id, kind, obligation_id, level, level_rank, queued_on, status, attempts,
                          copy_authority)
    SELECT r.grant_id, (ARRAY[:template_0, :template_1, :template_2, :template_3])[r.level_rank + 1], r.id,
           (ARRAY[:level_0, :level_1, :level_2, :level_3])[r.level_rank + 1], r.level_rank, :day, 'queued', 0,
           r.level_rank = 3
    {source}
    {on_conflict}
    RETURNING level
),"""


# The highest level reached by obligation `o` (every level whose trigger day is past).
_LEVEL_REACHED = """CASE WHEN o.due_on <= :reached_3 THEN 3 WHEN o.due_on <= :reached_2 THEN 2
                WHEN o.due_on <= :reached_1 THEN 1 ELSE 0 END"""


FLOOR_SQL = _MOVES_AND_JOURNAL + """
queued_before AS MATERIALIZED (    -- read once, before this statement adds any
    SELECT obligation_id, max(level_rank) AS top FROM messages
    WHERE obligation_id IS NOT NULL GROUP BY obligation_id
),
reached AS (
    SELECT o.id, o.grant_id, """ + _LEVEL_REACHED + """ AS level_rank
    FROM obligations o JOIN grants g ON g.id = o.grant_id
    WHERE o.remind AND o.status IN ('pending', 'overdue')
      AND g.stage IN ('prefecture', 'signature', 'active', 'closing') AND o.due_on <= :reached_0
),""" + _queued("""FROM reached r LEFT JOIN queued_before q ON q.obligation_id = r.id
    WHERE q.top IS NULL OR q.top < r.level_rank""") + _SUMMARY

BOUNDED_FLOOR_SQL = _MOVES_AND_JOURNAL + """
reached AS (
    SELECT o.id, o.grant_id,
           CASE o.due_on WHEN :reached_3 THEN 3 WHEN :reached_2 THEN 2 WHEN :reached_1 THEN 1 ELSE 0 END AS level_rank
    FROM obligations o JOIN grants g ON g.id = o.grant_id
    WHERE o.remind AND o.status IN ('pending', 'overdue')
      AND o.due_on IN (:reached_0, :reached_1, :reached_2, :reached_3)
      AND g.stage IN ('prefecture', 'signature', 'active', 'closing')
),""" + _queued("FROM reached r") + _SUMMARY


WRITES_FLOOR_SQL = """
WITH marked AS (
    UPDATE obligations o SET status = 'overdue'
    WHERE o.remind AND o.status = 'pending' AND o.due_on < :day AND o.grant_id BETWEEN :first AND :last
    RETURNING o.id, o.grant_id
),
journalled AS (
    INSERT INTO events (grant_id, seq, at, business_date, actor, kind, payload, prev_hash, hash, alg)
    SELECT grant_id, 1000000 + row_number() OVER (PARTITION BY grant_id ORDER BY id), :at, :day, :actor,
           'obligation_overdue', '{}', :genesis, :genesis, 'hmac-sha256' FROM marked
    RETURNING 1
),
reached AS (
    SELECT o.id, o.grant_id, """ + _LEVEL_REACHED + """ AS level_rank
    FROM obligations o JOIN grants g ON g.id = o.grant_id
    WHERE o.remind AND o.status IN ('pending', 'overdue') AND o.grant_id BETWEEN :first AND :last
      AND g.stage IN ('prefecture', 'signature', 'active', 'closing') AND {reached}
),""" + _queued("FROM reached r", on_conflict="").removesuffix(",") + """
SELECT (SELECT count(*) FROM marked), (SELECT count(*) FROM journalled), (SELECT count(*) FROM queued)
"""
# The reminders written: every level reached (the first sweep of a portfolio), or only the
# levels crossed on the day (the day after a sweep).
_EVERY_LEVEL = "o.due_on <= :reached_0"
_LEVELS_OF_THE_DAY = "o.due_on IN (:reached_0, :reached_1, :reached_2, :reached_3)"


def writes_floor(connection: sa.Connection, day: dt.date, at: dt.datetime, actor: str, first: int, last: int, *,
                 bounded: bool) -> dict[str, int]:
    """The day's rows of grants `first` to `last` written, in the connection's transaction."""
    params: dict[str, object] = {"day": day, "at": at, "actor": actor, "genesis": GENESIS, "first": first,
                                 "last": last}
    for rank, (level, offset, template) in enumerate(LADDER):
        params |= {f"reached_{rank}": day - dt.timedelta(days=offset), f"level_{rank}": level,
                   f"template_{rank}": template}
    dates = [sa.bindparam(name, type_=sa.Date) for name in params if name == "day" or name.startswith("reached_")]
    sql = WRITES_FLOOR_SQL.replace("{reached}", _LEVELS_OF_THE_DAY if bounded else _EVERY_LEVEL)
    connection.execute(sa.text("SET LOCAL jit = off"))
    marked, journalled, queued = connection.execute(
        sa.text(sql).bindparams(*dates, sa.bindparam("at", type_=Instant)), params).one()
    return {"overdue": marked, "events": journalled, "reminders": queued}


def floor_sweep(connection: sa.Connection, day: dt.date, at: dt.datetime, actor: str, *,
                bounded: bool = False) -> dict[str, object]:
    """Run a floor statement in the connection's transaction; return its summary."""
    head = ",".join(canonical(v) for v in (at.astimezone(dt.timezone.utc).isoformat(), at.date().isoformat(), actor))
    ipad, opad = padded_keys(journal_key(get_settings()))
    params: dict[str, object] = {"day": day, "at": at, "actor": actor, "head": head, "genesis": GENESIS,
                                 "key_ipad": ipad, "key_opad": opad}
    for rank, (level, offset, template) in enumerate(LADDER):
        params |= {f"reached_{rank}": day - dt.timedelta(days=offset), f"level_{rank}": level,
                   f"template_{rank}": template}
    dates = [sa.bindparam(name, type_=sa.Date) for name in params if name == "day" or name.startswith("reached_")]
    statement = sa.text(BOUNDED_FLOOR_SQL if bounded else FLOOR_SQL).bindparams(*dates,
                                                                            sa.bindparam("at", type_=Instant))
    connection.execute(sa.text("SET LOCAL jit = off"))  # as the application's sweep does: faster on these days
    return json.loads(connection.execute(statement, params).scalar_one())
