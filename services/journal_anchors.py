"""The journal's anchor outside the database: its chain heads, appended to a file.

Whoever holds the database and the key could recompute a grant's whole chain, or delete
its last events and leave a chain that still holds. The anchor file (one JSON line per
anchoring: the heads that changed since the last line, each `[grant_id, reference, seq,
hash]`, and the line's HMAC with the journal key) is written by the daily sweep, by
`grantflow load` and `grantflow audit anchor`, outside the database: `check` reports an
anchored event whose hash is no longer the one in the store, and an anchored event that is
gone. Keep the file where the database's administrators cannot rewrite it (another
machine, a WORM share): `GRANTFLOW_JOURNAL_ANCHORS`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import clock
from core.settings import Settings
from db.models import Event, Grant
from gateways.files import append_line
from services.journal import Break, _canonical
from services.journal_key import journal_key


@dataclass(frozen=True)
class Anchored:
    line: int
    written_at: str
    reference: str
    seq: int
    hash: str


def _mac(key: bytes, body: dict[str, Any]) -> str:
    return hmac.new(key, _canonical(body).encode(), hashlib.sha256).hexdigest()


def read(path: Path, key: bytes) -> tuple[dict[int, list[Anchored]], list[Break]]:
    """Every anchored head by grant id, in file order, and the lines that do not check."""
    anchored: dict[int, list[Anchored]] = {}
    problems: list[Break] = []
    if not path.exists():
        return anchored, problems
    with open(path, encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            try:
                entry = json.loads(text)
                mac = entry.pop("mac")
                valid = hmac.compare_digest(mac, _mac(key, entry))
                heads = entry["heads"] if valid else []
            except (ValueError, KeyError, TypeError, AttributeError):
                valid, heads = False, []
            if not valid:
                problems.append(Break(path.name, number, None,
                                      f"ligne d'ancrage n°{number} illisible ou altérée (signature invalide)"))
                continue
            for grant_id, reference, seq, digest in heads:
                anchored.setdefault(grant_id, []).append(Anchored(number, entry["written_at"], reference, seq, digest))
    return anchored, problems


def heads(session: Session) -> dict[int, tuple[str, int, str]]:
    """Each grant's last event: grant id -> (reference, seq, hash)."""
    last = sa.select(Event.grant_id, sa.func.max(Event.seq).label("seq")).group_by(Event.grant_id).subquery()
    rows = session.execute(
        sa.select(Event.grant_id, Grant.reference, Event.seq, Event.hash)
        .join(last, sa.and_(last.c.grant_id == Event.grant_id, last.c.seq == Event.seq))
        .join(Grant, Grant.id == Event.grant_id))
    return {grant_id: (reference, seq, digest) for grant_id, reference, seq, digest in rows}


def anchor(session: Session, settings: Settings) -> int:
    """Append the heads that changed since the last anchoring; the number written."""
    key = journal_key(settings)
    known, _ = read(settings.anchors_path, key)
    latest = {grant_id: (entries[-1].seq, entries[-1].hash) for grant_id, entries in known.items()}
    changed = [[grant_id, reference, seq, digest] for grant_id, (reference, seq, digest) in sorted(heads(session).items())
               if latest.get(grant_id) != (seq, digest)]
    if not changed:
        return 0
    entry: dict[str, Any] = {"written_at": clock.now().isoformat(), "heads": changed}
    entry["mac"] = _mac(key, entry)
    append_line(settings.anchors_path, json.dumps(entry, ensure_ascii=False, separators=(",", ":")))
    return len(changed)


def check(session: Session, settings: Settings) -> list[Break]:
    """What the anchors say the store lost or rewrote, naming the grant and the event."""
    anchored, breaks = read(settings.anchors_path, journal_key(settings))
    if not anchored:
        return breaks
    stored: dict[tuple[int, int], tuple[int, str]] = {
        (grant_id, seq): (event_id, digest) for grant_id, seq, event_id, digest in session.execute(
            sa.select(Event.grant_id, Event.seq, Event.id, Event.hash).where(Event.grant_id.in_(anchored)))}
    last_seq: dict[int, int] = {}
    for grant_id, seq in stored:
        last_seq[grant_id] = max(seq, last_seq.get(grant_id, 0))
    for grant_id, entries in sorted(anchored.items()):
        for entry in sorted(entries, key=lambda e: e.seq):
            found = stored.get((grant_id, entry.seq))
            when = entry.written_at[:10]
            if found is None:
                top = last_seq.get(grant_id, 0)
                breaks.append(Break(entry.reference, entry.seq, None,
                                    f"événement supprimé : ancré le {when} (ligne {entry.line}), le journal "
                                    f"s'arrête au n°{top}" if top else
                                    f"journal de la subvention supprimé : ancré le {when} (ligne {entry.line})"))
                break
            if found[1] != entry.hash:
                breaks.append(Break(entry.reference, entry.seq, found[0],
                                    f"empreinte différente de celle ancrée le {when} (ligne {entry.line}) : "
                                    "journal réécrit et rechaîné depuis"))
                break
    return breaks
