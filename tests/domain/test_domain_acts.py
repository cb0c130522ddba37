"""@CTES act identifiers, exécutoire, the prefect's window, signature after receipt."""
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.acts import (
    NATURES,
    ActId,
    check_act_matches,
    check_control_restart,
    check_receipt_after_session,
    check_signature_after_receipt,
    executoire_on,
    legality_control_ends,
    make_act_id,
    parse_act_id,
)
from domain.departments import DEPARTMENTS
from domain.errors import RuleViolation

ACK_002 = "002-200071892-20181127-44208A-DE-1-1"  # seed 002's acknowledgement
ACT_002 = ActId("002", "200071892", date(2018, 11, 27), "44208A", "DE")
RECEIVED_002 = date(2018, 12, 12)
PUBLISHED_002 = date(2018, 12, 11)


def luhn_complete(prefix: str) -> str:
    """Hand-written Luhn key, to build valid SIRENs the code under test did not make."""
    for key in "0123456789":
        total = 0
        for position, char in enumerate(reversed(prefix + key)):
            digit = int(char) * (2 if position % 2 else 1)
            total += digit - 9 if digit > 9 else digit
        if total % 10 == 0:
            return prefix + key
    raise AssertionError("unreachable")


def test_seed_002_acknowledgement():
    act = parse_act_id(ACK_002)
    assert act == ACT_002
    assert str(act) == "002-200071892-20181127-44208A-DE"


@pytest.mark.parametrize(
    "received",
    [
        "002-200071892-20181127-44208A-DE",
        "002-200071892-20181127-44208A-DE-1-2",
        "002-200071892-20181127-44208A-DE_1",
        "002-200071892-20181127-44208A-DE-1-1_2",
        "  002-200071892-20181127-44208A-DE-1-1\n",
    ],
)
def test_exchange_suffixes_are_not_part_of_the_act(received):
    assert parse_act_id(received) == ACT_002


@pytest.mark.parametrize(
    ("received", "number", "nature"),
    [
        ("002-200071892-20181127-2018-44-DE-1-1", "2018-44", "DE"),  # hyphen inside NUMBER
        ("002-200071892-20181127-DEL_2018_44-DE", "DEL_2018_44", "DE"),
        ("002-200071892-20181127-A-DE-CC", "A-DE", "CC"),  # nature is the last segment
        ("002-200071892-20181127-x1-AU", "x1", "AU"),  # lenient on case of received numbers
    ],
)
def test_number_with_hyphens_and_underscores(received, number, nature):
    act = parse_act_id(received)
    assert (act.number, act.nature) == (number, nature)
    assert act.siren == "200071892" and act.decision_date == date(2018, 11, 27)


def test_corsica_and_overseas_departments():
    assert parse_act_id("02A-200071892-20181127-12-DE").department == "02A"
    assert parse_act_id("974-200071892-20181127-12-DE").department == "974"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ("102-200071892-20181127-44208A-DE", "act_id"),  # department must start with 0 or 9
        ("002-200071893-20181127-44208A-DE", "act_id.siren"),  # Luhn
        ("002-200071892-20180231-44208A-DE", "act_id"),  # 31 February
        ("002-200071892-20181127-44208A-XX", "act_id"),  # unknown nature
        ("002-200071892-20181127-DE", "act_id"),  # no number
        ("002-20007189-20181127-44208A-DE", "act_id"),
        ("200071892-20181127-44208A-DE", "act_id"),
        ("002-200071892-20181127-0123456789ABCDEF-DE", "act_id"),  # number over 15
        ("", "act_id"),
    ],
)
def test_parse_refuses(bad, field):
    with pytest.raises(RuleViolation) as refused:
        parse_act_id(bad)
    assert refused.value.field == field


def test_make_act_id_strict_number():
    assert make_act_id("002", "200071892", date(2018, 11, 27), "44208A") == ACT_002
    assert make_act_id("2", "200071892", date(2018, 11, 27), "44208A", "DE") == ACT_002
    assert str(make_act_id("002", "200071892", date(2018, 11, 27), "DEL_2018_0044", "CC")).endswith("-DEL_2018_0044-CC")
    assert make_act_id("002", "200071892", date(2018, 11, 27), "A" * 15).number == "A" * 15


@pytest.mark.parametrize("bad_number", ["44208a", "A", "_44", "44_", "DEL-44", "A" * 16, ""])
def test_make_act_id_refuses_numbers_we_must_not_generate(bad_number):
    with pytest.raises(RuleViolation) as refused:
        make_act_id("002", "200071892", date(2018, 11, 27), bad_number)
    assert refused.value.field == "act_id.number"


def test_make_act_id_refuses_nature_and_siren():
    with pytest.raises(RuleViolation):
        make_act_id("002", "200071892", date(2018, 11, 27), "44208A", "XX")
    with pytest.raises(RuleViolation):
        make_act_id("002", "200071893", date(2018, 11, 27), "44208A")


