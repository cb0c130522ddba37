"""The journal's hash chain computed in SQL, for set-based writers such as the daily sweep.

`services.journal.event_hash` defines an event's hash: the HMAC-SHA256, with the journal
key, of the canonical JSON (sorted keys, no spaces, UTF-8, dates as ISO strings) of

    [grant_id, seq, at (UTC, isoformat), business_date, actor, kind, payload, prev_hash]

`append_staged` writes that same text in SQL for every event staged in a temporary table
and inserts them all with one INSERT ... SELECT: a recursive query walks each grant's
staged events in order, numbering them after the grant's last event and chaining each
hash to the previous one. Nothing comes back to Python, so the memory used does not grow
with the number of events. The constant parts (instant, business date, actor) are
encoded by Python with `journal._canonical` itself; the variable parts are integers,
ISO dates and strings quoted by the database's JSON function, which escapes exactly as
Python's `json.dumps(..., ensure_ascii=False)` does (quote, backslash, \\b \\f \\n \\r \\t,
other control characters as lowercase \\u00xx, everything else as is).

PostgreSQL computes it with its own `sha256()` (PostgreSQL 11+) as RFC 2104 writes HMAC,
sha256((K xor opad) || sha256((K xor ipad) || m)), the two padded keys passed as bytea
parameters of the statement (never stored); SQLite calls a Python HMAC function
registered on its connection. `journal.verify` recomputes every hash in Python: the
tests run it after set-based sweeps on both databases.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

import sqlalchemy as sa

from core.settings import get_settings
from db.types import Instant
from services.journal import GENESIS, KEYED, _canonical
from services.journal_key import journal_key

SQLITE_HMAC = "grantflow_journal_hmac"
_BLOCK = 64  # SHA-256's block size, in bytes (RFC 2104)


@dataclass(frozen=True)
class Dialect:
    """The few spellings that differ between PostgreSQL and SQLite in the set-based SQL."""

    postgresql: bool

    @classmethod
    def of(cls, connection: sa.Connection) -> Dialect:
        name = connection.dialect.name
        if name not in ("postgresql", "sqlite"):
            raise NotImplementedError(f"base de données {name} : PostgreSQL ou SQLite attendu")
        return cls(postgresql=name == "postgresql")

    def hmac_hex(self, text: str) -> str:
        """The HMAC of a text expression; the statement binds :key_ipad and :key_opad (`hmac_params`)."""
        if self.postgresql:
            return (f"encode(sha256(CAST(:key_opad AS bytea) || sha256(CAST(:key_ipad AS bytea) "
                    f"|| convert_to({text}, 'UTF8'))), 'hex')")
        return f"{SQLITE_HMAC}({text})"

    def hmac_params(self, connection: sa.Connection, key: bytes) -> dict[str, bytes]:
        if not self.postgresql:
            raw = connection.connection.driver_connection
            raw.create_function(SQLITE_HMAC, 1, lambda text: _hmac_hex(key, text), deterministic=True)
            return {}
        ipad, opad = padded_keys(key)
        return {"key_ipad": ipad, "key_opad": opad}

    def json_string(self, text: str) -> str:
        """The JSON string literal of a text value, as `json.dumps(value, ensure_ascii=False)`."""
        return f"to_json(CAST({text} AS text))::text" if self.postgresql else f"json_quote({text})"

    def iso_date(self, column: str) -> str:
        # SQLAlchemy stores SQLite dates as 'YYYY-MM-DD' text already.
        return f"to_char({column}, 'YYYY-MM-DD')" if self.postgresql else column

    def as_json(self, text: str) -> str:
        return f"CAST({text} AS json)" if self.postgresql else text

    def temp(self, table: str) -> str:
        return f"pg_temp.{table}" if self.postgresql else f"temp.{table}"


def padded_keys(key: bytes) -> tuple[bytes, bytes]:
    """K xor ipad and K xor opad, as RFC 2104 defines them for a 64-byte block."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _hmac_hex(key: bytes, text: str | None) -> str | None:
    return None if text is None else hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def append_staged(connection: sa.Connection, staging: str, *, at: dt.datetime, actor: str) -> int:
    """Journal every event staged in the temporary table `staging`, in one statement.

    `staging` has the columns grant_id, k (1, 2, 3... per grant: the order of that grant's
    new events), kind, and payload: the canonical JSON text of the payload, as
    `journal._canonical` writes it. The caller holds the grants' row locks (the journal of
    a grant is written by whoever holds its row), as `journal.append_many` requires too.
    Returns the number of events written.
    """
    sql = Dialect.of(connection)
    keys = sql.hmac_params(connection, journal_key(get_settings()))
    business_date = at.date()
    # The constant middle of every body: instant, business date, actor (encoded by Python).
    head = ",".join(_canonical(v) for v in (at.astimezone(dt.timezone.utc).isoformat(),
                                            business_date.isoformat(), actor))

    def body(grant_id: str, seq: str, kind: str, payload: str, prev_hash: str) -> str:
        return (f"'[' || {grant_id} || ',' || ({seq}) || ',' || CAST(:head AS text) || ',' || {sql.json_string(kind)}"
                f" || ',' || {payload} || ',\"' || {prev_hash} || '\"]'")

    # The head of each grant's chain first, in a table of its own: the INSERT below then
    # never reads the table it writes (which would also mislead the planner on a new store).
    connection.execute(sa.text("CREATE TEMPORARY TABLE journal_heads "
                               "(grant_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, hash VARCHAR(64) NOT NULL)"))
    connection.execute(sa.text(f"""
        INSERT INTO journal_heads (grant_id, seq, hash)
        SELECT s.grant_id,
               COALESCE((SELECT max(e.seq) FROM events e WHERE e.grant_id = s.grant_id), 0),
               COALESCE((SELECT e.hash FROM events e WHERE e.grant_id = s.grant_id ORDER BY e.seq DESC LIMIT 1),
                        :genesis)
        FROM {sql.temp(staging)} s WHERE s.k = 1
    """), {"genesis": GENESIS})
    statement = sa.text(f"""
        WITH RECURSIVE chain (grant_id, k, seq, kind, payload, prev_hash, hash) AS (
            SELECT s.grant_id, s.k, h.seq + 1, s.kind, s.payload, CAST(h.hash AS text),
                   {sql.hmac_hex(body('s.grant_id', 'h.seq + 1', 's.kind', 's.payload', 'h.hash'))}
            FROM {sql.temp(staging)} s JOIN journal_heads h ON h.grant_id = s.grant_id
            WHERE s.k = 1
            UNION ALL
            SELECT s.grant_id, s.k, c.seq + 1, s.kind, s.payload, c.hash,
                   {sql.hmac_hex(body('s.grant_id', 'c.seq + 1', 's.kind', 's.payload', 'c.hash'))}
            FROM chain c JOIN {sql.temp(staging)} s ON s.grant_id = c.grant_id AND s.k = c.k + 1
        )
        INSERT INTO events (grant_id, seq, at, business_date, actor, kind, payload, prev_hash, hash, alg)
        SELECT grant_id, seq, :at, :business_date, :actor, kind, {sql.as_json('payload')}, prev_hash, hash, :alg
        FROM chain
    """).bindparams(sa.bindparam("at", type_=Instant), sa.bindparam("business_date", type_=sa.Date))
    written = connection.execute(statement, {"head": head, "at": at, "business_date": business_date,
                                             "actor": actor, "alg": KEYED} | keys)
    connection.execute(sa.text(f"DROP TABLE {sql.temp('journal_heads')}"))
    return written.rowcount
