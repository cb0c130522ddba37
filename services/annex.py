"""The annex table of an act ("attribution de subventions aux associations"), imported whole.

One line per grant, in CSV (`;` or `,`, UTF-8 with or without BOM) or XLSX. Every cell is
read as text: pandas never guesses a number, and an XLSX numeric cell is taken at its exact
value, refused unless it is a whole number of cents. Each line is checked by the same
models as a YAML dossier and each grant is created by the same function
(services.dossier.create_grant); one bad line refuses the file and nothing is written.
"""
from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Act, Association, Grant
from domain.errors import RuleViolation
from domain.money import CENT
from services import acts
from services.dossier import AssociationIn, GrantIn, create_grant, french_rule

REQUIRED = ("association", "siret", "email", "iban", "bic", "titulaire", "objet", "montant")
OPTIONAL = ("reference", "echeances", "duree_mois")
DEFAULT_MONTHS = 12

# Where a line's value lands in the dossier models, to name the column of an error.
_COLUMN_OF = {
    "name": "association", "siret": "siret", "email": "email", "bank.iban": "iban", "bank.bic": "bic",
    "bank.holder": "titulaire", "object": "objet", "amount": "montant", "payments": "echeances",
    "reference": "reference", "duration.months": "duree_mois", "association.siret": "siret",
}
_SHOWN = {"echeances": "échéances", "duree_mois": "durée_mois", "reference": "référence"}

# "6000,00 au 30/06/2022": an amount, then optionally its due date (French or ISO form).
_INSTALMENT = re.compile(r"^(?P<amount>.+?)(?:\s+(?:au|le)\s+(?P<due>\S+))?$")


class AnnexError(Exception):
    """The annex refused whole: each line of the message names file, line, column, value and rule."""


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _column(name: str) -> str:
    """'Échéances ', 'Durée (mois)', 'Référence' -> echeances, duree_mois, reference."""
    text = unicodedata.normalize("NFKD", name.replace("\ufeff", "")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _exact(value: object) -> str:
    """An XLSX cell as the text it stands for; a number only if it is a whole number of cents."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):  # a date cell
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        number = Decimal(value)  # the binary value itself, not a rounded repr
        if number == number.to_integral_value():
            return str(int(number))
        cents = number.quantize(CENT)
        if cents != number:
            raise ValueError(f"{value!r} n'est pas un nombre entier de centimes (cellule numérique d'Excel) : "
                             "saisir le montant en texte, au centime")
        return str(cents)
    return str(value)


def _rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    """The header (normalised names) and each non-empty line with its number as the user counts
    them (the header is line 1)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        text = path.read_bytes().decode("utf-8-sig")
        header = text.splitlines()[0] if text else ""
        delimiter = ";" if header.count(";") >= header.count(",") else ","
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                            skip_blank_lines=False)
        columns = [_column(str(c)) for c in frame.columns]
        lines = ((index + 2, dict(zip(columns, row))) for index, row in enumerate(frame.itertuples(index=False)))
        return columns, lines
    if suffix == ".xlsx":
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            raw = list(book.worksheets[0].iter_rows(values_only=True))
        finally:
            book.close()
        columns = [_column(str(c)) if c is not None else "" for c in (raw[0] if raw else ())]
        return columns, ((number, dict(zip(columns, cells))) for number, cells in enumerate(raw[1:], start=2))
    raise AnnexError(f"{path} : format non pris en charge « {path.suffix} » (attendu .csv ou .xlsx)")


@dataclass
class _Line:
    number: int
    association: AssociationIn
    grant: GrantIn


def _instalments(text: str, total: str) -> list[dict[str, Any]]:
    if not text.strip():
        return [{"amount": total}]
    payments = []
    for part in text.split("|"):
        match = _INSTALMENT.match(part.strip())
        if not match:
            raise RuleViolation("payments", text, "échéances illisibles : « montant au JJ/MM/AAAA | … » attendu")
        due = match["due"]
        if due is not None:
            try:
                due = (dt.datetime.strptime(due, "%d/%m/%Y").date() if "/" in due
                       else dt.date.fromisoformat(due)).isoformat()
            except ValueError:
                raise RuleViolation("payments", text, f"date d'échéance « {due} » illisible (JJ/MM/AAAA)") from None
        payments.append({"amount": match["amount"], "due": due})
    return payments


def _line(act: Act, number: int, cells: dict[str, str]) -> _Line:
    siret = "".join(cells["siret"].split())
    association = AssociationIn(
        id=f"siret-{siret}", name=cells["association"].strip(), siret=siret, email=cells["email"].strip(),
        bank={"iban": cells["iban"], "bic": cells["bic"], "holder": cells["titulaire"]})
    months = cells.get("duree_mois", "").strip()
    grant = GrantIn.model_validate({
        "reference": cells.get("reference", "").strip() or f"{act.reference}-{siret}",
        "authority": act.authority.code, "association": association.id, "object": cells["objet"].strip(),
        "amount": cells["montant"], "duration": {"months": months or DEFAULT_MONTHS, "from": "executoire"},
        "payments": _instalments(cells.get("echeances", ""), cells["montant"]), "act": act.reference,
    })
    return _Line(number, association, grant)


