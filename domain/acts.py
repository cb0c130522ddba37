"""The act sent to the prefecture: its @CTES identifier, when it becomes exécutoire,
the prefect's control window, and the rule that the convention is signed after receipt.

Identifier: DDD-SIREN-YYYYMMDD-NUMBER-NN (DOMAIN §2), e.g. 002-200071892-20181127-44208A-DE.
We are strict with what we generate and lenient with what transmitters send back.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from domain.calendar import add_months, format_date_fr
from domain.departments import normalise_department
from domain.errors import RuleViolation
from domain.identifiers import valid_siren

# DE délibération, AR arrêté réglementaire, AI arrêté individuel, CC contrat/convention,
# BF budget et finances, AU autre.
NATURES = ("DE", "AR", "AI", "CC", "BF", "AU")

LEGALITY_CONTROL_MONTHS = 2  # CGCT L2131-6: déféré within two months of receipt

_DEPARTMENT = re.compile(r"^[09][0-9][0-9AB]$")
_NUMBER_GENERATED = re.compile(r"^[A-Z0-9][A-Z0-9_]{0,13}[A-Z0-9]$")

# Anchored at both ends: department, SIREN and date at the start, nature (then the
# exchange's "-T-M" message code and "_N" file serial) at the end. The NUMBER in between
# may itself contain hyphens, so the identifier is never split on "-".
_RECEIVED = re.compile(
    r"""^(?P<department>[0-9]{2}[0-9AB])
        -(?P<siren>[0-9]{9})
        -(?P<date>[0-9]{8})
        -(?P<number>[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,13}[A-Za-z0-9_])?)
        -(?P<nature>[A-Za-z]{2})
        (?:-[0-9]+-[0-9]+)?
        (?:_[0-9]+)?$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class ActId:
    department: str
    siren: str
    decision_date: date
    number: str
    nature: str

    def __str__(self) -> str:
        return f"{self.department}-{self.siren}-{self.decision_date:%Y%m%d}-{self.number}-{self.nature}"


def parse_act_id(text: str, field: str = "act_id") -> ActId:
    """Read an identifier as received (acknowledgement, transmitter export).

    "002-200071892-20181127-44208A-DE-1-1" -> the act 002-200071892-20181127-44208A-DE.
    """
    if not isinstance(text, str):
        raise RuleViolation(field, text, "identifiant d'acte @CTES attendu sous forme de texte")
    match = _RECEIVED.match(text.strip())
    if not match:
        raise RuleViolation(
            field,
            text,
            "identifiant d'acte @CTES illisible : forme DDD-SIREN-AAAAMMJJ-NUMERO-NN attendue "
            "(ex. 002-200071892-20181127-44208A-DE)",
        )
    department = match["department"]
    if not _DEPARTMENT.match(department):
        raise RuleViolation(field, text, f"département « {department} » invalide dans l'identifiant @CTES ([09][0-9][0-9AB])")
    siren = valid_siren(match["siren"], field=f"{field}.siren")
    decision_date = _decision_date(match["date"], field, text)
    nature = match["nature"].upper()
    _check_nature(nature, field, text)
    return ActId(department, siren, decision_date, match["number"], nature)


def make_act_id(department: str, siren: str, decision_date: date, number: str, nature: str = "DE") -> ActId:
    """The identifier we generate for an act we transmit (strict NUMBER pattern)."""
    code = normalise_department(department, field="act_id.department")
    authority = valid_siren(siren, field="act_id.siren")
    if not isinstance(number, str) or not _NUMBER_GENERATED.match(number):
        raise RuleViolation(
            "act_id.number",
            number,
            "numéro d'acte invalide : 2 à 15 caractères, majuscules, chiffres ou « _ », "
            "ni au début ni à la fin (cahier des charges @CTES)",
        )
    _check_nature(nature, "act_id.nature", nature)
    if not isinstance(decision_date, date):
        raise RuleViolation("act_id.decision_date", decision_date, "date de décision attendue")
    return ActId(code, authority, decision_date, number, nature)


def check_act_matches(
    act: ActId,
    *,
    siren: str,
    department: str,
    session: date,
    number: str | None = None,
    field: str = "act_id",
) -> None:
    """The acknowledged act must be this authority's act of this session."""
    authority = valid_siren(siren, field=f"{field}.siren")
    if act.siren != authority:
        raise RuleViolation(
            field, str(act), f"l'acte porte le SIREN {act.siren}, celui de la collectivité est {authority}"
        )
    code = normalise_department(department, field=f"{field}.department")
    if act.department != code:
        raise RuleViolation(
            field, str(act), f"l'acte est transmis au département {act.department}, celui de la collectivité est {code}"
        )
    if act.decision_date != session:
        raise RuleViolation(
            field,
            str(act),
            f"la date de décision de l'acte ({format_date_fr(act.decision_date)}) doit être celle de "
            f"la séance ({format_date_fr(session)})",
        )
    if number is not None and act.number != number:
        raise RuleViolation(field, str(act), f"l'acte porte le numéro {act.number}, attendu {number}")


def executoire_on(received_on: date | None, published_on: date | None) -> date | None:
    """Enforceable once both received by the prefect and published or notified
    (CGCT L2131-1): the later of the two; None while either is unknown."""
    if received_on is None or published_on is None:
        return None
    return max(received_on, published_on)


