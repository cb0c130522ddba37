"""The documents GrantFlow writes for people: spreadsheets (CSV and Excel, French), evaluation
files, audit bundles. The one place that writes them; the services say what goes in.

Spreadsheets keep their cells typed: amounts as numbers in a euro format, dates as dates,
counts as numbers, columns wide enough to read. CSV is in the French dialect.
"""
from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd

from core import clock
from domain.calendar import format_date_fr
from domain.labels import slug

__all__ = ["Sheet", "write_sheet", "write_workbook", "write_csv", "evaluation_paths", "write_evaluation",
           "write_bundle"]

EURO = '#,##0.00 "€"'
DATE = "DD/MM/YYYY"
COUNT = "0"
DECIMAL = "#,##0.##########"


@dataclass(frozen=True)
class Sheet:
    """One sheet of a workbook: its table and which columns hold which kind of number."""

    table: pd.DataFrame
    name: str
    euros: Collection[str] = ()
    dates: Collection[str] = ()
    counts: Collection[str] = ()
    decimals: Collection[str] = ()


def write_sheet(writer: pd.ExcelWriter, sheet: Sheet) -> None:
    """One sheet: the cells keep their types (Decimal, date, int), the columns get their formats."""
    sheet.table.to_excel(writer, sheet_name=sheet.name, index=False)
    cells = writer.sheets[sheet.name]
    for index, name in enumerate(sheet.table.columns, start=1):
        fmt = (EURO if name in sheet.euros else DATE if name in sheet.dates else COUNT if name in sheet.counts
               else DECIMAL if name in sheet.decimals else None)
        column = next(cells.iter_cols(min_col=index, max_col=index))
        if fmt is not None:
            for cell in column[1:]:
                cell.number_format = fmt
        widest = max([len(str(name))] + [len(str(c.value)) for c in column[1:] if c.value is not None])
        cells.column_dimensions[column[0].column_letter].width = min(60, widest + 4)


def write_workbook(path: Path, sheets: Sequence[Sheet]) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for sheet in sheets:
            write_sheet(writer, sheet)


def _csv_cell(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f").replace(".", ",")
    if isinstance(value, dt.date):
        return format_date_fr(value)
    return value


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """`;`, decimal comma, dates DD/MM/YYYY, UTF-8 with BOM: what a French Excel reads as numbers and dates."""
    table.map(_csv_cell).to_csv(path, sep=";", index=False, encoding="utf-8-sig")


# -- evaluations ----------------------------------------------------------------------

def evaluation_paths(folder: Path, name: str) -> list[Path]:
    """Where the evaluation `name` of the grant whose documents are in `folder` is written: CSV, Excel."""
    base = folder / f"evaluation-{slug(name)}"
    return [base.with_suffix(".csv"), base.with_suffix(".xlsx")]


def write_evaluation(folder: Path, name: str, table: pd.DataFrame, sheets: Sequence[Sheet]) -> list[Path]:
    """The indicator table as text in a CSV (`;`, UTF-8 with BOM, as French spreadsheets expect),
    and the workbook of `sheets`."""
    folder.mkdir(parents=True, exist_ok=True)
    csv, xlsx = evaluation_paths(folder, name)
    table.to_csv(csv, sep=";", index=False, encoding="utf-8-sig")
    write_workbook(xlsx, sheets)
    return [csv, xlsx]


# -- audit bundles --------------------------------------------------------------------

def _entry(name: str) -> zipfile.ZipInfo:
    # Dated by the application clock, like everything else it writes.
    return zipfile.ZipInfo(name, date_time=clock.now().timetuple()[:6])


def write_bundle(target: Path, entries: Sequence[tuple[str, str | bytes]], documents: Path) -> Path:
    """A zip of `entries` (name, content) in order, then every file under `documents` in
    `documents/`, as it is on disk."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            archive.writestr(_entry(name), content)
        if documents.is_dir():
            for path in sorted(documents.rglob("*")):
                if path.is_file():
                    archive.writestr(_entry(f"documents/{path.relative_to(documents)}"), path.read_bytes())
    return target
