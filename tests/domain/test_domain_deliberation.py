"""Quorum, proxies, majority and convocation, from the seeds' minutes."""
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.deliberation import (
    Sitting,
    Votes,
    decide,
    earliest_reconvened_session,
    quorum_required,
)
from domain.errors import RuleViolation

SESSION_002 = date(2018, 11, 27)
CONVENED_002 = date(2018, 11, 21)

# Seed 002: 76 in office, quorum 39, 62 present + 6 represented = 68 voting;
# 67 for, 0 against, 1 abstention.
SEED_002 = Sitting(
    session=SESSION_002,
    convened=CONVENED_002,
    members_in_office=76,
    present=62,
    represented=6,
    votes=Votes(for_=67, against=0, abstentions=1),
)

# Seed 000: CASA, 6 October 2015, "adopte", no counts, no convocation date.
SEED_000 = Sitting(session=date(2015, 10, 6), convened=None, members_in_office=None, present=None, outcome="adopted")


def sitting(present: int, represented: int = 0, votes: Votes | None = None, **changes) -> Sitting:
    """A seed-002-like sitting with other attendance and votes."""
    return replace(SEED_002, present=present, represented=represented, votes=votes, **changes)


def test_seed_002_adopted():
    decision = decide(SEED_002)
    assert decision.outcome == "adopted"
    assert decision.adopted
    assert decision.quorum_required == 39
    assert decision.quorum_met is True
    assert decision.votes_cast == 67
    assert "67 pour" in decision.reason


def test_seed_000_outcome_only():
    decision = decide(SEED_000)
    assert decision.outcome == "adopted"
    assert decision.quorum_required is None
    assert decision.quorum_met is True  # assumed: the act itself says the council adopted
    assert decision.votes_cast is None
    assert "sans décompte" in decision.reason
    assert decide(replace(SEED_000, outcome="rejected")).outcome == "rejected"


def test_outcome_only_with_attendance_still_checks_quorum():
    assert decide(sitting(62, 6, None, outcome="adopted")).quorum_met is True
    assert decide(sitting(30, 6, None, outcome="adopted")).outcome == "quorum_failed"


@pytest.mark.parametrize(("in_office", "required"), [(76, 39), (77, 39), (78, 40), (1, 1), (2, 2), (3, 2), (69, 35)])
def test_quorum_required(in_office, required):
    assert quorum_required(in_office) == required


@pytest.mark.parametrize("bad", [0, -1, True])
def test_quorum_required_refuses_empty_council(bad):
    with pytest.raises(RuleViolation):
        quorum_required(bad)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 5000))
def test_quorum_is_more_than_half_and_monotonic(in_office):
    required = quorum_required(in_office)
    assert 2 * required > in_office  # strictly more than half
    assert 2 * (required - 1) <= in_office  # and the smallest such number
    assert quorum_required(in_office + 1) >= required


def test_quorum_failed_is_an_outcome_not_an_error():
    decision = decide(sitting(38, 0, Votes(30, 8)))
    assert decision.outcome == "quorum_failed"
    assert decision.quorum_met is False
    assert decision.quorum_required == 39
    assert "38 présents pour 39 requis" in decision.reason
    assert "01/12/2018" in decision.reason  # 28, 29, 30 clear: 1 December


def test_quorum_failed_needs_no_votes():
    assert decide(sitting(20, 0, None)).outcome == "quorum_failed"


def test_proxies_do_not_count_towards_quorum():
    # 38 present holding 30 proxies: 68 voting, as many as seed 002, yet no quorum
    assert decide(sitting(38, 30, Votes(67, 0, 1))).outcome == "quorum_failed"
    # 39 present is enough, proxies or not
    assert decide(sitting(39, 0, Votes(39, 0))).outcome == "adopted"


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 76), st.integers(0, 76))
def test_more_present_never_loses_quorum(a, b):
    low, high = sorted((a, b))
    met_low = decide(sitting(low, 0, Votes(low, 0) if low else None)).outcome != "quorum_failed"
    met_high = decide(sitting(high, 0, Votes(high, 0) if high else None)).outcome != "quorum_failed"
    assert met_high or not met_low


