"""Evaluating a grant (services/evaluation.py does the work) and publishing it in Prefect.

The service writes the files, the Evaluation row, the journal and the mail in one unit of
work; the Prefect artifacts (a table and a markdown summary, keyed by grant and
evaluation) are made here, so that the service also runs without Prefect (simulation).
"""
from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from core import clock
from core.settings import get_settings
from db.session import unit_of_work
from domain.calendar import format_date_fr
from services import evaluation
from services.grants import get_grant
from tasks.runtime import actor


def as_of(business_date: dt.date | None) -> contextlib.AbstractContextManager[Any]:
    """A past (or future) business date replays that day: the journal is dated by it."""
    if business_date is None or business_date == clock.today():
        return contextlib.nullcontext()
    return clock.frozen(business_date)


@task(name="évaluer les indicateurs, le financement et les comptes rendus",
      task_run_name="évaluation {name} {reference}", cache_policy=NO_CACHE)
def evaluate_grant(reference: str, name: str, business_date: dt.date) -> dict[str, Any]:
    with as_of(business_date), unit_of_work() as session:
        outcome = evaluation.evaluate(session, get_grant(session, reference, for_update=True), name,
                                      get_settings(), day=business_date, actor=actor())
    logger = get_run_logger()
    if outcome.already_done:
        logger.info("%s : évaluation %s déjà faite le %s, rien de nouveau", reference, name,
                    format_date_fr(outcome.on))
    for result in outcome.missed:
        logger.warning("%s : %s", reference, result.finding)
    return {"reference": reference, "name": name, "on": outcome.on.isoformat(), "key": outcome.key,
            "table": outcome.table.to_dict(orient="records"), "summary": outcome.summary,
            "markdown": outcome.markdown(), "files": [str(p) for p in outcome.files],
            "missed": [r.finding for r in outcome.missed], "already_done": outcome.already_done}


@task(name="publier l'évaluation (tableau et synthèse)", cache_policy=NO_CACHE)
def publish_evaluation(result: dict[str, Any]) -> list[str]:
    """The table artifact under the grant's key, the markdown summary under key + "-synthese"."""
    day = format_date_fr(dt.date.fromisoformat(result["on"]))
    create_table_artifact(key=result["key"], table=result["table"],
                          description=f"Évaluation « {result['name']} » de {result['reference']} au {day} : "
                                      "indicateurs et objectifs de la convention")
    create_markdown_artifact(key=f"{result['key']}-synthese", markdown=result["markdown"],
                             description=f"Synthèse de l'évaluation « {result['name']} » de {result['reference']}")
    return [result["key"], f"{result['key']}-synthese"]


@task(name="trouver les évaluations échues", cache_policy=NO_CACHE)
def find_due_evaluations(business_date: dt.date, limit: int) -> list[tuple[str, str]]:
    """One query over the obligations: the evaluations due by that day and not done."""
    with unit_of_work() as session:
        return evaluation.due_evaluations(session, business_date, limit=limit)
