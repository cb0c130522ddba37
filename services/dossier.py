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

from core import clock
from core.settings import Settings
from db.models import Act, Association, Authority, ConventionYear, Evaluation, Grant, Instalment
from domain import identifiers
from domain.acts import check_sitting
from domain.bank_change import BankDetails
from domain.convention import convention_required
from domain.errors import RuleViolation
from domain.grant_end import (
    Condition,
    GrantKind,
    RefundClause,
    check_condition,
    check_grant_end,
    clause_of,
    exercise_end,
    financial_report_owed_by_default,
    reports_asked,
)
from domain.labels import slug
from domain.lifecycle import InstalmentStatus, Stage
from domain.money import check_instalments
from domain.multi_year import check_years
from services import acts, bank_changes, commands, conventions, deliberation, journal, journal_anchors, prefecture
from services.events import apply_act_event, apply_event


class DossierError(Exception):
    """A dossier refused whole: the French message names the file, the grant, the field and the rule."""


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.1 reads the key `on` (as in `{event: signature, on: 2019-01-07}`) as True:
    only true/false are booleans here, as in YAML 1.2. Dates stay text for pydantic to read,
    so that `2019-02-30` is refused naming its field instead of failing the whole file."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class _PlainYamlLoader(_Yaml12Loader):
    """No anchors and no aliases: a dossier never needs them, and nested aliases ("billion
    laughs") make a kilobyte file expand to gigabytes. Refused as they are met, before
    anything is expanded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "ancre (&) ou alias (*) YAML refusé : un dossier écrit chaque valeur en clair",
                event.start_mark)
        return super().compose_node(parent, index)


MAX_FILE_BYTES = 2_000_000  # the largest real dossier is a few kilobytes; an act's annex goes through import-annex
SHOWN_CHARACTERS = 80  # of a refused value, in messages


def clipped(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """A value as a message quotes it: at most `limit` characters, with the total length when cut."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} caractères)"


def read_yaml(path: Path) -> Any:
    """The YAML of a dossier or an events file; every way it can be unreadable is a DossierError in French."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DossierError(f"{path} : fichier de {size} octets refusé (au plus {MAX_FILE_BYTES} octets)")
        data = path.read_bytes()
    except OSError as error:
        raise DossierError(f"{path} : fichier illisible ({error.strerror or error})") from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DossierError(f"{path} : fichier illisible : octet {error.start} ({data[error.start]:#04x}) invalide "
                           "en UTF-8 (enregistrer le fichier en UTF-8)") from error
    try:
        raw = yaml.load(text, Loader=_PlainYamlLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        raise DossierError(f"{path} : YAML illisible : {clipped(str(error), 300)}") from error
    _refuse_nul(raw, path, "")
    return raw


def _refuse_nul(value: Any, path: Path, where: str) -> None:
    """A NUL character (written "\\0" in YAML) cannot be stored by PostgreSQL nor read in a mail."""
    if isinstance(value, str) and "\x00" in value:
        raise DossierError(f"{path} : champ « {where or 'racine'} » = {clipped(repr(value))} : caractère nul "
                           "(\\0) refusé dans un texte")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(str(key), path, where)
            _refuse_nul(item, path, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul(item, path, f"{where}[{index}]")


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
    # Or due on a fact: `days` (default 60, loi 2021-875) after it.
    on: Condition | None = None
    number: int | None = None  # the report, with `on: rapport`
    days: int | None = Field(default=None, ge=0, le=365)

    @model_validator(mode="after")
    def _date_or_fact(self) -> InstalmentIn:
        if self.on is not None and self.due is not None:
            raise RuleViolation("due", str(self.due), "une échéance a une date ou une condition (on), pas les deux")
        if self.on is None and (self.number is not None or self.days is not None):
            raise RuleViolation("on", None, "number et days se donnent avec une condition (on: signature, "
                                            "compte_rendu_financier ou rapport)")
        return self


class ReportsIn(Model):
    every_months: int = Field(gt=0, le=12)


class EvaluationIn(Model):
    name: str = Field(min_length=1, max_length=64)
    at_months: int = Field(gt=0, le=120)


class ConventionIn(Model):
    """A convention pluriannuelle d'objectifs: `years` financial years from `exercise`."""

    years: int

    @field_validator("years")
    @classmethod
    def _years(cls, value: int) -> int:
        check_years(value)
        return value


