"""What an operator (or a dossier) can say happened: one pydantic model per fact.

A fact is what an operator records (a vote, a signature, a report...); the journal row it
leaves is an `Event` (db/models.py). The same models are the dossier's history (its
`event:` key names the fact's kind) and the parameters of the flows that
record facts from the Prefect UI, where their French titles label the form; their
docstrings are in French because the UI shows them as the form's descriptions.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from domain.errors import RuleViolation
from domain.grant_end import Condition
from domain.money import parse_amount


def _amount(value: object) -> Decimal:
    return parse_amount(value)  # type: ignore[arg-type]


Amount = Annotated[Decimal, BeforeValidator(_amount)]
# The fact an instalment waits for, shown in the forms as a plain choice (the enum's own
# description is domain's, in English).
AwaitedFact = Annotated[Condition, WithJsonSchema({"type": "string", "enum": [c.value for c in Condition]})]


class Fact(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Votes(Fact):
    for_: int = Field(alias="for", ge=0, title="Voix pour")
    against: int = Field(ge=0, title="Voix contre")
    abstentions: int = Field(default=0, ge=0, title="Abstentions")
    not_voting: int = Field(default=0, ge=0, title="Ne prennent pas part au vote")


class Vote(Fact):
    """Le vote d'une séance sur l'acte (CGCT L2121-17, L2121-20)."""

    event: Literal["vote"] = "vote"
    session: dt.date = Field(title="Date de la séance")
    convened: dt.date | None = Field(default=None, title="Date de convocation")
    # Optional: some acts record the outcome only (seed 000).
    members_in_office: int | None = Field(default=None, gt=0, title="Membres en exercice")
    present: int | None = Field(default=None, ge=0, title="Présents (suppléants compris)")
    represented: int = Field(default=0, ge=0, title="Représentés (pouvoirs)")
    votes: Votes | None = Field(default=None, title="Décompte des voix")
    outcome: Literal["adopted", "rejected"] | None = Field(
        default=None, title="Résultat (si l'acte ne donne pas le décompte)")
    president: Literal["for", "against"] | None = Field(default=None, title="Voix du président (partage)")
    secret: bool = Field(default=False, title="Scrutin secret")
    urgency: bool = Field(default=False, title="Convocation en urgence")
    reconvened_after: dt.date | None = Field(
        default=None, title="Séance sans quorum reconvoquée (date)")
    act_number: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,15}$", title="Numéro de l'acte")


_SESSION = "Date de la séance (du vote)"
_CONVENED = "Date de convocation"
_ACT_NUMBER = "Numéro de l'acte"
_PRESIDENT = {"aucune": None, "pour": "for", "contre": "against"}
_OUTCOME = {"adoptée": "adopted", "rejetée": "rejected"}


class CountedVote(Fact):
    """Vote dont l'acte donne le décompte : présents, pouvoirs et voix."""

    model_config = ConfigDict(title="avec décompte")

    session: dt.date = Field(title=_SESSION)
    convened: dt.date | None = Field(default=None, title=_CONVENED)
    members_in_office: int = Field(gt=0, title="Membres en exercice")
    present: int = Field(ge=0, title="Présents (suppléants compris)")
    represented: int = Field(default=0, ge=0, title="Représentés (pouvoirs)")
    votes_for: int = Field(ge=0, title="Voix pour")
    votes_against: int = Field(default=0, ge=0, title="Voix contre")
    abstentions: int = Field(default=0, ge=0, title="Abstentions")
    not_voting: int = Field(default=0, ge=0, title="Ne prennent pas part au vote")
    president: Literal["aucune", "pour", "contre"] = Field(
        default="aucune", title="Voix prépondérante du président (en cas de partage)")
    secret: bool = Field(default=False, title="Scrutin secret")
    urgency: bool = Field(default=False, title="Convocation en urgence")
    reconvened_after: dt.date | None = Field(default=None, title="Reconvoquée après la séance sans quorum du")
    act_number: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,15}$", title=_ACT_NUMBER)

    def as_vote(self) -> Vote:
        return Vote(session=self.session, convened=self.convened, members_in_office=self.members_in_office,
                    present=self.present, represented=self.represented,
                    votes=Votes(for_=self.votes_for, against=self.votes_against, abstentions=self.abstentions,
                                not_voting=self.not_voting),
                    president=_PRESIDENT[self.president], secret=self.secret, urgency=self.urgency,
                    reconvened_after=self.reconvened_after, act_number=self.act_number)


