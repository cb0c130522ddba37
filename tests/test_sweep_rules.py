"""The sweep's SQL says what domain's tables say (issue 15): each guard the sweep applies
in SQL agrees with the Python guard of domain.lifecycle on the same grants, the moves it
makes by itself are the table's, and the obligation statuses it writes are moves the
obligation table allows. On both stores."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core import clock
from core.settings import get_settings
from db.session import unit_of_work
from domain import lifecycle
from domain.lifecycle import GrantFacts, Stage
from grantflow.synthetic import generate
from services import sweep, sweep_rules

D = dt.date


@pytest.fixture
def varied(store):
    """Grants whose facts cover every case of the swept guards: the act exécutoire before,
    on or after the day or not at all, a convention compulsory or not with 0, 1 or 2
    signatures, an end before, on or after the day or unknown."""
    with unit_of_work() as session:
        generate(session, 60, seed=3)
    with unit_of_work() as session:
        ids = list(session.scalars(sa.text("SELECT id FROM grants ORDER BY id")))
        for i, grant_id in enumerate(ids):
            executoire_on = (D(2019, 3, 1), None, D(2019, 6, 1), D(2019, 6, 2))[i % 4]
            ends_on = (D(2019, 5, 31), D(2019, 6, 1), D(2019, 6, 2), None)[i % 4 if i % 3 else 3]
            params = {"id": grant_id, "executoire_on": executoire_on, "ends_on": ends_on,
                      "required": i % 2 == 0}
            session.execute(sa.text("UPDATE acts SET executoire_on = :executoire_on "
                                    "WHERE id = (SELECT act_id FROM grants WHERE id = :id)")
                            .bindparams(sa.bindparam("executoire_on", type_=sa.Date)), params)
            session.execute(sa.text("UPDATE grants SET ends_on = :ends_on, convention_required = :required "
                                    "WHERE id = :id").bindparams(sa.bindparam("ends_on", type_=sa.Date)), params)
            if i % 3 == 1:
                session.execute(sa.text("DELETE FROM signatures WHERE grant_id = :id AND party = 'authority'"), params)
            elif i % 3 == 2:
                session.execute(sa.text("DELETE FROM signatures WHERE grant_id = :id"), params)
    return store


def facts_of(session, grant_id: int, day: dt.date) -> GrantFacts:
    required, ends_on, executoire_on = session.execute(sa.text(
        "SELECT g.convention_required, g.ends_on, a.executoire_on FROM grants g "
        "LEFT JOIN acts a ON a.id = g.act_id WHERE g.id = :id"), {"id": grant_id}).one()
    parties = set(session.scalars(sa.text("SELECT party FROM signatures WHERE grant_id = :id"), {"id": grant_id}))
    return GrantFacts(today=day, executoire_on=_date(executoire_on), convention_required=bool(required),
                      signed_by_association="association" in parties, signed_by_authority="authority" in parties,
                      ends_on=_date(ends_on))


def _date(value: object) -> dt.date | None:
    """A raw SQLite row gives dates as ISO text."""
    return D.fromisoformat(value) if isinstance(value, str) else value  # type: ignore[return-value]


@pytest.mark.parametrize("day", [D(2019, 6, 1), D(2019, 6, 2)])
def test_each_guard_in_sql_agrees_with_its_python_guard(varied, day):
    with unit_of_work() as session:
        ids = list(session.scalars(sa.text("SELECT id FROM grants ORDER BY id")))
        for guard, condition in sweep_rules.GUARD_SQL.items():
            statement = sa.text(f"SELECT g.id, CASE WHEN {condition} THEN 1 ELSE 0 END FROM grants g")
            if ":day" in condition:
                statement = statement.bindparams(sa.bindparam("day", type_=sa.Date))
            in_sql = dict(session.execute(statement, {"day": day}).all())
            in_python = {grant_id: int(guard(facts_of(session, grant_id, day)) is None) for grant_id in ids}
            assert in_sql == in_python, guard.__name__
            assert set(in_sql.values()) == {0, 1}, f"{guard.__name__}: the grants cover both outcomes"


def test_the_sweep_moves_grants_as_the_transition_table_does(varied):
    day = D(2019, 6, 2)
    with unit_of_work() as session:
        before = dict(session.execute(sa.text("SELECT id, stage FROM grants")).all())
        expected = {}
        for grant_id, stage in before.items():
            facts = facts_of(session, grant_id, day)
            # Only the moves the sweep makes by itself, as far as the facts allow.
            while (following := lifecycle.next_stage(stage, facts)) is not None \
                    and (Stage(stage), following) in sweep_rules.SWEPT_MOVES:
                stage = following.value
            expected[grant_id] = stage
    with clock.frozen(day), unit_of_work() as session:
        sweep.sweep(session, day, get_settings())
    with unit_of_work() as session:
        after = dict(session.execute(sa.text("SELECT id, stage FROM grants")).all())
    assert after == expected
    assert after != before  # some grants moved


def test_the_sweep_makes_only_moves_of_the_tables():
    assert set(sweep_rules.SWEPT_MOVES) <= {(t.source, t.target) for t in lifecycle.STAGE_TRANSITIONS}
    assert set(sweep_rules.SWEPT_OBLIGATION_MOVES) <= set(lifecycle.OBLIGATION_TRANSITIONS)


def test_an_obligation_moves_only_as_the_obligation_table_allows():
    from db.models import Obligation
    from domain.errors import RuleViolation
    from services import obligations

    owed = Obligation(kind="report", number=1, status="overdue", due_on=D(2019, 2, 12))
    obligations.reschedule(owed, D(2019, 3, 12))  # an avenant moved it: owed by the new date
    assert (owed.status, owed.due_on) == ("pending", D(2019, 3, 12))
    obligations.move(owed, lifecycle.ObligationStatus.DONE, on=D(2019, 3, 1))
    assert (owed.status, owed.done_on) == ("done", D(2019, 3, 1))
    with pytest.raises(RuleViolation, match="obligation.status"):
        obligations.move(owed, lifecycle.ObligationStatus.PENDING)
    assert owed.status == "done"