class TargetIn(Model):
    min: Decimal | None = None
    max: Decimal | None = None


# A history may also hold a later sitting: the one reconvened after a sitting without quorum.
DossierEvent = Annotated[
    typing.Union[commands.Vote, typing.get_args(commands.HistoryEvent)[0]],  # noqa: UP007
    Field(discriminator="event"),
]


ActEvent = Annotated[
    typing.Union[commands.Vote, commands.PrefectureReceipt, commands.ControlRestarted],  # noqa: UP007
    Field(discriminator="event"),
]

REFERENCE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
# A grant's object is copied into every mail and export: a paragraph, not a document.
MAX_OBJECT = 2_000


class SittingIn(Model):
    first: dt.date
    last: dt.date


class ActIn(Model):
    """One act (deliberation or decision by delegation) deciding one or more grants."""

    id: str = Field(min_length=1, max_length=64, pattern=REFERENCE)
    authority: str
    body: Literal["conseil", "commission_permanente", "bureau"] = "conseil"
    # A sitting over several days, or `session` for a one-day sitting.
    sitting: SittingIn | None = None
    session: dt.date | None = None
    act_number: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,15}$")
    # Absent: the act waits for its vote (the deliberation-approval flow).
    deliberation: commands.Vote | None = None
    history: list[ActEvent] = []

    @model_validator(mode="after")
    def _one_sitting(self) -> ActIn:
        if self.sitting is not None and self.session is not None:
            raise ValueError("« sitting » (séance sur plusieurs jours) ou « session » (un jour), pas les deux")
        if self.sitting is not None:
            check_sitting(self.sitting.first, self.sitting.last)
        return self

    def sitting_days(self) -> tuple[dt.date | None, dt.date | None]:
        if self.sitting is not None:
            return self.sitting.first, self.sitting.last
        return self.session, self.session


class GrantIn(Model):
    reference: str = Field(min_length=1, max_length=64, pattern=REFERENCE)
    authority: str
    association: str
    object: str = Field(min_length=1, max_length=MAX_OBJECT)
    amount: commands.Amount
    duration: DurationIn
    payments: list[InstalmentIn] = Field(min_length=1)
    reports: ReportsIn | None = None
    evaluations: list[EvaluationIn] = []
    targets: dict[str, TargetIn] = {}
    # Absent: from the kind (domain.grant_end). `unspent` is the older form of the clause.
    kind: GrantKind = GrantKind.FONCTIONNEMENT
    refund_clause: RefundClause | None = None
    unspent: Literal["refund", "keep"] = "refund"
    financial_report: bool | None = None  # owed (closure waits for its check)
    exercise: int | dt.date | None = None  # the financed year, or its last day
    # A multi-year convention: `amount` and `payments` are its first year's, voted by the
    # grant's act; each following year is a `tranche` fact of the history.
    convention: ConventionIn | None = None
    # The act (of `acts`, or already in the store) that decides this grant with others.
    act: str | None = None
    # Or a vote of its own (an act named after the grant). Neither: the grant is proposed
    # and waits for the council (the deliberation-approval flow).
    deliberation: commands.Vote | None = None
    history: list[DossierEvent] = []

    @model_validator(mode="after")
    def _evaluation_files_apart(self) -> GrantIn:
        """Each evaluation writes files and an artifact named after it: two names that read
        the same there ("Finale", "finale") would overwrite each other."""
        seen: dict[str, str] = {}
        for index, evaluation in enumerate(self.evaluations):
            key = slug(evaluation.name)
            if not key or key in seen:
                raise RuleViolation(f"evaluations[{index}].name", evaluation.name,
                                    f"nom d'évaluation confondu avec « {seen[key]} » dans les noms de fichiers"
                                    if key else "nom d'évaluation sans lettre ni chiffre (noms de fichiers)")
            seen[key] = evaluation.name
        return self

    @model_validator(mode="after")
    def _one_act(self) -> GrantIn:
        if self.act is not None and self.deliberation is not None:
            raise ValueError("une subvention rattachée à un acte (« act ») est votée par cet acte : "
                             "pas de « deliberation » propre")
        if self.convention is not None and self.exercise is None:
            raise RuleViolation("exercise", None, "une convention pluriannuelle nomme son premier exercice "
                                                  "(exercise: 2023)")
        return self


