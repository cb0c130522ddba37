"""The legal open-data file of granted subsidies: SCDL « subventions » (schema 2.1.1).

Grants above 23,000 EUR, whose convention is signed, must be published within three
months of the signature (décret 2017-779): the export lists them, writes the file, and
records the publication: the "open_data" obligation the signature created is fulfilled and
journalled with the file's SHA-256, and the operator is told which obligations it met.
Every column is written as the schema defines it (tests validate the file with
frictionless against the official schema).
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from db.models import Act, Authority, Grant, Instalment, Obligation, Signature
from domain.calendar import format_date_fr
from domain.errors import RuleViolation
from domain.lifecycle import OBLIGATION_OPEN
from domain.money import format_amount
from gateways.files import atomic_write
from services import journal, obligations

SCDL_COLUMNS = [
    "nomAttribuant", "idAttribuant", "dateConvention", "referenceDecision", "nomBeneficiaire", "idBeneficiaire",
    "rnaBeneficiaire", "objet", "montant", "nature", "conditionsVersement", "datesPeriodeVersement", "idRAE",
    "notificationUE", "pourcentageSubvention", "dispositifAide",
]
OBJECT_MAX = 256  # the schema's maxLength for `objet`


@dataclass
class ScdlExport:
    table: pd.DataFrame
    path: Path | None = None
    sha256: str | None = None
    published: list[str] = field(default_factory=list)  # "REF (à publier avant le JJ/MM/AAAA)"


def _authority(session: Session, code: str) -> Authority:
    authority = session.scalars(sa.select(Authority).where(Authority.code == code)).one_or_none()
    if authority is None:
        raise RuleViolation("authority", code, "collectivité inconnue")
    if not authority.siret:
        raise RuleViolation(
            "authority.siret", None,
            f"export SCDL impossible : la collectivité « {code} » ({authority.name}) n'a pas de SIRET ; le format "
            "exige le SIRET de l'attribuant (idAttribuant, 14 chiffres) : ajouter « siret » à la collectivité "
            "dans son dossier et le recharger")
    return authority


def _period(dues: list[dt.date]) -> str:
    if not dues:
        return ""
    return dues[0].isoformat() if len(dues) == 1 else f"{dues[0].isoformat()}/{dues[-1].isoformat()}"


def _object(text: str) -> str:
    return text if len(text) <= OBJECT_MAX else text[:OBJECT_MAX - 1] + "…"


def scdl(session: Session, authority_code: str) -> tuple[pd.DataFrame, list[Grant]]:
    """The file's rows and the grants they describe (signed conventions of this authority)."""
    authority = _authority(session, authority_code)
    signed_on = (sa.select(Signature.grant_id, sa.func.max(Signature.signed_on).label("signed_on"),
                           sa.func.count().label("parties"))
                 .group_by(Signature.grant_id).subquery())
    rows = session.execute(
        sa.select(Grant, signed_on.c.signed_on, Act.act_id)
        .join(signed_on, signed_on.c.grant_id == Grant.id)
        .outerjoin(Act, Act.id == Grant.act_id)
        .where(Grant.authority_id == authority.id, Grant.convention_required.is_(True), signed_on.c.parties == 2)
        .order_by(Grant.reference)
    ).unique().all()
    records, grants = [], []
    for grant, convention_on, act_id in rows:
        dues = sorted(d for d in session.scalars(
            sa.select(Instalment.due_on).where(Instalment.grant_id == grant.id)) if d is not None)
        count = session.scalar(sa.select(sa.func.count()).where(Instalment.grant_id == grant.id)) or 0
        records.append({
            "nomAttribuant": authority.name,
            "idAttribuant": authority.siret,
            "dateConvention": convention_on.isoformat(),
            "referenceDecision": act_id or "",
            "nomBeneficiaire": grant.association.name,
            "idBeneficiaire": grant.association.siret,
            "rnaBeneficiaire": grant.association.rna or "",
            "objet": _object(grant.object),
            "montant": format_amount(grant.amount),
            "nature": "aide en numéraire",
            "conditionsVersement": "unique" if count <= 1 else "échelonné",
            "datesPeriodeVersement": _period(dues) or convention_on.isoformat(),
            "idRAE": "",
            "notificationUE": "non",
            "pourcentageSubvention": "1",
            "dispositifAide": "",
        })
        grants.append(grant)
    return pd.DataFrame(records, columns=SCDL_COLUMNS), grants


def export(session: Session, authority_code: str, target: Path, today: dt.date, *, actor: str) -> ScdlExport:
    """Write the file and record its publication, in the caller's transaction."""
    table, grants = scdl(session, authority_code)
    data = table.to_csv(index=False, sep=",", lineterminator="\n").encode("utf-8")
    atomic_write(target, data)
    digest = hashlib.sha256(data).hexdigest()
    result = ScdlExport(table, target, digest)
    for grant in grants:
        pending = session.scalars(sa.select(Obligation).where(
            Obligation.grant_id == grant.id, Obligation.kind == "open_data",
            Obligation.status.in_(OBLIGATION_OPEN))).one_or_none()
        if pending is None:
            continue
        obligations.fulfil(session, grant, "open_data", 1, today)
        journal.append(session, grant, "open_data_published",
                       {"file": target.name, "sha256": digest, "published_on": today}, actor=actor)
        result.published.append(f"{grant.reference} (à publier avant le {format_date_fr(pending.due_on)})")
    return result
