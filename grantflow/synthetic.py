"""A synthetic portfolio of N grants at every stage, written in bulk (tests and benchmarks).

Realistic in shape: several authorities, grants of 5,000 to 80,000 EUR starting through
the year, bimonthly reports, evaluations, a payment, a financial report, and some grants
waiting for their second signature or past their end. Written with a few bulk INSERTs per
chunk so that 100,000 grants load in seconds.
"""
from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from db.models import Act, Association, Authority, Grant, Instalment, Obligation, Signature
from domain.calendar import add_months
from domain.convention import convention_period

# Valid in form, obviously fictitious: SIREN 999000003, SIRET 99954321800013.
SIREN, SIRET = "999000003", "99954321800013"
IBAN, BIC = "FR7630004000000000005432151", "BNPAFRPPXXX"


def generate(session: Session, n: int, *, authorities: int = 5, year: int = 2019, seed: int = 0,
             chunk: int = 5_000) -> None:
    rng = random.Random(seed)
    authority_ids = []
    for a in range(authorities):
        row = Authority(code=f"synth-{a}", name=f"Collectivité synthétique {a}", siren=SIREN,
                        department=("002", "057", "094", "974", "02A")[a % 5], kind="commune",
                        email=f"subventions@synth-{a}.example.org")
        session.add(row)
        session.flush()
        authority_ids.append(row.id)
    for first in range(0, n, chunk):
        _chunk(session, rng, range(first, min(n, first + chunk)), authority_ids, year)


def _chunk(session: Session, rng: random.Random, numbers: range, authority_ids: list[int], year: int) -> None:
    associations = session.execute(sa.insert(Association).returning(Association.id, sort_by_parameter_order=True), [
        dict(code=f"synth-asso-{i}", name=f"Association synthétique {i}", siret=SIRET,
             email=f"contact@asso-{i}.example.org", iban=IBAN, bic=BIC, holder=f"ASSOCIATION {i}")
        for i in numbers
    ]).scalars().all()
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
            reports_every_months=2, unspent="refund", targets={}, dossier={},
        ))
    grant_ids = session.execute(sa.insert(Grant).returning(Grant.id, sort_by_parameter_order=True),
                                plans).scalars().all()
    acts, signatures, instalments, obligations = [], [], [], []
    for i, grant_id, plan in zip(numbers, grant_ids, plans):
        starts_on = plan["starts_on"]
        acts.append(dict(grant_id=grant_id, act_id=f"002-{SIREN}-{starts_on:%Y%m%d}-S{grant_id}-DE",
                         received_on=starts_on, published_on=starts_on, executoire_on=starts_on,
                         control_ends_on=add_months(starts_on, 2)))
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
        obligations += [dict(grant_id=grant_id, kind=kind, number=k, label=f"{kind} n°{k}", debtor=debtor,
                             due_on=day, status="pending", remind=True) for kind, k, day, debtor in due]
    for model, rows in ((Act, acts), (Signature, signatures), (Instalment, instalments),
                        (Obligation, obligations)):
        session.execute(sa.insert(model), rows)
