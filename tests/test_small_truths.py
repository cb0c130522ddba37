"""Small truths of issue 13 (finding 7): a grant's journal never goes back in time,
evaluation files never overwrite each other."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
import yaml

from core import clock
from db.models import Event, Grant
from db.session import unit_of_work
from grantflow.cli import main
from services import journal
from tests.support import EXAMPLES, INNOSPRINT, load_examples


def test_a_grant_journal_never_goes_back_in_business_dates(store):
    """Two `simulate` at once: one writes on 10/06/2019, the other then on 03/06/2019."""
    with clock.frozen(dt.date(2019, 6, 1)):
        load_examples()
    with clock.frozen(dt.date(2019, 6, 10)), unit_of_work() as session:
        grant = session.scalars(sa.select(Grant).where(Grant.reference == INNOSPRINT)).unique().one()
        journal.append(session, grant, "note", {"n": 1}, actor="simulate A")
    with clock.frozen(dt.date(2019, 6, 3)), unit_of_work() as session:
        grant = session.scalars(sa.select(Grant).where(Grant.reference == INNOSPRINT)).unique().one()
        journal.append(session, grant, "note", {"n": 2}, actor="simulate B")
    with unit_of_work() as session:
        dates = list(session.scalars(sa.select(Event.business_date).join(Grant, Grant.id == Event.grant_id)
                                     .where(Grant.reference == INNOSPRINT).order_by(Event.seq)))
        assert dates == sorted(dates)
        assert dates[-1] == dt.date(2019, 6, 10)
        assert journal.verify(session) == []


@pytest.mark.parametrize("names", [["Finale", "finale"], ["mi-parcours", "Mi parcours"]])
def test_two_evaluations_whose_files_would_collide_are_refused_at_load(store, tmp_path, capsys, names):
    dossier = yaml.safe_load((EXAMPLES / "casq-innosprint.yaml").read_text(encoding="utf-8"))
    dossier["grants"][0]["evaluations"] = [{"name": names[0], "at_months": 6}, {"name": names[1], "at_months": 12}]
    path = tmp_path / "evaluations.yaml"
    path.write_text(yaml.safe_dump(dossier, allow_unicode=True), encoding="utf-8")
    capsys.readouterr()
    assert main(["load", str(path)]) == 1
    err = capsys.readouterr().err
    assert "champ « evaluations[1].name »" in err and f"confondu avec « {names[0]} »" in err, err
