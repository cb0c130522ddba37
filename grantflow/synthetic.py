"""A synthetic portfolio of N grants at every stage, written in bulk (tests and benchmarks).

Realistic in shape: several authorities, grants of 5,000 to 80,000 EUR starting through
the year, bimonthly reports, evaluations, a payment, a financial report, and some grants
waiting for their second signature or past their end; each grant has the beginning of
its journal (proposed, voted, acknowledged by the prefecture, signed), hash-chained as
`services.journal` writes it, so `journal.verify` holds on a synthetic store.

Written per chunk of grants: with PostgreSQL's COPY (identifiers drawn from the
sequences first), elsewhere with one executemany INSERT per table, so that 100,000
grants load in about a minute. The same seed gives the same portfolio.
"""
from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.settings import get_settings
from db.models import (
    Act,
    Association,
    Authority,
    Event,
    Grant,
    Instalment,
    Obligation,
    Signature,
)
from domain.calendar import add_months
from domain.convention import convention_period
from domain.lifecycle import ObligationStatus
from services.journal import GENESIS, KEYED, canonical, event_hash
from services.journal_key import journal_key

# Valid in form, obviously fictitious: SIREN 999000003, SIRET 99954321800013.
SIREN, SIRET = "999000003", "99954321800013"
IBAN, BIC = "FR7630004000000000005432151", "BNPAFRPPXXX"
ACTOR = "synthetic"
UTC = dt.timezone.utc


def generate(session: Session, n: int, *, authorities: int = 5, year: int = 2019, seed: int = 0,
             chunk: int = 5_000) -> None:
    """Add `n` grants (and `authorities` authorities) in the session's transaction."""
    rng = random.Random(seed)
    authority_ids = []
    for a in range(authorities):
        row = Authority(code=f"synth-{a}", name=f"Collectivité synthétique {a}", siren=SIREN,
                        department=("002", "057", "094", "974", "02A")[a % 5], kind="commune",
                        email=f"subventions@synth-{a}.example.org")
        session.add(row)
        session.flush()
        authority_ids.append(row.id)
    writer = _Writer(session)
    for first in range(0, n, chunk):
        _chunk(writer, rng, range(first, min(n, first + chunk)), authority_ids, year)


VOTED_BEFORE = dt.timedelta(days=30)  # each synthetic act is voted a month before it is received


def _chunk(writer: _Writer, rng: random.Random, numbers: range, authority_ids: list[int], year: int) -> None:
    associations = writer.insert_returning_ids(Association, [
        dict(code=f"synth-asso-{i}", name=f"Association synthétique {i}", siret=SIRET,
             email=f"contact@asso-{i}.example.org", iban=IBAN, bic=BIC, holder=f"ASSOCIATION {i}")
        for i in numbers
    ])
    plans = []
    for i, association_id in zip(numbers, associations):
        # Starts spread over the twelve months before 1 July of `year`: on that day some
        # conventions have ended, and one grant in ten still waits for a signature.
        starts = dt.date(year - 1, 7, 1) + dt.timedelta(days=rng.randrange(365))
        starts_on, ends_on = convention_period(starts, 12)
        stage = "signature" if i % 10 == 0 else "active"
        plans.append(dict(
            reference=f"SYN-{i:06d}", authority_id=authority_ids[i % len(authority_ids)],
            association_id=association_id, object="Action synthétique",
            amount=Decimal(rng.randrange(5_000, 80_000)), stage=stage, convention_required=True,
            duration_months=12, starts_from="executoire", starts_on=starts_on, ends_on=ends_on,
            reports_every_months=2, kind="redistribution", refund_clause="non_redistribue",
            financial_report_owed=False, exercise_ends_on=None, targets={}, dossier={},
        ))
    # One act per grant, transmitted on the day the convention starts.
    act_ids = writer.insert_returning_ids(Act, [
        dict(authority_id=plan["authority_id"], reference=plan["reference"], body="conseil",
             sitting_first=plan["starts_on"] - VOTED_BEFORE, sitting_last=plan["starts_on"] - VOTED_BEFORE,
             act_number=f"S{i}", transmission="ctes", act_id=f"002-{SIREN}-{plan['starts_on']:%Y%m%d}-S{i}-DE",
             received_on=plan["starts_on"], published_on=plan["starts_on"], executoire_on=plan["starts_on"],
             control_ends_on=add_months(plan["starts_on"], 2), dossier={})
        for i, plan in zip(numbers, plans)
    ])
    for plan, act_row_id in zip(plans, act_ids):
        plan["act_id"] = act_row_id
    grant_ids = writer.insert_returning_ids(Grant, plans)
    signatures, instalments, obligations, events = [], [], [], []
    for i, grant_id, plan in zip(numbers, grant_ids, plans):
        starts_on = plan["starts_on"]
        act_id = f"002-{SIREN}-{starts_on:%Y%m%d}-S{i}-DE"
        both = plan["stage"] == "active" or i % 20 == 0
        parties = ("association", "authority") if both else ("association",)
        signatures += [dict(grant_id=grant_id, party=p, signed_on=starts_on) for p in parties]
        instalments.append(dict(grant_id=grant_id, number=1, amount=plan["amount"],
                                due_on=add_months(starts_on, 3), status="scheduled",
                                idempotency_key=uuid.UUID(int=rng.getrandbits(128)).hex, attempts=0))
        due = [("report", k, add_months(starts_on, 2 * k), "association") for k in range(1, 7)]
        due += [("evaluation", 1, add_months(starts_on, 6), "authority"),
                ("evaluation", 2, add_months(starts_on, 12), "authority"),
                ("payment", 1, add_months(starts_on, 3), "authority"),
                ("financial_report", 1, add_months(plan["ends_on"], 6), "association")]
        # Placed when the act became enforceable, as the prefecture flow places them.
        obligations += [dict(grant_id=grant_id, kind=kind, number=k, label=f"{kind} n°{k}", debtor=debtor,
                             due_on=day, status=ObligationStatus.PENDING.value, remind=True,
                             placed_on=starts_on) for kind, k, day, debtor in due]
        voted_on = starts_on - VOTED_BEFORE
        history: list[tuple[dt.date, str, dict[str, Any]]] = [
            (voted_on - dt.timedelta(days=20), "grant_proposed", {"amount": plan["amount"], "object": plan["object"]}),
            (voted_on, "vote_recorded", {"decision": "adopted", "session": voted_on}),
            (starts_on, "prefecture_receipt", {"act_id": act_id, "received": starts_on, "published": starts_on,
                                               "executoire_on": starts_on}),
        ]
        history += [(starts_on, "signature", {"party": p, "on": starts_on}) for p in parties]
        if plan["stage"] == "active":
            history.append((starts_on, "stage_changed", {"from": "signature", "to": "active"}))
        events += _chained(grant_id, history)
    for model, rows in ((Signature, signatures), (Instalment, instalments),
                        (Obligation, obligations), (Event, events)):
        writer.insert(model, rows)


