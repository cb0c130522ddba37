"""Dossier import: YAML files of authorities, associations and grants with their history.

Everything is validated first (pydantic, then the rules), and written in one transaction
through the same actions the flows run: any error leaves the store unchanged.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlalchemy as sa
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.orm import Session

from db.models import Association, Authority, Evaluation, Grant, Instalment
from domain import identifiers
from domain.convention import convention_required
from domain.errors import RuleViolation
from domain.lifecycle import InstalmentStatus, Stage
from domain.money import check_instalments
from grantflow.settings import Settings
from services import commands, journal, journal_anchors
from services.events import apply_event


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.1 reads the key `on` (as in `{event: signature, on: 2019-01-07}`) as True:
    only true/false are booleans here, as in YAML 1.2."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def read_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Yaml12Loader)  # noqa: S506 (a SafeLoader)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _checked(check: Callable[..., Any], field: str) -> AfterValidator:
    """A field checked by one of domain.identifiers, its French rule kept for the message."""
    return AfterValidator(lambda value: check(value, field=field))


Email = Annotated[str, _checked(identifiers.valid_email, "email")]


class AuthorityIn(Model):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=255)
    siren: Annotated[str, _checked(identifiers.valid_siren, "siren")]
    # The siège's SIRET: required by the SCDL export (idAttribuant), not by the rest.
    siret: Annotated[str, _checked(identifiers.valid_siret, "siret")] | None = None
    department: str
    kind: Literal["commune", "epci", "departement", "region"]
    email: Email
    # The treasury account debited by SEPA transfer files (GRANTFLOW_BANK=sepa-file).
    iban: Annotated[str, _checked(identifiers.valid_iban, "iban")] | None = None
    bic: Annotated[str, _checked(identifiers.valid_bic, "bic")] | None = None

    @model_validator(mode="after")
    def _siret_of_this_siren(self) -> AuthorityIn:
        if self.siret is not None and self.siret[:9] != self.siren:
            raise RuleViolation("siret", self.siret, f"le SIRET {self.siret} n'est pas celui de la collectivité : ses "
                                f"9 premiers chiffres ({self.siret[:9]}) doivent être son SIREN {self.siren}")
        return self


class BankIn(Model):
    iban: str
    bic: str
    holder: str

    @field_validator("iban")
    @classmethod
    def _iban(cls, value: str) -> str:
        return identifiers.valid_iban(value, field="bank.iban")

    @field_validator("bic")
    @classmethod
    def _bic(cls, value: str) -> str:
        return identifiers.valid_bic(value, field="bank.bic")

    @field_validator("holder")
    @classmethod
    def _holder(cls, value: str) -> str:
        return identifiers.valid_holder(value, field="bank.holder")


class AssociationIn(Model):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=255)
    siret: str
    rna: str | None = None
    email: Email
    bank: BankIn

    @field_validator("siret")
    @classmethod
    def _siret(cls, value: str) -> str:
        return identifiers.valid_siret(value, field="siret")

    @field_validator("rna")
    @classmethod
    def _rna(cls, value: str | None) -> str | None:
        return identifiers.valid_rna(value, field="rna")


class DurationIn(Model):
    months: int = Field(gt=0, le=120)
    from_: Literal["executoire", "signature"] | dt.date = Field(alias="from")


class InstalmentIn(Model):
    amount: commands.Amount
    due: dt.date | None = None


class ReportsIn(Model):
    every_months: int = Field(gt=0, le=12)


class EvaluationIn(Model):
    name: str = Field(min_length=1, max_length=64)
    at_months: int = Field(gt=0, le=120)


class TargetIn(Model):
    min: Decimal | None = None
    max: Decimal | None = None


# A history may also hold a later sitting: the one reconvened after a sitting without quorum.
DossierEvent = Annotated[
    typing.Union[commands.Vote, typing.get_args(commands.HistoryEvent)[0]],  # noqa: UP007
    Field(discriminator="event"),
]


class GrantIn(Model):
    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    authority: str
    association: str
    object: str = Field(min_length=1)
    amount: commands.Amount
    duration: DurationIn
    payments: list[InstalmentIn] = Field(min_length=1)
    reports: ReportsIn | None = None
    evaluations: list[EvaluationIn] = []
    targets: dict[str, TargetIn] = {}
    unspent: Literal["refund", "keep"] = "refund"
    # Absent: the grant is proposed and waits for the council (the deliberation-approval flow).
    deliberation: commands.Vote | None = None
    history: list[DossierEvent] = []


class Dossier(Model):
    authorities: list[AuthorityIn] = []
    associations: list[AssociationIn] = []
    grants: list[GrantIn] = []


class DossierError(Exception):
    """A dossier refused whole: the French message names the file, the grant, the field and the rule."""


@dataclass
class LoadReport:
    created: list[str]
    unchanged: list[str]
    completed: list[str] = dataclasses.field(default_factory=list)  # new history events applied


_PYDANTIC_RULES: dict[str, str] = {
    "missing": "champ obligatoire absent",
    "extra_forbidden": "champ inconnu",
    "int_parsing": "nombre entier attendu",
    "int_type": "nombre entier attendu",
    "date_from_datetime_parsing": "date invalide (format attendu AAAA-MM-JJ)",
    "date_parsing": "date invalide (format attendu AAAA-MM-JJ)",
    "date_type": "date attendue (format AAAA-MM-JJ)",
    "string_type": "texte attendu",
    "bool_parsing": "vrai ou faux attendu",
    "list_type": "liste attendue",
    "dict_type": "objet attendu",
    "model_type": "objet attendu",
    "literal_error": "valeur non permise",
    "union_tag_invalid": "type d'événement inconnu",
    "union_tag_not_found": "champ « event » absent",
    "greater_than": "valeur trop petite",
    "greater_than_equal": "valeur trop petite",
    "less_than_equal": "valeur trop grande",
    "string_too_short": "texte vide",
    "string_too_long": "texte trop long",
    "string_pattern_mismatch": "format invalide",
    "too_short": "liste vide",
}


def _french(error: dict[str, Any]) -> str:
    context = error.get("ctx") or {}
    original = context.get("error")
    if isinstance(original, RuleViolation):
        return original.rule
    rule = _PYDANTIC_RULES.get(error["type"], error["msg"])
    if error["type"] == "literal_error":
        rule += f" (attendu : {context.get('expected', '')})"
    if error["type"] == "union_tag_invalid":
        rule += f" « {context.get('tag', '')} » (attendu : {context.get('expected_tags', '')})"
    if error["type"] in ("greater_than", "greater_than_equal", "less_than_equal"):
        limit = context.get("gt", context.get("ge", context.get("le")))
        rule += f" (limite : {limit})"
    return rule


def _entry(raw: Any, section: str, index: int) -> dict[str, Any]:
    try:
        entry = raw[section][index]
    except (KeyError, IndexError, TypeError):
        return {}
    return entry if isinstance(entry, dict) else {}


def _where(raw: Any, loc: Sequence[Any]) -> tuple[str | None, str]:
    """Which entry is wrong (the grant, or the authority or association with the grants
    that name it) and the field path after it."""
    reference = None
    if len(loc) >= 2 and loc[0] == "grants" and isinstance(loc[1], int):
        reference = _entry(raw, "grants", loc[1]).get("reference")
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] in ("authorities", "associations") and isinstance(loc[1], int):
        code = _entry(raw, loc[0], loc[1]).get("id")
        if code is not None:
            key = "authority" if loc[0] == "authorities" else "association"
            grants = [g.get("reference") for g in (raw.get("grants") or []) if isinstance(g, dict)
                      and g.get(key) == code and g.get("reference")]
            word = "collectivité" if key == "authority" else "association"
            reference = f"{word} {code}" + (f" (subvention {', '.join(map(str, grants))})" if grants else "")
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return reference, path


def _shown(value: Any) -> Any:
    """The value as the dossier wrote it: dates in ISO form, counts as a mapping."""
    if isinstance(value, (dt.date, Decimal)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name.rstrip("_"): _shown(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shown(v) for v in value]
    return value


def _message(source: str, reference: str | None, field: str, value: Any, rule: str) -> str:
    if reference is None:
        where = source
    elif reference.startswith(("association ", "collectivité ")):
        where = f"{source}, {reference}"
    else:
        where = f"{source}, subvention {reference}"
    return f"{where} : champ « {field} » = {_shown(value)!r} : {rule}"


def parse(path: Path) -> Dossier:
    try:
        raw = read_yaml(path)
    except (OSError, yaml.YAMLError) as error:
        raise DossierError(f"{path} : fichier illisible ({error})") from error
    if not isinstance(raw, dict):
        raise DossierError(f"{path} : le dossier doit contenir authorities, associations et grants")
    try:
        return Dossier.model_validate(raw)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            reference, field = _where(raw, item["loc"])
            value = item.get("input")
            violation = item.get("ctx", {}).get("error")
            if isinstance(violation, RuleViolation):
                value = violation.value
                if not field.endswith(violation.field):  # raised for the whole entry: name its field
                    field = f"{field}.{violation.field}" if field else violation.field
            lines.append(_message(str(path), reference, field, value, _french(item)))
        raise DossierError("\n".join(lines)) from error


def _sync(session: Session, model: type[Authority] | type[Association], code: str, values: dict[str, Any]) -> None:
    """Directory entries: created once, then kept as the latest dossier says."""
    row = session.scalars(sa.select(model).where(model.code == code)).one_or_none()
    if row is None:
        session.add(model(code=code, **values))
        return
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)


def _create_grant(session: Session, spec: GrantIn, settings: Settings, *, actor: str) -> Grant:
    authority = session.scalars(sa.select(Authority).where(Authority.code == spec.authority)).one_or_none()
    if authority is None:
        raise RuleViolation("authority", spec.authority, "collectivité inconnue (à déclarer dans authorities)")
    association = session.scalars(sa.select(Association).where(Association.code == spec.association)).one_or_none()
    if association is None:
        raise RuleViolation("association", spec.association, "association inconnue (à déclarer dans associations)")
    identifiers.valid_siret(association.siret, field="association.siret")
    check_instalments([p.amount for p in spec.payments], spec.amount, field="payments")
    starts_from = spec.duration.from_
    grant = Grant(
        reference=spec.reference, authority=authority, association=association, object=spec.object,
        amount=spec.amount, stage=Stage.DELIBERATION.value,
        convention_required=convention_required(spec.amount, threshold=settings.convention_threshold),
        duration_months=spec.duration.months,
        starts_from=starts_from.isoformat() if isinstance(starts_from, dt.date) else starts_from,
        reports_every_months=spec.reports.every_months if spec.reports else None,
        unspent=spec.unspent, targets={k: v.model_dump(mode="json", exclude_none=True) for k, v in spec.targets.items()},
        dossier=spec.model_dump(mode="json", by_alias=True),
    )
    session.add(grant)
    session.flush()
    for number, payment in enumerate(spec.payments, start=1):
        session.add(Instalment(grant_id=grant.id, number=number, amount=payment.amount, due_on=payment.due,
                               status=InstalmentStatus.SCHEDULED.value,
                               idempotency_key=uuid.uuid4().hex))
    for evaluation in spec.evaluations:
        session.add(Evaluation(grant_id=grant.id, name=evaluation.name, at_months=evaluation.at_months))
    journal.append(session, grant, "grant_proposed", {"amount": spec.amount, "object": spec.object}, actor=actor)
    return grant


def _apply_history(session: Session, grant: Grant, spec: GrantIn, settings: Settings, *, first: int,
                   source: str, actor: str) -> None:
    field_prefix = ""
    try:
        if first == 0 and spec.deliberation is not None:
            field_prefix = "deliberation"
            apply_event(session, grant, spec.deliberation, settings, actor=actor)
        for index, event in enumerate(spec.history[first:], start=first):
            field_prefix = f"history[{index}]"
            apply_event(session, grant, event, settings, actor=actor)
    except RuleViolation as violation:
        name = violation.field
        if field_prefix and not name.startswith(field_prefix):
            name = f"{field_prefix}.{name}"
        raise DossierError(_message(source, spec.reference, name, violation.value, violation.rule)) from violation


def _already_loaded(grant: Grant, spec: GrantIn, source: str) -> int:
    """How many history events of `spec` the store already has; refused if the file contradicts it.

    A dossier loaded again may only add facts at the end of its history: everything
    else goes through the flows (an amendment for the amount or the dates).
    """
    before, after = grant.dossier, spec.model_dump(mode="json", by_alias=True)
    known = before.get("history", [])
    changed = sorted(k for k in after.keys() | before.keys() if k != "history" and before.get(k) != after.get(k))
    if changed:
        raise DossierError(_message(source, spec.reference, changed[0], after.get(changed[0]),
                                    "la subvention est déjà chargée avec une autre valeur : un dossier rechargé "
                                    "ne peut que compléter son historique (avenant pour le reste)"))
    if after.get("history", [])[:len(known)] != known:
        raise DossierError(_message(source, spec.reference, "history", f"{len(known)} événement(s) déjà chargé(s)",
                                    "l'historique déjà chargé ne peut pas être modifié, seulement complété"))
    return len(known)


def apply_dossier(session: Session, dossier: Dossier, settings: Settings, *, source: str,
                  actor: str) -> LoadReport:
    report = LoadReport(created=[], unchanged=[])
    for authority in dossier.authorities:
        _sync(session, Authority, authority.id, authority.model_dump(exclude={"id"}))
    for association in dossier.associations:
        values = association.model_dump(exclude={"id", "bank"}) | association.bank.model_dump()
        _sync(session, Association, association.id, values)
    session.flush()
    for spec in dossier.grants:
        grant = session.scalars(sa.select(Grant).where(Grant.reference == spec.reference)).unique().one_or_none()
        if grant is None:
            try:
                grant = _create_grant(session, spec, settings, actor=actor)
            except RuleViolation as violation:
                raise DossierError(_message(source, spec.reference, violation.field, violation.value,
                                            violation.rule)) from violation
            _apply_history(session, grant, spec, settings, first=0, source=source, actor=actor)
            report.created.append(spec.reference)
            continue
        known = _already_loaded(grant, spec, source)
        if known == len(spec.history):
            report.unchanged.append(spec.reference)
            continue
        _apply_history(session, grant, spec, settings, first=known, source=source, actor=actor)
        grant.dossier = spec.model_dump(mode="json", by_alias=True)
        report.completed.append(spec.reference)
    return report


def load_files(paths: Sequence[Path], settings: Settings, unit_of_work: Callable[[], Any], *,
               actor: str = "grantflow load") -> LoadReport:
    """Parse every file first, then write them all in one transaction (or nothing)."""
    parsed = [(path, parse(path)) for path in paths]
    total = LoadReport(created=[], unchanged=[])
    with unit_of_work() as session:
        for path, dossier in parsed:
            report = apply_dossier(session, dossier, settings, source=str(path), actor=actor)
            total.created += report.created
            total.unchanged += report.unchanged
            total.completed += report.completed
    if total.created or total.completed:
        with unit_of_work() as session:
            journal_anchors.anchor(session, settings)
    return total
