"""The SCDL « subventions » export passes the official validator: frictionless against the Table
Schema 2.1.1 kept in ../shared/standards (never fetched), for the seeds and for a grant paid in
two instalments; an authority without SIRET is refused by name."""
from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from core import clock
from grantflow.cli import main
from tests.support import EXAMPLES, INNOSPRINT, REPO, scalar, sign_both

SCHEMA = REPO.parent / "shared" / "standards" / "scdl-subventions-2.1.1.json"

TWO_INSTALMENTS = """\
grants:
  - reference: CASQ-2019-DEUX-VERSEMENTS
    authority: casq
    association: faubourg-numerique
    object: "Accompagnement de jeunes pousses numériques, saison 2019"
    amount: "40000.00"
    duration: {months: 12, from: signature}
    payments:
      - {amount: "20000.00", due: 2019-03-15}
      - {amount: "20000.00", due: 2019-05-31}
    deliberation:
      session: 2018-11-27
      convened: 2018-11-21
      members_in_office: 76
      present: 62
      represented: 6
      votes: {for: 67, against: 0, abstentions: 1}
      act_number: 44209A
    history:
      - {event: prefecture_receipt, act_id: "002-200071892-20181127-44209A-DE", received: 2018-12-12, published: 2018-12-11}
      - {event: signature, party: association, on: 2019-01-10}
      - {event: signature, party: authority, on: 2019-01-14}
"""


def validate(path: Path) -> list[list[object]]:
    if not SCHEMA.exists():
        pytest.skip(f"schéma SCDL absent : {SCHEMA} (le dépôt shared/ doit être à côté du clone)")
    from frictionless import Resource, Schema

    schema = Schema.from_descriptor(json.loads(SCHEMA.read_text(encoding="utf-8")))
    report = Resource(path=path.name, basepath=str(path.parent), schema=schema).validate()
    return report.flatten(["rowNumber", "fieldName", "type", "note"])


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8")))


def test_the_seed_export_passes_the_official_schema(examples_loaded, tmp_path, capsys):
    sign_both(association_on=dt.date(2018, 12, 20), authority_on=dt.date(2019, 1, 7))
    output = tmp_path / "subventions-casq.csv"
    capsys.readouterr()
    with clock.frozen(dt.date(2019, 2, 1)):
        assert main(["export", "scdl", "--authority", "casq", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert validate(output) == []
    [row] = rows(output)
    assert row["idAttribuant"] == "20007189200018"  # the authority's SIRET, not its SIREN 200071892
    assert (row["idBeneficiaire"], row["rnaBeneficiaire"]) == ("99912345800013", "W022000001")
    assert (row["montant"], row["notificationUE"], row["pourcentageSubvention"]) == ("35000.00", "non", "1")
    # Signed 07/01/2019: to publish within 3 months, 07/04/2019 a Sunday -> 08/04/2019.
    assert f"obligation de publication remplie : {INNOSPRINT} (à publier avant le 08/04/2019)" in out
    assert scalar("SELECT status FROM obligations WHERE kind = 'open_data'") == "done"
    assert scalar("SELECT count(*) FROM events WHERE kind = 'open_data_published'") == 1
    # Exporting again publishes again, but the obligation was met once.
    assert main(["export", "scdl", "--authority", "casq", "--output", str(output)]) == 0
    assert "obligation de publication remplie" not in capsys.readouterr().out
    assert scalar("SELECT count(*) FROM events WHERE kind = 'open_data_published'") == 1


def test_a_grant_in_two_instalments_passes_the_official_schema(examples_loaded, tmp_path):
    dossier = tmp_path / "deux-versements.yaml"
    dossier.write_text(TWO_INSTALMENTS, encoding="utf-8")
    assert main(["load", str(dossier)]) == 0
    output = tmp_path / "subventions-casq.csv"
    assert main(["export", "scdl", "--authority", "casq", "--output", str(output)]) == 0
    assert validate(output) == []
    [row] = rows(output)  # Innosprint is not signed here
    assert row["objet"] == "Accompagnement de jeunes pousses numériques, saison 2019"
    assert (row["montant"], row["dateConvention"]) == ("40000.00", "2019-01-14")
    assert row["conditionsVersement"] == "échelonné"
    assert row["datesPeriodeVersement"] == "2019-03-15/2019-05-31"
    assert row["referenceDecision"] == "002-200071892-20181127-44209A-DE"


def test_an_authority_without_siret_is_refused_by_name(store, tmp_path, capsys):
    text = (EXAMPLES / "casq-innosprint.yaml").read_text(encoding="utf-8")
    without = "\n".join(line for line in text.splitlines() if not line.strip().startswith("siret: \"2000"))
    dossier = tmp_path / "casq.yaml"
    dossier.write_text(without, encoding="utf-8")
    assert main(["load", str(dossier)]) == 0
    output = tmp_path / "out.csv"
    capsys.readouterr()
    assert main(["export", "scdl", "--authority", "casq", "--output", str(output)]) == 1
    err = capsys.readouterr().err
    assert "export SCDL impossible : la collectivité « casq » (Communauté d'Agglomération du Saint-Quentinois) " \
           "n'a pas de SIRET" in err
    assert not output.exists()


def test_an_authority_siret_must_be_its_own(store, tmp_path, capsys):
    text = (EXAMPLES / "casq-innosprint.yaml").read_text(encoding="utf-8")
    dossier = tmp_path / "casq.yaml"
    dossier.write_text(text.replace('siret: "20007189200018"', 'siret: "99900000300007"'), encoding="utf-8")
    capsys.readouterr()
    assert main(["load", str(dossier)]) == 1
    err = capsys.readouterr().err
    assert "collectivité casq (subvention CASQ-2018-INNOSPRINT) : champ « authorities[0].siret » = " \
           "'99900000300007' : le SIRET 99900000300007 n'est pas celui de la collectivité" in err


def test_the_flow_writes_the_file_and_shows_it_as_artifacts(examples_loaded, prefect_server):
    from flows.opendata import open_data_export
    from tests.support import latest_artifact

    sign_both(association_on=dt.date(2018, 12, 20), authority_on=dt.date(2019, 1, 7))
    result = open_data_export(authority="casq", business_date=dt.date(2019, 2, 1))
    path = Path(result["path"])
    assert path.name == "subventions-casq-20190201.csv"
    assert validate(path) == []
    assert result["published"] == [f"{INNOSPRINT} (à publier avant le 08/04/2019)"]
    table = latest_artifact("scdl-casq")
    assert "20007189200018" in json.dumps(table["data"])
    summary = latest_artifact("scdl-casq-publication")["data"]
    assert f"- {INNOSPRINT} (à publier avant le 08/04/2019)" in summary and result["sha256"] in summary
