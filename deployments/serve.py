"""Serve every deployment of the catalog, with its schedule, from this one process.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m deployments.serve

This is what `grantflow up` (./grantflow-up) starts once its Prefect server answers.
Run it from the repository root: entrypoints are recorded relative to the working
directory. Flow runs start in child processes that inherit this environment
(GRANTFLOW_HOME, GRANTFLOW_DATABASE_URL...). A new run is picked up when the runner
polls, every PREFECT_RUNNER_POLL_FREQUENCY seconds (Prefect's default: 10).

Runs the server's scheduler creates carry Prefect's random names until they start: a
thread of this process renames them at once (date and step, flows/naming.py), so the
UI's upcoming runs read "balayage du 02/12/2026".

On SIGINT or SIGTERM it pauses its deployments' schedules through the API, then exits:
stop it before the server (it hangs if the server is already gone). Serving again
resumes the schedules.
"""
from __future__ import annotations

import argparse
import threading
from typing import TYPE_CHECKING, Any

from deployments.catalog import DEPLOYMENTS, DeploymentSpec
from deployments.forms import operator_form

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.deployments.runner import RunnerDeployment

NAMING_INTERVAL = 20.0  # seconds; the server's scheduler creates runs every 60 s


def schedules(spec: DeploymentSpec) -> list[Any]:
    from prefect.schedules import Cron

    if spec.cron is None:
        return []
    return [Cron(spec.cron, timezone=spec.timezone)]


def runner_deployment(spec: DeploymentSpec) -> RunnerDeployment:
    flow = spec.load_flow()
    if flow.name != spec.name:
        raise ValueError(f"{spec.entrypoint} est le flow {flow.name!r}, le catalogue attend {spec.name!r}")
    from prefect.utilities.callables import ParameterSchema

    deployment = flow.to_deployment(
        name=spec.name,
        schedules=schedules(spec),
        description=spec.description,
        tags=list(spec.tags),
        parameters=dict(spec.parameters),
    )
    # to_deployment takes no schema: its private copy is the one registered with the API.
    schema = deployment._parameter_openapi_schema.model_dump_for_openapi()
    deployment._parameter_openapi_schema = ParameterSchema(**operator_form(schema))
    return deployment


def runner_deployments(specs: tuple[DeploymentSpec, ...] = DEPLOYMENTS) -> list[RunnerDeployment]:
    return [runner_deployment(spec) for spec in specs]


def name_scheduled_runs(client: SyncPrefectClient) -> int:
    """Give every scheduled run of a scheduled step its name (date and step); how many were renamed."""
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    from flows.naming import SCHEDULED_STEPS, scheduled_run_name

    renamed = 0
    scheduled = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])))
    for flow_name in SCHEDULED_STEPS:
        # limit and sort given: prefect 3.8.8's client sends them as null otherwise (HTTP 422)
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                                     flow_run_filter=scheduled, sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=200)
        for run in runs:
            name = scheduled_run_name(flow_name, run.expected_start_time) if run.expected_start_time else None
            if name and run.name != name:
                client.update_flow_run(run.id, name=name)
                renamed += 1
    return renamed


def _keep_naming(stop: threading.Event) -> None:
    from prefect.client.orchestration import get_client
    from prefect.logging import get_logger

    logger = get_logger("grantflow.serve")
    while not stop.wait(NAMING_INTERVAL):
        try:
            with get_client(sync_client=True) as client:
                name_scheduled_runs(client)
        except Exception as error:  # the server restarting: try again at the next turn
            logger.warning("Nommage des exécutions planifiées impossible pour l'instant : %s", error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployments.serve",
                                     description="Sert tous les déploiements avec leurs planifications.")
    parser.add_argument("--limit", type=int, default=None, help="nombre maximal d'exécutions simultanées")
    args = parser.parse_args(argv)

    from prefect import serve

    stop = threading.Event()
    threading.Thread(target=_keep_naming, args=(stop,), name="run-names", daemon=True).start()
    try:
        serve(*runner_deployments(), limit=args.limit, print_starting_message=False)
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