def _where(source: Path, number: int, column: str, value: object, rule: str) -> str:
    return f"{source}, ligne {number}, colonne « {_SHOWN.get(column, column)} » = {value!r} : {rule}"


def _errors(source: Path, number: int, cells: dict[str, str], error: Exception) -> list[str]:
    if isinstance(error, RuleViolation):
        column = _COLUMN_OF.get(error.field.split("[")[0], "echeances" if "payments" in error.field else error.field)
        return [_where(source, number, column, cells.get(column, error.value), error.rule)]
    assert isinstance(error, ValidationError)
    found = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"] if not isinstance(p, int))
        column = _COLUMN_OF.get(path, "echeances" if path.startswith("payments") else path)
        found.append(_where(source, number, column, cells.get(column, item.get("input")), french_rule(item)))
    return found


def read(path: Path, act: Act) -> list[_Line]:
    """Every line checked, every error collected; AnnexError if any."""
    try:
        columns, rows = _rows(path)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise AnnexError(f"{path} : fichier illisible ({error})") from error
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise AnnexError(_where(path, 1, missing[0], None, "colonne obligatoire absente (colonnes attendues : "
                                                              f"{', '.join(REQUIRED)} ; facultatives : "
                                                              f"{', '.join(_SHOWN.get(c, c) for c in OPTIONAL)})"))
    lines, errors, seen = [], [], {}
    for number, raw in rows:
        try:
            cells = {c: _exact(raw.get(c)) for c in columns if c}
        except ValueError as error:
            errors.append(f"{path}, ligne {number} : {error}")
            continue
        if not any(v.strip() for v in cells.values()):
            continue
        try:
            line = _line(act, number, cells)
        except (RuleViolation, ValidationError) as error:
            errors += _errors(path, number, cells, error)
            continue
        if line.grant.reference in seen:
            errors.append(_where(path, number, "reference", line.grant.reference,
                                 f"déjà donnée ligne {seen[line.grant.reference]} : une subvention par ligne "
                                 "(colonne « référence » pour deux subventions à la même association)"))
        seen[line.grant.reference] = number
        lines.append(line)
    if errors:
        raise AnnexError("\n".join(errors))
    if not lines:
        raise AnnexError(f"{path} : aucune ligne de subvention")
    return lines


def _association(session: Session, line: _Line, source: Path) -> str:
    """The known association with this SIRET, or a new one; never a silent change of bank details."""
    spec = line.association
    known = session.scalars(sa.select(Association).where(Association.siret == spec.siret)
                            .order_by(Association.id).limit(1)).one_or_none()
    if known is None:
        session.add(Association(code=spec.id, name=spec.name, siret=spec.siret, email=spec.email,
                                **spec.bank.model_dump()))
        session.flush()
        return spec.id
    for column, name in (("iban", "iban"), ("bic", "bic"), ("titulaire", "holder")):
        if getattr(known, name) != getattr(spec.bank, name):
            raise AnnexError(_where(source, line.number, column, getattr(spec.bank, name),
                                    f"l'association {known.name} (SIRET {known.siret}) est connue avec "
                                    f"« {getattr(known, name)} » : un changement de coordonnées bancaires ne se fait "
                                    "pas par import ; recharger le dossier de l'association (le changement attend "
                                    "alors la confirmation d'un second opérateur)"))
    return known.code


def import_annex(session: Session, act_reference: str, path: Path, settings: Settings, *,
                 actor: str) -> ImportReport:
    act = acts.find(session, act_reference)
    if act is None:
        raise AnnexError(f"{path} : acte « {act_reference} » inconnu (à charger d'abord dans un dossier, "
                         "section acts)")
    report = ImportReport()
    for line in read(path, act):
        code = _association(session, line, path)
        spec = line.grant.model_copy(update={"association": code})
        existing = session.scalars(sa.select(Grant).where(Grant.reference == spec.reference)).unique().one_or_none()
        if existing is not None:
            if existing.dossier != spec.model_dump(mode="json", by_alias=True):
                raise AnnexError(_where(path, line.number, "reference", spec.reference,
                                        "subvention déjà enregistrée avec d'autres valeurs : un import ne la "
                                        "modifie pas (avenant pour le montant ou les dates)"))
            report.unchanged.append(spec.reference)
            continue
        try:
            create_grant(session, spec, settings, actor=actor)
        except RuleViolation as violation:
            raise AnnexError("\n".join(_errors(path, line.number, {}, violation))) from violation
        report.created.append(spec.reference)
    return report


def import_file(act_reference: str, path: Path, settings: Settings, unit_of_work: Callable[[], Any], *,
                actor: str = "grantflow import-annex") -> ImportReport:
    """Read and check the whole file, then write it in one transaction (or nothing)."""
    with unit_of_work() as session:
        return import_annex(session, act_reference, path, settings, actor=actor)
