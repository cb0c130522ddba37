"""Addresses are checked by a real library at load; a message that fails for good is reported
by `simulate` and by a mail to the authority; what SMTP received is what the store kept."""
from __future__ import annotations

import sqlalchemy as sa

from db.models import Message
from db.session import unit_of_work
from grantflow.cli import main
from tests.support import EXAMPLES, sign_both

ASSOCIATION = "contact@faubourg-numerique.example.org"
AUTHORITY = "dev-eco@casq.example.org"


def test_a_list_of_addresses_in_an_email_field_is_refused_at_load(store, tmp_path, capsys):
    text = (EXAMPLES / "casq-innosprint.yaml").read_text(encoding="utf-8")
    dossier = tmp_path / "casq.yaml"
    dossier.write_text(text.replace(f"email: {ASSOCIATION}", "email: evil.example,contact@asso.example.org"),
                       encoding="utf-8")
    assert main(["load", str(dossier)]) == 1
    err = capsys.readouterr().err
    assert (f"{dossier}, association faubourg-numerique (subvention CASQ-2018-INNOSPRINT) : champ "
            "« associations[0].email » = 'evil.example,contact@asso.example.org' : une seule adresse électronique "
            "par champ (une liste n'est pas permise)") in err
    with unit_of_work() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_an_address_without_a_domain_is_refused_at_load(store, tmp_path, capsys):
    text = (EXAMPLES / "casq-innosprint.yaml").read_text(encoding="utf-8")
    dossier = tmp_path / "casq.yaml"
    dossier.write_text(text.replace(f"email: {AUTHORITY}", "email: dev-eco@casq"), encoding="utf-8")
    assert main(["load", str(dossier)]) == 1
    err = capsys.readouterr().err
    assert "champ « authorities[0].email » = 'dev-eco@casq' : adresse électronique invalide" in err


def test_a_refused_address_is_reported_and_the_authority_told(examples_loaded, smtp_settings, capsys):
    smtp_settings.refuse(ASSOCIATION)
    sign_both()
    capsys.readouterr()
    assert main(["simulate", "--from", "2019-02-04", "--until", "2019-02-06"]) == 0
    out = capsys.readouterr().out
    # The reminder of 05/02/2019 before report n°1 is due on 12/02/2019.
    assert ("2019-02-05  courriel en échec définitif : CASQ-2018-INNOSPRINT : " + ASSOCIATION
            + " : Rappel – échéance du 12/02/2019 : compte rendu n°1 (subvention CASQ-2018-INNOSPRINT) : "
            "destinataires refusés par") in out
    assert "550 5.1.1 Destinataire inconnu" in out
    assert (f"2019-02-05  courriel à {AUTHORITY} : Courriel non distribué à {ASSOCIATION} "
            "(subvention CASQ-2018-INNOSPRINT)") in out
    [notice] = smtp_settings.messages
    assert notice["To"] == AUTHORITY
    assert "Merci de corriger l'adresse de l'association dans son dossier" in notice.get_body(("plain",)).get_content()
    # What the server received is, byte for byte, what the store kept for the auditors.
    [envelope] = smtp_settings.envelopes
    with unit_of_work() as session:
        kept = session.scalars(sa.select(Message.raw).where(Message.status == "sent")).one()
    assert kept == envelope.content


def test_the_sweep_artifact_lists_a_refused_address_and_the_day_is_anchored(prefect_server, examples_loaded,
                                                                            smtp_settings):
    import datetime as dt

    from core.settings import get_settings
    from flows.sweep import daily_sweep
    from tests.support import latest_artifact

    smtp_settings.refuse(ASSOCIATION)
    sign_both()
    anchors = get_settings().anchors_path
    lines_before = len(anchors.read_text(encoding="utf-8").splitlines())
    result = daily_sweep(business_date=dt.date(2019, 2, 5))
    assert result["sent"] == 1  # the notice to the authority; the reminder failed for good
    report = latest_artifact("envois-du-jour")["data"]
    assert "## Courriels en échec définitif" in report
    assert f"- CASQ-2018-INNOSPRINT : {ASSOCIATION} : Rappel – échéance du 12/02/2019" in report
    assert f"{AUTHORITY} : Courriel non distribué à {ASSOCIATION}" in report
    # The sweep anchored the heads it changed (the signatures and its own events).
    assert len(anchors.read_text(encoding="utf-8").splitlines()) == lines_before + 1
    assert main(["audit", "verify"]) == 0
