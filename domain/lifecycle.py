"""Where a grant stands, and where it may go next: one transition table per thing.

Modelled on Prefect's orchestration rules: each allowed move names the guards that must
all agree, and each guard is a small function returning None or the French reason it
refuses. The tables below are the documentation; a move that is not in them is refused.

    grant:       deliberation -> prefecture -> signature -> active -> closing -> closed
                 deliberation -> rejected
    instalment:  scheduled -> ordered -> paid          (paid is final)
                 ordered -> rejected | failed -> ordered
                 scheduled -> failed
                 scheduled | rejected | failed -> cancelled   (at closure, nothing more owed)
    obligation:  pending -> done | overdue | cancelled;  overdue -> done | cancelled | pending

Over 300 lines because the tables and their guards are read together: a move and the
guards it names sit side by side.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from domain import labels
from domain.calendar import format_date_fr
from domain.convention import CONVENTION_THRESHOLD
from domain.errors import RuleViolation
from domain.money import format_amount_fr
from domain.refund import TITRE_FLOOR, titre_required


class Stage(StrEnum):
    DELIBERATION = "deliberation"
    PREFECTURE = "prefecture"
    SIGNATURE = "signature"
    ACTIVE = "active"
    CLOSING = "closing"
    CLOSED = "closed"
    REJECTED = "rejected"


class InstalmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    ORDERED = "ordered"  # sent to the treasury; stays ordered while the treasury suspends it
    PAID = "paid"
    REJECTED = "rejected"  # refused by the treasury (bank details, missing documents)
    FAILED = "failed"  # technical failure: nothing reached the treasury or no answer
    CANCELLED = "cancelled"  # at closure: the association is owed nothing more (final)


# An instalment handed to the treasury is money gone, confirmed or not: it counts as paid.
MONEY_SENT = (InstalmentStatus.ORDERED.value, InstalmentStatus.PAID.value)


class ObligationStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    OVERDUE = "overdue"
    CANCELLED = "cancelled"


# Still owed: what the sweep marks, reminds and shows as open.
OBLIGATION_OPEN = (ObligationStatus.PENDING.value, ObligationStatus.OVERDUE.value)


@dataclass(frozen=True, kw_only=True)
class GrantFacts:
    """What the guards look at, gathered by the caller for one grant on one day."""

    today: date
    adopted: bool | None = None  # None: the vote is not recorded yet
    executoire_on: date | None = None
    convention_required: bool = True
    signed_by_association: bool = False
    signed_by_authority: bool = False
    ends_on: date | None = None  # last day of the convention
    refund_due: Decimal | None = None  # None: not computed yet
    refund_settled: bool = False
    legality_control_ends_on: date | None = None
    titre_floor: Decimal = TITRE_FLOOR  # configurable setting of refund.titre_required
    convention_threshold: Decimal = CONVENTION_THRESHOLD  # configurable setting, named in the refusal
    instalments_to_pay: int = 0  # neither paid nor cancelled
    closed: bool = False
    refund_outstanding: Decimal | None = None  # left to receive on a titre de recette


Guard = Callable[[GrantFacts], str | None]


# -- guards: None when satisfied, else the French reason ------------------------------

def vote_adopted(f: GrantFacts) -> str | None:
    if f.adopted is True:
        return None
    if f.adopted is None:
        return "vote du conseil pas encore enregistré (CGCT L2121-20)"
    return "la délibération a été rejetée par le conseil (CGCT L2121-20)"


def vote_rejected(f: GrantFacts) -> str | None:
    if f.adopted is False:
        return None
    if f.adopted is None:
        return "vote du conseil pas encore enregistré (CGCT L2121-20)"
    return "la délibération a été adoptée par le conseil"


def act_executoire(f: GrantFacts) -> str | None:
    if f.executoire_on is None:
        return "acte pas encore exécutoire : il doit être reçu en préfecture et publié ou notifié (CGCT L2131-1)"
    if f.executoire_on > f.today:
        return f"acte exécutoire le {format_date_fr(f.executoire_on)} seulement (CGCT L2131-1)"
    return None


def convention_signed_when_compulsory(f: GrantFacts) -> str | None:
    if not f.convention_required:
        return None
    missing = [
        who
        for who, signed in (("l'association", f.signed_by_association), ("la collectivité", f.signed_by_authority))
        if not signed
    ]
    if not missing:
        return None
    return (
        f"convention obligatoire au-delà de {format_amount_fr(f.convention_threshold)} par an "
        "(loi 2000-321 art. 10, décret 2001-495) : "
        f"il manque la signature de {' et celle de '.join(missing)}"
    )


def legality_control_over(f: GrantFacts) -> str | None:
    if f.legality_control_ends_on is None:
        return "date de fin du contrôle de légalité inconnue (réception en préfecture non enregistrée)"
    if f.today <= f.legality_control_ends_on:
        return f"délai de déféré préfectoral ouvert jusqu'au {format_date_fr(f.legality_control_ends_on)} (CGCT L2131-6)"
    return None


def convention_ended(f: GrantFacts) -> str | None:
    if f.ends_on is None:
        return "date de fin de la convention inconnue"
    if f.today <= f.ends_on:
        return f"convention en cours jusqu'au {format_date_fr(f.ends_on)} inclus"
    return None


def refund_settled_or_nothing_due(f: GrantFacts) -> str | None:
    if f.refund_settled:
        return None
    if f.refund_due is None:
        return "montant à reverser pas encore calculé (versé moins dépenses éligibles)"
    if not titre_required(f.refund_due, floor=f.titre_floor):
        return None  # nothing due, or below the floor: no titre de recette can be issued (CGCT D1611-1)
    return f"reversement de {format_amount_fr(f.refund_due)} non soldé"


def not_closed(f: GrantFacts) -> str | None:
    if not f.closed:
        return None
    return "subvention close : rien n'est versé après la clôture"


def no_refund_outstanding(f: GrantFacts) -> str | None:
    if not f.refund_outstanding:
        return None
    return (f"un titre de recette est en cours ({format_amount_fr(f.refund_outstanding)} à reverser par "
            "l'association) : aucun versement tant qu'il n'est pas soldé")


# The end of the grant stops payments for good: nothing to record, nothing to rerun.
PAYMENT_STOPS: tuple[Guard, ...] = (not_closed, no_refund_outstanding)


def nothing_left_to_pay(f: GrantFacts) -> str | None:
    if f.instalments_to_pay == 0:
        return None
    return f"{f.instalments_to_pay} versement(s) encore à payer : une subvention n'est pas close avant"


# -- the tables ---------------------------------------------------------------------

@dataclass(frozen=True)
class Transition:
    source: Stage
    target: Stage
    guards: tuple[Guard, ...]
    meaning: str


STAGE_TRANSITIONS: tuple[Transition, ...] = (
    Transition(Stage.DELIBERATION, Stage.PREFECTURE, (vote_adopted,), "le conseil a adopté : l'acte part en préfecture"),
    Transition(Stage.DELIBERATION, Stage.REJECTED, (vote_rejected,), "le conseil a rejeté : la demande est close"),
    Transition(Stage.PREFECTURE, Stage.SIGNATURE, (act_executoire,), "l'acte est exécutoire : la convention peut être signée"),
    Transition(
        Stage.SIGNATURE,
        Stage.ACTIVE,
        (act_executoire, convention_signed_when_compulsory),
        "convention signée des deux parties (si obligatoire) : paiements et comptes rendus",
    ),
    Transition(Stage.ACTIVE, Stage.CLOSING, (convention_ended,), "la convention est terminée : bilan et reversement"),
    Transition(Stage.CLOSING, Stage.CLOSED, (refund_settled_or_nothing_due, nothing_left_to_pay),
               "rien ou plus rien à reverser ni à verser"),
)

INSTALMENT_TRANSITIONS: Mapping[tuple[InstalmentStatus, InstalmentStatus], str] = MappingProxyType(
    {
        (InstalmentStatus.SCHEDULED, InstalmentStatus.ORDERED): "ordre de paiement transmis au comptable",
        (InstalmentStatus.SCHEDULED, InstalmentStatus.FAILED): "échec technique avant transmission",
        (InstalmentStatus.ORDERED, InstalmentStatus.PAID): "paiement confirmé par le comptable",
        (InstalmentStatus.ORDERED, InstalmentStatus.REJECTED): "rejet du comptable (coordonnées bancaires, pièces)",
        (InstalmentStatus.ORDERED, InstalmentStatus.FAILED): "échec technique de la transmission",
        (InstalmentStatus.FAILED, InstalmentStatus.ORDERED): "nouvelle tentative, même clé d'idempotence",
        (InstalmentStatus.REJECTED, InstalmentStatus.ORDERED): "ordre réémis après correction",
        (InstalmentStatus.SCHEDULED, InstalmentStatus.CANCELLED): "annulé à la clôture : plus rien n'est dû",
        (InstalmentStatus.REJECTED, InstalmentStatus.CANCELLED): "annulé à la clôture : plus rien n'est dû",
        (InstalmentStatus.FAILED, InstalmentStatus.CANCELLED): "annulé à la clôture : plus rien n'est dû",
    }
)

OBLIGATION_TRANSITIONS: Mapping[tuple[ObligationStatus, ObligationStatus], str] = MappingProxyType(
    {
        (ObligationStatus.PENDING, ObligationStatus.DONE): "remis à temps",
        (ObligationStatus.PENDING, ObligationStatus.OVERDUE): "échéance dépassée",
        (ObligationStatus.PENDING, ObligationStatus.CANCELLED): "devenu sans objet",
        (ObligationStatus.OVERDUE, ObligationStatus.DONE): "remis en retard",
        (ObligationStatus.OVERDUE, ObligationStatus.CANCELLED): "devenu sans objet",
        # An avenant or a fact moves the due date: owed by the new date, late again only
        # if that one passes too (the sweep marks it then).
        (ObligationStatus.OVERDUE, ObligationStatus.PENDING): "échéance reportée",
    }
)


# -- using them ---------------------------------------------------------------------

E = TypeVar("E", bound=StrEnum)


def _enum(kind: type[E], value: object, field: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise RuleViolation(field, value, f"état inconnu : attendu l'un de {allowed}") from None


def _fr(state: StrEnum) -> str:
    """The state as operations staff read it (the field and value keep the code)."""
    tables = {Stage: labels.STAGES, InstalmentStatus: labels.INSTALMENT_STATUSES,
              ObligationStatus: labels.OBLIGATION_STATUSES}
    return labels.label(tables.get(type(state), {}), state.value)


def _refuse_move(field: str, current: StrEnum, target: StrEnum, allowed: list[StrEnum]) -> RuleViolation:
    where = (f"depuis « {_fr(current)} », seuls sont possibles : {', '.join(f'« {_fr(a)} »' for a in allowed)}"
             if allowed else f"« {_fr(current)} » est un état final")
    return RuleViolation(field, f"{current} -> {target}",
                         f"passage de « {_fr(current)} » à « {_fr(target)} » non prévu ; {where}")


def stage_transitions_from(current: Stage | str) -> tuple[Transition, ...]:
    stage = _enum(Stage, current, "stage")
    return tuple(t for t in STAGE_TRANSITIONS if t.source == stage)


def check_stage_transition(current: Stage | str, target: Stage | str, facts: GrantFacts) -> None:
    """RuleViolation(field="stage") unless the move is in the table and all its guards agree."""
    source = _enum(Stage, current, "stage")
    goal = _enum(Stage, target, "stage")
    options = stage_transitions_from(source)
    move = next((t for t in options if t.target == goal), None)
    if move is None:
        raise _refuse_move("stage", source, goal, [t.target for t in options])
    reasons = [reason for guard in move.guards if (reason := guard(facts)) is not None]
    if reasons:
        raise RuleViolation("stage", f"{source} -> {goal}", f"passage à « {_fr(goal)} » refusé : {' ; '.join(reasons)}")


def next_stage(current: Stage | str, facts: GrantFacts) -> Stage | None:
    """The one stage the facts allow from `current` (None: stay). One step only."""
    for move in stage_transitions_from(current):
        if all(guard(facts) is None for guard in move.guards):
            return move.target
    return None


def furthest_stage(current: Stage | str, facts: GrantFacts) -> Stage:
    """Follow `next_stage` while the facts allow (a sweep catching up after downtime)."""
    stage = _enum(Stage, current, "stage")
    while (following := next_stage(stage, facts)) is not None:
        stage = following
    return stage


def check_instalment_transition(current: InstalmentStatus | str, target: InstalmentStatus | str) -> None:
    """RuleViolation(field="instalment.status") for a move not in INSTALMENT_TRANSITIONS."""
    source = _enum(InstalmentStatus, current, "instalment.status")
    goal = _enum(InstalmentStatus, target, "instalment.status")
    if (source, goal) not in INSTALMENT_TRANSITIONS:
        allowed = [b for (a, b) in INSTALMENT_TRANSITIONS if a == source]
        raise _refuse_move("instalment.status", source, goal, allowed)


def check_obligation_transition(current: ObligationStatus | str, target: ObligationStatus | str) -> None:
    """RuleViolation(field="obligation.status") for a move not in OBLIGATION_TRANSITIONS."""
    source = _enum(ObligationStatus, current, "obligation.status")
    goal = _enum(ObligationStatus, target, "obligation.status")
    if (source, goal) not in OBLIGATION_TRANSITIONS:
        allowed = [b for (a, b) in OBLIGATION_TRANSITIONS if a == source]
        raise _refuse_move("obligation.status", source, goal, allowed)


def check_payment_allowed(facts: GrantFacts, *, wait_for_legality_control: bool = False) -> None:
    """Before ordering an instalment (DOMAIN §4): the grant not closed and no titre de
    recette outstanding, act exécutoire, convention signed when compulsory; optionally
    (policy, off by default) the prefect's window closed.
    Bank details are checked by domain.identifiers when they are recorded."""
    guards: list[Guard] = [*PAYMENT_STOPS, act_executoire, convention_signed_when_compulsory]
    if wait_for_legality_control:
        guards.append(legality_control_over)
    reasons = [reason for guard in guards if (reason := guard(facts)) is not None]
    if reasons:
        raise RuleViolation("payment", None, f"paiement impossible : {' ; '.join(reasons)}")
