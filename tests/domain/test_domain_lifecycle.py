"""The grant's stages and the instalment's states, walked with seed 002's dates."""
from datetime import date
from decimal import Decimal
from itertools import product

import pytest

from domain.errors import RuleViolation
from domain.lifecycle import (
    GrantFacts,
    InstalmentStatus,
    ObligationStatus,
    Stage,
    check_instalment_transition,
    check_obligation_transition,
    check_payment_allowed,
    check_stage_transition,
    furthest_stage,
    next_stage,
)

EXECUTOIRE = date(2018, 12, 12)
ENDS = date(2019, 12, 11)

SIGNED_002 = GrantFacts(
    today=date(2019, 1, 7),
    adopted=True,
    executoire_on=EXECUTOIRE,
    convention_required=True,
    signed_by_association=True,
    signed_by_authority=True,
    ends_on=ENDS,
)


def facts(**changes) -> GrantFacts:
    values = {**SIGNED_002.__dict__, **changes}
    return GrantFacts(**values)


def test_stage_values():
    assert [s.value for s in Stage] == [
        "deliberation", "prefecture", "signature", "active", "closing", "closed", "rejected"
    ]
    assert [s.value for s in InstalmentStatus] == ["scheduled", "ordered", "paid", "rejected", "failed", "cancelled"]
    assert [s.value for s in ObligationStatus] == ["pending", "done", "overdue", "cancelled"]


def test_seed_002_walk():
    # 28/11/2018: the vote is adopted, the act is not yet received
    voted = GrantFacts(today=date(2018, 11, 28), adopted=True, ends_on=None)
    assert next_stage(Stage.DELIBERATION, voted) == Stage.PREFECTURE
    assert next_stage(Stage.PREFECTURE, voted) is None
    # 12/12/2018: received (published the day before): exécutoire
    executoire = GrantFacts(today=EXECUTOIRE, adopted=True, executoire_on=EXECUTOIRE)
    assert next_stage(Stage.PREFECTURE, executoire) == Stage.SIGNATURE
    assert next_stage(Stage.SIGNATURE, executoire) is None  # 35,000 EUR: convention required
    assert next_stage(Stage.SIGNATURE, SIGNED_002) == Stage.ACTIVE
    # the convention's last day is 11/12/2019; closing from the 12th
    assert next_stage(Stage.ACTIVE, facts(today=ENDS)) is None
    assert next_stage(Stage.ACTIVE, facts(today=date(2019, 12, 12))) == Stage.CLOSING
    # 3,749.50 EUR not redistributed: stays closing until repaid
    closing = facts(today=date(2019, 12, 20), refund_due=Decimal("3749.50"))
    assert next_stage(Stage.CLOSING, closing) is None
    assert next_stage(Stage.CLOSING, facts(today=date(2020, 2, 1), refund_due=Decimal("3749.50"),
                                           refund_settled=True)) == Stage.CLOSED
    assert next_stage(Stage.CLOSED, closing) is None


def test_rejected_vote():
    assert next_stage(Stage.DELIBERATION, GrantFacts(today=date(2018, 11, 28), adopted=False)) == Stage.REJECTED
    assert next_stage(Stage.DELIBERATION, GrantFacts(today=date(2018, 11, 28))) is None
    assert next_stage(Stage.REJECTED, GrantFacts(today=date(2018, 11, 28), adopted=True)) is None


@pytest.mark.parametrize(("due", "closes"), [(Decimal("0.00"), True), (Decimal("10.00"), True),
                                              (Decimal("15.00"), False), (None, False)])
def test_closing_when_nothing_or_too_little_to_claim(due, closes):
    result = next_stage(Stage.CLOSING, facts(today=date(2020, 1, 1), refund_due=due))
    assert result == (Stage.CLOSED if closes else None)


def test_convention_not_required_needs_no_signature():
    small = GrantFacts(today=date(2019, 1, 7), adopted=True, executoire_on=EXECUTOIRE, convention_required=False)
    check_stage_transition(Stage.SIGNATURE, Stage.ACTIVE, small)


def test_executoire_in_the_future_does_not_count_yet():
    early = GrantFacts(today=date(2018, 12, 11), adopted=True, executoire_on=EXECUTOIRE)
    assert next_stage(Stage.PREFECTURE, early) is None


