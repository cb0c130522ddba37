"""The event journal: one keyed hash chain per grant, anchored outside the database; `audit verify`
finds any row edited after the fact, a chain recomputed with the product's own code, a deleted tail."""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.settings import get_settings
from db.models import Event, Grant
from db.session import unit_of_work
from grantflow.cli import main
from services import journal
from services.journal_key import journal_key
from tests.support import VAL_FOUGERE

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
    assert set(grouped) == {CASQ, CASA, *VAL_FOUGERE}
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
                                    actor=row.actor, kind=row.kind, payload=forged, prev_hash=row.prev_hash,
                                    key=journal_key(get_settings()))))
    assert verify() == [(CASQ, 3, "chaînage rompu avec l'événement précédent")]


def rewrite_chain(engine: sa.Engine, reference: str, seq: int, forged: dict, key: bytes | None) -> None:
    """What someone with write access and the product's code does: edit one payload, then
    recompute that event and every later one of the grant, so that each link holds again."""
    with engine.begin() as connection:
        rows = connection.execute(sa.select(Event).join(Grant, Grant.id == Event.grant_id)
                                  .where(Grant.reference == reference).order_by(Event.seq)).all()
        prev_hash = rows[seq - 2].hash
        for row in rows[seq - 1:]:
            payload = forged if row.seq == seq else row.payload
            digest = journal.event_hash(grant_id=row.grant_id, seq=row.seq, at=row.at,
                                        business_date=row.business_date, actor=row.actor, kind=row.kind,
                                        payload=payload, prev_hash=prev_hash, key=key)
            connection.execute(sa.update(Event).where(Event.id == row.id).values(
                payload=payload, prev_hash=prev_hash, hash=digest))
            prev_hash = digest


def test_a_chain_recomputed_without_the_key_is_found(loaded):
    """The plain SHA-256 the product used to write can be recomputed by anyone: no longer enough."""
    row = events_by_grant(loaded.engine)[CASQ][1]
    assert row["kind"] == "vote_recorded"
    casq = events_by_grant(loaded.engine)[CASQ]
    rewrite_chain(loaded.engine, CASQ, 2, {"decision": "adopted", "votes": {"for": 76}}, key=None)
    assert verify() == [(CASQ, e["seq"], "contenu modifié après écriture") for e in casq[1:]]


def test_a_chain_recomputed_with_the_key_is_found_by_the_anchors(loaded, capsys):
    """Even with the key, a rewritten chain no longer matches the heads anchored outside the store."""
    casq = events_by_grant(loaded.engine)[CASQ]
    rewrite_chain(loaded.engine, CASQ, 2, {"decision": "adopted", "votes": {"for": 76}},
                  key=journal_key(get_settings()))
    assert verify() == []  # the chain itself holds: only the anchor can tell
    capsys.readouterr()
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    last = casq[-1]["seq"]
    assert f"{CASQ} : événement n°{last} (id {casq[-1]['id']}) : empreinte différente de celle ancrée le" in out
    assert "journal réécrit et rechaîné depuis" in out
    assert CASA not in out
    assert "1 rupture(s) dans le journal" in out


def test_a_deleted_tail_is_found_by_the_anchors(loaded, capsys):
    casa = events_by_grant(loaded.engine)[CASA]
    last = casa[-1]
    with loaded.engine.begin() as connection:
        connection.execute(sa.delete(Event).where(Event.id == last["id"]))
    assert verify() == []  # what is left still chains
    capsys.readouterr()
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert (f"{CASA} : événement n°{last['seq']} : événement supprimé : ancré le") in out
    assert f"le journal s'arrête au n°{last['seq'] - 1}" in out


def test_an_edited_anchor_line_is_found(loaded, capsys):
    path = get_settings().anchors_path
    text = path.read_text(encoding="utf-8")
    casq_head = events_by_grant(loaded.engine)[CASQ][-1]["hash"]
    path.write_text(text.replace(casq_head, "f" * 64), encoding="utf-8")
    capsys.readouterr()
    assert main(["audit", "verify"]) == 1
    assert "ligne d'ancrage n°1 illisible ou altérée (signature invalide)" in capsys.readouterr().out


def test_anchoring_again_writes_only_what_changed(loaded, capsys):
    capsys.readouterr()
    assert main(["audit", "anchor"]) == 0
    assert capsys.readouterr().out.startswith("0 tête(s) de chaîne ancrée(s)")
    record_signature()
    assert main(["audit", "anchor"]) == 0
    assert capsys.readouterr().out.startswith("1 tête(s) de chaîne ancrée(s)")
    assert main(["audit", "verify"]) == 0


def record_signature() -> None:
    import datetime as dt

    from services.commands import Signature
    from services.events import apply_event
    from services.grants import get_grant

    with unit_of_work() as session:
        apply_event(session, get_grant(session, CASQ), Signature(party="association", on=dt.date(2018, 12, 20)),
                    get_settings(), actor="test")


def test_events_written_before_the_key_stay_verifiable(loaded):
    """A store migrated from revision 0001 holds plain SHA-256 events: they still verify, and
    the events after them are keyed; a keyed event turned back into a plain one is found."""
    rows = events_by_grant(loaded.engine)[CASA]
    with loaded.engine.begin() as connection:
        connection.execute(sa.update(Event).where(Event.id.in_([r["id"] for r in rows])).values(alg=journal.PLAIN))
    with loaded.engine.begin() as connection:
        prev_hash = GENESIS
        for row in connection.execute(sa.select(Event).where(Event.id.in_([r["id"] for r in rows]))
                                      .order_by(Event.seq)).all():
            digest = journal.event_hash(grant_id=row.grant_id, seq=row.seq, at=row.at,
                                        business_date=row.business_date, actor=row.actor, kind=row.kind,
                                        payload=row.payload, prev_hash=prev_hash, key=None)
            connection.execute(sa.update(Event).where(Event.id == row.id).values(prev_hash=prev_hash, hash=digest))
            prev_hash = digest
    # The anchors were taken on the keyed chain: anchor again, as the store had been migrated then.
    get_settings().anchors_path.unlink()
    with unit_of_work() as session:
        from services import journal_anchors
        journal_anchors.anchor(session, get_settings())
    assert verify() == []
    casq = events_by_grant(loaded.engine)[CASQ]
    with loaded.engine.begin() as connection:
        connection.execute(sa.update(Event).where(Event.id == casq[-1]["id"]).values(alg=journal.PLAIN))
    assert verify() == [(CASQ, casq[-1]["seq"], "algorithme « sha256 » après un événement signé par la clé du journal")]


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

    from core.settings import get_settings
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