class OutcomeVote(Fact):
    """Vote dont l'acte ne donne que le résultat (ni présents ni voix)."""

    model_config = ConfigDict(title="sans décompte")

    session: dt.date = Field(title=_SESSION)
    convened: dt.date | None = Field(default=None, title=_CONVENED)
    outcome: Literal["adoptée", "rejetée"] = Field(title="Résultat")
    act_number: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,15}$", title=_ACT_NUMBER)

    def as_vote(self) -> Vote:
        return Vote(session=self.session, convened=self.convened, outcome=_OUTCOME[self.outcome],
                    act_number=self.act_number)


# The vote form: one of two clear choices rather than a form of optional fields.
VoteForm = Annotated[CountedVote | OutcomeVote, Field(title="Vote")]


class PrefectureReceipt(Fact):
    """La transmission de l'acte : l'accusé de réception @CTES, ou le tampon de la préfecture sur papier."""

    event: Literal["prefecture_receipt"] = "prefecture_receipt"
    act_id: str | None = Field(default=None, title="Identifiant @CTES de l'acte (accusé de réception)")
    paper: bool = Field(default=False, title="Transmis sur papier (sans identifiant @CTES)")
    received: dt.date = Field(title="Réception par le préfet (accusé ou tampon)")
    published: dt.date | None = Field(default=None, title="Publication ou notification")

    @model_validator(mode="after")
    def _one_transmission(self) -> PrefectureReceipt:
        if self.paper and self.act_id is not None:
            raise ValueError("un acte transmis sur papier n'a pas d'identifiant @CTES : donner l'un ou l'autre")
        if not self.paper and self.act_id is None:
            raise ValueError("identifiant @CTES (act_id) attendu, ou « paper: true » pour un acte transmis sur papier")
        return self


class ControlRestarted(Fact):
    """Une demande de pièces ou une lettre d'observations du préfet : le délai de deux mois repart."""

    event: Literal["control_restarted"] = "control_restarted"
    on: dt.date = Field(title="Date de la demande du préfet")


class Signature(Fact):
    event: Literal["signature"] = "signature"
    party: Literal["association", "authority"] = Field(title="Signataire")
    on: dt.date = Field(title="Date de signature")


class PaymentConfirmation(Fact):
    event: Literal["payment"] = "payment"
    number: int = Field(ge=1, title="N° de l'échéance")
    paid_on: dt.date = Field(title="Date de paiement")


class Indicators(Fact):
    projects_supported: int | None = Field(default=None, ge=0, title="Projets accompagnés")
    funding_raised_eur: Decimal | None = Field(default=None, ge=0, title="Investissements captés (EUR)")
    companies_created: int | None = Field(default=None, ge=0, title="Entreprises créées")
    young_graduates_hired: int | None = Field(default=None, ge=0, title="Alternants ou jeunes diplômés embauchés")
    sessions_held: int | None = Field(default=None, ge=0, title="Sessions tenues")


class ProgressReport(Fact):
    event: Literal["report"] = "report"
    on: dt.date = Field(title="Date de réception du compte rendu")
    number: int | None = Field(default=None, ge=1, title="N° du compte rendu (sinon le suivant)")
    indicators: Indicators = Field(default_factory=Indicators, title="Indicateurs")
    text: str = Field(default="", max_length=20_000, title="Commentaire")


class ReportAnswer(Fact):
    event: Literal["report_answer"] = "report_answer"
    on: dt.date = Field(title="Date de la réponse")
    number: int | None = Field(default=None, ge=1, title="N° du compte rendu (sinon le plus ancien sans réponse)")


class Disbursement(Fact):
    event: Literal["disbursement"] = "disbursement"
    on: dt.date = Field(title="Date du versement au porteur de projet")
    beneficiary: str = Field(min_length=1, max_length=255, title="Bénéficiaire")
    amount: Amount = Field(title="Montant (EUR)")


class RefundReceived(Fact):
    event: Literal["refund"] = "refund"
    on: dt.date = Field(title="Date d'encaissement")
    amount: Amount = Field(title="Montant reversé (EUR)")


class InstalmentSpec(Fact):
    """Une échéance : à une date, ou due un délai après un fait (« on »)."""

    amount: Amount = Field(title="Montant (EUR)")
    due: dt.date | None = Field(default=None, title="Échéance (date)")
    on: AwaitedFact | None = Field(default=None,
                                 title="Ou due après un fait (signature, compte_rendu_financier, rapport)")
    number: int | None = Field(default=None, ge=1, title="N° du compte rendu attendu (rapport) ou de l'année du "
                                                         "compte rendu financier")
    days: int | None = Field(default=None, ge=0, le=365, title="Jours après le fait (60 par défaut, loi 2021-875)")

    @model_validator(mode="after")
    def _date_or_fact(self) -> InstalmentSpec:
        if self.on is not None and self.due is not None:
            raise RuleViolation("due", str(self.due), "une échéance a une date ou une condition (on), pas les deux")
        if self.on is None and (self.number is not None or self.days is not None):
            raise RuleViolation("on", None, "number et days se donnent avec une condition (on: signature, "
                                            "compte_rendu_financier ou rapport)")
        return self


