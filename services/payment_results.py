"""What a payment run reports: each instalment's answer, the problems in French, the run's failure."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from db.models import Grant, Instalment
from domain import labels
from domain.lifecycle import MONEY_SENT, InstalmentStatus
from domain.money import format_amount_fr

SCHEDULED, ORDERED, PAID = InstalmentStatus.SCHEDULED, InstalmentStatus.ORDERED, InstalmentStatus.PAID
REJECTED, FAILED = InstalmentStatus.REJECTED, InstalmentStatus.FAILED
# What a run may (re)order: never ordered, refused by the treasury then corrected, or
# failed for a technical reason. "ordered" and "paid" are never claimed again.
CLAIMABLE = (SCHEDULED.value, REJECTED.value, FAILED.value)

Via = Literal["order", "lookup", "none"]


@dataclass(frozen=True)
class Answer:
    """What became of one instalment in this step (for logs, flow results, reports)."""

    instalment_id: int
    reference: str
    number: int
    amount: Decimal
    status: InstalmentStatus  # the instalment's status afterwards
    reason: str | None = None
    treasury_reference: str | None = None
    via: Via = "order"

    def label(self) -> str:
        return f"subvention {self.reference}, versement n°{self.number} ({format_amount_fr(self.amount)})"

    def as_dict(self) -> dict[str, Any]:
        """As a flow run returns it (JSON: the amount as text, to the cent)."""
        return asdict(self) | {"amount": str(self.amount), "status": self.status.value}


def answer_of(instalment: Instalment, grant: Grant, *, reason: str | None = None,
              treasury_reference: str | None = None, via: Via = "order") -> Answer:
    return Answer(instalment.id, grant.reference, instalment.number, instalment.amount,
                  InstalmentStatus(instalment.status), reason if reason is not None else instalment.reason,
                  treasury_reference, via)


class ProblemKind(StrEnum):
    CONDITIONS = "conditions"  # a rule of the procedure refuses the payment today
    CONFIGURATION = "configuration"  # the authority's own set-up (its treasury account)
    REJECTED = "rejected"  # the treasury refused the order
    TECHNICAL = "technical"  # the bank unreachable after the retries
    PARKED = "parked"  # an order no bank can take, set aside while the batch goes on


PROBLEM_LABELS = {
    ProblemKind.CONDITIONS: "conditions de paiement non remplies",
    ProblemKind.CONFIGURATION: "configuration de la collectivité à compléter",
    ProblemKind.REJECTED: "rejeté par le Trésor",
    ProblemKind.TECHNICAL: "échec technique",
    ProblemKind.PARKED: "ordre écarté, le reste de la remise continue",
}


@dataclass(frozen=True)
class Problem:
    """An instalment that could not be ordered, and why, in French (for the run's failure)."""

    reference: str
    number: int
    amount: Decimal
    kind: ProblemKind
    reason: str

    def __str__(self) -> str:
        return (f"subvention {self.reference}, versement n°{self.number} ({format_amount_fr(self.amount)}) : "
                f"{PROBLEM_LABELS[self.kind]} : {self.reason}")


def rejection(reference: str, number: int, amount: Decimal, reason: str | None) -> Problem:
    return Problem(reference, number, amount, ProblemKind.REJECTED,
                   f"{reason} ; à corriger : les coordonnées bancaires ou les pièces demandées, puis relancer "
                   "le paiement (le versement sera ordonné de nouveau, avec la même clé)")


def problems_of(answers: Iterable[Answer]) -> list[Problem]:
    """Answers as the run's failure reports them: rejections and orders parked."""
    problems = []
    for a in answers:
        if a.status == REJECTED:
            problems.append(rejection(a.reference, a.number, a.amount, a.reason))
        elif a.status == FAILED:
            problems.append(Problem(a.reference, a.number, a.amount, ProblemKind.PARKED, a.reason or ""))
    return problems


class PaymentRunFailed(Exception):
    """A payment run that could not order everything it should have. Raised after the
    state was recorded: the store says which instalments are rejected or failed."""

    def __init__(self, problems: Sequence[Problem], *, ordered: int = 0) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"- {p}" for p in self.problems)
        done = f" ({ordered} versement(s) ordonné(s) par ailleurs)" if ordered else ""
        super().__init__(
            f"Paiement incomplet : {len(self.problems)} versement(s) non ordonné(s){done} :\n{lines}\n"
            "Après correction, relancer le même paiement : les versements déjà ordonnés ou payés ne "
            "sont jamais ordonnés une seconde fois.")


@dataclass
class Plan:
    """What a run is to order: instalment ids that may be claimed, and those refused."""

    ready: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Asked for by number but already ordered or paid: nothing to do.
    settled: list[Answer] = field(default_factory=list)
    # Instalments due on a fact that has not happened: what each waits for, in French.
    waiting: list[str] = field(default_factory=list)


@dataclass
class PaymentReport:
    business_date: dt.date
    batch_id: str
    recovered: list[Answer] = field(default_factory=list)
    ordered: list[Answer] = field(default_factory=list)  # accepted or paid by the treasury
    settled: list[Answer] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)

    def add_answers(self, answers: Sequence[Answer]) -> None:
        self.ordered += [a for a in answers if a.status in MONEY_SENT]
        self.problems += problems_of(answers)

    def lines(self) -> list[str]:
        """One French line per thing that happened (the simulation's daily report)."""
        def status(answer: Answer) -> str:
            return labels.label(labels.INSTALMENT_STATUSES, answer.status)

        out = [f"{a.label()} : réponse retrouvée auprès du Trésor ({status(a)})" for a in self.recovered]
        out += self.waiting
        out += [f"{a.label()} : ordonné ({status(a)}, réf. {a.treasury_reference})" for a in self.ordered]
        out += [str(p) for p in self.problems]
        return out

    def as_dict(self) -> dict[str, Any]:
        """As a flow run returns it (the problems, if any, fail the run instead)."""
        return {"business_date": self.business_date.isoformat(), "batch_id": self.batch_id,
                "recovered": [a.as_dict() for a in self.recovered], "ordered": [a.as_dict() for a in self.ordered],
                "settled": [a.as_dict() for a in self.settled], "waiting": self.waiting}

    def raise_for_problems(self) -> None:
        if self.problems:
            raise PaymentRunFailed(self.problems, ordered=len(self.ordered))