def _chained(grant_id: int, history: Sequence[tuple[dt.date, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The grant's first events, chained exactly as journal.append_many would chain them."""
    rows, prev_hash = [], GENESIS
    key = journal_key(get_settings())
    for seq, (day, kind, payload) in enumerate(history, start=1):
        at = dt.datetime(day.year, day.month, day.day, 8, 0, tzinfo=UTC)  # 09:00 or 10:00 in Paris
        payload = json.loads(canonical(payload))
        digest = event_hash(grant_id=grant_id, seq=seq, at=at, business_date=day, actor=ACTOR, kind=kind,
                            payload=payload, prev_hash=prev_hash, key=key)
        rows.append(dict(grant_id=grant_id, seq=seq, at=at, business_date=day, actor=ACTOR, kind=kind,
                         payload=payload, prev_hash=prev_hash, hash=digest, alg=KEYED))
        prev_hash = digest
    return rows


class _Writer:
    """Bulk rows into a table: COPY on PostgreSQL, an executemany INSERT elsewhere."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.copy = session.get_bind().dialect.name == "postgresql"

    def insert_returning_ids(self, model: type, rows: list[dict[str, Any]]) -> list[int]:
        if not self.copy:
            return list(self.session.execute(sa.insert(model).returning(model.id, sort_by_parameter_order=True),
                                              rows).scalars())
        table = model.__table__.name
        ids = list(self.session.execute(
            sa.text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": table, "n": len(rows)}).scalars())
        self.insert(model, [dict(row, id=i) for row, i in zip(rows, ids)])
        return ids

    def insert(self, model: type, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if not self.copy:
            self.session.execute(sa.insert(model), rows)
            return
        table = model.__table__
        names = list(rows[0])
        dialect = self.session.get_bind().dialect
        # What the columns' own types would do: Money to cents, Instant to UTC, JSON to text.
        convert = [(i, _json_text if isinstance(table.c[name].type, sa.JSON)
                    else table.c[name].type.bind_processor(dialect)) for i, name in enumerate(names)]
        convert = [(i, f) for i, f in convert if f is not None]
        raw = self.session.connection().connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(
                f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                values = list(row.values())
                for i, f in convert:
                    values[i] = f(values[i])
                copy.write_row(values)


def _json_text(value: Any) -> str:
    return "{}" if value == {} else json.dumps(value)