class Dossier(Model):
    authorities: list[AuthorityIn] = []
    associations: list[AssociationIn] = []
    acts: list[ActIn] = []
    grants: list[GrantIn] = []


@dataclass
class LoadReport:
    created: list[str]
    unchanged: list[str]
    completed: list[str] = dataclasses.field(default_factory=list)  # new history events applied
    notices: list[str] = dataclasses.field(default_factory=list)  # for the operator (services.conventions)
    changes: list[str] = dataclasses.field(default_factory=list)  # associations' details changed or pending


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
    "enum": "valeur non permise",
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


def french_rule(error: dict[str, Any]) -> str:
    context = error.get("ctx") or {}
    original = context.get("error")
    if isinstance(original, RuleViolation):
        return original.rule
    if error["type"] == "value_error" and original is not None:
        return str(original)
    rule = _PYDANTIC_RULES.get(error["type"], error["msg"])
    if error["type"] in ("literal_error", "enum"):
        rule += f" (attendu : {str(context.get('expected', '')).replace(' or ', ' ou ')})"
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
        found = _entry(raw, "grants", loc[1]).get("reference")
        reference = None if found is None else clipped(str(found))
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] == "acts" and isinstance(loc[1], int):
        reference = f"acte {clipped(str(_entry(raw, 'acts', loc[1]).get('id')))}"
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] in ("authorities", "associations") and isinstance(loc[1], int):
        code = _entry(raw, loc[0], loc[1]).get("id")
        if code is not None:
            key = "authority" if loc[0] == "authorities" else "association"
            grants = [g.get("reference") for g in (raw.get("grants") or []) if isinstance(g, dict)
                      and g.get(key) == code and g.get("reference")]
            word = "collectivité" if key == "authority" else "association"
            reference = clipped(f"{word} {code}" + (f" (subvention {', '.join(map(str, grants))})" if grants else ""),
                                200)
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
    elif reference.startswith(("association ", "collectivité ", "acte ")):
        where = f"{source}, {reference}"
    else:
        where = f"{source}, subvention {reference}"
    return f"{where} : champ « {field} » = {clipped(repr(_shown(value)))} : {rule}"


def parse(path: Path) -> Dossier:
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise DossierError(f"{path} : le dossier doit contenir authorities, associations et grants")
    try:
        return Dossier.model_validate(raw)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            reference, field = _where(raw, item["loc"])
            value = item.get("input")
            violation = (item.get("ctx") or {}).get("error")
            if isinstance(violation, RuleViolation):
                value = violation.value
                if not field.endswith(violation.field):  # raised for the whole entry: name its field
                    field = f"{field}.{violation.field}" if field else violation.field
            lines.append(_message(str(path), reference, field, value, french_rule(item)))
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


_ASSOCIATION_CHANGED = {"name": "nom modifié", "siret": "SIRET modifié", "rna": "RNA modifié",
                        "email": "adresse électronique modifiée"}


