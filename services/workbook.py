"""Spreadsheets people open in Excel (French): amounts as numbers in a euro format, dates as
dates, counts as numbers, columns wide enough to read. CSV in the French dialect."""
from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from decimal import Decimal
from pathlib import Path

import pandas as pd

EURO = '#,##0.00 "€"'
DATE = "DD/MM/YYYY"
COUNT = "0"
DECIMAL = "#,##0.##########"


def write_sheet(writer: pd.ExcelWriter, table: pd.DataFrame, sheet: str, *, euros: Collection[str] = (),
                dates: Collection[str] = (), counts: Collection[str] = (), decimals: Collection[str] = ()) -> None:
    """One sheet: the cells keep their types (Decimal, date, int), the columns get their formats."""
    table.to_excel(writer, sheet_name=sheet, index=False)
    cells = writer.sheets[sheet]
    for index, name in enumerate(table.columns, start=1):
        fmt = (EURO if name in euros else DATE if name in dates else COUNT if name in counts
               else DECIMAL if name in decimals else None)
        column = next(cells.iter_cols(min_col=index, max_col=index))
        if fmt is not None:
            for cell in column[1:]:
                cell.number_format = fmt
        widest = max([len(str(name))] + [len(str(c.value)) for c in column[1:] if c.value is not None])
        cells.column_dimensions[column[0].column_letter].width = min(60, widest + 4)


def _csv_cell(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f").replace(".", ",")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return value


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """`;`, decimal comma, dates DD/MM/YYYY, UTF-8 with BOM: what a French Excel reads as numbers and dates."""
    table.map(_csv_cell).to_csv(path, sep=";", index=False, encoding="utf-8-sig")
