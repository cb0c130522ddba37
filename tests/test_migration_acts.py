"""Migration 0002 moves a store of revision 0001 to acts of their own, and back.

The rows are the Innosprint grant as revision 0001 held it: a sitting without quorum on
27/11/2018, the reconvened one on 01/12/2018 (act 44208A) and the @CTES acknowledgement
received 12/12/2018; plus a grant only proposed, which gets no act.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import command

from db.migrate import alembic_config, upgrade

CTES = "002-200071892-20181201-44208A-DE"


def rows(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            # SQLite gives dates back as text from raw SQL: compare ISO text on both stores.
            return [tuple(v.isoformat() if isinstance(v, dt.date) else v for v in r)
                    for r in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


def seed_0001(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as c:
            c.execute(sa.text("INSERT INTO authorities (id, code, name, siren, department, kind, email) VALUES "
                              "(1, 'casq', 'CASQ', '200071892', '002', 'epci', 'a@casq.example.org')"))
            c.execute(sa.text("INSERT INTO associations (id, code, name, siret, email, iban, bic, holder) VALUES "
                              "(1, 'fn', 'Faubourg Numérique', '99912345800013', 'c@fn.example.org', "
                              "'FR7630004000000000001234573', 'BNPAFRPPXXX', 'FAUBOURG NUMERIQUE')"))
            for grant_id, reference, stage in ((1, "CASQ-2018-INNOSPRINT", "signature"), (2, "CASQ-2019-X", "deliberation")):
                c.execute(sa.text(
                    "INSERT INTO grants (id, reference, authority_id, association_id, object, amount, stage, "
                    "convention_required, duration_months, starts_from, unspent, targets, dossier) VALUES "
                    "(:id, :ref, 1, 1, 'Innosprint', 3500000, :stage, true, 12, 'executoire', 'refund', '{}', '{}')"),
                    {"id": grant_id, "ref": reference, "stage": stage})
            c.execute(sa.text("INSERT INTO deliberations (grant_id, session_on, members_in_office, present, represented, "
                              "outcome, quorum_required, secret, urgency) VALUES "
                              "(1, :d, 76, 30, 0, 'quorum_failed', 39, false, false)"), {"d": dt.date(2018, 11, 27)})
            c.execute(sa.text("INSERT INTO deliberations (grant_id, session_on, members_in_office, present, represented, "
                              "outcome, quorum_required, act_number, reconvened_after, secret, urgency) VALUES "
                              "(1, :d, 76, 20, 4, 'adopted', 39, '44208A', :r, false, false)"),
                      {"d": dt.date(2018, 12, 1), "r": dt.date(2018, 11, 27)})
            c.execute(sa.text("INSERT INTO acts (grant_id, act_id, received_on, published_on, executoire_on, "
                              "control_ends_on) VALUES (1, :a, :r, :p, :r, :e)"),
                      {"a": CTES, "r": dt.date(2018, 12, 12), "p": dt.date(2018, 12, 11), "e": dt.date(2019, 2, 12)})
    finally:
        engine.dispose()


def test_existing_rows_move_to_an_act_of_their_own_and_back(fresh_url):
    upgrade(fresh_url, "0001")
    seed_0001(fresh_url)
    upgrade(fresh_url)

    assert rows(fresh_url, "SELECT reference, body, sitting_first, sitting_last, act_number, transmission, act_id, "
                           "received_on, published_on, executoire_on, control_ends_on FROM acts") == [
        ("CASQ-2018-INNOSPRINT", "conseil", "2018-12-01", "2018-12-01", "44208A", "ctes", CTES,
         "2018-12-12", "2018-12-11", "2018-12-12", "2019-02-12")]
    assert rows(fresh_url, "SELECT g.reference, a.reference FROM grants g LEFT JOIN acts a ON a.id = g.act_id "
                           "ORDER BY g.id") == [("CASQ-2018-INNOSPRINT", "CASQ-2018-INNOSPRINT"), ("CASQ-2019-X", None)]
    assert rows(fresh_url, "SELECT a.reference, d.session_on, d.outcome FROM deliberations d "
                           "JOIN acts a ON a.id = d.act_id ORDER BY d.session_on") == [
        ("CASQ-2018-INNOSPRINT", "2018-11-27", "quorum_failed"),
        ("CASQ-2018-INNOSPRINT", "2018-12-01", "adopted")]

    command.downgrade(alembic_config(fresh_url), "0001")
    assert rows(fresh_url, "SELECT grant_id, act_id, received_on, control_ends_on FROM acts") == [
        (1, CTES, "2018-12-12", "2019-02-12")]
    assert rows(fresh_url, "SELECT grant_id, session_on, outcome, act_number FROM deliberations ORDER BY session_on") == [
        (1, "2018-11-27", "quorum_failed", None), (1, "2018-12-01", "adopted", "44208A")]
