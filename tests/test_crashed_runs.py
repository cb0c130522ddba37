"""Runs that died say so (issue 13, finding 7): the automation that marks a silent run
Crashed, created on a real Prefect server, once however many times the stack starts."""
from __future__ import annotations

import datetime as dt

from deployments import crashed_runs
from grantflow.stack import StackConfig


def test_the_crashed_run_automation_is_created_once_on_the_server(prefect_server):
    first = crashed_runs.ensure()
    again = crashed_runs.ensure()
    assert first.id == again.id
    trigger = again.trigger
    assert trigger.posture.value == "Proactive"
    assert trigger.within == dt.timedelta(minutes=3)
    assert "prefect.flow-run.heartbeat" in trigger.after and "prefect.flow-run.Completed" in trigger.expect
    [action] = again.actions
    assert action.state.value == "CRASHED"


def test_the_stack_makes_flow_runs_send_heartbeats(tmp_path):
    config = StackConfig.from_environment(environ={"GRANTFLOW_HOME": str(tmp_path)})
    assert config.environment({})["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "60"


def test_a_run_killed_before_its_first_heartbeat_is_watched_too_and_an_older_automation_is_updated(
        prefect_server):
    """kill -9 in a run's first seconds left it Running for good: it had sent no heartbeat,
    and the automation only watched runs after a heartbeat. The server's own Running event
    now starts the watch; a server holding the older automation gets it updated."""
    older = crashed_runs.automation()
    older.name = crashed_runs.AUTOMATION_NAME
    older.trigger.after = {"prefect.flow-run.heartbeat"}
    from prefect.automations import Automation

    try:
        Automation.read(name=crashed_runs.AUTOMATION_NAME).delete()
    except ValueError:
        pass
    older.create()
    updated = crashed_runs.ensure()
    assert "prefect.flow-run.Running" in Automation.read(id=updated.id).trigger.after
