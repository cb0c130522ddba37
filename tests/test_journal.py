"""The event journal: one hash chain per grant, and `verify` finds any row edited after the fact."""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa

from db.models import Event, Grant
from db.session import unit_of_work
from grantflow.cli import main
from services import journal

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
CASQ = "CASQ-2018-INNOSPRINT"
CASA = "CASA-2015-CREATIVE-CLUSTER"
GENESIS = "0" * 64
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture
def loaded(store, capsys):
    assert main(["load", *map(str, EXAMPLES)]) == 0, capsys.readouterr().err
    return store


def events_by_grant(engine: sa.Engine) -> dict[str, list[dict]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(Grant.reference, Event.id, Event.seq, Event.kind, Event.prev_hash, Event.hash)
            .join(Grant, Grant.id == Event.grant_id).order_by(Event.grant_id, Event.seq)).mappings()
        grouped: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            grouped[row["reference"]].append(dict(row))
    return grouped


def verify() -> list[tuple[str, int, str]]:
    with unit_of_work() as session:
        return [(b.grant_reference, b.seq, b.reason) for b in journal.verify(session)]


def event_id(engine: sa.Engine, reference: str, seq: int) -> int:
    return next(e["id"] for e in events_by_grant(engine)[reference] if e["seq"] == seq)


def test_each_event_chains_to_the_previous_one(loaded):
    grouped = events_by_grant(loaded.engine)
    assert set(grouped) == {CASQ, CASA}
    # CASQ: proposed, voted, moved to the prefecture, acknowledged, moved to signature.
    assert len(grouped[CASQ]) >= 5
    for reference, events in grouped.items():
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), reference
        assert events[0]["prev_hash"] == GENESIS
        for previous, current in zip(events, events[1:]):
            assert current["prev_hash"] == previous["hash"], (reference, current["seq"])
        assert all(HEX64.match(e["hash"]) for e in events)
    hashes = [e["hash"] for events in grouped.values() for e in events]
    assert len(set(hashes)) == len(hashes)
    assert verify() == []


def test_an_edited_payload_is_found(loaded):
    target = event_id(loaded.engine, CASQ, 2)  # the council's vote
    with loaded.engine.begin() as connection:
        connection.execute(sa.update(Event).where(Event.id == target)
                           .values(payload={"decision": "adopted", "votes": {"for": 76}}))
    assert verify() == [(CASQ, 2, "contenu modifié après écriture")]


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(loaded):
    """Re-hashing the edited row is not enough: the next event still names the old hash."""
    engine = loaded.engine
    target = event_id(engine, CASQ, 2)
    with engine.begin() as connection:
        row = connection.execute(sa.select(Event).where(Event.id == target)).one()
        forged = {**row.payload, "quorum_required": 1}
        connection.execute(sa.update(Event).where(Event.id == target).values(
            payload=forged,
            hash=journal.event_hash(grant_id=row.grant_id, seq=row.seq, at=row.at, business_date=row.business_date,
                                    actor=row.actor, kind=row.kind, payload=forged, prev_hash=row.prev_hash)))
    assert verify() == [(CASQ, 3, "chaînage rompu avec l'événement précédent")]


def test_a_removed_event_is_found(loaded):
    target = event_id(loaded.engine, CASA, 2)
    with loaded.engine.begin() as connection:
        connection.execute(sa.delete(Event).where(Event.id == target))
    breaks = verify()
    assert breaks and breaks[0][:2] == (CASA, 3)
    assert "numéro attendu 2" in breaks[0][2]
    assert all(reference == CASA for reference, _, _ in breaks)


def test_the_chain_holds_across_later_transactions(loaded, capsys):
    """A later fact appends to the chain where it stopped; a no-op reload writes nothing."""
    import datetime as dt

    from grantflow.settings import get_settings
    from services.commands import Signature
    from services.events import apply_event
    from services.grants import get_grant

    before = len(events_by_grant(loaded.engine)[CASQ])
    with unit_of_work() as session:
        apply_event(session, get_grant(session, CASQ), Signature(party="association", on=dt.date(2018, 12, 20)),
                    get_settings(), actor="test")
    assert main(["load", *map(str, EXAMPLES)]) == 0
    events = events_by_grant(loaded.engine)[CASQ]
    assert len(events) == before + 1 and events[-1]["kind"] == "signature"
    assert events[-1]["prev_hash"] == events[-2]["hash"]
    assert verify() == []
