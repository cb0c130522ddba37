"""The daily sweep as one Prefect task: a handful of set-based statements, not one task per grant."""
from __future__ import annotations

import datetime as dt

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from db.session import unit_of_work
from grantflow import clock
from grantflow.settings import get_settings
from services import reading, sweep


@task(name="faire avancer les subventions, marquer les retards, programmer les relances", cache_policy=NO_CACHE)
def sweep_day(business_date: dt.date) -> sweep.SweepResult:
    with clock.frozen(business_date), unit_of_work() as session:
        result = sweep.sweep(session, business_date, get_settings(), actor="prefect:daily-sweep")
    logger = get_run_logger()
    for reference, source, target in result.transitions:
        logger.info("%s : %s -> %s", reference, source, target)
    logger.info("%s : %d obligation(s) passée(s) en retard, relances programmées %s",
                business_date.isoformat(), result.overdue, result.reminders)
    return result


@task(name="publier le tableau du portefeuille", cache_policy=NO_CACHE)
def publish_portfolio(business_date: dt.date) -> None:
    with unit_of_work() as session:
        table = reading.portfolio(session)
    create_table_artifact(key="portefeuille", table=table.fillna("").to_dict(orient="records"),
                          description=f"Portefeuille des subventions au {business_date:%d/%m/%Y}")