class AmendmentInstalment(InstalmentSpec):
    due: dt.date | None = Field(default=None, title="Échéance (sinon 60 jours après l'avenant ou le vote de l'année)")


class Amendment(Fact):
    """Un avenant : la convention prolongée (nouvelle date de fin), avec ou sans montant supplémentaire."""

    event: Literal["amendment"] = "amendment"
    on: dt.date = Field(title="Date de signature de l'avenant")
    number: int | None = Field(default=None, ge=1, title="N° de l'avenant (sinon le suivant)")
    ends_on: dt.date = Field(title="Nouvelle date de fin de la convention (dernier jour)")
    extra_amount: Amount | None = Field(default=None, title="Montant supplémentaire (EUR)")
    instalments: list[AmendmentInstalment] = Field(
        default_factory=list, title="Échéances du montant supplémentaire (sinon une seule)")
    text: str = Field(default="", max_length=20_000, title="Objet de l'avenant")


class TrancheAvenant(Fact):
    on: dt.date = Field(title="Date de signature de l'avenant")
    number: int | None = Field(default=None, ge=1, title="N° de l'avenant (sinon le suivant)")
    text: str = Field(default="", max_length=20_000, title="Objet de l'avenant")


class AnnualTranche(Fact):
    """Une année d'une convention pluriannuelle (CPO) votée après la première : par son propre acte
    (délibération annuelle, déjà exécutoire) ou par un avenant qui laisse la date de fin inchangée."""

    event: Literal["tranche"] = "tranche"
    exercise: int = Field(ge=2000, le=2100, title="Exercice financé (année)")
    amount: Amount = Field(title="Montant de l'année (EUR)")
    act: str | None = Field(default=None, min_length=1, max_length=64,
                            title="Référence de l'acte qui vote l'année (délibération annuelle)")
    avenant: TrancheAvenant | None = Field(default=None, title="Ou l'avenant qui vote l'année")
    instalments: list[AmendmentInstalment] = Field(
        default_factory=list, title="Échéances de l'année (sinon une seule, 60 jours après le vote exécutoire)")

    @model_validator(mode="after")
    def _one_vote(self) -> AnnualTranche:
        if (self.act is None) == (self.avenant is None):
            raise ValueError("l'année se vote par un acte (« act ») ou par un avenant (« avenant »), l'un ou l'autre")
        return self


class FinancialReport(Fact):
    """Le compte rendu financier de l'action (Cerfa 15059) : charges et produits prévus et
    réalisés (loi 2000-321 art. 10, arrêté du 11 octobre 2006)."""

    event: Literal["financial_report"] = "financial_report"
    on: dt.date = Field(title="Date de réception du compte rendu financier")
    number: int = Field(default=1, ge=1, title="N° de l'exercice dans la convention (1 la première année)")
    charges_budgeted: Amount = Field(title="Charges prévues au budget de l'action (EUR)")
    charges_actual: Amount = Field(title="Charges réalisées (EUR)")
    products_budgeted: Amount = Field(title="Produits prévus (EUR)")
    products_actual: Amount = Field(title="Produits réalisés (EUR)")


class FinancialReportChecked(Fact):
    """Le contrôle du compte rendu financier par la collectivité : les dépenses qu'elle retient,
    d'où la clause de la convention tire ce qui est versé ou reversé."""

    event: Literal["financial_report_checked"] = "financial_report_checked"
    on: dt.date = Field(title="Date du contrôle par la collectivité")
    number: int = Field(default=1, ge=1, title="N° de l'exercice dans la convention (1 la première année)")
    approved: bool = Field(default=True, title="Compte rendu approuvé")
    eligible_spending: Amount = Field(title="Dépenses éligibles retenues (EUR)")


HistoryFact = Annotated[
    PrefectureReceipt | ControlRestarted | Signature | PaymentConfirmation | ProgressReport
    | ReportAnswer | Disbursement | RefundReceived | Amendment | AnnualTranche | FinancialReport
    | FinancialReportChecked,
    Field(discriminator="event"),
]


class BankDetailsConfirmation(Fact):
    """Un second opérateur confirme le changement de coordonnées bancaires en attente d'une association."""

    association: str = Field(min_length=1, max_length=64, title="Association (son code dans le dossier)")
    operator: str = Field(min_length=1, max_length=64,
                          title="Opérateur qui confirme (pas celui qui a enregistré le changement)")