def test_guard_refusal_names_the_rule():
    one_signature = facts(signed_by_authority=False)
    with pytest.raises(RuleViolation) as refused:
        check_stage_transition("signature", "active", one_signature)
    assert refused.value.field == "stage"
    assert "loi 2000-321" in refused.value.rule
    assert "la collectivité" in refused.value.rule
    assert "au-delà de 23 000,00 EUR par an" in refused.value.rule


def test_convention_refusal_names_the_configured_threshold():
    with pytest.raises(RuleViolation, match="au-delà de 30 000,00 EUR par an"):
        check_stage_transition("signature", "active",
                               facts(signed_by_association=False, convention_threshold=Decimal("30000.00")))


@pytest.mark.parametrize(
    ("current", "target"),
    [("deliberation", "active"), ("prefecture", "closed"), ("closed", "active"), ("rejected", "prefecture"),
     ("active", "signature"), ("signature", "signature")],
)
def test_moves_outside_the_table_refused(current, target):
    with pytest.raises(RuleViolation) as refused:
        check_stage_transition(current, target, SIGNED_002)
    assert refused.value.field == "stage"


def test_unknown_stage_refused():
    with pytest.raises(RuleViolation):
        check_stage_transition("paid", "active", SIGNED_002)


def test_furthest_stage_catches_up():
    later = facts(today=date(2019, 12, 12))
    assert furthest_stage("deliberation", later) == Stage.CLOSING
    assert furthest_stage("deliberation", facts(today=date(2020, 1, 1), refund_due=Decimal("0.00"))) == Stage.CLOSED


def test_grant_facts_are_keyword_only_and_frozen():
    with pytest.raises(TypeError):
        GrantFacts(date(2019, 1, 1))  # type: ignore[misc]
    with pytest.raises(AttributeError):
        SIGNED_002.adopted = False  # type: ignore[misc]


# -- instalments ----------------------------------------------------------------------------

ALLOWED_INSTALMENT_MOVES = {
    ("scheduled", "ordered"),
    ("scheduled", "failed"),
    ("ordered", "paid"),
    ("ordered", "rejected"),
    ("ordered", "failed"),
    ("failed", "ordered"),
    ("rejected", "ordered"),
    # At closure, what is owed no more (issue 11): never once handed to the treasury.
    ("scheduled", "cancelled"),
    ("rejected", "cancelled"),
    ("failed", "cancelled"),
}


@pytest.mark.parametrize(("current", "target"), list(product([s.value for s in InstalmentStatus], repeat=2)))
def test_instalment_table(current, target):
    if (current, target) in ALLOWED_INSTALMENT_MOVES:
        check_instalment_transition(current, target)
    else:
        with pytest.raises(RuleViolation) as refused:
            check_instalment_transition(current, target)
        assert refused.value.field == "instalment.status"


def test_paid_and_cancelled_are_final():
    with pytest.raises(RuleViolation, match="final"):
        check_instalment_transition(InstalmentStatus.PAID, InstalmentStatus.ORDERED)
    with pytest.raises(RuleViolation, match="final"):
        check_instalment_transition(InstalmentStatus.CANCELLED, InstalmentStatus.ORDERED)


def test_obligation_table():
    check_obligation_transition("pending", "done")
    check_obligation_transition("overdue", "done")
    with pytest.raises(RuleViolation):
        check_obligation_transition("done", "pending")
    with pytest.raises(RuleViolation):
        check_obligation_transition("cancelled", "done")


# -- payment preconditions -------------------------------------------------------------------

def test_payment_allowed_once_executoire_and_signed():
    check_payment_allowed(SIGNED_002)
    with pytest.raises(RuleViolation, match="exécutoire") as refused:
        check_payment_allowed(facts(executoire_on=None))
    assert refused.value.field == "payment"
    with pytest.raises(RuleViolation, match="l'association"):
        check_payment_allowed(facts(signed_by_association=False))


def test_waiting_for_the_prefect_window_is_a_policy():
    window_open = facts(today=date(2019, 1, 7), legality_control_ends_on=date(2019, 2, 12))
    check_payment_allowed(window_open)  # default: do not wait
    with pytest.raises(RuleViolation, match="L2131-6"):
        check_payment_allowed(window_open, wait_for_legality_control=True)
    check_payment_allowed(facts(today=date(2019, 2, 13), legality_control_ends_on=date(2019, 2, 12)),
                          wait_for_legality_control=True)
