"""Serve every deployment of the catalog, with its schedule, from this one process.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m deployments.serve

This is what `grantflow up` (./grantflow-up) starts once its Prefect server answers.
Run it from the repository root: entrypoints are recorded relative to the working
directory. Flow runs start in child processes that inherit this environment
(GRANTFLOW_HOME, GRANTFLOW_DATABASE_URL...). A new run is picked up when the runner
polls, every PREFECT_RUNNER_POLL_FREQUENCY seconds (Prefect's default: 10).

On SIGINT or SIGTERM it pauses its deployments' schedules through the API, then exits:
stop it before the server (it hangs if the server is already gone). Serving again
resumes the schedules.
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from deployments.catalog import DEPLOYMENTS, DeploymentSpec
from deployments.forms import operator_form

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployments.serve",
                                     description="Sert tous les déploiements avec leurs planifications.")
    parser.add_argument("--limit", type=int, default=None, help="nombre maximal d'exécutions simultanées")
    args = parser.parse_args(argv)

    from prefect import serve

    serve(*runner_deployments(), limit=args.limit, print_starting_message=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
