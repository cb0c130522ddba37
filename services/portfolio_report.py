"""The portfolio as a report for people: French headers and stages, typed cells (`grantflow report`)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session

from domain import labels
from gateways.documents import Sheet, write_csv, write_workbook
from services import reading

HEADERS = {
    "reference": "Référence", "authority": "Collectivité", "association": "Association", "stage": "Étape",
    "amount": "Montant", "paid": "Versé", "next_due_on": "Prochaine échéance",
    "next_obligation": "Prochaine obligation", "overdue": "Obligations en retard",
}


def portfolio_report(session: Session, authority: str | None = None) -> pd.DataFrame:
    table = reading.portfolio(session, authority)
    typed = table.assign(
        stage=table["stage"].map(lambda code: labels.label(labels.STAGES, code)),
        amount=table["amount"].map(Decimal),
        paid=table["paid"].map(Decimal),
        # A grant with nothing left due has no date (NaN once pandas holds the column).
        next_due_on=table["next_due_on"].map(lambda d: dt.date.fromisoformat(d) if isinstance(d, str) and d else None),
        overdue=table["overdue"].astype(int),
    )
    return typed.rename(columns=HEADERS)


def write_report(table: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        write_csv(table, path)
        return
    write_workbook(path, [Sheet(table, "portefeuille", euros=(HEADERS["amount"], HEADERS["paid"]),
                                dates=(HEADERS["next_due_on"],), counts=(HEADERS["overdue"],))])
