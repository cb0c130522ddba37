"""SIREN, SIRET, RNA, IBAN, BIC and account holder."""
import pytest
from schwifty import BIC, IBAN

from domain.errors import RuleViolation
from domain.identifiers import (
    valid_bic,
    valid_email,
    valid_holder,
    valid_iban,
    valid_rna,
    valid_siren,
    valid_siret,
)

CASQ_SIREN = "200071892"  # seed 002, in its @CTES acknowledgement


# -- test helpers: check digits computed by hand, not by the code under test ---------

def luhn_ok(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def luhn_complete(prefix: str) -> str:
    return next(prefix + d for d in "0123456789" if luhn_ok(prefix + d))


def iban_with_key(country: str, bban: str) -> str:
    """ISO 13616 / ISO 7064 mod 97-10: letters A=10..Z=35, country + "00" moved to the end."""
    digits = "".join(str(int(char, 36)) for char in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def test_helpers_agree_with_known_values():
    assert luhn_ok(CASQ_SIREN)
    assert not luhn_ok("200071893")
    assert iban_with_key("FR", "30006000011234567890189") == "FR7630006000011234567890189"
    assert iban_with_key("DE", "370400440532013000") == "DE89370400440532013000"
    # and schwifty agrees these are valid
    assert IBAN("FR7630006000011234567890189").compact == "FR7630006000011234567890189"
    assert str(BIC("BNPAFRPPXXX")) == "BNPAFRPPXXX"


# -- SIREN / SIRET --------------------------------------------------------------------

def test_siren():
    assert valid_siren(CASQ_SIREN) == CASQ_SIREN
    assert valid_siren("200 071 892") == CASQ_SIREN


@pytest.mark.parametrize(("bad", "words"), [("200071893", "Luhn"), ("20007189", "9 chiffres"), ("20007189A", "chiffres")])
def test_siren_refused(bad, words):
    with pytest.raises(RuleViolation, match=words) as refused:
        valid_siren(bad, field="authority.siren")
    assert refused.value.field == "authority.siren"


def test_siren_as_int_refused():
    with pytest.raises(RuleViolation):
        valid_siren(200071892)  # type: ignore[arg-type]


def test_siret_of_its_siren():
    siret = luhn_complete(CASQ_SIREN + "0001")
    assert len(siret) == 14
    assert valid_siret(siret, siren=CASQ_SIREN) == siret
    assert valid_siret(f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}") == siret


def test_siret_of_another_siren_refused():
    other_siren = luhn_complete("55210055")
    siret = luhn_complete(other_siren + "0001")
    with pytest.raises(RuleViolation, match="n'appartient pas") as refused:
        valid_siret(siret, field="association.siret", siren=CASQ_SIREN)
    assert refused.value.field == "association.siret"


def test_siret_bad_checksum_and_length():
    good = luhn_complete(CASQ_SIREN + "0001")
    wrong = good[:-1] + str((int(good[-1]) + 1) % 10)
    with pytest.raises(RuleViolation, match="clé de contrôle"):
        valid_siret(wrong)
    with pytest.raises(RuleViolation, match="14 chiffres"):
        valid_siret(good[:-1])


def test_la_poste_siret_exception():
    # La Poste (SIREN 356000000): its establishments fail Luhn, the digit sum is a
    # multiple of 5 instead. 3+5+6+0+0+0+0+0+0+4+9+8+3+7 = 45.
    la_poste = "35600000049837"
    assert not luhn_ok(la_poste)
    assert valid_siret(la_poste, siren="356000000") == la_poste


# -- RNA ----------------------------------------------------------------------------

def test_rna():
    assert valid_rna("W022001234") == "W022001234"
    assert valid_rna(" w022001234 ") == "W022001234"
    assert valid_rna("W2A1000123") == "W2A1000123"  # Corsica: prefecture code 2A
    assert valid_rna(None) is None
    assert valid_rna("") is None


@pytest.mark.parametrize("bad", ["W02200123", "W0220012345", "022001234", "X022001234", "W02200123A"])
def test_rna_refused(bad):
    with pytest.raises(RuleViolation) as refused:
        valid_rna(bad, field="association.rna")
    assert refused.value.field == "association.rna"


def test_rna_in_alsace_moselle_is_optional_and_explained():
    assert valid_rna(None, department="057") is None
    with pytest.raises(RuleViolation, match="Alsace-Moselle"):
        valid_rna("Vol. 12 n°345", department="067")


# -- bank ---------------------------------------------------------------------------

def test_iban_compact_upper_case():
    assert valid_iban("FR7630006000011234567890189") == "FR7630006000011234567890189"
    assert valid_iban("FR76 3000 6000 0112 3456 7890 189") == "FR7630006000011234567890189"
    # a French IBAN with a letter in the account number, key computed by hand above
    postal = iban_with_key("FR", "20041010050500013M02606")
    assert valid_iban(postal) == postal


def test_iban_lower_case_refused():
    with pytest.raises(RuleViolation, match="majuscules") as refused:
        valid_iban("fr7630006000011234567890189")
    assert refused.value.field == "bank.iban"


@pytest.mark.parametrize(
    "bad",
    [
        "FR7630006000011234567890188",  # IBAN key wrong
        "FR763000600001123456789018",  # too short for France
        "XX7630006000011234567890189",  # no such country
        "",
        iban_with_key("FR", "20041010050500013M02607"),  # IBAN key right, RIB key wrong
    ],
)
def test_iban_refused(bad):
    with pytest.raises(RuleViolation) as refused:
        valid_iban(bad)
    assert refused.value.field == "bank.iban"


def test_bic():
    assert valid_bic("BNPAFRPPXXX") == "BNPAFRPPXXX"
    assert valid_bic("BNPAFRPP") == "BNPAFRPP"


@pytest.mark.parametrize("bad", ["bnpafrppxxx", "BNPAFRP", "BNPAFRPPXX", "BNPA1RPP", "BNPAFRPPXXXX", ""])
def test_bic_refused(bad):
    with pytest.raises(RuleViolation) as refused:
        valid_bic(bad)
    assert refused.value.field == "bank.bic"


def test_holder():
    assert valid_holder("  Faubourg   Numérique ") == "Faubourg Numérique"
    exactly_32 = "ASSOCIATION FAUBOURG NUMERIQUE 2"
    assert len(exactly_32) == 32
    assert valid_holder(exactly_32) == exactly_32


@pytest.mark.parametrize("bad", ["", "   ", "ASSOCIATION FAUBOURG NUMERIQUE 02"])
def test_holder_refused(bad):
    with pytest.raises(RuleViolation) as refused:
        valid_holder(bad)
    assert refused.value.field == "bank.holder"


@pytest.mark.parametrize("given, stored", [
    ("dev-eco@casq.example.org", "dev-eco@casq.example.org"),
    ("  contact@asso.example.org ", "contact@asso.example.org"),
    ("contact@associé.fr", "contact@xn--associ-gva.fr"),  # the domain in the ASCII form relays accept
])
def test_email(given, stored):
    assert valid_email(given) == stored


@pytest.mark.parametrize("bad, rule", [
    ("evil.example,contact@asso.example.org", "une seule adresse électronique par champ"),
    ("a@x.org; b@y.org", "une seule adresse électronique par champ"),
    ("dev-eco@casq", "adresse électronique invalide"),
    ("Jean <jean@asso.fr>", "adresse électronique invalide"),
    ("josé@asso.fr", "adresse électronique invalide"),
    ("", "adresse électronique invalide"),
])
def test_email_refused(bad, rule):
    with pytest.raises(RuleViolation) as refused:
        valid_email(bad, field="associations[0].email")
    assert refused.value.field == "associations[0].email" and refused.value.rule.startswith(rule)