def legality_control_ends(received_on: date, restarted_on: date | None = None) -> date:
    """Last day of the prefect's déféré window (CGCT L2131-6): 2 months after receipt,
    or after a request for documents / letter of observations made within it."""
    if restarted_on is None:
        return add_months(received_on, LEGALITY_CONTROL_MONTHS)
    window_end = add_months(received_on, LEGALITY_CONTROL_MONTHS)
    if not received_on <= restarted_on <= window_end:
        raise RuleViolation(
            "legality_control.restarted_on",
            restarted_on,
            f"le délai de déféré ne peut être prorogé que par une demande faite pendant ce délai "
            f"(du {format_date_fr(received_on)} au {format_date_fr(window_end)}, CGCT L2131-6)",
        )
    return add_months(restarted_on, LEGALITY_CONTROL_MONTHS)


def check_receipt_after_session(received_on: date, published_on: date | None, session_on: date) -> None:
    """The prefect receives, and the authority publishes, only an act already deliberated."""
    if received_on < session_on:
        raise RuleViolation("received", received_on.isoformat(),
                            f"la réception par le préfet précède la séance du {format_date_fr(session_on)}")
    if published_on is not None and published_on < session_on:
        raise RuleViolation("published", published_on.isoformat(),
                            f"la publication précède la séance du {format_date_fr(session_on)} : "
                            "un acte ne peut être publié avant d'avoir été délibéré")


def check_control_restart(restarted_on: date, received_on: date | None, control_ends_on: date | None,
                          act_reference: str) -> None:
    """The prefect restarts the déféré window (a request for documents, a letter of
    observations) only on an act received, and while the window is still open (CGCT L2131-6)."""
    if received_on is None or control_ends_on is None:
        raise RuleViolation("on", restarted_on.isoformat(), f"l'acte {act_reference} n'a pas été transmis au préfet")
    if restarted_on > control_ends_on:
        raise RuleViolation("on", restarted_on.isoformat(),
                            f"le délai de contrôle de légalité a pris fin le {format_date_fr(control_ends_on)} "
                            "(CGCT L2131-6 : deux mois après la réception)")


def check_paid_after_executoire(paid_on: date, executoire: date | None, field: str = "paid_on") -> None:
    """No payment before the act granting it is exécutoire (CGCT L2131-1): a confirmation
    dated earlier is a mistaken date, refused with both dates."""
    if executoire is None or paid_on < executoire:
        since = f"le {format_date_fr(executoire)}" if executoire is not None else "pas encore"
        raise RuleViolation(field, paid_on.isoformat(),
                            f"paiement antérieur au caractère exécutoire de l'acte (exécutoire {since}, "
                            "CGCT L2131-1) : vérifier la date du paiement")


def check_signature_after_receipt(signed_on: date, received_on: date | None, field: str = "signature.on") -> None:
    """No convention signed before the prefect received the authorising deliberation:
    the president had no enforceable authority to sign (CE avis 10/06/1996, CGCT L2131-1)."""
    if received_on is None:
        raise RuleViolation(
            field,
            signed_on,
            "signature impossible : la délibération autorisant la signature n'a pas encore été reçue "
            "en préfecture (CE, avis, 10/06/1996)",
        )
    if signed_on < received_on:
        raise RuleViolation(
            field,
            signed_on,
            f"convention signée le {format_date_fr(signed_on)}, avant la réception en préfecture de la "
            f"délibération qui l'autorise le {format_date_fr(received_on)} : signature illégale "
            "(CE, avis, 10/06/1996)",
        )


def _decision_date(text: str, field: str, raw: str) -> date:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise RuleViolation(field, raw, f"date de décision « {text} » inexistante dans l'identifiant @CTES") from None


def _check_nature(nature: str, field: str, value: object) -> None:
    if nature not in NATURES:
        raise RuleViolation(
            field, value, f"nature d'acte « {nature} » inconnue : attendu l'une de {', '.join(NATURES)}"
        )


# The deciding body, and the article that lets it decide: the council itself, or its
# commission permanente (départements, régions) or bureau (EPCI) acting by delegation.
BODIES: dict[str, str] = {
    "conseil": "conseil",
    "commission_permanente": "commission permanente",
    "bureau": "bureau",
}
BODY_BASIS: dict[str, str] = {
    "conseil": "CGCT L2121-29, L3211-1, L4221-1, L5211-1",
    "commission_permanente": "délégation du conseil, CGCT L3211-2, L4221-5",
    "bureau": "délégation du conseil communautaire, CGCT L5211-10",
}


def check_sitting(first: date, last: date, field: str = "sitting") -> None:
    if last < first:
        raise RuleViolation(f"{field}.last", last.isoformat(),
                            f"la séance ne peut finir avant d'avoir commencé (premier jour {format_date_fr(first)})")


def check_vote_in_sitting(voted: date, first: date, last: date, field: str = "deliberation.session") -> None:
    """A sitting may last several days (Paris: 22-25 March 2022); the act is voted on one of them."""
    if not first <= voted <= last:
        span = (f"le {format_date_fr(first)}" if first == last
                else f"du {format_date_fr(first)} au {format_date_fr(last)}")
        raise RuleViolation(field, voted.isoformat(),
                            f"l'acte est daté du {format_date_fr(voted)}, hors de la séance qui s'est tenue {span} : "
                            "un acte est voté pendant la séance")
