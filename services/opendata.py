"""The legal open-data file of granted subsidies: SCDL « subventions » (schema 2.1.1).

Grants above 23,000 EUR, whose convention is signed, must be published within three
months of the signature (décret 2017-779): the export lists them and fulfils the
"open_data" obligation the signature created.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from db.models import Act, Authority, Grant, Instalment, Signature
from domain.money import format_amount
from services import obligations

SCDL_COLUMNS = [
    "nomAttribuant", "idAttribuant", "dateConvention", "referenceDecision", "nomBeneficiaire", "idBeneficiaire",
    "rnaBeneficiaire", "objet", "montant", "nature", "conditionsVersement", "datesPeriodeVersement", "idRAE",
    "notificationUE", "pourcentageSubvention", "dispositifAide",
]


def scdl(session: Session, authority_code: str, today: dt.date) -> pd.DataFrame:
    authority = session.scalars(sa.select(Authority).where(Authority.code == authority_code)).one_or_none()
    if authority is None:
        from domain.errors import RuleViolation

        raise RuleViolation("authority", authority_code, "collectivité inconnue")
    signed_on = (sa.select(Signature.grant_id, sa.func.max(Signature.signed_on).label("signed_on"),
                           sa.func.count().label("parties"))
                 .group_by(Signature.grant_id).subquery())
    rows = session.execute(
        sa.select(Grant, signed_on.c.signed_on, Act.act_id)
        .join(signed_on, signed_on.c.grant_id == Grant.id)
        .outerjoin(Act, Act.id == Grant.act_id)
        .where(Grant.authority_id == authority.id, Grant.convention_required.is_(True), signed_on.c.parties == 2)
        .order_by(Grant.reference)
    ).all()
    records = []
    for grant, convention_on, act_id in rows:
        dues = sorted(d for d in session.scalars(
            sa.select(Instalment.due_on).where(Instalment.grant_id == grant.id)) if d is not None)
        period = "" if not dues else (dues[0].isoformat() if len(dues) == 1
                                      else f"{dues[0].isoformat()}_{dues[-1].isoformat()}")
        records.append({
            "nomAttribuant": authority.name,
            # The schema asks for the authority's SIRET; the store knows its SIREN only.
            "idAttribuant": authority.siren,
            "dateConvention": convention_on.isoformat(),
            "referenceDecision": act_id or "",
            "nomBeneficiaire": grant.association.name,
            "idBeneficiaire": grant.association.siret,
            "rnaBeneficiaire": grant.association.rna or "",
            "objet": grant.object,
            "montant": format_amount(grant.amount),
            "nature": "aide en numéraire",
            "conditionsVersement": "unique" if len(dues) <= 1 else "échelonné",
            "datesPeriodeVersement": period,
            "idRAE": "",
            "notificationUE": "non",
            "pourcentageSubvention": "1",
            "dispositifAide": "",
        })
        obligations.fulfil(session, grant, "open_data", 1, today)
    return pd.DataFrame(records, columns=SCDL_COLUMNS)