@settings(max_examples=80, deadline=None)
@given(
    department=st.sampled_from(sorted(DEPARTMENTS)),
    siren_prefix=st.from_regex(r"[0-9]{8}", fullmatch=True),
    decided=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    number=st.from_regex(r"[A-Z0-9][A-Z0-9_]{0,13}[A-Z0-9]", fullmatch=True),
    nature=st.sampled_from(NATURES),
    suffix=st.sampled_from(["", "-1-1", "-1-2", "_1", "-2-1_3"]),
)
def test_act_id_round_trips(department, siren_prefix, decided, number, nature, suffix):
    made = make_act_id(department, luhn_complete(siren_prefix), decided, number, nature)
    text = str(made)
    assert parse_act_id(text) == made
    assert str(parse_act_id(text + suffix)) == text


# -- the acknowledgement matches the deliberation ------------------------------------------

def test_seed_002_acknowledgement_matches_its_deliberation():
    check_act_matches(ACT_002, siren="200071892", department="002", session=date(2018, 11, 27), number="44208A")
    check_act_matches(ACT_002, siren="200 071 892", department="2", session=date(2018, 11, 27))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"siren": luhn_complete("55210055"), "department": "002", "session": date(2018, 11, 27)}, "SIREN"),
        ({"siren": "200071892", "department": "057", "session": date(2018, 11, 27)}, "département"),
        ({"siren": "200071892", "department": "002", "session": date(2018, 11, 28)}, "séance"),
        ({"siren": "200071892", "department": "002", "session": date(2018, 11, 27), "number": "44209A"}, "numéro"),
    ],
)
def test_mismatched_acknowledgement_refused(changes, words):
    with pytest.raises(RuleViolation, match=words) as refused:
        check_act_matches(ACT_002, field="prefecture.act_id", **changes)
    assert refused.value.field == "prefecture.act_id"


# -- exécutoire and the prefect's window ----------------------------------------------------

def test_executoire_seed_002():
    assert executoire_on(RECEIVED_002, PUBLISHED_002) == date(2018, 12, 12)
    assert executoire_on(date(2018, 12, 12), date(2018, 12, 20)) == date(2018, 12, 20)
    assert executoire_on(RECEIVED_002, None) is None
    assert executoire_on(None, PUBLISHED_002) is None


def test_legality_control_window():
    assert legality_control_ends(RECEIVED_002) == date(2019, 2, 12)
    assert legality_control_ends(RECEIVED_002, restarted_on=date(2019, 1, 10)) == date(2019, 3, 10)
    assert legality_control_ends(date(2018, 12, 31)) == date(2019, 2, 28)
    with pytest.raises(RuleViolation):
        legality_control_ends(RECEIVED_002, restarted_on=date(2018, 12, 11))
    with pytest.raises(RuleViolation):
        legality_control_ends(RECEIVED_002, restarted_on=date(2019, 2, 13))


def test_receipt_and_publication_only_after_the_session():
    session = date(2018, 11, 27)
    check_receipt_after_session(RECEIVED_002, PUBLISHED_002, session)
    check_receipt_after_session(session, None, session)
    with pytest.raises(RuleViolation, match="réception par le préfet précède la séance du 27/11/2018") as refused:
        check_receipt_after_session(date(2018, 11, 26), None, session)
    assert refused.value.field == "received"
    with pytest.raises(RuleViolation, match="publié avant d'avoir été délibéré") as refused:
        check_receipt_after_session(RECEIVED_002, date(2018, 11, 26), session)
    assert refused.value.field == "published"


def test_control_restarted_only_on_a_received_act_within_its_window():
    window_end = legality_control_ends(RECEIVED_002)
    check_control_restart(window_end, RECEIVED_002, window_end, "CASQ-2018")
    with pytest.raises(RuleViolation, match="a pris fin le 12/02/2019 \\(CGCT L2131-6") as refused:
        check_control_restart(date(2019, 2, 13), RECEIVED_002, window_end, "CASQ-2018")
    assert refused.value.field == "on"
    with pytest.raises(RuleViolation, match="l'acte CASQ-2018 n'a pas été transmis au préfet"):
        check_control_restart(date(2019, 1, 10), None, None, "CASQ-2018")


def test_signature_only_after_receipt():
    check_signature_after_receipt(date(2018, 12, 12), RECEIVED_002)
    check_signature_after_receipt(date(2019, 1, 7), RECEIVED_002)
    with pytest.raises(RuleViolation, match="CE, avis, 10/06/1996") as refused:
        check_signature_after_receipt(date(2018, 12, 11), RECEIVED_002)
    assert refused.value.field == "signature.on"
    with pytest.raises(RuleViolation, match="pas encore été reçue"):
        check_signature_after_receipt(date(2018, 12, 13), None, field="convention.signed_on")
