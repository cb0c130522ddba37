"""prefect.yaml (production) and deployments/ (the embedded default) declare the same,
valid deployments (issue 6 §4, issue 3 §5). No server needed."""
from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import inspect
import json
import os
import pkgutil
import re
import signal
import subprocess
import sys
import urllib.request
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect import Flow
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.flows import load_flow_from_entrypoint
from prefect.server.schemas.schedules import CronSchedule
from prefect.utilities.callables import parameter_schema

import flows
from deployments import catalog, serve
from grantflow import prefect_api, processes, stack
from tests.support import free_port

ROOT = catalog.ROOT
PARIS = ZoneInfo("Europe/Paris")


def prefect_yaml() -> dict:
    return yaml.safe_load(catalog.PREFECT_YAML.read_text(encoding="utf-8"))


DEPLOYED = prefect_yaml()["deployments"]
IDS = [d["name"] for d in DEPLOYED]


def next_runs(schedule: dict, n: int, start: dt.datetime) -> list[dt.datetime]:
    """The first n run times, as the server's scheduler computes them, in Paris time."""
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    return [d.astimezone(PARIS) for d in asyncio.run(cron.get_dates(n=n, start=start))]


def test_prefect_yaml_is_generated_from_the_catalog():
    assert prefect_yaml() == catalog.prefect_yaml_document(), (
        "prefect.yaml and deployments/catalog.py disagree: run `python -m deployments.catalog`")


def test_prefect_yaml_is_valid_for_prefect_deploy():
    model = PrefectYamlModel.model_validate(prefect_yaml())
    assert [d.name for d in model.deployments] == IDS
    assert all(d.work_pool is not None and d.work_pool.name == "grantflow" for d in model.deployments)


def test_each_deployment_is_listed_once():
    assert len(IDS) == len(set(IDS))
    assert len({d["entrypoint"] for d in DEPLOYED}) == len(DEPLOYED)


def test_every_flow_of_the_flows_package_is_deployed():
    """A flow added under flows/ without a catalog entry would never run."""
    found: dict[str, str] = {}
    for module_info in pkgutil.iter_modules(flows.__path__):
        module = importlib.import_module(f"flows.{module_info.name}")
        for attribute, value in vars(module).items():
            if isinstance(value, Flow) and value.fn.__module__ == module.__name__:
                found[value.name] = f"flows/{module_info.name}.py:{attribute}"
    assert found == {d["name"]: d["entrypoint"] for d in DEPLOYED}


@pytest.mark.parametrize("deployment", DEPLOYED, ids=IDS)
def test_entrypoint_imports_and_names_its_flow(deployment, monkeypatch):
    """As a process worker loads it: a file path from the repository root."""
    path = deployment["entrypoint"].split(":")[0]
    assert (ROOT / path).is_file()
    monkeypatch.chdir(ROOT)
    flow = load_flow_from_entrypoint(deployment["entrypoint"], use_placeholder_flow=False)
    assert isinstance(flow, Flow)
    assert flow.name == deployment["name"]


@pytest.mark.parametrize("deployment", DEPLOYED, ids=IDS)
def test_description_and_tags_are_there_in_french(deployment):
    description = deployment["description"]
    assert isinstance(description, str) and len(description) > 40
    assert re.search(r"[éèàêç]| les | des | de la ", description), description
    assert deployment["tags"] and all(isinstance(t, str) and t.strip() for t in deployment["tags"])


@pytest.mark.parametrize("deployment", DEPLOYED, ids=IDS)
def test_parameters_fit_the_flow_and_a_scheduled_run_needs_no_form(deployment, monkeypatch):
    monkeypatch.chdir(ROOT)
    flow = load_flow_from_entrypoint(deployment["entrypoint"], use_placeholder_flow=False)
    schema = parameter_schema(flow.fn).model_dump()
    assert set(deployment["parameters"]) <= set(schema["properties"])
    if deployment["schedules"]:
        required = {name for name, p in inspect.signature(flow.fn).parameters.items()
                    if p.default is inspect.Parameter.empty}
        assert required <= set(deployment["parameters"]), f"a scheduled run would lack {required}"


