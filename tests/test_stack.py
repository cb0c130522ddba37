"""The main command (`grantflow up`, what ./grantflow-up runs): its own Prefect server and
serve process, every deployment of prefect.yaml served with its schedule, a sweep run
through its deployment, and Ctrl-C stopping everything (issue 6, "Done when").

Not the session's `prefect_server` fixture: the stack's own server, on a free port, with
a temporary GRANTFLOW_HOME (the grants store, the outbox and PREFECT_HOME under it).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from grantflow import prefect_api, stack
from tests.support import STACK_START_TIMEOUT, free_port, stack_environment, wait_for

# Each starts a whole stack (a Prefect server and its served deployments): on the same
# test worker, one after the other, so that two stacks never share the two cores.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("stack")]

ROOT = Path(__file__).resolve().parents[1]
STOP_TIMEOUT = 45


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def runs_in_flight(api_url: str) -> list[str]:
    """The names of the flow runs pending or running on the server."""
    query = {"flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING"]}}}, "limit": 200,
             "sort": "EXPECTED_START_TIME_DESC"}
    request = urllib.request.Request(f"{api_url}/flow_runs/filter", data=json.dumps(query).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return [run["name"] for run in json.load(answer)]


def test_grantflow_up_serves_every_deployment_runs_a_sweep_and_stops_on_ctrl_c(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import DeploymentSort
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    port = free_port()
    home = tmp_path / "var"
    config = stack.StackConfig.from_environment(port=port, environ={"GRANTFLOW_HOME": str(home)})
    log = tmp_path / "grantflow-up.log"
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "grantflow.cli", "up", "--port", str(port)],
                                   cwd=ROOT, env=stack_environment(home), stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    state: dict = {}
    try:
        wait_for(lambda: prefect_api.api_healthy(config.api_url), "the Prefect API", STACK_START_TIMEOUT, process, log)
        server_ready = time.monotonic() - started
        wait_for(config.state_file.exists, "the deployments served", STACK_START_TIMEOUT, process, log)
        state = json.loads(config.state_file.read_text())
        ready = time.monotonic() - started
        assert state["api_url"] == config.api_url == f"http://127.0.0.1:{port}/api"

        expected = {d["name"]: [(s["cron"], s["timezone"]) for s in d["schedules"]]
                    for d in yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]}
        with temporary_settings({PREFECT_API_URL: config.api_url}):
            with get_client(sync_client=True) as client:
                # limit and sort given: sent as null, prefect 3.8.8's server answers 422 with fastapi 0.154
                deployments = client.read_deployments(limit=200, sort=DeploymentSort.NAME_ASC)
                served = {d.name: [(s.schedule.cron, s.schedule.timezone) for s in d.schedules]
                          for d in deployments}
            assert served == expected

            sweep_started = time.monotonic()
            # As the 07:00 schedule runs it: no parameter, the business date is today.
            # A wait, not a speed check (the figure is printed below): the stack's own sweep of
            # today holds the SQLite store first, and the other test worker may be starting a
            # stack of its own on the same two cores.
            run = run_deployment("daily-sweep/daily-sweep", timeout=240)
            sweep = time.monotonic() - sweep_started
            assert run.state is not None and run.state.is_completed(), f"{run.name}: {run.state.message}"
        text = log.read_text()
        assert f"http://127.0.0.1:{port}/deployments" in text
        assert str(home / "outbox") in text
        # The stack started today's sweep by itself: the examples' overdue obligations
        # (Innosprint's signatures, due in 2019) fill the outbox without waiting for 07:00.
        assert "Balayage du" in text and "lancé" in text
        wait_for(lambda: any((home / "outbox").glob("*.eml")), "the outbox filling", 60, process, log)
        # Ctrl-C once the stack's own runs are over (its first sweep may still be closing grants
        # on a busy machine): the stop measured below is the stack's, not a run's end.
        wait_for(lambda: not runs_in_flight(config.api_url), "the stack's runs to finish", STACK_START_TIMEOUT,
                 process, log)

        stop_started = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=STOP_TIMEOUT) == 0, log.read_text()
        deadline = time.monotonic() + 5
        while (alive(state["server_pid"]) or alive(state["serve_pid"])) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(state["serve_pid"]), "the serve process outlived grantflow up"
        assert not alive(state["server_pid"]), "the Prefect server outlived grantflow up"
        assert not prefect_api.api_healthy(config.api_url)
        assert not config.state_file.exists()
        stopped = time.monotonic() - stop_started
        print(f"\nserver ready {server_ready:.1f} s, deployments served {ready:.1f} s, "
              f"sweep via its deployment {sweep:.1f} s, stop {stopped:.1f} s")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid in (state.get("serve_pid"), state.get("server_pid")):
            if pid and alive(pid):
                os.killpg(pid, signal.SIGKILL)