def _sync_association(session: Session, spec: AssociationIn, settings: Settings, *, actor: str) -> list[str]:
    """The association as the dossier says, and what changed, in French. Its bank details
    never change here: a new IBAN, BIC or holder is recorded as a pending change
    (services.bank_changes), announced at the address known before this load."""
    values = spec.model_dump(exclude={"id", "bank"})
    row = session.scalars(sa.select(Association).where(Association.code == spec.id)).one_or_none()
    if row is None:
        session.add(Association(code=spec.id, **values, **spec.bank.model_dump()))
        return []
    lines = []
    change = bank_changes.request(session, row, BankDetails(**spec.bank.model_dump()), settings,
                                  day=clock.today(), actor=actor)
    if change is not None:
        lines.append(f"association {spec.id} : changement de coordonnées bancaires NON appliqué, en attente "
                     f"({bank_changes.describe(change)}) : annoncé à {change.notified_email} et à la collectivité ; "
                     "à confirmer par un second opérateur (déploiement bank-details-confirmation), sinon effectif "
                     f"le {change.applies_on:%d/%m/%Y} ; les paiements de l'association attendent jusque-là")
    changed = {key: {"old": getattr(row, key), "new": value} for key, value in values.items()
               if getattr(row, key) != value}
    if changed:
        for key, value in values.items():
            setattr(row, key, value)
        bank_changes.journal_for_association(session, row, "association_changed", {"changes": changed}, actor=actor)
        lines.append(f"association {spec.id} : " + ", ".join(
            f"{_ASSOCIATION_CHANGED[key]} ({both['old'] or '—'} → {both['new'] or '—'})"
            for key, both in changed.items()))
    return lines


def create_grant(session: Session, spec: GrantIn, settings: Settings, *, actor: str) -> Grant:
    """The one way a grant is created, from a dossier or from an act's annex table."""
    authority = session.scalars(sa.select(Authority).where(Authority.code == spec.authority)).one_or_none()
    if authority is None:
        raise RuleViolation("authority", spec.authority, "collectivité inconnue (à déclarer dans authorities)")
    association = session.scalars(sa.select(Association).where(Association.code == spec.association)).one_or_none()
    if association is None:
        raise RuleViolation("association", spec.association, "association inconnue (à déclarer dans associations)")
    identifiers.valid_siret(association.siret, field="association.siret")
    check_instalments([p.amount for p in spec.payments], spec.amount, field="payments")
    act = None
    if spec.act is not None:
        act = acts.find(session, spec.act, authority=spec.authority)
        if act is None:
            raise RuleViolation("act", spec.act, "acte inconnu de cette collectivité (à déclarer dans acts)")
    clause = clause_of(spec.kind, spec.refund_clause, spec.unspent)
    owed = financial_report_owed_by_default(spec.kind) if spec.financial_report is None else spec.financial_report
    check_grant_end(spec.kind, clause, owed)
    reports = reports_asked(spec.duration.months, spec.reports.every_months if spec.reports else None)
    for index, payment in enumerate(spec.payments):
        if payment.on is not None:
            check_condition(payment.on, payment.number, reports=reports, financial_report_owed=owed,
                            field=f"payments[{index}]")
    starts_from = spec.duration.from_
    grant = Grant(
        reference=spec.reference, authority=authority, association=association, object=spec.object,
        amount=spec.amount, stage=Stage.DELIBERATION.value,
        convention_required=convention_required(spec.amount, threshold=settings.convention_threshold),
        duration_months=spec.duration.months,
        starts_from=starts_from.isoformat() if isinstance(starts_from, dt.date) else starts_from,
        reports_every_months=spec.reports.every_months if spec.reports else None,
        kind=spec.kind.value, refund_clause=clause.value, financial_report_owed=owed,
        exercise_ends_on=None if spec.exercise is None else exercise_end(spec.exercise),
        years=spec.convention.years if spec.convention else None,
        targets={k: v.model_dump(mode="json", exclude_none=True) for k, v in spec.targets.items()},
        dossier=spec.model_dump(mode="json", by_alias=True),
    )
    session.add(grant)
    session.flush()
    for number, payment in enumerate(spec.payments, start=1):
        session.add(Instalment(grant_id=grant.id, number=number, amount=payment.amount, due_on=payment.due,
                               condition=payment.on.value if payment.on else None, condition_number=payment.number,
                               condition_days=payment.days if payment.on else None,
                               status=InstalmentStatus.SCHEDULED.value,
                               idempotency_key=uuid.uuid4().hex))
    if grant.years is not None and grant.exercise_ends_on is not None:
        session.add(ConventionYear(grant_id=grant.id, number=1, exercise=grant.exercise_ends_on.year,
                                   amount=spec.amount))
    for evaluation in spec.evaluations:
        session.add(Evaluation(grant_id=grant.id, name=evaluation.name, at_months=evaluation.at_months))
    journal.append(session, grant, "grant_proposed", {"amount": spec.amount, "object": spec.object}, actor=actor)
    if act is not None:
        # An act already voted or received decides the grant at once.
        deliberation.join(session, grant, act, settings, actor=actor)
        prefecture.join(session, grant, act, settings, actor=actor)
    return grant