@pytest.mark.parametrize("deployment", DEPLOYED, ids=IDS)
def test_schedules_parse(deployment):
    for schedule in deployment["schedules"]:
        assert set(schedule) <= {"cron", "timezone", "active"}
        assert schedule["timezone"] == "Europe/Paris"
        assert schedule["active"] is True
        assert len(next_runs(schedule, 3, dt.datetime(2026, 3, 27, tzinfo=PARIS))) == 3


def schedule_of(name: str) -> dict:
    (schedule,) = next(d for d in DEPLOYED if d["name"] == name)["schedules"]
    return schedule


def test_daily_sweep_runs_at_seven_in_paris_across_daylight_saving():
    runs = next_runs(schedule_of("daily-sweep"), 4, dt.datetime(2026, 3, 27, 8, tzinfo=PARIS))
    assert [(r.date(), r.hour, r.minute) for r in runs] == [
        (dt.date(2026, 3, 28), 7, 0), (dt.date(2026, 3, 29), 7, 0),  # summer time from 29/03
        (dt.date(2026, 3, 30), 7, 0), (dt.date(2026, 3, 31), 7, 0)]


def test_mail_run_every_quarter_hour_on_working_hours():
    runs = next_runs(schedule_of("mail-run"), 46, dt.datetime(2026, 11, 20, 18, 31, tzinfo=PARIS))  # a Friday
    assert [r.strftime("%a %H:%M") for r in runs[:3]] == ["Fri 18:45", "Mon 08:00", "Mon 08:15"]
    monday = [r for r in runs if r.date() == dt.date(2026, 11, 23)]
    assert len(monday) == 44 and monday[-1].strftime("%H:%M") == "18:45"


def test_only_the_sweep_the_mail_and_the_payment_runs_are_scheduled():
    scheduled = {d["name"] for d in DEPLOYED if d["schedules"]}
    assert scheduled <= {"daily-sweep", "mail-run", "payment-run"}
    assert {"daily-sweep", "mail-run"} <= scheduled


def test_served_deployments_match_prefect_yaml(monkeypatch):
    """What ./grantflow-up serves is what prefect.yaml deploys: same entrypoints, schedules, tags."""
    monkeypatch.chdir(ROOT)  # serve.py runs from the repository root
    served = {d.name: d for d in serve.runner_deployments()}
    assert set(served) == set(IDS)
    for deployment in DEPLOYED:
        runner = served[deployment["name"]]
        assert runner.entrypoint == deployment["entrypoint"]
        assert runner.description == deployment["description"]
        assert runner.tags == deployment["tags"]
        assert runner.parameters == deployment["parameters"]
        assert [(s.schedule.cron, s.schedule.timezone) for s in runner.schedules] == [
            (s["cron"], s["timezone"]) for s in deployment["schedules"]]


@pytest.mark.slow
def test_prefect_deploy_accepts_prefect_yaml(tmp_path):
    """`prefect deploy --all` against a server of its own: every deployment lands in the
    "grantflow" process pool with its schedule and the pull step of prefect.yaml.

    Prefect 3.8.8's client sends `"limit": null` in some bodies (`prefect deploy` reads the
    pool's workers that way); FastAPI 0.151 and later answer 422 to it, 0.150 accepts it.
    """
    config = stack.StackConfig(home=tmp_path / "var", prefect_home=tmp_path / "prefect", port=free_port())
    env = config.environment({k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")})
    prefect = [sys.executable, "-m", "prefect"]
    with (tmp_path / "server.log").open("w") as log:
        server = stack.start_server(config, log)
    try:
        processes.wait_until(lambda: prefect_api.api_healthy(config.api_url), "server", 120, server, tmp_path / "server.log")
        for command in (["work-pool", "create", catalog.WORK_POOL, "--type", "process"],
                        ["--no-prompt", "deploy", "--all"]):
            done = subprocess.run(prefect + command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        request = urllib.request.Request(f"{config.api_url}/deployments/filter", data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            deployed = {d["name"]: d for d in json.load(response)}
        assert set(deployed) == set(IDS)
        for deployment in DEPLOYED:
            got = deployed[deployment["name"]]
            assert got["work_pool_name"] == catalog.WORK_POOL
            assert got["entrypoint"] == deployment["entrypoint"]
            assert got["pull_steps"] == prefect_yaml()["pull"]
            assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in got["schedules"]] == [
                (s["cron"], s["timezone"]) for s in deployment["schedules"]]
    finally:
        processes.stop_process(server, signal.SIGTERM)