# -- inconsistent minutes ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (sitting(77, 0, Votes(77, 0)), "deliberation.present"),
        (sitting(6, 7, Votes(13, 0)), "deliberation.represented"),  # a proxy holder holds one proxy
        (sitting(40, 40, Votes(80, 0)), "deliberation.represented"),  # 80 > 76 in office
        (sitting(62, 6, Votes(67, 0, 0)), "deliberation.votes"),  # 67 != 68
        (sitting(62, 6, Votes(67, 0, 1, 1)), "deliberation.votes"),  # 69 != 68
        (sitting(-1, 0, None), "deliberation.present"),
        (sitting(62, -6, Votes(56, 0)), "deliberation.represented"),
        (sitting(62, 6, Votes(69, -1)), "deliberation.votes.against"),
        (sitting(62, 6, Votes(67, 0, 1), outcome="adopted"), "deliberation.votes"),  # both
        (sitting(62, 6, None), "deliberation.outcome"),  # neither
        (sitting(62, 6, None, outcome="maybe"), "deliberation.outcome"),
        (sitting(62, 6, Votes(34, 34), president="abstain"), "deliberation.president"),
        (replace(SEED_002, present=None), "deliberation.present"),  # counts votes without attendance
        (replace(SEED_002, members_in_office=0), "deliberation.members_in_office"),
    ],
)
def test_inconsistent_minutes_refused(bad, field):
    with pytest.raises(RuleViolation) as refused:
        decide(bad)
    assert refused.value.field == field


def test_vote_count_message_gives_both_sums():
    with pytest.raises(RuleViolation) as refused:
        decide(sitting(62, 6, Votes(67, 0, 0)))
    assert "= 67" in refused.value.rule and "= 68" in refused.value.rule


# -- convocation ---------------------------------------------------------------------

def test_convocation_needs_five_clear_days():
    late = replace(SEED_002, convened=date(2018, 11, 22))  # 23..26: 4 clear days
    with pytest.raises(RuleViolation) as refused:
        decide(late)
    assert refused.value.field == "deliberation.convened"
    assert "4 jours francs" in refused.value.rule and "5 requis" in refused.value.rule
    # a commune under 3,500 inhabitants: 3 clear days (configurable)
    assert decide(late, convocation_clear_days=3).adopted


def test_convocation_in_urgency_one_clear_day():
    assert decide(replace(SEED_002, convened=date(2018, 11, 25), urgency=True)).adopted  # 26 is clear
    with pytest.raises(RuleViolation):
        decide(replace(SEED_002, convened=date(2018, 11, 26), urgency=True))


def test_convocation_after_session_refused():
    with pytest.raises(RuleViolation) as refused:
        decide(replace(SEED_002, convened=date(2018, 11, 28)))
    assert refused.value.field == "deliberation.convened"


# -- reconvened sitting ----------------------------------------------------------------

def test_earliest_reconvened_session():
    assert earliest_reconvened_session(SESSION_002) == date(2018, 12, 1)
    assert earliest_reconvened_session(date(2019, 2, 26)) == date(2019, 3, 2)


def test_reconvened_session_needs_no_quorum():
    second = Sitting(
        session=date(2018, 12, 1),
        convened=None,
        members_in_office=76,
        present=20,
        represented=5,
        votes=Votes(20, 3, 2),
        reconvened_after=SESSION_002,
    )
    decision = decide(second)
    assert decision.outcome == "adopted"
    assert decision.quorum_met is False
    assert decision.votes_cast == 23


def test_reconvened_too_early_refused():
    second = Sitting(date(2018, 11, 30), None, 76, 20, 0, Votes(20, 0), reconvened_after=SESSION_002)
    with pytest.raises(RuleViolation) as refused:
        decide(second)
    assert refused.value.field == "deliberation.reconvened_after"
    assert "01/12/2018" in refused.value.rule


# -- majority ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("votes", "changes", "outcome"),
    [
        (Votes(30, 29, 9), {}, "adopted"),
        (Votes(29, 30, 9), {}, "rejected"),
        (Votes(20, 10, 38), {}, "adopted"),  # abstentions are not cast votes
        (Votes(34, 34), {"president": "for"}, "adopted"),
        (Votes(34, 34), {"president": "against"}, "rejected"),
        (Votes(34, 34), {"president": "for", "secret": True}, "rejected"),  # no casting vote in secret
        (Votes(34, 34), {"secret": True}, "rejected"),
        (Votes(0, 0, 68), {}, "rejected"),  # nobody cast a vote
        (Votes(0, 0, 60, 8), {}, "rejected"),
    ],
)
def test_majority(votes, changes, outcome):
    decision = decide(sitting(62, 6, votes, **changes))
    assert decision.outcome == outcome
    assert decision.votes_cast == votes.for_ + votes.against


def test_tie_without_president_vote_asks_for_it():
    with pytest.raises(RuleViolation) as refused:
        decide(sitting(62, 6, Votes(34, 34)))
    assert refused.value.field == "deliberation.president"
    assert "prépondérante" in refused.value.rule


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 68), st.integers(0, 68), st.booleans(), st.sampled_from(["for", "against"]))
def test_adopted_only_with_more_for_than_against_or_president_on_a_tie(for_, against, secret, president):
    if for_ + against > 68:
        return
    votes = Votes(for_, against, 68 - for_ - against)
    decision = decide(sitting(62, 6, votes, secret=secret, president=president))
    if for_ != against:
        assert decision.adopted == (for_ > against)
    else:
        assert decision.adopted == (not secret and president == "for" and for_ > 0)