def _replay(steps: list[tuple[str, commands.Command]], apply: Callable[[commands.Command], Any], *,
            source: str, where: str) -> None:
    """Apply facts in order; the first refused names its place in the dossier (`history[2].on`)."""
    for prefix, event in steps:
        try:
            apply(event)
        except RuleViolation as violation:
            name = violation.field if violation.field.startswith(prefix) else f"{prefix}.{violation.field}"
            raise DossierError(_message(source, where, name, violation.value, violation.rule)) from violation


def _steps(vote: commands.Vote | None, history: Sequence[commands.Command], first: int) -> list[
        tuple[str, commands.Command]]:
    """The vote (when nothing is applied yet: `first` < 0) and the history events from `first`."""
    steps: list[tuple[str, commands.Command]] = [("deliberation", vote)] if vote is not None and first < 0 else []
    start = max(first, 0)
    return steps + [(f"history[{index}]", event) for index, event in enumerate(history[start:], start=start)]


def _apply_history(session: Session, grant: Grant, spec: GrantIn, settings: Settings, *, first: int,
                   source: str, actor: str) -> None:
    _replay(_steps(spec.deliberation, spec.history, first),
            lambda event: apply_event(session, grant, event, settings, actor=actor),
            source=source, where=spec.reference)


def _without_none(value: Any) -> Any:
    """A dossier as compared on reload: a field left out (None) is the same whether the
    version that stored it knew the field or not."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


# Fields a grant loaded before migration 0003 was stored without: its row holds what the
# migration set (the clause it was closing on), which a reload does not change.
_SINCE_0003 = frozenset({"kind", "refund_clause", "financial_report", "exercise"})


def _loaded(before: dict[str, Any], after: dict[str, Any], *, source: str, where: str, what: str) -> int:
    """How many history events the store already has; refused if the file contradicts it.

    A dossier loaded again may only add facts at the end of a history: everything else
    goes through the flows (an amendment for a grant's amount or dates).
    """
    before, after = _without_none(before), _without_none(after)
    known = before.get("history", [])
    changed = sorted(k for k in after.keys() | before.keys() if k != "history" and before.get(k) != after.get(k)
                     and not (k in _SINCE_0003 and k not in before))
    if changed:
        raise DossierError(_message(source, where, changed[0], after.get(changed[0]),
                                    f"{what} avec une autre valeur : un dossier rechargé "
                                    "ne peut que compléter son historique (avenant pour le reste)"))
    if after.get("history", [])[:len(known)] != known:
        raise DossierError(_message(source, where, "history", f"{len(known)} événement(s) déjà chargé(s)",
                                    "l'historique déjà chargé ne peut pas être modifié, seulement complété"))
    return len(known)


def _declare_act(session: Session, spec: ActIn, source: str) -> tuple[Act, int]:
    """The act's row, created if new; with how many of its events are already applied (-1: none,
    not even its vote)."""
    authority = session.scalars(sa.select(Authority).where(Authority.code == spec.authority)).one_or_none()
    if authority is None:
        raise DossierError(_message(source, f"acte {spec.id}", "authority", spec.authority,
                                    "collectivité inconnue (à déclarer dans authorities)"))
    act = acts.find(session, spec.id, authority=spec.authority)
    if act is not None:
        return act, _loaded(act.dossier, spec.model_dump(mode="json", by_alias=True), source=source,
                            where=f"acte {spec.id}", what="l'acte est déjà chargé")
    first, last = spec.sitting_days()
    act = Act(authority_id=authority.id, reference=spec.id, body=spec.body, sitting_first=first, sitting_last=last,
              act_number=spec.act_number, dossier=spec.model_dump(mode="json", by_alias=True))
    session.add(act)
    session.flush()
    return act, -1


def _apply_act_history(session: Session, act: Act, spec: ActIn, settings: Settings, *, first: int,
                       source: str, actor: str) -> None:
    _replay(_steps(spec.deliberation, spec.history, first),
            lambda event: apply_act_event(session, act, event, settings, actor=actor),
            source=source, where=f"acte {spec.id}")
    act.dossier = spec.model_dump(mode="json", by_alias=True)


def apply_dossier(session: Session, dossier: Dossier, settings: Settings, *, source: str,
                  actor: str) -> LoadReport:
    report = LoadReport(created=[], unchanged=[])
    mark = conventions.journal_mark(session)
    for authority in dossier.authorities:
        _sync(session, Authority, authority.id, authority.model_dump(exclude={"id"}))
    for association in dossier.associations:
        report.changes += _sync_association(session, association, settings, actor=actor)
    session.flush()
    declared = [(spec, *_declare_act(session, spec, source)) for spec in dossier.acts]
    # Grants first, so that the act's vote and transmission decide all of them; then the
    # grants' own facts (signatures, payments…), which need the act exécutoire.
    pending: list[tuple[Grant, GrantIn, int]] = []
    for spec in dossier.grants:
        grant = session.scalars(sa.select(Grant).where(Grant.reference == spec.reference)).unique().one_or_none()
        if grant is None:
            try:
                grant = create_grant(session, spec, settings, actor=actor)
            except RuleViolation as violation:
                raise DossierError(_message(source, spec.reference, violation.field, violation.value,
                                            violation.rule)) from violation
            pending.append((grant, spec, -1))
            report.created.append(spec.reference)
            continue
        known = _loaded(grant.dossier, spec.model_dump(mode="json", by_alias=True), source=source,
                        where=spec.reference, what="la subvention est déjà chargée")
        if known == len(spec.history):
            report.unchanged.append(spec.reference)
            continue
        pending.append((grant, spec, known))
        report.completed.append(spec.reference)
    for spec, act, known in declared:
        if known < len(spec.history):
            _apply_act_history(session, act, spec, settings, first=known, source=source, actor=actor)
    for grant, spec, known in pending:
        _apply_history(session, grant, spec, settings, first=known, source=source, actor=actor)
        grant.dossier = spec.model_dump(mode="json", by_alias=True)
    report.notices = conventions.notices_since(session, mark)
    return report


def load_files(paths: Sequence[Path], settings: Settings, unit_of_work: Callable[[], Any], *,
               actor: str = "grantflow load") -> LoadReport:
    """Parse every file first, then write them all in one transaction (or nothing)."""
    parsed = [(path, parse(path)) for path in paths]
    try:
        total = _apply_files(parsed, settings, unit_of_work, actor=actor)
    except sa.exc.IntegrityError:
        # Another load created the same authority, association or grant meanwhile: this one,
        # rolled back whole, is applied again on what that one wrote.
        try:
            total = _apply_files(parsed, settings, unit_of_work, actor=actor)
        except sa.exc.IntegrityError as error:
            raise DossierError(f"{', '.join(map(str, paths))} : un autre chargement enregistre les mêmes "
                               "subventions au même moment ; rien n'a été enregistré, recharger le dossier "
                               "une fois l'autre chargement terminé") from error
    if total.created or total.completed or total.changes:
        with unit_of_work() as session:
            journal_anchors.anchor(session, settings)
    return total


def _apply_files(parsed: Sequence[tuple[Path, Dossier]], settings: Settings, unit_of_work: Callable[[], Any], *,
                 actor: str) -> LoadReport:
    total = LoadReport(created=[], unchanged=[])
    with unit_of_work() as session:
        for path, dossier in parsed:
            report = apply_dossier(session, dossier, settings, source=str(path), actor=actor)
            total.created += report.created
            total.unchanged += report.unchanged
            total.completed += report.completed
            total.notices += report.notices
            total.changes += report.changes
    return total
