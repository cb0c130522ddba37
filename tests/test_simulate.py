"""`grantflow simulate`: the Innosprint convention year, played day by day (issue 3)."""
from __future__ import annotations

import json
import re

from grantflow.cli import main
from tests.support import EXAMPLES, INNOSPRINT

FACTS = """
- {reference: CASQ-2018-INNOSPRINT, event: signature, party: association, on: 2018-12-20}
- {reference: CASQ-2018-INNOSPRINT, event: signature, party: authority, on: 2019-01-07}
# Report n°1 arrives well before 12/02/2019; report n°2 never comes.
- {reference: CASQ-2018-INNOSPRINT, event: report, on: 2019-02-01, indicators: {projects_supported: 4, sessions_held: 1}}
- {reference: CASQ-2018-INNOSPRINT, event: report_answer, on: 2019-02-14}
"""


def test_a_simulated_year_reminds_before_and_escalates_after_a_missing_report(store, tmp_path, capsys):
    assert main(["load", *map(str, sorted(EXAMPLES.glob("*.yaml")))]) == 0
    facts = tmp_path / "facts.yaml"
    facts.write_text(FACTS, encoding="utf-8")
    capsys.readouterr()
    assert main(["simulate", "--until", "2019-12-31", "--events", str(facts)]) == 0
    lines = capsys.readouterr().out.splitlines()

    def on(day: str, *words: str) -> list[str]:
        return [line for line in lines if line.startswith(day) and all(w in line for w in words)]

    assert on("2019-01-07", INNOSPRINT, "étape signature de la convention → convention en cours")
    assert on("2019-12-12", INNOSPRINT, "étape convention en cours → clôture")
    # Report n°2, due Friday 12/04/2019, never received: before, on the day, then escalations.
    association = "contact@faubourg-numerique.example.org"
    assert on("2019-04-05", association, "12/04/2019", "compte rendu n°2")
    assert on("2019-04-12", association, "compte rendu n°2")
    assert on("2019-04-19", association, "compte rendu n°2", "7 jours")
    assert on("2019-05-03", association, "dev-eco@casq.example.org", "compte rendu n°2", "21 jours")
    # 12/10/2019 is a Saturday: report n°5 is due Monday 14/10, reminded 7 days before.
    assert on("2019-10-07", "14/10/2019", "compte rendu n°5")
    # Report n°1 came on time: not one mail to the association about it (the authority is
    # reminded of its answer, due 15 days after the report: 16/02 is a Saturday -> 18/02).
    assert [line for line in lines if "compte rendu n°1" in line and association in line] == []
    assert on("2019-02-11", "dev-eco@casq.example.org", "18/02/2019", "réponse au compte rendu n°1")
    # Each mail line is one .eml in the outbox, and none twice.
    mails = [line for line in lines if "courriel à" in line]
    assert len(list((store.home / "outbox").glob("*.eml"))) == len(mails)

    capsys.readouterr()
    assert main(["show", INNOSPRINT, "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    reports = [(o["number"], o["due_on"], o["status"]) for o in view["obligations"] if o["kind"] == "report"]
    assert reports == [(1, "2019-02-12", "done"), (2, "2019-04-12", "overdue"), (3, "2019-06-12", "overdue"),
                       (4, "2019-08-12", "overdue"), (5, "2019-10-14", "overdue"), (6, "2019-12-12", "overdue")]
    # The 35,000.00 EUR were ordered on 31/05/2019 (the treasury's confirmation never
    # recorded) and nothing was redistributed: the order counts as paid, so the closure of
    # 12/12/2019 claims it all back and the grant stays in `closing` (issue 11: it was closed
    # with "rien à reverser" while the money was on its way).
    assert on("2019-12-12", INNOSPRINT, "titre de recette TR-2019-000001 émis : 35 000,00 EUR à reverser")
    assert view["stage"] == "closing"
    assert [(p["number"], p["status"]) for p in view["payments"]] == [(1, "ordered")]


def test_simulating_again_resumes_after_the_last_swept_day(store, tmp_path, capsys):
    assert main(["load", str(EXAMPLES / "casq-innosprint.yaml")]) == 0
    facts = tmp_path / "facts.yaml"
    facts.write_text(FACTS, encoding="utf-8")
    assert main(["simulate", "--until", "2019-02-28", "--events", str(facts)]) == 0
    capsys.readouterr()
    assert main(["simulate", "--until", "2019-03-02"]) == 0
    days = {line[:10] for line in capsys.readouterr().out.splitlines() if re.match(r"\d{4}-\d\d-\d\d", line)}
    assert days <= {"2019-03-01", "2019-03-02"}
