"""The append-only, hash-chained event journal, written in the caller's transaction.

Each event's hash is an HMAC-SHA256, keyed with the journal key (services.journal_key,
never in the database), of its canonical body (`event_body`); events written before the
key existed keep their plain SHA-256 (`alg` = "sha256") and are checked as such.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import clock
from core.settings import get_settings
from db.models import Event, Grant
from services.journal_key import journal_key

GENESIS = "0" * 64
KEYED = "hmac-sha256"
PLAIN = "sha256"  # events written before the journal was keyed (revision 0004)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))


def event_body(*, grant_id: int, seq: int, at: dt.datetime, business_date: dt.date, actor: str,
               kind: str, payload: dict[str, Any], prev_hash: str) -> str:
    """The text an event's hash covers: what an auditor's own script recomputes."""
    return _canonical([grant_id, seq, at.astimezone(dt.timezone.utc).isoformat(),
                       business_date.isoformat(), actor, kind, payload, prev_hash])


def event_hash(*, grant_id: int, seq: int, at: dt.datetime, business_date: dt.date, actor: str,
               kind: str, payload: dict[str, Any], prev_hash: str, key: bytes | None) -> str:
    """HMAC-SHA256 with `key`; None gives the plain SHA-256 of events written before the key."""
    body = event_body(grant_id=grant_id, seq=seq, at=at, business_date=business_date, actor=actor, kind=kind,
                      payload=payload, prev_hash=prev_hash).encode()
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class NewEvent:
    grant_id: int
    kind: str
    payload: dict[str, Any]


def append(session: Session, grant: Grant, kind: str, payload: dict[str, Any], *, actor: str) -> None:
    append_many(session, [NewEvent(grant.id, kind, payload)], actor=actor)


APPEND_CHUNK = 1000  # events per round trip of append_many


def append_many(session: Session, new_events: Iterable[NewEvent], *, actor: str) -> int:
    """Journal many events: two statements per chunk of APPEND_CHUNK events (the heads of
    their grants' chains, then one INSERT), whatever their total number.

    `new_events` is consumed one chunk at a time and nothing is kept from one chunk to
    the next (each chunk reads its heads after the previous chunk's INSERT), so a
    generator of any length is journalled in bounded memory. Events of the same grant
    are chained in the order given. The set-based sweep writes its events in SQL
    instead (services.journal_sql), with the same hashes.
    """
    events = iter(new_events)
    chunk = list(islice(events, APPEND_CHUNK))
    if not chunk:
        return 0
    session.flush()
    key = journal_key(get_settings())
    at = clock.now()
    today = at.date()
    written = 0
    while chunk:
        heads = _heads(session, {e.grant_id for e in chunk})
        rows = []
        for event in chunk:
            seq, prev_hash, last_date = heads.get(event.grant_id, (0, GENESIS, today))
            seq += 1
            # Two runs at different business dates (two `simulate` at once) never make a
            # grant's journal go back in time: an event is dated at least as its predecessor.
            business_date = max(today, last_date)
            payload = json.loads(_canonical(event.payload))  # dates and Decimals as strings
            digest = event_hash(grant_id=event.grant_id, seq=seq, at=at, business_date=business_date,
                                actor=actor, kind=event.kind, payload=payload, prev_hash=prev_hash, key=key)
            heads[event.grant_id] = (seq, digest, business_date)
            rows.append(dict(grant_id=event.grant_id, seq=seq, at=at, business_date=business_date,
                             actor=actor, kind=event.kind, payload=payload, prev_hash=prev_hash, hash=digest,
                             alg=KEYED))
        session.execute(sa.insert(Event), rows)
        written += len(rows)
        chunk = list(islice(events, APPEND_CHUNK))
    return written


def _heads(session: Session, grant_ids: set[int]) -> dict[int, tuple[int, str, dt.date]]:
    """The last (seq, hash, business date) of each of these grants' chains, as this transaction sees them."""
    last = (
        sa.select(Event.grant_id, sa.func.max(Event.seq).label("seq"))
        .where(Event.grant_id.in_(grant_ids))
        .group_by(Event.grant_id)
        .subquery()
    )
    return {
        grant_id: (seq, digest, business_date)
        for grant_id, seq, digest, business_date in session.execute(
            sa.select(Event.grant_id, Event.seq, Event.hash, Event.business_date).join(
                last, sa.and_(last.c.grant_id == Event.grant_id, last.c.seq == Event.seq)
            )
        )
    }


@dataclass(frozen=True)
class Break:
    grant_reference: str
    seq: int
    event_id: int | None  # None: the event is gone
    reason: str


def verify(session: Session, key: bytes | None = None) -> list[Break]:
    """Every place where the chain does not hold: an edited, removed or inserted event, or
    one rehashed without the key. The anchors outside the database (services.journal_anchors)
    find the rest: a chain recomputed with the key, a deleted tail."""
    key = key if key is not None else journal_key(get_settings())
    breaks: list[Break] = []
    query = (
        sa.select(Event, Grant.reference)
        .join(Grant, Grant.id == Event.grant_id)
        .order_by(Event.grant_id, Event.seq)
        .execution_options(yield_per=2000)
    )
    current_grant, prev_hash, expected_seq, keyed = None, GENESIS, 1, False
    for event, reference in session.execute(query):
        if event.grant_id != current_grant:
            current_grant, prev_hash, expected_seq, keyed = event.grant_id, GENESIS, 1, False
        recomputed = event_hash(grant_id=event.grant_id, seq=event.seq, at=event.at,
                                business_date=event.business_date, actor=event.actor, kind=event.kind,
                                payload=event.payload, prev_hash=event.prev_hash,
                                key=key if event.alg == KEYED else None)
        if event.seq != expected_seq:
            breaks.append(Break(reference, event.seq, event.id, f"numéro attendu {expected_seq}"))
        elif event.prev_hash != prev_hash:
            breaks.append(Break(reference, event.seq, event.id, "chaînage rompu avec l'événement précédent"))
        elif event.alg not in (KEYED, PLAIN):
            breaks.append(Break(reference, event.seq, event.id, f"algorithme inconnu « {event.alg} »"))
        elif keyed and event.alg != KEYED:
            breaks.append(Break(reference, event.seq, event.id,
                                f"algorithme « {event.alg} » après un événement signé par la clé du journal"))
        elif recomputed != event.hash:
            breaks.append(Break(reference, event.seq, event.id, "contenu modifié après écriture"))
        prev_hash, expected_seq, keyed = event.hash, event.seq + 1, keyed or event.alg == KEYED
    return breaks
