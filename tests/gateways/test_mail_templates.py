"""French mail templates: filters, every kind, overrides, escaping. Expected strings by hand."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import jinja2
import pytest

from gateways.templates import KINDS, date_fr, date_fr_long, eur, nl2br, render

REMINDER = {
    "grant_reference": "CASQ-2018-44208A",
    "grant_object": "programme Innosprint",
    "authority_name": "Communauté d'agglomération du Saint-Quentinois",
    "association_name": "Faubourg Numérique",
    "obligation_label": "compte rendu bimestriel n°2",
    "due_on": date(2019, 4, 12),
    "days_late": 3,
    "what_to_send": "Merci de joindre le compte rendu des rencontres avec les porteurs de projet.",
    "contact_email": "subventions@agglo-sq.fr",
}
CONTEXTS = {
    "reminder_before": REMINDER,
    "reminder_due": REMINDER,
    "reminder_late": REMINDER,
    "payment_failed": {"grant_reference": "CASQ-2018-44208A", "instalment_number": 1,
                       "amount": Decimal("35000.00"), "reason": "RIB invalide (AC01)"},
    "evaluation_summary": {"grant_reference": "CASQ-2018-44208A",
                           "evaluation_name": "évaluation à mi-parcours",
                           "summary_text": "14 projets accompagnés (objectif : 12 à 20).\n"
                                           "1 entreprise créée (objectif : 2)."},
    "titre_de_recette": {"grant_reference": "CASQ-2018-44208A", "titre_number": "2020-0042",
                         "amount": Decimal("4250.50"), "grounds": "Dotation non redistribuée",
                         "due_on": date(2020, 3, 1), "association_name": "Faubourg Numérique",
                         "authority_name": "Communauté d'agglomération du Saint-Quentinois"},
    "run_failed": {"grant_reference": "CASQ-2018-44208A", "flow_name": "convention-signature",
                   "run_name": "signature CASQ-2018-44208A (association)", "association_name": "Faubourg Numérique",
                   "failed_on": date(2018, 12, 3), "reason": "signature antérieure à la réception en préfecture"},
    "run_resolved": {"grant_reference": "CASQ-2018-44208A", "flow_name": "grant-payment",
                     "run_name": "paiement CASQ-2018-44208A", "association_name": "Faubourg Numérique",
                     "failed_on": date(2019, 1, 7), "resolved_on": date(2019, 1, 8)},
    "mail_failed": {"grant_reference": "CASQ-2018-44208A", "association_name": "Faubourg Numérique",
                    "failed_to": "contact@faubourg-numerique.example.org",
                    "failed_subject": "Relance : compte rendu bimestriel n°2 en retard de 3 jours",
                    "reason": "destinataires refusés par smtp:25 : 550 mailbox unavailable"},
    "bank_details_changed": {"grant_reference": "CASQ-2018-44208A", "association_name": "Faubourg Numérique",
                             "change_description": "IBAN FR76 **** 4573 → FR76 **** 6594",
                             "new_iban_masked": "FR76 **** 6594", "new_holder": "FAUBOURG NUMERIQUE",
                             "requested_on": date(2019, 5, 20), "applies_on": date(2019, 6, 4)},
}


# ----------------------------------------------------------------- filters


@pytest.mark.parametrize("day, short, long", [
    (date(2019, 4, 12), "12/04/2019", "vendredi 12 avril 2019"),
    (date(2019, 3, 1), "01/03/2019", "vendredi 1er mars 2019"),
    (date(2018, 12, 27), "27/12/2018", "jeudi 27 décembre 2018"),
    (date(2019, 8, 15), "15/08/2019", "jeudi 15 août 2019"),
    (date(2020, 2, 29), "29/02/2020", "samedi 29 février 2020"),
    (date(2019, 6, 2), "02/06/2019", "dimanche 2 juin 2019"),
    (datetime(2019, 5, 31, 23, 30), "31/05/2019", "vendredi 31 mai 2019"),
])
def test_french_dates(day, short, long):
    assert date_fr(day) == short
    assert date_fr_long(day) == long


def test_dates_refuse_strings():
    with pytest.raises(TypeError):
        date_fr("2019-04-12")


@pytest.mark.parametrize("amount, shown", [
    (Decimal("35000"), "35 000,00 €"),
    (Decimal("30000.00"), "30 000,00 €"),
    (Decimal("1234567.8"), "1 234 567,80 €"),
    (Decimal("999.99"), "999,99 €"),
    (Decimal("0.05"), "0,05 €"),
    (0, "0,00 €"),
    (Decimal("-1500.5"), "-1 500,50 €"),
    (200000, "200 000,00 €"),
])
def test_euros(amount, shown):
    assert eur(amount) == shown


def test_euros_refuse_floats_and_fractions_of_a_cent():
    with pytest.raises(TypeError):
        eur(35000.0)
    with pytest.raises(ValueError):
        eur(Decimal("10.005"))


def test_nl2br_escapes_before_breaking_lines():
    assert str(nl2br("a <b>\nc & d")) == "a &lt;b&gt;<br>\nc &amp; d"


# ----------------------------------------------------------------- every kind


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_in_french(kind):
    subject, text, html = render(kind, CONTEXTS[kind])
    assert subject and "\n" not in subject and "\r" not in subject
    assert text.startswith("Madame, Monsieur,\n\n")
    assert "Nous vous prions d'agréer, Madame, Monsieur, l'expression de nos salutations" in text
    assert '<html lang="fr">' in html and "<p>Madame, Monsieur,</p>" in html
    assert "CASQ-2018-44208A" in subject


def test_reminder_late_reads_as_written():
    subject, text, html = render("reminder_late", REMINDER)
    assert subject == ("Relance : compte rendu bimestriel n°2 en retard de 3 jours "
                       "(subvention CASQ-2018-44208A)")
    assert ("    compte rendu bimestriel n°2, dont l'échéance était fixée au vendredi 12 avril "
            "2019, soit un retard de 3 jours.\n") in text
    assert "Merci de joindre le compte rendu des rencontres avec les porteurs de projet.\n" in text
    assert text.endswith("Référence à rappeler : subvention CASQ-2018-44208A.\n")
    assert "<strong>vendredi 12 avril 2019</strong>" in html
    assert "Communauté d&#39;agglomération du Saint-Quentinois" in html


def test_one_day_late_is_singular():
    subject, text, _ = render("reminder_late", {**REMINDER, "days_late": 1})
    assert "en retard de 1 jour (subvention" in subject
    assert "soit un retard de 1 jour." in text


def test_reminder_before_subject_uses_the_short_date():
    subject, text, _ = render("reminder_before", REMINDER)
    assert subject == ("Rappel – échéance du 12/04/2019 : compte rendu bimestriel n°2 "
                       "(subvention CASQ-2018-44208A)")
    assert "à remettre au plus tard le vendredi 12 avril 2019." in text


def test_amounts_in_payment_failed_and_titre_de_recette():
    subject, text, html = render("payment_failed", CONTEXTS["payment_failed"])
    assert subject == "Versement n° 1 non exécuté (subvention CASQ-2018-44208A)"
    assert "d'un montant de 35 000,00 €, n'a pas pu être exécuté." in text
    assert "Motif du rejet : RIB invalide (AC01)" in text
    assert "<strong>35 000,00 €</strong>" in html

    subject, text, _ = render("titre_de_recette", CONTEXTS["titre_de_recette"])
    assert subject == ("Titre de recette n° 2020-0042 : reversement de la subvention "
                       "CASQ-2018-44208A")
    assert "d'un montant de 4 250,50 €" in text
    assert "au plus tard le dimanche 1er mars 2020" in text
    assert "deux mois" in text


def test_summary_keeps_its_lines():
    _, text, html = render("evaluation_summary", CONTEXTS["evaluation_summary"])
    assert "14 projets accompagnés (objectif : 12 à 20).\n1 entreprise créée (objectif : 2).\n" in text
    assert "14 projets accompagnés (objectif : 12 à 20).<br>\n1 entreprise créée" in html


# ----------------------------------------------------------------- safety


def test_html_escapes_user_text_and_text_keeps_it_as_typed():
    hostile = {**REMINDER, "association_name": '<script>alert("x")</script>',
               "what_to_send": "<img src=x onerror=alert(1)>"}
    _, text, html = render("reminder_before", hostile)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert '<script>alert("x")</script>' in text


def test_subject_never_carries_line_breaks_from_the_data():
    subject, _, _ = render("reminder_due", {**REMINDER,
                                            "obligation_label": "rapport\r\nBcc: pirate@evil.example"})
    assert subject == ("Échéance du 12/04/2019 : rapport Bcc: pirate@evil.example "
                       "(subvention CASQ-2018-44208A)")


def test_a_missing_variable_fails_loudly():
    context = dict(REMINDER)
    del context["contact_email"]
    with pytest.raises(jinja2.UndefinedError, match="contact_email"):
        render("reminder_before", context)


def test_unknown_kind_and_path_tricks_are_refused():
    with pytest.raises(jinja2.TemplateNotFound):
        render("reminder_never", REMINDER)
    with pytest.raises(ValueError):
        render("../secrets", REMINDER)


# ----------------------------------------------------------------- overrides


def test_an_authority_override_wins_and_the_rest_falls_back(tmp_path: Path):
    (tmp_path / "reminder_before.subject.j2").write_text(
        "[CASQ] À rendre le {{ due_on|date_fr }} : {{ obligation_label }}\n", encoding="utf-8")
    subject, text, _ = render("reminder_before", REMINDER, override_dir=tmp_path)
    assert subject == "[CASQ] À rendre le 12/04/2019 : compte rendu bimestriel n°2"
    assert text.startswith("Madame, Monsieur,\n")  # the product's body, not overridden

    subject, _, _ = render("reminder_before", REMINDER)  # other authorities keep the default
    assert subject.startswith("Rappel – échéance du 12/04/2019")


def test_overriding_the_frame_changes_every_kind(tmp_path: Path):
    (tmp_path / "_base.txt.j2").write_text(
        "Bonjour,\n\n{% block body %}{% endblock %}\nCordialement,\n{% block signature %}{% endblock %}\n",
        encoding="utf-8")
    _, text, _ = render("payment_failed", CONTEXTS["payment_failed"], override_dir=tmp_path)
    assert text.startswith("Bonjour,\n\nNous vous informons que le versement n° 1")
    assert text.endswith("Cordialement,\nLe service des subventions\n")


def test_override_folder_must_exist(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        render("reminder_before", REMINDER, override_dir=tmp_path / "absent")


def test_a_failed_run_tells_what_failed_and_how_to_rerun():
    subject, text, _ = render("run_failed", CONTEXTS["run_failed"])
    assert subject == "Échec de « signature CASQ-2018-44208A (association) » (subvention CASQ-2018-44208A)"
    assert "n'a pas abouti le 03/12/2018" in text
    assert "Motif : signature antérieure à la réception en préfecture" in text
    assert "« Retry »" in text
