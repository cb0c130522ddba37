"""Bad input never gets a traceback, never stalls the loader, never half-writes (issue 13, items 3 and 7).

Each case is a file an operator could be handed, loaded with `grantflow load` as they
would: exit 1, a French message naming the file, the field, the value (at most ~80
characters of it) and the rule, and the store unchanged.
"""
from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from core import settings as settings_module
from core.settings import Settings
from db.session import unit_of_work
from grantflow.cli import main
from services.dossier import DossierError, load_files, read_yaml
from tests.support import EXAMPLES, at_once

SOURCE = EXAMPLES / "casq-innosprint.yaml"


def innosprint() -> dict[str, Any]:
    return yaml.safe_load(SOURCE.read_text(encoding="utf-8"))


def write(path: Path, dossier: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dossier, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def grants_in_store() -> int:
    with unit_of_work() as session:
        return session.scalar(sa.text("SELECT count(*) FROM grants"))


def refused(capsys: pytest.CaptureFixture[str], path: Path) -> str:
    capsys.readouterr()
    assert main(["load", str(path)]) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.err and out.err.startswith("Dossier refusé, rien n'a été enregistré"), out.err
    assert str(path) in out.err
    assert grants_in_store() == 0
    return out.err


def billion_laughs(depth: int) -> str:
    lines = ['a0: &a0 "lol"']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, depth + 1)]
    return "\n".join(lines) + f"\ngrants: *a{depth}\n"


def test_a_yaml_bomb_is_refused_before_it_expands(store, tmp_path, capsys):
    path = tmp_path / "bombe.yaml"
    path.write_text(billion_laughs(9), encoding="utf-8")
    assert 300 < path.stat().st_size < 1_300  # the 1.2 KB file of the finding: 9**9 strings once expanded
    tracemalloc.start()
    started = time.perf_counter()
    err = refused(capsys, path)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"bombe YAML de profondeur 9 refusée en {elapsed * 1000:.1f} ms, pic mémoire {peak / 1e6:.1f} Mo")
    assert "ancre (&) ou alias (*) YAML refusé" in err, err
    assert peak < 50_000_000  # flat: nothing was expanded
    assert len(err) < 1_000


@pytest.mark.parametrize("case, rule", [
    ("date", "date invalide"),
    ("reference", "texte attendu"),
    ("huge_integer_amount", "plafond d'un virement SEPA"),
    ("above_sepa", "plafond d'un virement SEPA"),
    ("long_object", "texte trop long"),
])
def test_bad_values_are_refused_in_french_naming_the_field(store, tmp_path, capsys, case, rule):
    dossier = innosprint()
    grant = dossier["grants"][0]
    text = None
    if case == "date":  # unquoted, as an operator types it: YAML would read it as a date that does not exist
        text = SOURCE.read_text(encoding="utf-8").replace("due: 2019-05-31", "due: 2019-02-30")
        field = "payments[0].due"
    elif case == "reference":
        grant["reference"] = 2019
        field = "reference"
    elif case == "huge_integer_amount":
        grant["amount"] = 10 ** 20
        field = "amount"
    elif case == "above_sepa":
        grant["amount"] = grant["payments"][0]["amount"] = "1000000000.00"
        field = "amount"
    else:
        grant["object"] = "Innosprint " * 300
        field = "object"
    path = tmp_path / f"{case}.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    else:
        write(path, dossier)
    err = refused(capsys, path)
    assert f"champ « {field} »" in err and rule in err, err
    assert max(len(line) for line in err.splitlines()) < 400, err  # the value quoted, not copied whole


def test_a_file_that_is_not_utf8_names_the_byte(store, tmp_path, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(SOURCE.read_text(encoding="utf-8").encode("latin-1", errors="replace"))
    err = refused(capsys, path)
    assert "invalide en UTF-8" in err and "0xe9" in err, err  # the é of « Numérique »


def test_a_nul_character_is_refused_before_the_store(store, tmp_path, capsys):
    path = tmp_path / "nul.yaml"
    path.write_text(SOURCE.read_text(encoding="utf-8").replace(
        'object: "Sprint des innovations', 'object: "Sprint\\0 des innovations'), encoding="utf-8")
    err = refused(capsys, path)
    assert "grants[0].object" in err and "caractère nul" in err, err


def test_a_file_above_the_size_limit_is_refused_unread(store, tmp_path, capsys):
    dossier = innosprint()
    dossier["grants"][0]["object"] = "x" * 5_000_000  # the 5 MB object of the finding
    err = refused(capsys, write(tmp_path / "enorme.yaml", dossier))
    assert "octets refusé (au plus 2000000 octets)" in err, err


@pytest.mark.parametrize("content, expected", [
    ("reference: CASQ-2018-INNOSPRINT\n", "une liste d'événements datés est attendue"),
    ("- CASQ-2018-INNOSPRINT\n", "événement n°1 : un objet"),
    ("- {reference: CASQ-2018-INNOSPRINT, event: signature, party: association, on: 2019-02-30}\n",
     "date invalide"),
    ("- [unclosed\n", "YAML illisible"),
])
def test_a_malformed_events_file_for_simulate_is_refused_in_french(store, tmp_path, capsys, content, expected):
    path = tmp_path / "events.yaml"
    path.write_text(content, encoding="utf-8")
    capsys.readouterr()
    status = main(["simulate", "--until", "2019-01-10", "--events", str(path)])
    err = capsys.readouterr().err
    assert status == 1 and expected in err and "Traceback" not in err, err


def test_the_database_down_is_said_without_the_password(monkeypatch, capsys):
    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", "postgresql+psycopg://grantflow:s3cret@127.0.0.1:1/grantflow")
    settings_module.get_settings.cache_clear()
    try:
        assert main(["list"]) == 2
    finally:
        settings_module.get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("Base de données injoignable (postgresql+psycopg://grantflow:***@127.0.0.1:1/grantflow)")
    assert "s3cret" not in err and "Traceback" not in err


def test_printed_urls_mask_the_password():
    shown = Settings(database_url="postgresql+psycopg://grantflow:s3cret@db.example.org/grantflow").shown_database_url
    assert shown == "postgresql+psycopg://grantflow:***@db.example.org/grantflow"


def test_two_loads_of_the_same_new_dossier_at_once_both_end_in_french(store, tmp_path):
    path = write(tmp_path / "innosprint.yaml", innosprint())
    settings = settings_module.get_settings()

    def load() -> str:
        try:
            report = load_files([path], settings, unit_of_work)
        except DossierError as error:
            return f"refusé : {error}"
        return "créé" if report.created else "inchangé"

    results = at_once(load, load)
    assert sorted(results) in (["créé", "inchangé"], ["créé", "refusé : " + results[1][9:]]), results
    assert grants_in_store() == 1


def test_read_yaml_keeps_dates_as_text_for_pydantic(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("on: 2019-01-07\nvalue: true\n", encoding="utf-8")
    assert read_yaml(path) == {"on": "2019-01-07", "value": True}
