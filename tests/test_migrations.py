"""The Alembic tree builds the models' schema on a fresh SQLite file and a fresh PostgreSQL
database, and goes down to nothing and up again."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from db.migrate import alembic_config, upgrade
from db.models import Base

# Written out, not read from the models: a table dropped from both would go unnoticed otherwise.
EXPECTED_TABLES = {"authorities", "associations", "grants", "deliberations", "acts", "signatures", "instalments",
                   "obligations", "reports", "disbursements", "evaluations", "refunds", "messages", "events",
                   "sweep_runs", "financial_reports", "convention_years", "bank_changes"}


def schema(url: str) -> dict[str, set[str]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        inspector = sa.inspect(engine)
        return {table: {c["name"] for c in inspector.get_columns(table)} for table in inspector.get_table_names()}
    finally:
        engine.dispose()


def differences(url: str) -> list[object]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def models() -> dict[str, set[str]]:
    return {table.name: {c.name for c in table.columns} for table in Base.metadata.sorted_tables}


def revision(url: str) -> str | None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def test_upgrade_head_gives_the_models_schema(fresh_url):
    upgrade(fresh_url)
    found = schema(fresh_url)
    assert found.pop("alembic_version") == {"version_num"}
    assert set(found) == EXPECTED_TABLES
    assert found == models()
    assert found["events"] >= {"grant_id", "seq", "at", "actor", "kind", "payload", "prev_hash", "hash"}
    assert found["acts"] >= {"act_id", "received_on", "published_on", "executoire_on", "control_ends_on"}
    # Types, nullability, indexes, unique and foreign keys too: autogenerate finds nothing to do.
    assert differences(fresh_url) == []
    assert revision(fresh_url) is not None


def test_downgrade_to_base_then_upgrade_again(fresh_url):
    upgrade(fresh_url)
    head = revision(fresh_url)
    command.downgrade(alembic_config(fresh_url), "base")
    assert set(schema(fresh_url)) <= {"alembic_version"}
    assert revision(fresh_url) is None
    upgrade(fresh_url)
    assert revision(fresh_url) == head
    found = schema(fresh_url)
    found.pop("alembic_version")
    assert found == models()
    assert differences(fresh_url) == []


def test_upgrade_twice_is_a_no_op(fresh_url):
    upgrade(fresh_url)
    first = schema(fresh_url)
    upgrade(fresh_url)
    assert schema(fresh_url) == first


def test_0003_keeps_the_end_of_the_grants_already_stored(fresh_url):
    """Grants stored before 0003 all ended on the Innosprint clause: they keep it."""
    command.upgrade(alembic_config(fresh_url), "0001")
    engine = sa.create_engine(fresh_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO authorities (id, code, name, siren, department, kind, email) "
                "VALUES (1, 'casq', 'CASQ', '200071892', '002', 'epci', 'a@casq.example.org')"))
            connection.execute(sa.text(
                "INSERT INTO associations (id, code, name, siret, email, iban, bic, holder) VALUES "
                "(1, 'fn', 'FN', '99912345800013', 'c@fn.example.org', 'FR7630004000000000001234573', "
                "'BNPAFRPPXXX', 'FN')"))
            for reference, unspent in (("G-REFUND", "refund"), ("G-KEEP", "keep")):
                connection.execute(sa.text(
                    "INSERT INTO grants (reference, authority_id, association_id, object, amount, stage, "
                    "convention_required, duration_months, starts_from, unspent, targets, dossier) VALUES "
                    "(:reference, 1, 1, 'x', 3500000, 'active', true, 12, 'executoire', :unspent, '{}', '{}')"),
                    {"reference": reference, "unspent": unspent})
        command.upgrade(alembic_config(fresh_url), "0003")
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT reference, kind, refund_clause, financial_report_owed "
                                              "FROM grants ORDER BY reference")).all()
        assert [tuple(r) for r in rows] == [("G-KEEP", "redistribution", "aucun", False),
                                            ("G-REFUND", "redistribution", "non_redistribue", False)]
        command.downgrade(alembic_config(fresh_url), "0001")
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT reference, unspent FROM grants ORDER BY reference")).all()
        assert [tuple(r) for r in rows] == [("G-KEEP", "keep"), ("G-REFUND", "refund")]
    finally:
        engine.dispose()


def test_events_written_before_0004_keep_their_plain_hash(fresh_url):
    """Revision 0004 keys the journal: the events already there are marked "sha256", so they
    stay verifiable as written; the authorities get an empty SIRET, the messages no bytes."""
    command.upgrade(alembic_config(fresh_url), "0001")
    engine = sa.create_engine(fresh_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO authorities (id, code, name, siren, department, kind, email) "
                "VALUES (1, 'casq', 'CASQ', '200071892', '002', 'epci', 'dev-eco@casq.example.org')"))
            connection.execute(sa.text(
                "INSERT INTO associations (id, code, name, siret, email, iban, bic, holder) VALUES (1, 'fn', "
                "'Faubourg Numérique', '99912345800013', 'a@b.org', 'FR7630004000000000001234573', 'BNPAFRPPXXX', 'FN')"))
            connection.execute(sa.text(
                "INSERT INTO grants (id, reference, authority_id, association_id, object, amount, stage, "
                "convention_required, duration_months, starts_from, unspent, targets, dossier) VALUES "
                "(1, 'CASQ-2018-INNOSPRINT', 1, 1, 'Innosprint', 3500000, 'signature', true, 12, 'executoire', "
                "'refund', '{}', '{}')"))
            connection.execute(sa.text(
                "INSERT INTO events (grant_id, seq, at, business_date, actor, kind, payload, prev_hash, hash) "
                "VALUES (1, 1, '2018-11-27 10:00:00', '2018-11-27', 'test', 'grant_proposed', '{}', :g, :h)"),
                {"g": "0" * 64, "h": "a" * 64})
        upgrade(fresh_url)
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT alg FROM events")).scalar_one() == "sha256"
            assert connection.execute(sa.text("SELECT siret FROM authorities")).scalar_one() is None
    finally:
        engine.dispose()
    assert differences(fresh_url) == []


def store_one_grant(connection: sa.Connection) -> None:
    """An operating grant G-2023 of the CD93 to an association, as stored from revision 0005 on."""
    connection.execute(sa.text(
        "INSERT INTO authorities (id, code, name, siren, department, kind, email) "
        "VALUES (1, 'cd93', 'CD93', '229300082', '093', 'departement', 'a@cd93.example.org')"))
    connection.execute(sa.text(
        "INSERT INTO associations (id, code, name, siret, email, iban, bic, holder) VALUES "
        "(1, 'ludo', 'Ludo', '99912345800013', 'c@ludo.example.org', 'FR7630004000000000001234573', "
        "'BNPAFRPPXXX', 'LUDO')"))
    connection.execute(sa.text(
        "INSERT INTO grants (id, reference, authority_id, association_id, object, amount, stage, "
        "convention_required, duration_months, starts_from, kind, refund_clause, financial_report_owed, "
        "targets, dossier) VALUES (1, 'G-2023', 1, 1, 'x', 2000000, 'active', false, 12, 'executoire', "
        "'fonctionnement', 'reliquat', true, '{}', '{}')"))


def test_0006_leaves_the_grants_stored_before_as_one_year_grants(fresh_url):
    """No grant stored before 0006 is a multi-year convention: `years` stays NULL; going down
    drops the years of the conventions recorded since, the grants stay."""
    command.upgrade(alembic_config(fresh_url), "0005")
    engine = sa.create_engine(fresh_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            store_one_grant(connection)
        command.upgrade(alembic_config(fresh_url), "0006")
        with engine.begin() as connection:
            assert connection.execute(sa.text("SELECT years FROM grants")).scalar_one() is None
            assert connection.execute(sa.text("SELECT count(*) FROM convention_years")).scalar_one() == 0
            connection.execute(sa.text("UPDATE grants SET years = 3"))
            connection.execute(sa.text("INSERT INTO convention_years (grant_id, number, exercise, amount) "
                                       "VALUES (1, 1, 2023, 2000000)"))
        command.downgrade(alembic_config(fresh_url), "0005")
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT reference FROM grants")).scalar_one() == "G-2023"
        assert "convention_years" not in schema(fresh_url)
    finally:
        engine.dispose()


def test_0009_gives_the_obligations_the_old_sweep_had_not_placed_to_the_next_sweep(fresh_url):
    """Those the old sweep had not placed on their ladder (remind_on NULL) or whose next level
    was reached get the last day swept: the next sweep reads them at every level reached.
    Those placed on a later level are NULL: the window finds them when it falls."""
    command.upgrade(alembic_config(fresh_url), "0008")
    engine = sa.create_engine(fresh_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            store_one_grant(connection)
            connection.execute(sa.text("INSERT INTO sweep_runs (business_date, finished_at, summary) "
                                       "VALUES ('2023-05-02', '2023-05-02 06:00:00', '{}')"))
            for number, remind_on in ((1, None), (2, "2023-05-01"), (3, "2023-05-09")):
                connection.execute(sa.text(
                    "INSERT INTO obligations (grant_id, kind, number, label, debtor, due_on, status, remind, "
                    "remind_on) VALUES (1, 'report', :n, 'cr', 'association', '2023-05-09', 'pending', true, :r)"),
                    {"n": number, "r": remind_on})
        command.upgrade(alembic_config(fresh_url), "0009")
        with engine.connect() as connection:
            placed = dict(connection.execute(sa.text("SELECT number, placed_on FROM obligations")).all())
        assert {n: str(day) if day else None for n, day in placed.items()} == \
            {1: "2023-05-02", 2: "2023-05-02", 3: None}
        assert "remind_on" not in schema(fresh_url)["obligations"]
    finally:
        engine.dispose()
