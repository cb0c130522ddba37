"""Identifiers of the parties and their bank: SIREN, SIRET, RNA, IBAN, BIC, holder, email.

Checksums come from field libraries (python-stdnum, schwifty, email-validator) rather than hand-written
code: the La Poste SIRET exception and the IBAN country formats are theirs to maintain.
Each function returns the normalised value to store, or raises RuleViolation.
"""
from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

from domain.departments import ALSACE_MOSELLE, normalise_department
from domain.errors import RuleViolation

HOLDER_MAX_LENGTH = 32  # account holder name as the treasury's transfer file carries it

# RNA: "W" + 9 characters (arrêté du 14/10/2009). The first three give the registering
# prefecture, so Corsican numbers read "W2A…"/"W2B…": allow that one letter position.
_RNA = re.compile(r"^W(?:\d{9}|2[AB]\d{7})$")
_RIB_COUNTRIES = ("FR", "MC")  # national "clé RIB" that schwifty can verify
_BIC = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?$")


def _text(value: object, field: str, what: str) -> str:
    if not isinstance(value, str):
        raise RuleViolation(field, value, f"{what} attendu sous forme de texte")
    return value


def _stdnum_reason(error: ValidationError, what: str, length: int) -> str:
    if isinstance(error, InvalidLength):
        return f"{what} invalide : {length} chiffres attendus"
    if isinstance(error, InvalidFormat):
        return f"{what} invalide : uniquement des chiffres ({length})"
    if isinstance(error, InvalidChecksum):
        return f"{what} invalide : clé de contrôle incorrecte (algorithme de Luhn)"
    if isinstance(error, InvalidComponent):
        return f"{what} invalide : composant incorrect"
    return f"{what} invalide"


def valid_siren(value: str, field: str = "siren") -> str:
    """9-digit SIREN with a correct Luhn key (INSEE); spaces and dots are removed."""
    text = _text(value, field, "SIREN")
    try:
        return stdnum_siren.validate(text)
    except ValidationError as error:
        raise RuleViolation(field, value, _stdnum_reason(error, "SIREN", 9)) from None


def valid_siret(value: str, field: str = "siret", siren: str | None = None) -> str:
    """14-digit SIRET (Luhn, La Poste exception); its first 9 digits must be `siren` if given."""
    text = _text(value, field, "SIRET")
    try:
        siret = stdnum_siret.validate(text)
    except ValidationError as error:
        raise RuleViolation(field, value, _stdnum_reason(error, "SIRET", 14)) from None
    if siren is not None:
        owner = valid_siren(siren, field=f"{field}.siren")
        if siret[:9] != owner:
            raise RuleViolation(
                field,
                value,
                f"le SIRET {siret} n'appartient pas à l'association : ses 9 premiers chiffres "
                f"({siret[:9]}) doivent être son SIREN {owner}",
            )
    return siret


def valid_rna(value: str | None, field: str = "rna", department: str | None = None) -> str | None:
    """RNA number "W" + 9 digits, or None (none in Alsace-Moselle, none before 2010)."""
    if value is None:
        return None
    text = _text(value, field, "numéro RNA").strip().upper().replace(" ", "")
    if not text:
        return None
    if not _RNA.match(text):
        rule = "numéro RNA invalide : « W » suivi de 9 chiffres attendu (ex. W022001234)"
        if department is not None and normalise_department(department, f"{field}.department") in ALSACE_MOSELLE:
            rule += (
                " ; en Alsace-Moselle (57, 67, 68) les associations sont inscrites au registre "
                "du tribunal et n'ont pas de numéro RNA : laisser vide"
            )
        raise RuleViolation(field, value, rule)
    return text


def valid_iban(value: str, field: str = "bank.iban") -> str:
    """IBAN in upper case (spaces allowed), checked by schwifty; returned compact."""
    text = _text(value, field, "IBAN")
    if text != text.upper():
        raise RuleViolation(
            field, value, "IBAN refusé : il doit être saisi en majuscules (norme ISO 13616, virement SEPA)"
        )
    compact = "".join(text.split())
    if not compact:
        raise RuleViolation(field, value, "IBAN manquant")
    try:
        iban = IBAN(compact)
    except SchwiftyException as error:
        raise RuleViolation(
            field, value, f"IBAN invalide (ISO 13616 : pays, longueur ou clé de contrôle) : {error}"
        ) from None
    if iban.country_code in _RIB_COUNTRIES:
        # The IBAN key can be right while the French RIB key inside it is wrong (a
        # mistyped account number re-keyed by hand): the treasury would reject it.
        try:
            IBAN(compact, validate_bban=True)
        except SchwiftyException:
            raise RuleViolation(field, value, "IBAN invalide : clé RIB du compte français incorrecte") from None
    return iban.compact


def valid_bic(value: str, field: str = "bank.bic") -> str:
    """BIC of 8 or 11 characters in upper case (ISO 9362), checked by schwifty."""
    text = _text(value, field, "BIC").strip()
    if text != text.upper():
        raise RuleViolation(field, value, "BIC refusé : il doit être saisi en majuscules (ISO 9362)")
    if not _BIC.match(text):
        raise RuleViolation(
            field, value, "BIC invalide : 8 ou 11 caractères (4 lettres banque, 2 lettres pays, 2 + 3 optionnels, ISO 9362)"
        )
    try:
        return str(BIC(text))
    except SchwiftyException as error:
        raise RuleViolation(field, value, f"BIC invalide (ISO 9362) : {error}") from None


def valid_holder(value: str, field: str = "bank.holder") -> str:
    """Account holder name, non-empty, at most 32 characters once trimmed."""
    text = " ".join(_text(value, field, "titulaire du compte").split())
    if not text:
        raise RuleViolation(field, value, "titulaire du compte manquant : le nom du titulaire est requis")
    if len(text) > HOLDER_MAX_LENGTH:
        raise RuleViolation(
            field,
            value,
            f"titulaire du compte trop long : {len(text)} caractères pour {HOLDER_MAX_LENGTH} au plus "
            "(zone « titulaire » du virement)",
        )
    return text


_ADDRESS_SEPARATORS = re.compile(r"[,;]")


def valid_email(value: str, field: str = "email") -> str:
    """One address (RFC 5321/5322 syntax, checked by email-validator, without any DNS lookup):
    a list in one field would make every mail to it fail."""
    text = _text(value, field, "adresse électronique")
    stripped = text.strip()
    if _ADDRESS_SEPARATORS.search(stripped):
        raise RuleViolation(field, value, "une seule adresse électronique par champ (une liste n'est pas permise)")
    try:
        # No SMTPUTF8: an accented local part would be refused by many relays; an accented
        # domain is kept in its ASCII (IDNA) form, which every relay accepts.
        checked = validate_email(stripped, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise RuleViolation(field, value, f"adresse électronique invalide ({error})") from None
    return checked.ascii_email or checked.normalized
