"""The dossier as pydantic reads it: authorities, associations, acts and grants with their history.

Each field is checked by the domain's rules (domain.identifiers, domain.money, domain.grant_end)
so that a refusal names the field and the rule; services.dossier writes what passes.
"""
from __future__ import annotations

import datetime as dt
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from domain import identifiers
from domain.acts import check_sitting
from domain.errors import RuleViolation
from domain.grant_end import GrantKind, RefundClause
from domain.labels import slug
from domain.multi_year import check_years
from services import facts


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _checked(check: Callable[..., Any], field: str) -> AfterValidator:
    """A field checked by one of domain.identifiers, its French rule kept for the message."""
    return AfterValidator(lambda value: check(value, field=field))


Email = Annotated[str, _checked(identifiers.valid_email, "email")]
Siret = Annotated[str, _checked(identifiers.valid_siret, "siret")]
Code = Annotated[str, Field(min_length=1, max_length=64)]  # a directory entry's id, named by the grants
Name = Annotated[str, Field(min_length=1, max_length=255)]


class AuthorityIn(Model):
    id: Code
    name: Name
    siren: Annotated[str, _checked(identifiers.valid_siren, "siren")]
    # The siège's SIRET: required by the SCDL export (idAttribuant), not by the rest.
    siret: Siret | None = None
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
    iban: Annotated[str, _checked(identifiers.valid_iban, "bank.iban")]
    bic: Annotated[str, _checked(identifiers.valid_bic, "bank.bic")]
    holder: Annotated[str, _checked(identifiers.valid_holder, "bank.holder")]


class AssociationIn(Model):
    id: Code
    name: Name
    siret: Siret
    rna: Annotated[str, _checked(identifiers.valid_rna, "rna")] | None = None
    email: Email
    bank: BankIn


class DurationIn(Model):
    months: int = Field(gt=0, le=120)
    from_: Literal["executoire", "signature"] | dt.date = Field(alias="from")


class InstalmentIn(facts.InstalmentSpec):
    """A payment of the dossier (`payments:`): a date, or a fact and a delay."""


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
    typing.Union[facts.Vote, typing.get_args(facts.HistoryFact)[0]],  # noqa: UP007
    Field(discriminator="event"),
]


ActEvent = Annotated[
    typing.Union[facts.Vote, facts.PrefectureReceipt, facts.ControlRestarted],  # noqa: UP007
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
    deliberation: facts.Vote | None = None
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
    amount: facts.Amount
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
    deliberation: facts.Vote | None = None
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

