"""The council's vote: convocation, quorum, proxies, majority (CGCT L2121-10 to -20).

`decide` takes what the minutes record (a `Sitting`) and returns the `Decision` the law
draws from it. Inconsistent minutes are refused (RuleViolation); a sitting without quorum
is not an error but an outcome, "quorum_failed", which the council cures by meeting again.

One module, over 300 lines, because it is one rule: the articles read together (quorum
depends on the convocation, the majority on the proxies), each step next to its article.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain.calendar import after_clear_days, clear_days_between, format_date_fr
from domain.errors import RuleViolation

ADOPTED = "adopted"
REJECTED = "rejected"
QUORUM_FAILED = "quorum_failed"
OUTCOMES = (ADOPTED, REJECTED, QUORUM_FAILED)

CONVOCATION_CLEAR_DAYS = 5  # CGCT L2121-12 (communes of 3,500+, EPCI via L5211-1); configurable
URGENCY_CLEAR_DAYS = 1  # CGCT L2121-12 al. 3: urgency, never less than one clear day
RECONVENE_CLEAR_DAYS = 3  # CGCT L2121-17: "à trois jours au moins d'intervalle"

PRESIDENT_VOTES = ("for", "against")


@dataclass(frozen=True)
class Votes:
    """The count of a show-of-hands or secret vote, proxies included."""

    for_: int
    against: int
    abstentions: int = 0
    not_voting: int = 0  # "ne prend pas part au vote" (e.g. a member with an interest)

    @property
    def cast(self) -> int:
        """Votes cast ("suffrages exprimés"): abstentions, blank and void are not cast."""
        return self.for_ + self.against

    @property
    def total(self) -> int:
        return self.for_ + self.against + self.abstentions + self.not_voting


@dataclass(frozen=True)
class Sitting:
    """What the minutes say about the sitting that voted the grant.

    `present` counts members physically in the room (a sitting substitute is present; a
    member with an interest in the association who left the room is not). `represented`
    counts proxies used. `members_in_office` and `present` may be None when the act
    records no attendance (seed 000); then only `outcome` can be given.
    """

    session: date
    convened: date | None
    members_in_office: int | None
    present: int | None
    represented: int = 0
    votes: Votes | None = None
    outcome: str | None = None  # "adopted" / "rejected" when the act gives no counts
    president: str | None = None  # the president's vote, "for" / "against", for a tie
    secret: bool = False
    reconvened_after: date | None = None  # the session that failed for lack of quorum
    urgency: bool = False


@dataclass(frozen=True)
class Decision:
    outcome: str  # "adopted" | "rejected" | "quorum_failed"
    quorum_required: int | None  # None only when the act gives no number in office
    quorum_met: bool
    votes_cast: int | None
    reason: str  # in French, for the journal and the staff

    @property
    def adopted(self) -> bool:
        return self.outcome == ADOPTED


def quorum_required(members_in_office: int) -> int:
    """Strictly more than half of the members in office (CGCT L2121-17): 76 -> 39."""
    if isinstance(members_in_office, bool) or not isinstance(members_in_office, int) or members_in_office < 1:
        raise RuleViolation(
            "deliberation.members_in_office",
            members_in_office,
            "nombre de membres en exercice invalide : un entier d'au moins 1 est attendu",
        )
    return members_in_office // 2 + 1


def earliest_reconvened_session(failed_session: date) -> date:
    """First day the council may meet again without quorum: 3 clear days later."""
    return after_clear_days(failed_session, RECONVENE_CLEAR_DAYS)


def decide(
    sitting: Sitting,
    *,
    convocation_clear_days: int = CONVOCATION_CLEAR_DAYS,
    urgency_clear_days: int = URGENCY_CLEAR_DAYS,
) -> Decision:
    """The legal outcome of the sitting, or RuleViolation when the minutes do not hold."""
    _check_counts(sitting)
    _check_convocation(sitting, convocation_clear_days, urgency_clear_days)
    _check_reconvened(sitting)
    _check_record(sitting)

    required = None if sitting.members_in_office is None else quorum_required(sitting.members_in_office)
    quorum_known = required is not None and sitting.present is not None
    quorum_met = bool(quorum_known and sitting.present >= required)  # type: ignore[operator]

    if quorum_known and not quorum_met and sitting.reconvened_after is None:
        return Decision(QUORUM_FAILED, required, False, None, _quorum_failed_reason(sitting, required))

    if sitting.votes is None and sitting.outcome is None:
        raise RuleViolation(
            "deliberation.outcome",
            None,
            "résultat du vote manquant : donner le décompte des voix ou, à défaut, le résultat "
            "consigné dans l'acte (« adopted » ou « rejected »)",
        )
    quorum_note = _quorum_note(sitting, required, quorum_known, quorum_met)
    if sitting.votes is None:
        # Seed 000 records only "adopte": the act itself is the evidence that a quorate
        # council voted, so quorum is taken as met when attendance is unknown.
        assert sitting.outcome is not None
        word = "adoptée" if sitting.outcome == ADOPTED else "rejetée"
        return Decision(
            sitting.outcome,
            required,
            quorum_met if quorum_known else True,
            None,
            f"délibération {word} (résultat consigné sans décompte des voix){quorum_note}",
        )
    outcome, why = _majority(sitting)
    return Decision(outcome, required, quorum_met, sitting.votes.cast, why + quorum_note)


# -- consistency of the minutes -------------------------------------------------------

def _non_negative(field: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RuleViolation(field, value, "effectif invalide : un entier positif ou nul est attendu")


def _check_counts(s: Sitting) -> None:
    _non_negative("deliberation.members_in_office", s.members_in_office)
    if s.members_in_office is not None:
        quorum_required(s.members_in_office)
    _non_negative("deliberation.present", s.present)
    _non_negative("deliberation.represented", s.represented)
    if s.votes is not None:
        for name in ("for_", "against", "abstentions", "not_voting"):
            _non_negative(f"deliberation.votes.{name}", getattr(s.votes, name))

    if s.present is None:
        if s.votes is not None:
            raise RuleViolation(
                "deliberation.present",
                None,
                "nombre de présents manquant : il est requis quand les voix sont décomptées",
            )
        if s.represented:
            raise RuleViolation(
                "deliberation.present", None, "nombre de présents manquant alors que des pouvoirs sont indiqués"
            )
        return
    if s.members_in_office is None:
        raise RuleViolation(
            "deliberation.members_in_office",
            None,
            "nombre de membres en exercice manquant : il est requis avec les présents (calcul du quorum)",
        )
    n, p, r = s.members_in_office, s.present, s.represented
    if p > n:
        raise RuleViolation(
            "deliberation.present", p, f"{p} présents pour {n} membres en exercice : impossible d'en avoir plus"
        )
    if r > p:
        raise RuleViolation(
            "deliberation.represented",
            r,
            f"{r} pouvoirs pour {p} présents : chaque pouvoir est porté par un membre présent, "
            "qui n'en détient qu'un seul (CGCT L2121-20)",
        )
    if p + r > n:
        raise RuleViolation(
            "deliberation.represented",
            r,
            f"{p} présents et {r} représentés font {p + r}, plus que les {n} membres en exercice",
        )
    if s.votes is not None and s.votes.total != p + r:
        v = s.votes
        raise RuleViolation(
            "deliberation.votes",
            v,
            f"décompte incohérent : {v.for_} pour + {v.against} contre + {v.abstentions} abstentions "
            f"+ {v.not_voting} ne prenant pas part au vote = {v.total}, alors que {p} présents + "
            f"{r} représentés = {p + r} (chaque présent ou représenté compte une fois)",
        )


def _check_convocation(s: Sitting, normal: int, urgency: int) -> None:
    if s.convened is None:
        return  # the act may not say (seed 000): nothing to check
    if s.convened > s.session:
        raise RuleViolation(
            "deliberation.convened",
            s.convened,
            f"convocation du {format_date_fr(s.convened)} postérieure à la séance du "
            f"{format_date_fr(s.session)}",
        )
    needed = urgency if s.urgency else normal
    clear = clear_days_between(s.convened, s.session)
    if clear < needed:
        source = (
            "en urgence, un jour franc au moins, CGCT L2121-12" if s.urgency else "CGCT L2121-11, L2121-12, L5211-1"
        )
        raise RuleViolation(
            "deliberation.convened",
            s.convened,
            f"délai de convocation non respecté : {clear} jours francs entre la convocation du "
            f"{format_date_fr(s.convened)} et la séance du {format_date_fr(s.session)}, "
            f"{needed} requis ({source})",
        )


def _check_reconvened(s: Sitting) -> None:
    if s.reconvened_after is None:
        return
    earliest = earliest_reconvened_session(s.reconvened_after)
    if s.session < earliest:
        clear = clear_days_between(s.reconvened_after, s.session) if s.session >= s.reconvened_after else 0
        raise RuleViolation(
            "deliberation.reconvened_after",
            s.reconvened_after,
            f"nouvelle séance trop rapprochée : {clear} jours francs après la séance sans quorum du "
            f"{format_date_fr(s.reconvened_after)}, {RECONVENE_CLEAR_DAYS} requis (CGCT L2121-17) ; "
            f"au plus tôt le {format_date_fr(earliest)}",
        )


def _check_record(s: Sitting) -> None:
    if s.votes is not None and s.outcome is not None:
        raise RuleViolation(
            "deliberation.votes",
            s.votes,
            "donner soit le décompte des voix, soit le résultat seul (« adopted »/« rejected »), pas les deux",
        )
    if s.outcome is not None and s.outcome not in (ADOPTED, REJECTED):
        raise RuleViolation("deliberation.outcome", s.outcome, "résultat attendu : « adopted » ou « rejected »")
    if s.president is not None and s.president not in PRESIDENT_VOTES:
        raise RuleViolation(
            "deliberation.president", s.president, "vote du président attendu : « for » ou « against »"
        )


# -- outcome ---------------------------------------------------------------------------

def _quorum_failed_reason(s: Sitting, required: int) -> str:
    return (
        f"quorum non atteint : {s.present} présents pour {required} requis (plus de la moitié des "
        f"{s.members_in_office} membres en exercice, les pouvoirs ne comptent pas, CGCT L2121-17) ; "
        f"nouvelle séance sans condition de quorum au plus tôt le "
        f"{format_date_fr(earliest_reconvened_session(s.session))}"
    )


def _quorum_note(s: Sitting, required: int | None, known: bool, met: bool) -> str:
    if s.reconvened_after is not None and not met:
        return (
            f" ; séance reconvoquée après celle du {format_date_fr(s.reconvened_after)} sans quorum : "
            "délibère sans condition de quorum (CGCT L2121-17)"
        )
    if known:
        return f" ; quorum atteint : {s.present} présents pour {required} requis (CGCT L2121-17)"
    return ""


def _majority(s: Sitting) -> tuple[str, str]:
    assert s.votes is not None
    v = s.votes
    cast = v.cast
    tally = f"{v.for_} pour, {v.against} contre, {v.abstentions} abstention(s) ; {cast} suffrages exprimés"
    if cast == 0:
        return REJECTED, f"rejetée : aucun suffrage exprimé ({tally}, CGCT L2121-20)"
    majority = cast // 2 + 1
    if v.for_ > v.against:
        return ADOPTED, f"adoptée à la majorité absolue ({majority} voix) : {tally} (CGCT L2121-20)"
    if v.for_ < v.against:
        return REJECTED, f"rejetée, majorité absolue ({majority} voix) non atteinte : {tally} (CGCT L2121-20)"
    if s.secret:
        return REJECTED, f"rejetée : partage égal des voix au scrutin secret ({tally}, CGCT L2121-20)"
    if s.president is None:
        raise RuleViolation(
            "deliberation.president",
            None,
            f"partage égal des voix ({tally}) : indiquer le vote du président, dont la voix est "
            "prépondérante hors scrutin secret (CGCT L2121-20)",
        )
    if s.president == "for":
        return ADOPTED, f"adoptée par la voix prépondérante du président, partage égal ({tally}, CGCT L2121-20)"
    return REJECTED, f"rejetée par la voix prépondérante du président, partage égal ({tally}, CGCT L2121-20)"
